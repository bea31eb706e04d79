"""The idle lock in the window (DESIGN.md §7): the lock screen, the countdown, and joining them to the window
and to the engine-side driver (`app.ui.locker.Locker`).

Rules:
- The composers' drafts are saved before the vault closes (see `app.ui.locker`).
- On the GUI side a lock cancels the sync, closes dialogs and hides other windows, drops every snapshot the main
  window's models hold, clears the search text, disables the window's actions (their shortcuts would still
  fire behind the cover) and covers the whole window, menus and toolbar included.
- The lock screen shows nothing about the mail: no counts, subjects or senders, only the profile's directory
  name, which the window title shows already. There are no notifications.
- The passphrase is read once from the field and the field is cleared at once; the `str` handed to the engine
  cannot be wiped (Python strings are immutable), which is the limit documented in `tests/support/memory_scan`.
"""

from __future__ import annotations

import time
from functools import partial

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFrame,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.lock import LockConfig
from app.core.settings import Settings
from app.services.drafts import DraftContent
from app.services.lock import Clock, lock_config
from app.ui.activity import ActivityFilter
from app.ui.bridge import Bridge
from app.ui.locker import Locker
from app.ui.os_session import OsSessionWatcher
from app.ui.windows.composer import ComposerService, ComposerWindow
from app.ui.windows.main_window import MainWindow


class LockScreen(QFrame):
    """Covers the whole window while locked: passphrase, Unlock, Switch person, and what went wrong."""

    unlock_requested = Signal(str, str)  # the passphrase, the authenticator code ("" when none is asked)
    switch_requested = Signal()

    def __init__(self, window: QWidget, profile_name: str) -> None:
        super().__init__(window)
        self.setObjectName("lock_screen")
        self.setAccessibleName("Salus is locked")
        self.setAutoFillBackground(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        title = QLabel("Salus is locked")
        title.setObjectName("lock_title")
        title.setStyleSheet("font-size: 20px; font-weight: 600;")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        profile = QLabel(f"Profile: {profile_name}")
        profile.setTextFormat(Qt.TextFormat.PlainText)
        profile.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setAccessibleName("Passphrase")
        self.passphrase.setPlaceholderText("Passphrase")
        self.passphrase.setMaximumWidth(360)
        self.code = QLineEdit()
        self.code.setAccessibleName("Authenticator code")
        self.code.setPlaceholderText("6-digit code from your authenticator app")
        self.code.setMaxLength(7)  # six digits, and a space some people type in the middle
        self.code.setMaximumWidth(360)
        self.code.hide()
        self.message = QLabel()
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setAccessibleName("Unlock message")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.hide()
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.setDefault(True)
        self.unlock_button.setAccessibleName("Unlock this profile")
        self.switch_button = QPushButton("Switch person")
        self.switch_button.setAccessibleName("Close this profile and open another one")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for widget in (
            title,
            profile,
            self.passphrase,
            self.code,
            self.message,
            self.unlock_button,
            self.switch_button,
        ):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        self.passphrase.returnPressed.connect(self._on_passphrase_return_pressed)
        self.code.returnPressed.connect(self._on_passphrase_return_pressed)
        self.unlock_button.clicked.connect(self._on_unlock_button_clicked)
        self.switch_button.clicked.connect(self.switch_requested.emit)
        window.installEventFilter(self)
        self.hide()

    def cover(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        self.passphrase.clear()
        self.code.clear()
        self.message.hide()
        self.set_busy(False)
        self.show()
        self.raise_()
        self.passphrase.setFocus()

    def set_busy(self, busy: bool) -> None:
        self.unlock_button.setEnabled(not busy)
        self.passphrase.setEnabled(not busy)
        self.code.setEnabled(not busy)
        if not busy:
            self.passphrase.setFocus()

    def show_code_field(self, needed: bool) -> None:
        self.code.setVisible(needed)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.parentWidget() and isinstance(watched, QWidget):
            self.setGeometry(watched.rect())
        return False

    def _on_passphrase_return_pressed(self) -> None:
        self._on_unlock_button_clicked()

    def _on_unlock_button_clicked(self) -> None:
        text, code = self.passphrase.text(), self.code.text() if not self.code.isHidden() else ""
        self.passphrase.clear()
        self.code.clear()
        if not text:
            self.show_message("Type your passphrase to unlock.")
            return
        if not self.code.isHidden() and not code.strip():
            self.show_message("Type the code from your authenticator app as well.")
            return
        self.set_busy(True)
        self.show_message("Unlocking…")
        self.unlock_requested.emit(text, code)


class Countdown(QLabel):
    """The warning shortly before the idle lock, across the top of the window."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setObjectName("lock_countdown")
        self.setAccessibleName("Idle lock warning")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: #fef3c7; color: #78350f; padding: 8px; font-weight: 600;")
        self.hide()

    def show_seconds(self, seconds: int) -> None:
        self.setText(f"Salus will lock in {seconds} s because it has been idle. Move the mouse or type to stay in.")
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(0, 0, parent.width(), self.sizeHint().height())
        self.show()
        self.raise_()


class WindowLock(QObject):
    """Joins a `Locker` to a main window: the activity filter, the countdown, the lock screen, Ctrl+L."""

    left_profile = Signal(str)  # why the profile was left ("" for switch person), for the unlock dialog

    def __init__(
        self, window: MainWindow, locker: Locker, app: QApplication, os_session: OsSessionWatcher | None = None
    ) -> None:
        super().__init__(window)
        self.os_session = os_session
        if os_session is not None:
            os_session.setParent(self)
            os_session.os_locked.connect(locker.note_os_locked)
            os_session.sleeping.connect(locker.note_sleep)
        self.window = window
        self.locker = locker
        self._app = app
        self.screen = LockScreen(window, window.controller.reader.profile_dir.name)
        self.countdown = Countdown(window)
        self.activity = ActivityFilter(locker.note_activity, self)
        self.activity.install(app)
        self._enabled: dict[QAction, bool] = {}
        self._hidden: list[QWidget] = []
        self.activity.windows_minimised.connect(locker.note_minimised)
        self.activity.window_restored.connect(locker.note_restored)
        locker.warning_shown.connect(self.countdown.show_seconds)
        locker.warning_hidden.connect(self.countdown.hide)
        locker.locked.connect(self._on_locker_locked)
        locker.unlocked.connect(self._on_locker_unlocked)
        locker.unlock_rejected.connect(self._on_locker_unlock_rejected)
        locker.code_needed.connect(self.screen.show_code_field)
        locker.profile_closed.connect(self._on_locker_profile_closed)
        locker.failed.connect(self._on_locker_failed)
        locker.before_lock_failed.connect(self._on_locker_before_lock_failed)
        self._lock_note = ""  # shown on the lock screen once it covers the window
        self.screen.unlock_requested.connect(locker.try_unlock)
        self.screen.switch_requested.connect(self._on_screen_switch_requested)
        window.lock_requested.connect(locker.lock_now)
        locker.before_lock.append(self._save_drafts)
        window.settings_changed.connect(self._on_window_settings_changed)

    @property
    def is_locked(self) -> bool:
        return self.screen.isVisible()

    def stop(self) -> None:
        self.locker.stop()
        self.activity.remove(self._app)
        if self.os_session is not None:
            self.os_session.stop()

    def _on_window_settings_changed(self, settings: Settings) -> None:
        self.locker.reconfigure(lock_config(settings))

    async def _save_drafts(self) -> None:
        """On the engine thread, before the vault closes: save each composer's draft, then empty its window."""
        found = await self.locker.on_gui(self._open_drafts)
        for composer, service, content in found:
            await service.save_draft(content)
            self.window.controller.bridge.post(partial(self._empty_composer, composer))

    def _open_drafts(self) -> list[tuple[ComposerWindow, ComposerService, DraftContent]]:
        return [
            (c, c.service, c.draft_content())
            for c in self.window.composers
            if not c.emptied_for_lock and not c.draft_content().is_empty
        ]

    def _empty_composer(self, composer: ComposerWindow) -> None:
        if composer in self.window.composers:  # not closed meanwhile
            composer.empty_for_lock()

    def _on_locker_locked(self, _reason: str) -> None:
        self.countdown.hide()
        for widget in QApplication.topLevelWidgets():
            if widget is self.window or not widget.isVisible():
                continue
            if isinstance(widget, QDialog):
                widget.reject()
            elif isinstance(widget, QMenu):
                widget.close()
            else:  # another Salus window (a composer): hidden until the unlock
                widget.hide()
                self._hidden.append(widget)
        self.window.controller.cancel_sync()
        self.window.search_field.clear()
        self.window.drop_snapshots()
        self.window.controller.forget()
        self.window.status_text.clear()
        self.window.banner.hide()
        if not self._enabled:
            self._enabled = {a: a.isEnabled() for a in self.window.actions_by_name.values()}
            for action in self._enabled:
                action.setEnabled(False)
        self.screen.cover()
        if self._lock_note:
            self.screen.show_message(self._lock_note)
            self._lock_note = ""

    def _on_locker_before_lock_failed(self, message: str) -> None:
        self._lock_note = (
            f"A draft could not be saved before the lock ({message}). It stays in its window, hidden until you unlock."
        )

    def _on_locker_unlocked(self) -> None:
        self.screen.hide()
        for action, enabled in self._enabled.items():
            action.setEnabled(enabled)
        self._enabled = {}
        for widget in self._hidden:
            widget.show()
        self._hidden = []
        for composer in self.window.composers:
            composer.restore_after_unlock()
        self.window.banner.hide()
        self.window.controller.load_folders()

    def _on_locker_unlock_rejected(self, attempts_left: int) -> None:
        self.screen.set_busy(False)
        plural = "s" if attempts_left != 1 else ""
        what = "passphrase or code" if not self.screen.code.isHidden() else "passphrase"
        self.screen.show_message(
            f"That {what} is not right. {attempts_left} attempt{plural} left before this profile closes."
        )

    def _on_locker_profile_closed(self) -> None:
        self.stop()
        self.left_profile.emit("Too many failed attempts: the profile was closed. Unlock it again to go on.")

    def _on_screen_switch_requested(self) -> None:
        self.stop()
        self.left_profile.emit("")

    def _on_locker_failed(self, message: str) -> None:
        # The lock machinery itself failed: cover the window anyway, and say so without details of the mail.
        if not self.is_locked:
            self._on_locker_locked("error")
        self.screen.show_message(f"The lock failed: {message}")


def attach_lock(
    window: MainWindow,
    bridge: Bridge,
    config: LockConfig,
    *,
    clock_fn: Clock = time.time,
    tick_seconds: float = 1.0,
    os_session: OsSessionWatcher | None = None,
) -> WindowLock:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    locker = Locker(bridge, window.controller.reader, config, clock_fn=clock_fn, tick_seconds=tick_seconds)
    return WindowLock(window, locker, app, os_session)
