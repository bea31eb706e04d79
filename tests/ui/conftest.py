"""Fixtures for the window's tests: Qt offscreen, a demo profile per test, an engine bridge, an open window.

The Dovecot fixtures of the integration tests are imported so the write-back tests can use a real server.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import: tests never need a display

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QUrl
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.core.models import FolderId
from app.services.demo import DEMO_PASSPHRASE, ensure_demo_profile
from app.services.engine import Engine
from app.services.policy import current_settings
from app.services.reader import AccountNode, Reader, unlock_reader
from app.ui.bridge import Bridge
from app.ui.controller import MailController
from app.ui.theme import apply_theme
from app.ui.windows.dialogs import Dialogs
from app.ui.windows.main_window import MainWindow
from tests.integration.conftest import dovecot, mail_user, test_ca  # noqa: F401 - fixtures shared with tests/ui
from tests.ui.support import run


@pytest.fixture(scope="session", autouse=True)
def _private_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """QSettings (the list of recent profiles) lives in a temporary directory, never in the tester's home."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path_factory.mktemp("qsettings")))


@pytest.fixture(autouse=True)
def _light_theme(qapp: QApplication) -> None:
    apply_theme(qapp, dark=False)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory, _ = ensure_demo_profile(tmp_path_factory.mktemp("demo-template") / "demo")
    return directory


@pytest.fixture
def demo_profile(demo_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo profile (300 messages), so tests can change it freely."""
    return Path(shutil.copytree(demo_template, tmp_path / "demo"))


@pytest.fixture
def bridge(qapp: QApplication) -> Iterator[Bridge]:
    # Parsing in a worker process pays off only for big syncs; tests keep everything in this process.
    engine_bridge = Bridge(Engine(parse_in_process=False))
    yield engine_bridge
    engine_bridge.shutdown()


@pytest.fixture
def open_reader(bridge: Bridge, qtbot: QtBot) -> Iterator[OpenReader]:
    opened = OpenReader(bridge, qtbot)
    yield opened
    opened.close_all()


class OpenReader:
    """Unlocks profiles through the bridge and closes them again at the end of the test."""

    def __init__(self, bridge: Bridge, qtbot: QtBot) -> None:
        self.bridge, self.qtbot = bridge, qtbot
        self.readers: list[Reader] = []

    def __call__(self, directory: Path, passphrase: str) -> Reader:
        coroutine = unlock_reader(self.bridge.engine, directory, passphrase, current_settings()[1])
        reader = run(self.bridge, self.qtbot, coroutine)
        self.readers.append(reader)
        return reader

    def close_all(self) -> None:
        for reader in self.readers:
            run(self.bridge, self.qtbot, reader.close())


class FakeDialogs(Dialogs):
    """Answers the window's questions without modal loops, and remembers what was asked."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__()
        self.asked: list[str] = []
        self.opened: list[QUrl] = []
        self.answer = True
        self.save_to = tmp_path / "saved.bin"
        self.folder: FolderId | None = None
        self.confirm = self._confirm
        self.open_external = self.opened.append
        self.choose_save_path = lambda _parent, _suggested: self.save_to
        self.choose_folder = self._choose_folder

    def _confirm(self, _parent: QWidget, _title: str, text: str) -> bool:
        self.asked.append(text)
        return self.answer

    def _choose_folder(self, _parent: QWidget, _accounts: tuple[AccountNode, ...]) -> FolderId | None:
        return self.folder


@pytest.fixture
def make_window(bridge: Bridge, open_reader: OpenReader, qtbot: QtBot, tmp_path: Path) -> Iterator[WindowFactory]:
    factory = WindowFactory(bridge, open_reader, qtbot, tmp_path)
    yield factory
    for window in factory.windows:
        window.close()


class WindowFactory:
    def __init__(self, bridge: Bridge, open_reader: OpenReader, qtbot: QtBot, tmp_path: Path) -> None:
        self.bridge, self.open_reader, self.qtbot, self.tmp_path = bridge, open_reader, qtbot, tmp_path
        self.windows: list[MainWindow] = []
        self.dialogs = FakeDialogs(tmp_path)

    def __call__(self, directory: Path, passphrase: str) -> MainWindow:
        reader = self.open_reader(directory, passphrase)
        window = MainWindow(MailController(self.bridge, reader), dialogs=self.dialogs, exports=self.tmp_path / "out")
        self.qtbot.addWidget(window)
        with self.qtbot.waitSignal(window.controller.folders_loaded, timeout=10_000):
            window.show()
        if window.folders.first_inbox().isValid():  # the Inbox is opened at start: wait for its first page
            self.qtbot.waitUntil(
                lambda: window.messages.folder is not None and not window.messages.loading, timeout=15_000
            )
        self.windows.append(window)
        return window


@pytest.fixture
def demo_window(make_window: WindowFactory, demo_profile: Path) -> MainWindow:
    return make_window(demo_profile, DEMO_PASSPHRASE)
