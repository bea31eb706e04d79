"""Starting the desktop application: which profile, unlocking it (or creating the first one), the main window,
and an orderly shutdown of the engine when the window closes."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.settings import Settings
from app.services.demo import demo_dir, ensure_demo_profile
from app.services.engine import Engine
from app.services.lock import lock_config
from app.services.reader import AccountNode, CreatedProfile, Reader, unlock_reader
from app.ui.bridge import Bridge
from app.ui.controller import MailController
from app.ui.lock_screen import WindowLock, attach_lock
from app.ui.os_session import watch_os_session
from app.ui.recent import recent_profiles, remember_profile
from app.ui.theme import apply_theme, system_prefers_dark
from app.ui.windows.first_run import FirstRunWizard
from app.ui.windows.main_window import MainWindow
from app.ui.windows.unlock_dialog import UnlockDialog


def run(*, profile: Path | None, demo: bool, settings: Settings, exit_when_ready: bool = False) -> int:
    """The GUI's entry point (`salus`, `salus --demo`); returns the process exit code. `settings` are the
    effective settings, managed policy applied (the command line has already refused an invalid policy).
    With `exit_when_ready` (`salus --demo --exit-when-ready`, the installers' smoke test) the process prints
    "ready" once the window lists its folders and quits with 0, or prints why it could not start and quits
    with 1, instead of waiting for a person: nobody may be there to close a window or a message box."""
    app = application()
    bridge = Bridge()
    startup = Startup(bridge, settings, profile=profile, demo=demo, sync_on_start=not exit_when_ready)
    if exit_when_ready:
        startup.exit_when_ready()
    startup.begin()
    try:
        return app.exec()
    finally:
        startup.shutdown()


def application() -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Salus")
    app.setOrganizationName("Salus")
    app.setDesktopFileName("salus")
    apply_theme(app, system_prefers_dark())
    return app


class Startup(QObject):
    """Leads from nothing to an open main window, without ever blocking the GUI thread."""

    window_opened = Signal(object)  # MainWindow

    def __init__(
        self, bridge: Bridge, settings: Settings, *, profile: Path | None, demo: bool, sync_on_start: bool
    ) -> None:
        super().__init__()
        self.bridge = bridge
        self.settings = settings
        self.window: MainWindow | None = None
        self.dialog: UnlockDialog | None = None
        self.wizard: FirstRunWizard | None = None
        self._profile = profile
        self._demo = demo
        self._sync_on_start = sync_on_start
        self._controller: MailController | None = None
        self.lock: WindowLock | None = None
        self._unattended = False

    def exit_when_ready(self) -> None:
        """Quit with 0 after printing "ready" once the main window has listed its folders; report a failure to
        start on stderr and quit with 1, rather than in a message box that nobody would close."""
        self._unattended = True
        self.window_opened.connect(self._on_window_opened_unattended)

    def _on_window_opened_unattended(self, window: MainWindow) -> None:
        window.controller.folders_loaded.connect(self._on_folders_loaded_unattended)

    def _on_folders_loaded_unattended(self, accounts: tuple[AccountNode, ...]) -> None:
        if accounts:
            print("ready", flush=True)
            QApplication.exit(0)

    def begin(self) -> None:
        if self._demo:
            self.bridge.submit(
                open_demo(self.bridge.engine, self.settings), self._on_reader_ready, self._on_start_failed
            )
            return
        profiles = [self._profile] if self._profile is not None else recent_profiles()
        if profiles:
            self._show_unlock(profiles)
        else:
            self._show_wizard()

    def _show_unlock(self, profiles: list[Path]) -> None:
        self.dialog = UnlockDialog(self.bridge, profiles, self.settings)
        self.dialog.unlocked.connect(self._on_reader_ready)
        self.dialog.create_requested.connect(self._on_dialog_create_requested)
        self.dialog.show()

    def _on_dialog_create_requested(self) -> None:
        if self.dialog is not None:
            self.dialog.hide()
        self._show_wizard()

    def _show_wizard(self) -> None:
        self.wizard = FirstRunWizard(self.bridge, demo_dir().parent / "profile", self.settings)
        self.wizard.created.connect(self._on_wizard_created)
        self.wizard.rejected.connect(self._on_wizard_rejected)
        self.wizard.show()

    def _on_wizard_rejected(self) -> None:
        if self.dialog is not None:
            self.dialog.show()

    def _on_wizard_created(self, created: CreatedProfile) -> None:
        self._on_reader_ready(created.reader)
        if created.account_problem and self.window is not None:
            self.window.banner.show_text(f"The profile was created, but the account was not: {created.account_problem}")

    def _on_reader_ready(self, reader: Reader) -> None:
        if not self._demo:
            remember_profile(reader.profile_dir)
        self._controller = MailController(self.bridge, reader)
        self.window = MainWindow(self._controller)
        self.window.closed.connect(self._on_window_closed)
        # The engine loop ticks the idle lock once a second (DESIGN.md §7); see app.ui.lock_screen.
        self.lock = attach_lock(
            self.window, self.bridge, lock_config(reader.settings), os_session=watch_os_session(self.window)
        )
        self.lock.left_profile.connect(self._on_lock_left_profile)
        self.window.show()
        if self.dialog is not None:
            self.dialog.close()
        self.window_opened.emit(self.window)
        if self._sync_on_start:
            self._controller.start_sync()

    def _on_lock_left_profile(self, why: str) -> None:
        """Switch person, or too many failed unlocks: the vault is already closed by the lock; back to the
        unlock dialog, with nothing of this profile left on screen."""
        window, self.window = self.window, None
        self.lock, self._controller = None, None
        left = window.controller.reader.profile_dir.resolve() if window is not None else None
        if window is not None:
            window.closed.disconnect(self._on_window_closed)
            window.close()
            window.deleteLater()
        profiles = recent_profiles()
        if not why:  # switching person: offer someone else's profile first, the one just left last
            profiles = [p for p in profiles if p.resolve() != left] + [p for p in profiles if p.resolve() == left]
        self._show_unlock(profiles)
        if why and self.dialog is not None:
            self.dialog.error.setText(why)
            self.dialog.error.show()

    def _on_start_failed(self, message: str) -> None:
        if self._unattended:
            print(f"salus: Salus cannot start: {message}", file=sys.stderr, flush=True)
            QApplication.exit(1)
            return
        QMessageBox.critical(None, "Salus cannot start", message)
        QApplication.quit()

    def _on_window_closed(self) -> None:
        QApplication.quit()

    def shutdown(self) -> None:
        """Closes the profile (IMAP logout, vault checkpoint) on the engine thread, then stops the engine."""
        reader = self._controller.close() if self._controller is not None else None
        self.bridge.shutdown(reader.close() if reader is not None else None)


async def open_demo(engine: Engine, settings: Settings) -> Reader:
    directory, passphrase = await engine.db(ensure_demo_profile)
    return await unlock_reader(engine, directory, passphrase, settings)
