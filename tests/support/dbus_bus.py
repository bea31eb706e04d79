"""A private D-Bus daemon on a temporary socket, and a stand-in for systemd-logind on it.

The daemon is the real `dbus-daemon` with a configuration of its own (nothing touches the machine's buses).
`FakeLogind` owns the name `org.freedesktop.login1` on its own connection, answers `Manager.GetSession` with a
session object path, and emits logind's signals: the client under test talks real D-Bus to it, which is the
only part of logind that Salus relies on.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from PySide6.QtDBus import QDBusConnection, QDBusMessage, QDBusObjectPath, QDBusVirtualObject

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    def __init__(self, directory: Path) -> None:
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            raise RuntimeError("dbus-daemon is not installed (scripts/bootstrap installs it)")
        socket = directory / "bus.sock"
        config = directory / "bus.conf"
        config.write_text(CONFIG.format(socket=socket), "utf-8")
        self._process = subprocess.Popen(
            [daemon, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self._process.stdout is not None
        self.address = self._process.stdout.readline().strip()
        if not self.address:
            self.stop()
            raise RuntimeError("dbus-daemon did not start")
        self._names: list[str] = []

    def connect(self, role: str) -> QDBusConnection:
        name = f"{role}-{uuid.uuid4().hex}"  # connection names are process-wide in Qt
        self._names.append(name)
        connection = QDBusConnection.connectToBus(self.address, name)
        deadline = time.monotonic() + 10
        while not connection.isConnected() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert connection.isConnected(), connection.lastError().message()
        return connection

    def stop(self) -> None:
        for name in self._names:
            QDBusConnection.disconnectFromBus(name)
        self._process.terminate()
        self._process.wait(10)


class FakeLogind(QDBusVirtualObject):
    MANAGER_PATH = "/org/freedesktop/login1"

    def __init__(self, connection: QDBusConnection, session_id: str = "c7", *, owns_name: bool = True) -> None:
        super().__init__()
        self.connection = connection
        self.session_path = f"/org/freedesktop/login1/session/{session_id}"
        self.asked: list[list[Any]] = []
        if not owns_name:  # an impostor: sends the same signals without being logind
            return
        assert connection.registerService("org.freedesktop.login1")
        option = QDBusConnection.VirtualObjectRegisterOption.SubPath
        assert connection.registerVirtualObject(self.MANAGER_PATH, self, option)

    def introspect(self, path: str) -> str:
        return ""

    def handleMessage(self, message: QDBusMessage, connection: QDBusConnection) -> bool:
        if message.member() != "GetSession":
            return False
        self.asked.append(list(message.arguments()))
        connection.send(message.createReply(QDBusObjectPath(self.session_path)))
        return True

    def emit_lock(self, path: str | None = None) -> None:
        self._send(path or self.session_path, "org.freedesktop.login1.Session", "Lock", [])

    def emit_prepare_for_sleep(self, starting: bool) -> None:
        self._send(self.MANAGER_PATH, "org.freedesktop.login1.Manager", "PrepareForSleep", [starting])

    def emit_locked_hint(self, locked: bool) -> None:
        changed = ["org.freedesktop.login1.Session", {"LockedHint": locked}, ["IdleHint"]]
        self._send(self.session_path, "org.freedesktop.DBus.Properties", "PropertiesChanged", changed)

    def _send(self, path: str, interface: str, name: str, arguments: list[Any]) -> None:
        signal = QDBusMessage.createSignal(path, interface, name)
        signal.setArguments(arguments)
        assert self.connection.send(signal)
