"""Which profiles this OS account has opened, so `salus` can offer the last one.

Only directory paths are kept (in Qt's per-user settings), never anything from inside a profile.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from app.store.header import HEADER_NAME

_KEY = "profiles/recent"
_LIMIT = 10


def _settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "Salus", "Salus")


def recent_profiles() -> list[Path]:
    """Known profiles, the most recently opened first; directories that are gone are left out."""
    value = _settings().value(_KEY, [])
    # QSettings gives a lone string back for a list of one, and a list otherwise.
    paths = [value] if isinstance(value, str) else [str(v) for v in value] if isinstance(value, list) else []
    return [Path(p) for p in paths if (Path(p) / HEADER_NAME).is_file()]


def remember_profile(directory: Path) -> None:
    resolved = str(directory.expanduser().resolve())
    kept = [str(p) for p in recent_profiles() if str(p) != resolved]
    _settings().setValue(_KEY, [resolved, *kept][:_LIMIT])
