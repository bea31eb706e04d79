"""Opens the demo in the real window on whatever display Qt is given, and saves a picture of it.

    python -m tests.ui.screenshot OUT.png

Used by the screenshot test under Xvfb (and by hand). The demo profile is created under XDG_DATA_HOME.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer

from app.services.policy import current_settings
from app.ui.app import Startup, application
from app.ui.bridge import Bridge
from app.ui.models.messages import Column
from app.ui.theme import apply_theme
from app.ui.windows.main_window import MainWindow

WIDTH, HEIGHT = 1440, 860


def main(out: Path) -> int:
    app = application()
    apply_theme(app, dark=False)
    bridge = Bridge()
    startup = Startup(bridge, current_settings()[1], profile=None, demo=True, sync_on_start=False)
    startup.window_opened.connect(lambda window: _on_window_opened(window, out))
    QTimer.singleShot(30_000, lambda: app.exit(2))  # never hang a test run
    startup.begin()
    try:
        return app.exec()
    finally:
        startup.shutdown()


def _on_window_opened(window: MainWindow, out: Path) -> None:
    window.resize(WIDTH, HEIGHT)
    window.messages.folder_shown.connect(lambda _folder: _open_message(window, out))


def _open_message(window: MainWindow, out: Path) -> None:
    row = next((r for r in range(window.messages.rowCount()) if not window.messages.summary(r).seen), 0)
    window.message_view.setCurrentIndex(window.messages.index(row, Column.SUBJECT))
    window.controller.message_opened.connect(lambda _message: QTimer.singleShot(300, lambda: _save(window, out)))


def _save(window: MainWindow, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(out), "PNG")
    application().exit(0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
