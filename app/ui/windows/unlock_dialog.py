"""Unlocking a profile: choose it (the last one is offered), type the passphrase, or start a new profile.

The key derivation (Argon2id) and opening the vault run on the engine thread; the dialog stays responsive
and says clearly when the passphrase is wrong, then lets the user try again. A wrong passphrase changes
nothing but the failure record the audit log will show.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import Settings
from app.services.reader import Reader, unlock_reader
from app.services.second_factor import CODE_NEEDED
from app.ui.bridge import Bridge


class UnlockDialog(QDialog):
    unlocked = Signal(object)  # Reader
    create_requested = Signal()

    def __init__(self, bridge: Bridge, profiles: list[Path], settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._settings = settings
        self.reader: Reader | None = None
        self.setWindowTitle("Unlock Salus")
        self.setAccessibleName("Unlock a profile")
        self.setMinimumWidth(460)
        self.profile = QComboBox()
        self.profile.setAccessibleName("Profile")
        for path in profiles:
            self.profile.addItem(str(path), str(path))
        browse = QPushButton("Other…")
        browse.setAccessibleName("Choose another profile directory")
        browse.clicked.connect(self._on_browse_clicked)
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setAccessibleName("Passphrase")
        self.code = QLineEdit()
        self.code.setAccessibleName("Authenticator code")
        self.code.setPlaceholderText("6-digit code from your authenticator app")
        self.code.setMaxLength(7)
        self.code_label = QLabel("Authenticator &code:")
        self.code_label.setBuddy(self.code)
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b91c1c;")
        self.error.setAccessibleName("Unlock error")
        self.error.hide()
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.setDefault(True)
        self.unlock_button.setAccessibleName("Unlock the profile")
        self.unlock_button.clicked.connect(self._on_unlock_clicked)
        self.create_button = QPushButton("New profile…")
        self.create_button.setAccessibleName("Create a new profile")
        self.create_button.clicked.connect(self.create_requested)
        self._layout(browse)

    def _layout(self, browse: QPushButton) -> None:
        row = QHBoxLayout()
        row.addWidget(self.profile, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("&Profile:", row)
        form.addRow("Pass&phrase:", self.passphrase)
        form.addRow(self.code_label, self.code)
        self._show_code(bool(self._settings["unlock_requires_totp"]))
        buttons = QHBoxLayout()
        buttons.addWidget(self.create_button)
        buttons.addStretch(1)
        buttons.addWidget(self.unlock_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        self.passphrase.setFocus()

    def selected_profile(self) -> Path | None:
        text = self.profile.currentData() or self.profile.currentText()
        return Path(text) if text else None

    def _on_browse_clicked(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose a profile directory")
        if chosen:
            self.profile.insertItem(0, chosen, chosen)
            self.profile.setCurrentIndex(0)

    def _on_unlock_clicked(self) -> None:
        directory = self.selected_profile()
        if directory is None:
            self._show_error("Choose a profile first, or create a new one.")
            return
        self._busy(True)
        code = self.code.text().strip() if not self.code.isHidden() else ""
        self.code.clear()
        coroutine = unlock_reader(self._bridge.engine, directory, self.passphrase.text(), self._settings, code or None)
        self._bridge.submit(coroutine, self._on_engine_unlocked, self._on_engine_failed)

    def _on_engine_unlocked(self, reader: Reader) -> None:
        self.reader = reader
        self.passphrase.clear()
        self.unlocked.emit(reader)
        self.accept()

    def _on_engine_failed(self, message: str) -> None:
        if message == CODE_NEEDED:
            self._show_code(True)  # this profile has an authenticator enrolled though policy does not ask for one
        self._busy(False)
        self.passphrase.clear()
        self.passphrase.setFocus()
        self._show_error(message)

    def _show_code(self, shown: bool) -> None:
        self.code_label.setVisible(shown)
        self.code.setVisible(shown)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def _busy(self, busy: bool) -> None:
        self.unlock_button.setText("Unlocking…" if busy else "Unlock")
        for widget in (self.unlock_button, self.create_button, self.passphrase, self.code, self.profile):
            widget.setEnabled(not busy)
