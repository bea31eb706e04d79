"""The first run: create a profile (where, and the passphrase that protects it), then optionally an account.

Creating the profile (key derivation, vault, audit chain) runs on the engine thread when the user presses
Finish; the wizard stays open and says why if it fails, so nothing typed is lost.

Server settings: while the address is typed the wizard proposes `imap.<domain>` and `smtp.<domain>` with implicit
TLS (RFC 8314). When the user leaves the address field, the domain's published settings (Thunderbird autoconfig,
RFC 6186 SRV records; `app.services.account_discovery`) are looked up on the engine thread and, when found,
replace the guess; a line under the fields says where they came from. The user can edit every field; a result
for an address no longer in the field, or arriving after the user changed a server field, is not applied.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
    QWizard,
    QWizardPage,
)

from app.core.models import Endpoint, Security
from app.core.settings import Settings
from app.services.account_discovery import Discovery, suggest_servers
from app.services.accounts import AccountSettings
from app.services.reader import CreatedProfile, create_reader
from app.ui.bridge import Bridge

MIN_PASSPHRASE = 10


class ProfilePage(QWizardPage):
    def __init__(self, default_location: Path) -> None:
        super().__init__()
        self.setTitle("Create your profile")
        self.setSubTitle(
            "Your mail is kept encrypted in a profile that only your passphrase opens. Each person who uses this "
            "computer needs a profile of their own."
        )
        self.location = _line("Profile directory", str(default_location))
        browse = QPushButton("Browse…")
        browse.setAccessibleName("Choose the profile directory")
        browse.clicked.connect(self._on_browse_clicked)
        self.passphrase = _line("Passphrase", password=True)
        self.repeat = _line("Repeat the passphrase", password=True)
        self.error = _error_label()
        row = QHBoxLayout()
        row.addWidget(self.location, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("&Directory:", row)
        form.addRow("&Passphrase:", self.passphrase)
        form.addRow("&Repeat:", self.repeat)
        form.addRow(QLabel(f"Use at least {MIN_PASSPHRASE} characters; a few unrelated words are easy to remember."))
        form.addRow(self.error)

    def _on_browse_clicked(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose an empty directory for the profile")
        if chosen:
            self.location.setText(chosen)

    def validatePage(self) -> bool:
        problem = self.problem()
        self.error.setText(problem)
        self.error.setVisible(bool(problem))
        return not problem

    def problem(self) -> str:
        directory = Path(self.location.text()).expanduser()
        if not self.location.text().strip():
            return "Choose where the profile is kept."
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            return "That directory is not empty; a profile needs a new or empty directory."
        if len(self.passphrase.text()) < MIN_PASSPHRASE:
            return f"The passphrase needs at least {MIN_PASSPHRASE} characters."
        if self.passphrase.text() != self.repeat.text():
            return "The two passphrases differ."
        return ""


class AccountPage(QWizardPage):
    discovery_requested = Signal(str)  # the address whose published server settings should be looked up

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Add your mail account")
        self.setSubTitle("Salus connects only with TLS. You can also add an account later.")
        self.enabled = QCheckBox("Add an account now")
        self.enabled.setChecked(True)
        self.enabled.setAccessibleName("Add an account now")
        self.name = _line("Account name", "Work")
        self.email = _line("Email address")
        self.email.textEdited.connect(self._on_email_text_edited)
        self.email.editingFinished.connect(self._on_email_editing_finished)
        self.username = _line("User name for the servers (empty: the email address)")
        self.password = _line("Account password", password=True)
        self.imap_host, self.imap_port, self.imap_security = _server("IMAP", 993)
        self.smtp_host, self.smtp_port, self.smtp_security = _server("SMTP", 465)
        self.servers_source = QLabel()
        self.servers_source.setTextFormat(Qt.TextFormat.PlainText)
        self.servers_source.setWordWrap(True)
        self.servers_source.setAccessibleName("Where the server settings came from")
        self.ca_file = _line("Extra CA certificate file (optional)")
        self.error = _error_label()
        self._looked_up = ""
        self._servers_edited = False
        # A server name the user typed is theirs: a lookup that answers later does not overwrite it.
        for widget in (self.imap_host, self.smtp_host, self.username):
            widget.textEdited.connect(self._on_server_field_edited)
        form = QFormLayout(self)
        form.addRow(self.enabled)
        for label, widget in (("Account &name:", self.name), ("&Email:", self.email), ("Pass&word:", self.password)):
            form.addRow(label, widget)
        form.addRow("&IMAP server:", _row(self.imap_host, self.imap_port, self.imap_security))
        form.addRow("&SMTP server:", _row(self.smtp_host, self.smtp_port, self.smtp_security))
        form.addRow("&User name:", self.username)
        form.addRow(self.servers_source)
        form.addRow("Private &CA (PEM):", self.ca_file)
        form.addRow(self.error)

    def _on_email_text_edited(self, text: str) -> None:
        domain = text.rpartition("@")[2].strip()
        if domain:
            self.imap_host.setText(f"imap.{domain}")
            self.smtp_host.setText(f"smtp.{domain}")
            self.servers_source.setText("Guessed from the address; the domain's published settings are looked up "
                                        "when you leave the field.")  # fmt: skip
        self._servers_edited = False

    def _on_email_editing_finished(self) -> None:
        address = self.email.text().strip()
        if "@" not in address or address == self._looked_up:
            return
        self._looked_up = address
        self.servers_source.setText(f"Looking up the server settings published for {address.rpartition('@')[2]}…")
        self.discovery_requested.emit(address)

    def _on_server_field_edited(self) -> None:
        self._servers_edited = True

    def apply_discovery(self, found: Discovery) -> None:
        """Fills the server fields from a lookup, unless it is stale or the user has taken over the fields."""
        if found.address != self.email.text().strip():
            return
        suggestion = found.suggestion
        if suggestion is not None and self._servers_edited:
            self.servers_source.setText(
                f"Settings are published at {suggestion.origin}, but you changed the fields, so they stay as you "
                "typed them."
            )
            return
        if suggestion is None:
            self.servers_source.setText(
                "This domain publishes no server settings; the fields are a guess. Your provider can tell you the "
                "right ones."
            )
            return
        for endpoint, (host, port, security) in (
            (suggestion.imap, (self.imap_host, self.imap_port, self.imap_security)),
            (suggestion.smtp, (self.smtp_host, self.smtp_port, self.smtp_security)),
        ):
            if endpoint is not None:
                host.setText(endpoint.host)
                port.setValue(endpoint.port)
                security.setCurrentIndex(security.findData(endpoint.security.value))
        self.username.setText("" if suggestion.username == found.address else suggestion.username)
        self.servers_source.setText(f"Filled in from {suggestion.origin}. Check them; you can change any field.")

    def discovery_failed(self, address: str, message: str) -> None:
        if address == self.email.text().strip():
            self.servers_source.setText(f"The published server settings could not be looked up: {message}")

    def settings(self) -> AccountSettings | None:
        if not self.enabled.isChecked():
            return None
        ca = self.ca_file.text().strip()
        return AccountSettings(
            name=self.name.text().strip(),
            imap=Endpoint(self.imap_host.text().strip(), self.imap_port.value(), _security(self.imap_security)),
            smtp=Endpoint(self.smtp_host.text().strip(), self.smtp_port.value(), _security(self.smtp_security)),
            username=self.username.text().strip() or self.email.text().strip(),
            ca_file=Path(ca).expanduser() if ca else None,
        )

    def validatePage(self) -> bool:
        problem = self.problem()
        self.error.setText(problem)
        self.error.setVisible(bool(problem))
        return not problem

    def problem(self) -> str:
        if not self.enabled.isChecked():
            return ""
        if not self.name.text().strip() or "@" not in self.email.text():
            return "Give the account a name and your email address."
        if not self.password.text():
            return "The account password is needed to fetch your mail."
        if not self.imap_host.text().strip() or not self.smtp_host.text().strip():
            return "Both server names are needed."
        ca = self.ca_file.text().strip()
        if ca and not Path(ca).expanduser().is_file():
            return "The CA certificate file does not exist."
        return ""


class FirstRunWizard(QWizard):
    created = Signal(object)  # CreatedProfile

    def __init__(
        self, bridge: Bridge, default_location: Path, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._settings = settings
        self.result_profile: CreatedProfile | None = None
        self.setWindowTitle("Welcome to Salus")
        self.setAccessibleName("Create a Salus profile")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.profile_page = ProfilePage(default_location)
        self.account_page = AccountPage()
        self.addPage(self.profile_page)
        self.addPage(self.account_page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Create profile")
        self.account_page.discovery_requested.connect(self._on_account_page_discovery_requested)

    def _on_account_page_discovery_requested(self, address: str) -> None:
        page = self.account_page
        self._bridge.submit(
            suggest_servers(address, self._settings), page.apply_discovery, partial(page.discovery_failed, address)
        )

    def accept(self) -> None:
        if self.result_profile is not None:
            super().accept()
            return
        if not self.account_page.validatePage():
            return
        self.button(QWizard.WizardButton.FinishButton).setEnabled(False)
        self.account_page.error.setText("Creating the profile…")
        self.account_page.error.show()
        coroutine = create_reader(
            self._bridge.engine,
            Path(self.profile_page.location.text()).expanduser(),
            self.profile_page.passphrase.text(),
            self.account_page.settings(),
            self.account_page.password.text(),
            self._settings,
        )
        self._bridge.submit(coroutine, self._on_engine_created, self._on_engine_failed)

    def _on_engine_created(self, created: CreatedProfile) -> None:
        self.result_profile = created
        self.profile_page.passphrase.clear()
        self.profile_page.repeat.clear()
        self.account_page.password.clear()
        self.created.emit(created)
        super().accept()

    def _on_engine_failed(self, message: str) -> None:
        self.button(QWizard.WizardButton.FinishButton).setEnabled(True)
        self.account_page.error.setText(f"The profile could not be created: {message}")


def _line(accessible: str, text: str = "", *, password: bool = False) -> QLineEdit:
    line = QLineEdit(text)
    line.setAccessibleName(accessible)
    if password:
        line.setEchoMode(QLineEdit.EchoMode.Password)
    return line


def _error_label() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setStyleSheet("color: #b91c1c;")
    label.setAccessibleName("Problem")
    label.hide()
    return label


def _server(kind: str, port: int) -> tuple[QLineEdit, QSpinBox, QComboBox]:
    host = _line(f"{kind} server name")
    number = QSpinBox()
    number.setRange(1, 65535)
    number.setValue(port)
    number.setAccessibleName(f"{kind} port")
    security = QComboBox()
    security.addItem("TLS", Security.TLS.value)
    security.addItem("STARTTLS", Security.STARTTLS.value)
    security.setAccessibleName(f"{kind} connection security")
    return host, number, security


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for position, widget in enumerate(widgets):
        row.addWidget(widget, 1 if position == 0 else 0)
    return row


def _security(box: QComboBox) -> Security:
    return Security(str(box.currentData()))
