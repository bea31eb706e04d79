"""Locking when the OS session locks or the machine goes to sleep (DESIGN.md §7), where the platform says so.

Linux: systemd-logind on the system bus, through QtDBus.
- The session: `org.freedesktop.login1.Manager.GetSession` with `$XDG_SESSION_ID`, or "auto" (logind's name
  for the caller's session, falling back to the user's display session), gives its object path; on that path
  the `org.freedesktop.login1.Session.Lock` signal (`loginctl lock-session`, and what screen lockers obey)
  and a `PropertiesChanged` turning `LockedHint` true (what desktops set when their own locker engages) lock.
- Sleep: `org.freedesktop.login1.Manager.PrepareForSleep(true)` locks before the machine suspends.
- Every call is asynchronous: a logind that does not answer must not freeze the window. Without a system bus
  or a session (a container, an SSH login), the watcher says why on `unavailable` and the idle lock remains.
- Signals are matched on the `org.freedesktop.login1` name, so only its owner (logind) can trigger them.

Windows: `app.ui.os_session_windows` (WTS session notifications and WM_POWERBROADCAST), untested here.
macOS (the `com.apple.screenIsLocked` distributed notification, NSWorkspace sleep) needs Objective-C APIs that
cannot run on the Linux machines Salus is built on; it is not implemented, and the idle lock covers it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from PySide6.QtCore import SLOT, QObject, Signal, Slot
from PySide6.QtDBus import QDBusConnection, QDBusMessage, QDBusObjectPath, QDBusPendingCallWatcher
from PySide6.QtWidgets import QWidget

LOGIND = "org.freedesktop.login1"
MANAGER_PATH = "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"
SESSION = "org.freedesktop.login1.Session"
PROPERTIES = "org.freedesktop.DBus.Properties"


class OsSessionWatcher(QObject):
    """What the lock needs from a platform: a signal when the OS session locks, one before the machine sleeps.

    This base follows nothing (a platform Salus cannot hear, such as macOS for now): it says so once and leaves
    the idle lock to do the work. The Linux and Windows watchers override `start` and `stop`.
    """

    os_locked = Signal()
    sleeping = Signal()
    unavailable = Signal(str)  # why the session lock cannot be followed

    def start(self) -> None:
        self.unavailable.emit("this platform does not tell Salus when its session locks; the idle lock still applies")

    def stop(self) -> None:
        pass  # nothing was started


class LogindWatcher(OsSessionWatcher):
    session_found = Signal(str)  # the session's object path

    def __init__(self, bus: QDBusConnection, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bus = bus
        self._watcher: QDBusPendingCallWatcher | None = None
        self.session_path: str | None = None

    def start(self) -> None:
        if not self._bus.isConnected():
            self.unavailable.emit("there is no system bus to hear the OS session lock from")
            return
        self._bus.connect(LOGIND, MANAGER_PATH, MANAGER, "PrepareForSleep", self, _slot("_on_logind_sleep(bool)"))
        call = QDBusMessage.createMethodCall(LOGIND, MANAGER_PATH, MANAGER, "GetSession")
        call.setArguments([os.environ.get("XDG_SESSION_ID") or "auto"])
        self._watcher = QDBusPendingCallWatcher(self._bus.asyncCall(call), self)
        self._watcher.finished.connect(self._on_logind_session_answered)

    def stop(self) -> None:
        self._bus.disconnect(LOGIND, MANAGER_PATH, MANAGER, "PrepareForSleep", self, _slot("_on_logind_sleep(bool)"))
        if self.session_path is not None:
            self._bus.disconnect(LOGIND, self.session_path, SESSION, "Lock", self, _slot("_on_logind_lock()"))
            self._bus.disconnect(
                LOGIND, self.session_path, PROPERTIES, "PropertiesChanged", self,
                _slot("_on_logind_properties(QString,QVariantMap,QStringList)"),
            )  # fmt: skip

    def _on_logind_session_answered(self, watcher: QDBusPendingCallWatcher) -> None:
        reply = watcher.reply()
        answer = reply.arguments()
        watcher.deleteLater()
        self._watcher = None
        if watcher.isError() or not answer or not isinstance(answer[0], QDBusObjectPath):
            self.unavailable.emit(f"logind does not know this session ({watcher.error().message() or 'no answer'})")
            return
        self.session_path = answer[0].path()
        self._bus.connect(LOGIND, self.session_path, SESSION, "Lock", self, _slot("_on_logind_lock()"))
        self._bus.connect(
            LOGIND, self.session_path, PROPERTIES, "PropertiesChanged", self,
            _slot("_on_logind_properties(QString,QVariantMap,QStringList)"),
        )  # fmt: skip
        self.session_found.emit(self.session_path)

    @Slot()
    def _on_logind_lock(self) -> None:
        self.os_locked.emit()

    @Slot(bool)
    def _on_logind_sleep(self, starting: bool) -> None:
        if starting:  # PrepareForSleep(false) is the wake-up; the lock screen is already up by then
            self.sleeping.emit()

    @Slot(str, "QVariantMap", "QStringList")
    def _on_logind_properties(self, interface: str, changed: dict[str, Any], _invalidated: list[str]) -> None:
        if interface == SESSION and changed.get("LockedHint") is True:
            self.os_locked.emit()


def _slot(signature: str) -> Any:
    # PySide6 wants the "1name(args)" string SLOT() makes, though its type stubs ask for bytes.
    return SLOT(signature)


def watch_os_session(window: QWidget, bus: QDBusConnection | None = None) -> OsSessionWatcher | None:
    """A started watcher of this platform's session lock and sleep, or None where none is implemented."""
    watcher: OsSessionWatcher
    if sys.platform == "win32":
        from app.ui.os_session_windows import WindowsSessionWatcher  # only Windows loads its ctypes bindings

        watcher = WindowsSessionWatcher(window)
    elif sys.platform.startswith("linux"):
        watcher = LogindWatcher(bus if bus is not None else QDBusConnection.systemBus())
    else:
        return None
    watcher.start()
    return watcher
