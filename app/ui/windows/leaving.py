"""What the reading pane asks for that leaves the vault: following a link, saving or opening an attachment.

Rules:
- Only web and mail links are followed, and only after the user has seen the full target and said yes.
- A mailto: link loses every field but To, Cc, Subject and Body before anyone sees it (RFC 6068, "Mailto: Me
  Your Secrets"), so the system's mail program cannot be told to attach the user's files.
- Saving or opening an attachment is an explicit export (DESIGN.md §3): the user chooses or confirms where the
  unencrypted copy goes, the file is written with private permissions, and the engine records it in the audit
  log before anything else sees it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QUrl, Signal
from PySide6.QtWidgets import QWidget

from app.mime.mailto import safe_mailto
from app.mime.parse import Attachment
from app.ui.controller import MailController
from app.ui.models.attachments import display_name
from app.ui.widgets.reader_pane import ReaderPane
from app.ui.windows.dialogs import Dialogs

LINK_SCHEMES = ("http", "https", "mailto")


class LeavingTheVault(QObject):
    status_changed = Signal(str)

    def __init__(
        self, window: QWidget, controller: MailController, reader: ReaderPane, dialogs: Dialogs, exports: Path
    ) -> None:
        super().__init__(window)
        self._window, self._controller, self._reader, self._dialogs = window, controller, reader, dialogs
        self.exports = exports
        reader.link_activated.connect(self._on_reader_link_activated)
        reader.attachment_save_requested.connect(self._on_reader_attachment_save_requested)
        reader.attachment_open_requested.connect(self._on_reader_attachment_open_requested)
        controller.attachment_exported.connect(self._on_controller_attachment_exported)

    def _on_reader_link_activated(self, url: QUrl) -> None:
        if url.scheme().lower() not in LINK_SCHEMES:
            self.status_changed.emit("This link was disabled: it is not a web or email address.")
            return
        note = ""
        if url.scheme().lower() == "mailto":
            # "Mailto: Me Your Secrets" (Müller et al. 2020): the system's mail program may attach local files
            # named by `attach=`; only To, Cc, Subject and Body are passed on (app.mime.mailto).
            safe = safe_mailto(url.toString(QUrl.ComponentFormattingOption.FullyEncoded))
            if safe is None:
                self.status_changed.emit("This link was disabled: it is not a usable email address.")
                return
            url = QUrl(safe.url, QUrl.ParsingMode.StrictMode)
            if safe.dropped:
                note = f"\n\nRemoved from the link for your safety: {', '.join(safe.dropped)}."
        question = f"Open this address in your browser or mail program?\n\n{url.toString()}{note}"
        if self._dialogs.confirm(self._window, "Open link", question):
            self._dialogs.open_external(url)

    def _on_reader_attachment_save_requested(self, attachment: Attachment) -> None:
        shown = self._reader.shown
        if shown is None:
            return
        path = self._dialogs.choose_save_path(self._window, self.exports / file_name(attachment))
        if path is not None:
            self._controller.export_attachment(shown.opened.id, attachment.part, path, opened=False)

    def _on_reader_attachment_open_requested(self, attachment: Attachment) -> None:
        shown = self._reader.shown
        if shown is None:
            return
        path = unique(self.exports / file_name(attachment))
        question = (
            f"Salus will save “{display_name(attachment)}” unencrypted to\n{path}\nand open it with another "
            "program. The copy stays there until you delete it. The export is recorded in the access log."
        )
        if self._dialogs.confirm(self._window, "Open attachment", question):
            self.exports.mkdir(parents=True, exist_ok=True)
            self._controller.export_attachment(shown.opened.id, attachment.part, path, opened=True)

    def _on_controller_attachment_exported(self, path: str, opened: bool) -> None:
        self.status_changed.emit(f"{'Opened' if opened else 'Saved'} {path}")
        if opened:
            self._dialogs.open_external(QUrl.fromLocalFile(path))


def file_name(attachment: Attachment) -> str:
    """The name to save under: the message's (already without any path), never hidden, never empty."""
    name = attachment.filename.strip().lstrip(".")
    return name or f"attachment-{attachment.part}.bin"


def unique(path: Path) -> Path:
    candidate, counter = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem} ({counter}){path.suffix}")
        counter += 1
    return candidate


def default_exports() -> Path:
    downloads = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation)
    return Path(downloads or Path.home()) / "Salus"
