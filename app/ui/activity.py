"""The application-wide activity filter (DESIGN.md §7): input in any Salus window keeps the session awake, and
minimising the last visible window starts the minimised clock.

Rules:
- Installed once on the `QApplication`, so it sees every window (main window, composer, dialogs).
- Input only stamps the time (`LockController.note_activity`, safe from any thread); it never crosses the
  bridge per event, since mouse moves come by the hundred.
- "Minimised" means no Salus window is visible and not minimised any more; "restored" is the first one back.
- The filter never consumes an event: it only watches.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QWidget

_INPUT = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
        QEvent.Type.TouchUpdate,
    }
)


class ActivityFilter(QObject):
    windows_minimised = Signal()
    window_restored = Signal()

    def __init__(self, note_activity: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._note_activity = note_activity
        self._minimised = False

    def install(self, app: QApplication) -> None:
        app.installEventFilter(self)

    def remove(self, app: QApplication) -> None:
        app.removeEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in _INPUT:
            self._note_activity()
        elif kind == QEvent.Type.WindowStateChange and isinstance(watched, QWidget) and watched.isWindow():
            self._check_minimised()
        return False

    def _check_minimised(self) -> None:
        minimised = not any(
            w.isVisible() and not (w.windowState() & Qt.WindowState.WindowMinimized)
            for w in QApplication.topLevelWidgets()
        )
        if minimised == self._minimised:
            return
        self._minimised = minimised
        if minimised:
            self.windows_minimised.emit()
        else:
            self.window_restored.emit()
