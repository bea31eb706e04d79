"""Locking when the Windows session locks or the machine suspends (DESIGN.md §7), for `app.ui.os_session`.

- `WTSRegisterSessionNotification(hwnd, NOTIFY_FOR_THIS_SESSION)` makes Windows send the main window
  `WM_WTSSESSION_CHANGE`; `WTS_SESSION_LOCK` (Win+L, a fast user switch, the screen saver's lock) locks Salus.
- `WM_POWERBROADCAST` with `PBT_APMSUSPEND` reaches every top-level window without registering; it locks too.
- The messages are read with a native event filter on the application ("windows_generic_MSG", a `MSG*`).

Not run by the test suite, which runs on Linux: it is type-checked for Windows (`mypy --platform win32`) and
its message decoding is a pure function, but WTS and the message loop themselves are untested here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import QAbstractNativeEventFilter, QByteArray, QCoreApplication, QObject
from PySide6.QtWidgets import QWidget

from app.ui.os_session import OsSessionWatcher

WM_WTSSESSION_CHANGE = 0x02B1
WTS_SESSION_LOCK = 0x7
WM_POWERBROADCAST = 0x0218
PBT_APMSUSPEND = 0x4
NOTIFY_FOR_THIS_SESSION = 0


def classify(message: int, wparam: int) -> str | None:
    """'os' or 'sleep' for the window messages that must lock Salus, else None."""
    if message == WM_WTSSESSION_CHANGE and wparam == WTS_SESSION_LOCK:
        return "os"
    if message == WM_POWERBROADCAST and wparam == PBT_APMSUSPEND:
        return "sleep"
    return None


class _Filter(QAbstractNativeEventFilter):
    def __init__(self, on_message: Callable[[int, int], None]) -> None:
        super().__init__()
        self._on_message = on_message

    def nativeEventFilter(self, eventType: QByteArray | bytes | bytearray | memoryview, message: int) -> object:
        kind = eventType.data() if isinstance(eventType, QByteArray) else bytes(eventType)
        if kind == b"windows_generic_MSG":
            self._on_message(*_message_at(int(message)))
        return False, 0  # never swallow the message: Qt and Windows still handle it


class WindowsSessionWatcher(OsSessionWatcher):
    def __init__(self, window: QWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._hwnd = int(window.winId())
        self._filter = _Filter(self._on_native_message)
        self._registered = False

    def start(self) -> None:
        app = QCoreApplication.instance()
        if app is None:
            return
        app.installNativeEventFilter(self._filter)
        self._registered = _register(self._hwnd)
        if not self._registered:
            self.unavailable.emit("Windows did not accept the session notification; the idle lock remains")

    def stop(self) -> None:
        app = QCoreApplication.instance()
        if app is not None:
            app.removeNativeEventFilter(self._filter)
        if self._registered:
            _unregister(self._hwnd)
            self._registered = False

    def _on_native_message(self, message: int, wparam: int) -> None:
        match classify(message, wparam):
            case "os":
                self.os_locked.emit()
            case "sleep":
                self.sleeping.emit()
            case _:
                pass


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    _wtsapi = ctypes.WinDLL("wtsapi32", use_last_error=True)
    _wtsapi.WTSRegisterSessionNotification.argtypes = [wintypes.HWND, wintypes.DWORD]
    _wtsapi.WTSRegisterSessionNotification.restype = wintypes.BOOL
    _wtsapi.WTSUnRegisterSessionNotification.argtypes = [wintypes.HWND]
    _wtsapi.WTSUnRegisterSessionNotification.restype = wintypes.BOOL

    def _register(hwnd: int) -> bool:
        return bool(_wtsapi.WTSRegisterSessionNotification(hwnd, NOTIFY_FOR_THIS_SESSION))

    def _unregister(hwnd: int) -> None:
        _wtsapi.WTSUnRegisterSessionNotification(hwnd)

    def _message_at(address: int) -> tuple[int, int]:
        msg = wintypes.MSG.from_address(address)
        return int(msg.message), int(msg.wParam)

else:

    def _register(hwnd: int) -> bool:
        return False

    def _unregister(hwnd: int) -> None:
        return None

    def _message_at(address: int) -> tuple[int, int]:
        raise OSError("Windows messages exist only on Windows")
