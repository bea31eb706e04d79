"""Turning snapshot values into the short texts the window shows. Pure functions, no Qt."""

from __future__ import annotations

import html
from datetime import datetime


def short_date(moment: datetime | None, now: datetime) -> str:
    """ "14:05" today, "3 Nov" this year, "2024-11-03" before; in the local time zone."""
    if moment is None:
        return ""
    local, today = moment.astimezone(), now.astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M")
    if local.year == today.year:
        return f"{local.day} {local.strftime('%b')}"
    return local.strftime("%Y-%m-%d")


def long_date(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%A, %d %B %Y %H:%M") if moment else "no date"


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def split_sender(sender: str) -> tuple[str, str]:
    """("Name", "addr") from the "Name <addr>" form sync stores. The address is whatever stands in the last
    angle brackets, so a name that itself looks like "<boss@clinic.org>" stays part of the name."""
    if sender.endswith(">") and " <" in sender:
        name, _, addr = sender[:-1].rpartition(" <")
        return name, addr
    return "", sender


def rich_tooltip(text: str) -> str:
    """Qt guesses whether a tooltip is rich text; message data must never be guessed into markup."""
    return f"<qt>{html.escape(text)}</qt>" if text else ""
