"""The one place that reads the wall clock, so pure code can take `now` as an argument."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
