"""The Qt face of Salus. Only this package imports PySide6, and nothing imports it but the command line, lazily,
so `salus --help` and every headless command stay free of Qt (DESIGN.md §2).

Importing any part of it first applies the guard of `app.ui.qt_compat`.
"""

from __future__ import annotations

from app.ui import qt_compat as _qt_compat  # noqa: F401 - imported for its guard, before any other Qt use
