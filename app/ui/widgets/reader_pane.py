"""The reading pane: the header of the open message, warnings, the body and the attachments.

Rules:
- Every text taken from a message is shown as plain text (`Qt.PlainText`), never guessed into markup; only
  the sanitised HTML body is markup, and it is shown by `SafeTextBrowser`, which loads nothing.
- The sender's real address is always shown beside the display name, and a display name that looks like a
  different address is called out.
- Encryption and signature state come only from the verification verdict (`app.ui.security_text`), never
  from what the message says about itself.
- Remote images are shown only from bytes the engine fetched on the user's request (`show_remote_images`),
  and only for the message they were fetched for.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QFont, QImage
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.mime.parse import Address, Attachment
from app.services.remote_content import LoadedImages, RemoteScope
from app.ui.controller import RenderedMessage
from app.ui.formatting import long_date
from app.ui.models.attachments import AttachmentListModel
from app.ui.security_text import Level, security_text
from app.ui.widgets.banner import Banner, BannerKind
from app.ui.widgets.remote_bar import RemoteContentBar
from app.ui.widgets.safe_browser import SafeTextBrowser

_BANNER_KINDS = {
    Level.GOOD: BannerKind.GOOD,
    Level.NOTICE: BannerKind.INFO,
    Level.WARNING: BannerKind.WARNING,
    Level.DANGER: BannerKind.ERROR,
}
_ADDRESS_LIKE = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+\.[^\s<>@\"']+")


class ReaderPane(QStackedWidget):
    attachment_save_requested = Signal(object)  # Attachment
    attachment_open_requested = Signal(object)  # Attachment
    link_activated = Signal(QUrl)
    link_hovered = Signal(str)
    remote_images_requested = Signal(object, object)  # RenderedMessage, RemoteScope
    remote_sender_forget_requested = Signal(str)  # the sender's address

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Reading pane")
        self.shown: RenderedMessage | None = None
        self._loading: RemoteScope | None = None
        self._loaded: LoadedImages | None = None  # the images fetched for the message on display, if any
        self._placeholder = QLabel("Select a message to read it.")
        self._placeholder.setEnabled(False)
        self._placeholder.setAccessibleName("No message selected")
        self.addWidget(self._placeholder)
        self.addWidget(self._build_content())
        self._placeholder.setMargin(24)

    def _build_content(self) -> QWidget:
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(12, 10, 12, 8)
        self.subject = _label("Subject", selectable=True)
        font = QFont(self.subject.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.subject.setFont(font)
        self.sender_name = _label("Sender name", selectable=True)
        self.sender_name.setFont(_bold(self.sender_name.font()))
        self.sender_address = _label("Sender address", selectable=True)
        self.sender_address.setProperty("role", "address")
        sender_row = QHBoxLayout()
        sender_row.addWidget(self.sender_name)
        sender_row.addWidget(self.sender_address, 1)
        self.recipients = _label("Recipients", selectable=True)
        self.date = _label("Date")
        self.impersonation = Banner(BannerKind.WARNING, "Warning about the sender's name")
        self.remote = RemoteContentBar()
        self.remote.load_requested.connect(self._on_remote_load_requested)
        self.remote.forget_requested.connect(self._on_remote_forget_requested)
        self.problems = Banner(BannerKind.WARNING, "Problems with this message")
        self.security = Banner(BannerKind.INFO, "Encryption and signature")
        self.browser = SafeTextBrowser()
        self.browser.setAccessibleName("Message body")
        self.browser.setFrameShape(QFrame.Shape.NoFrame)
        self.browser.link_activated.connect(self.link_activated)
        self.browser.link_hovered.connect(self.link_hovered)
        layout.addWidget(self.subject)
        layout.addLayout(sender_row)
        for widget in (self.recipients, self.date, self.security, self.impersonation, self.remote, self.problems):
            layout.addWidget(widget)
        layout.addWidget(self.browser, 1)
        layout.addWidget(self._build_attachments())
        return content

    def _build_attachments(self) -> QWidget:
        self.attachments_box = QWidget()
        row = QHBoxLayout(self.attachments_box)
        row.setContentsMargins(0, 0, 0, 0)
        self.attachments = AttachmentListModel(self)
        self.attachment_view = QListView()
        self.attachment_view.setModel(self.attachments)
        self.attachment_view.setAccessibleName("Attachments")
        self.attachment_view.setFlow(QListView.Flow.LeftToRight)
        self.attachment_view.setWrapping(True)
        self.attachment_view.setMaximumHeight(64)
        self.attachment_view.doubleClicked.connect(lambda index: self._request(opened=True, row=index.row()))
        self.save_button = QPushButton("Save…")
        self.save_button.setAccessibleName("Save the selected attachment")
        self.save_button.clicked.connect(lambda: self._request(opened=False))
        self.open_button = QPushButton("Open…")
        self.open_button.setAccessibleName("Open the selected attachment in another program")
        self.open_button.clicked.connect(lambda: self._request(opened=True))
        row.addWidget(self.attachment_view, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.open_button)
        return self.attachments_box

    def show_message(self, rendered: RenderedMessage, *, prefer_plain: bool = False) -> None:
        if self._loaded is not None and self._loaded.message_id != rendered.opened.id:
            self._loaded = None
        self.shown = rendered
        message = rendered.opened.message
        self.subject.setText(message.subject or "(no subject)")
        name, address = _sender_texts(message.sender)
        self.sender_name.setText(name)
        self.sender_address.setText(address)
        self.recipients.setText(_recipients(message.to, message.cc))
        self.date.setText(long_date(message.date))
        self.impersonation.show_text(_impersonation(message.sender))
        level, security = security_text(rendered.opened.verdict)
        self.security.set_kind(_BANNER_KINDS[level])
        self.security.show_text(security)
        self._show_body(rendered, prefer_plain)
        problems = "; ".join(message.problems)
        self.problems.show_text(f"This message is damaged or unusual: {problems}." if problems else "")
        self.attachments.set_attachments(message.attachments)
        self.attachments_box.setVisible(bool(message.attachments))
        if message.attachments:
            self.attachment_view.setCurrentIndex(self.attachments.index(0, 0))
        self.setCurrentIndex(1)

    def _show_body(self, rendered: RenderedMessage, prefer_plain: bool) -> None:
        message = rendered.opened.message
        self.browser.clear()
        if rendered.html is not None and not (prefer_plain and message.text.strip()):
            images = len(rendered.html.remote_images)
            remote = rendered.remote
            self.remote.show_blocked(
                images, rendered.html.blocked - images, allowed=remote.policy_allows, sender_known=bool(remote.sender)
            )
            self.browser.setHtml(rendered.html.markup)
            if self._loaded is not None and self._loaded.message_id == rendered.opened.id:
                self.show_remote_images(self._loaded)  # shown again (plain text toggled): no second fetch
            elif images and remote.policy_allows and remote.sender_allowed:
                self._on_remote_load_requested(RemoteScope.SENDER_RULE)
        else:
            self.remote.show_text("")
            self.browser.setPlainText(message.text)

    def show_remote_images(self, loaded: LoadedImages) -> None:
        """Shows the images fetched for the message on display; a late answer for another message is dropped."""
        shown = self.shown
        if shown is None or shown.html is None or shown.opened.id != loaded.message_id:
            return
        self._loaded = loaded
        images: dict[int, QImage] = {}
        failures = list(loaded.failures)
        for number, fetched in loaded.images:
            image = QImage.fromData(fetched.data)
            if image.isNull():
                failures.append(f"the {fetched.media_type} data could not be decoded")
            else:
                images[number] = image
        self.browser.show_images(shown.html.showing(frozenset(images)), images)
        self.remote.show_loaded(len(images), tuple(failures), by_sender_rule=self._loading is RemoteScope.SENDER_RULE)

    def remote_images_failed(self, message_id: int, reason: str) -> None:
        if self.shown is not None and self.shown.opened.id == message_id:
            self.remote.show_text(f"Remote images were not loaded: {reason}")

    def remote_sender_forgotten(self, address: str, _had_choice: bool) -> None:
        if self.shown is not None and self.shown.remote.sender == address:
            self.remote.show_loaded_forgotten()

    def _on_remote_load_requested(self, scope: RemoteScope) -> None:
        if self.shown is None or self.shown.html is None:
            return
        self._loading = scope
        self.remote.show_loading(len(self.shown.html.remote_images))
        self.remote_images_requested.emit(self.shown, scope)

    def _on_remote_forget_requested(self) -> None:
        if self.shown is not None and self.shown.remote.sender:
            self.remote_sender_forget_requested.emit(self.shown.remote.sender)

    def clear(self) -> None:
        self.shown = None
        self._loaded = None
        self.browser.clear()
        self.attachments.set_attachments(())
        for label in (self.subject, self.sender_name, self.sender_address, self.recipients, self.date):
            label.clear()
        self.setCurrentIndex(0)

    def _request(self, *, opened: bool, row: int | None = None) -> None:
        index = self.attachment_view.currentIndex() if row is None else self.attachments.index(row, 0)
        if not index.isValid():
            return
        attachment: Attachment = self.attachments.attachment(index.row())
        (self.attachment_open_requested if opened else self.attachment_save_requested).emit(attachment)


def _label(accessible: str, *, selectable: bool = False) -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setAccessibleName(accessible)
    if selectable:
        label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
    return label


def _bold(font: QFont) -> QFont:
    result = QFont(font)
    result.setBold(True)
    return result


def _sender_texts(sender: tuple[Address, ...]) -> tuple[str, str]:
    if not sender:
        return "(no sender)", ""
    first = sender[0]
    more = f" and {len(sender) - 1} more" if len(sender) > 1 else ""
    return first.name or first.addr, f"<{first.addr}>{more}" if first.addr else "(no address)"


def _recipients(to: tuple[Address, ...], cc: tuple[Address, ...]) -> str:
    def joined(addresses: tuple[Address, ...]) -> str:
        return ", ".join(f"{a.name} <{a.addr}>" if a.name else a.addr for a in addresses)

    text = f"To: {joined(to)}" if to else "To: (nobody)"
    return f"{text}\nCc: {joined(cc)}" if cc else text


def _impersonation(sender: tuple[Address, ...]) -> str:
    """A warning when a display name names an address that is not the sender's (a common phishing trick)."""
    for address in sender:
        claimed = {m.lower() for m in _ADDRESS_LIKE.findall(address.name)}
        if claimed and claimed != {address.addr.lower()}:
            return f"The sender's name looks like an email address, but this message was sent from <{address.addr}>."
    return ""
