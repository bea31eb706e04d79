"""Suggesting server settings for a new account (the first-run wizard, `salus account discover`).

The lookup runs on the engine thread's loop (the wizard submits `suggest_servers` through the bridge) or in its
own loop for the command line. It reads only settings; it needs no profile, since nothing is stored: the
suggestion is shown to the user, who confirms or edits it before an account is added.
"""

from __future__ import annotations

import asyncio

from app.core.models import Endpoint
from app.core.settings import Settings
from app.discovery import DnsResolver
from app.discovery.autoconfig import Discovery, discover_servers
from app.services.planning import discovery_config

__all__ = ["Discovery", "discovery_document", "discovery_text", "suggest_servers", "suggest_servers_now"]


async def suggest_servers(address: str, settings: Settings) -> Discovery:
    return await discover_servers(address, DnsResolver(discovery_config(settings)))


def suggest_servers_now(address: str, settings: Settings) -> Discovery:
    return asyncio.run(suggest_servers(address, settings))


def discovery_document(found: Discovery) -> dict[str, object]:
    """The JSON shape of `salus account discover --json`."""
    suggestion = found.suggestion
    document: dict[str, object] = {
        "address": found.address,
        "found": suggestion is not None,
        "notes": list(found.notes),
    }
    if suggestion is not None:
        document |= {
            "source": suggestion.source.value,
            "origin": suggestion.origin,
            "username": suggestion.username,
            "imap": None if suggestion.imap is None else _endpoint(suggestion.imap),
            "smtp": None if suggestion.smtp is None else _endpoint(suggestion.smtp),
        }
    return document


def _endpoint(endpoint: Endpoint) -> dict[str, object]:
    return {"host": endpoint.host, "port": endpoint.port, "security": endpoint.security.value}


def discovery_text(found: Discovery) -> str:
    """The same, for a person reading a terminal."""
    lines = [f"note: {note}" for note in found.notes]
    suggestion = found.suggestion
    if suggestion is None:
        return "\n".join([*lines, f"No server settings are published for {found.address}."])
    for kind, endpoint in (("IMAP", suggestion.imap), ("SMTP", suggestion.smtp)):
        shown = "not published" if endpoint is None else f"{endpoint.host}:{endpoint.port} ({endpoint.security.value})"
        lines.append(f"{kind}: {shown}")
    return "\n".join([*lines, f"user: {suggestion.username}", f"from: {suggestion.origin}"])
