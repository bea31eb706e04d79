"""The window's use cases as Qt signals: each request goes to the engine through the bridge, each outcome
comes back as a domain signal on the GUI thread.

Rules:
- Signals carry snapshots (frozen dataclasses), never live objects of the engine thread.
- At most one sync runs at a time; cancelling it is always possible and never an error.
- Errors are reported through `error_reported` with text a user can act on; nothing here opens a modal box.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from app.core.models import FolderId, MessageRowId, SyncCounts
from app.services.opening import Encryption
from app.services.reader import OpenedMessage, Reader
from app.services.remote_content import RemoteScope
from app.store.browse import MessageSummary, Order, Page, PageCursor
from app.ui.bridge import Bridge, Ticket
from app.ui.html_safety import SafeHtml, sanitise_html

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RemoteState:
    """What the reader may offer about the message's remote images."""

    policy_allows: bool = False
    sender: str = ""  # the From addr-spec, lower case ("" when there is none)
    sender_allowed: bool = False  # the user chose "always" for this sender, and policy still allows it


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """An opened message with its HTML body already made safe (on the engine thread, not the GUI's)."""

    opened: OpenedMessage
    html: SafeHtml | None
    remote: RemoteState = RemoteState()


class MailController(QObject):
    folders_loaded = Signal(object)  # tuple[AccountNode, ...]
    message_opened = Signal(object)  # RenderedMessage
    messages_changed = Signal(object)  # list[MessageSummary]: new snapshots of rows whose flags changed
    messages_removed = Signal(object)  # tuple[MessageRowId, ...]
    unread_changed = Signal(object)  # dict[FolderId, int]: how much each folder's unread count moved
    search_finished = Signal(str, object)  # query, list[MessageSummary]
    sync_started = Signal()
    sync_progressed = Signal(str, int, int)  # folder, stored, to store
    sync_finished = Signal(object)  # dict[str, SyncCounts]
    sync_cancelled = Signal()
    sync_failed = Signal(str)
    attachment_exported = Signal(str, bool)  # path, opened
    error_reported = Signal(str)
    notice_reported = Signal(str)
    remote_images_loaded = Signal(object)  # LoadedImages
    remote_images_failed = Signal(int, str)  # message id, why
    remote_sender_forgotten = Signal(str, bool)  # address, whether there was a choice to forget

    def __init__(self, bridge: Bridge, reader: Reader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.reader = reader
        self._sync: Ticket | None = None
        self._open: Ticket | None = None

    @property
    def bridge(self) -> Bridge:
        """The bridge, for windows (the composer) that run their own use cases on the engine thread."""
        return self._bridge

    @property
    def syncing(self) -> bool:
        return self._sync is not None and not self._sync.done

    def load_folders(self) -> None:
        self._submit(self.reader.folder_tree(), self.folders_loaded.emit)

    def request_page(
        self, folder: FolderId, order: Order, after: PageCursor | None, on_done: Callable[[Page], None]
    ) -> None:
        self._submit(self.reader.page(folder, order, after), on_done)

    def open_message(self, message_id: MessageRowId) -> None:
        if self._open is not None:
            self._open.cancel()  # the user moved on: only the last selection is worth showing
        self._open = self._submit(_render(self.reader, message_id), self.message_opened.emit)

    def load_remote_images(self, rendered: RenderedMessage, scope: RemoteScope) -> None:
        urls = rendered.html.remote_images if rendered.html is not None else ()
        message_id = rendered.opened.id
        self._bridge.submit(
            self.reader.load_remote_images(message_id, rendered.remote.sender, urls, scope),
            self.remote_images_loaded.emit,
            lambda reason: self.remote_images_failed.emit(message_id, reason),
        )

    def forget_remote_sender(self, address: str) -> None:
        self._submit(
            self.reader.forget_remote_sender(address), lambda had: self.remote_sender_forgotten.emit(address, had)
        )

    def set_seen(self, ids: Sequence[MessageRowId], seen: bool) -> None:
        self._submit(self.reader.set_seen(list(ids), seen), lambda rows: self._on_reader_seen_written(rows, seen))

    def set_flagged(self, ids: Sequence[MessageRowId], flagged: bool) -> None:
        self._submit(self.reader.set_flagged(list(ids), flagged), self.messages_changed.emit)

    def delete(self, ids: Sequence[MessageRowId]) -> None:
        self._submit(self.reader.delete(list(ids)), self._on_reader_messages_removed)

    def move(self, ids: Sequence[MessageRowId], target: FolderId) -> None:
        self._submit(self.reader.move(list(ids), target), self._on_reader_messages_removed)

    def search(self, text: str) -> None:
        self._submit(self.reader.search(text), lambda hits: self.search_finished.emit(text, hits))

    def export_attachment(self, message_id: MessageRowId, part: str, destination: Path, *, opened: bool) -> None:
        self._submit(
            self.reader.export_attachment(message_id, part, destination, opened=opened),
            lambda _size: self.attachment_exported.emit(str(destination), opened),
        )

    def start_sync(self) -> None:
        if self.syncing:
            return
        self.sync_started.emit()
        self._sync = self._bridge.submit(
            self.reader.sync(self._progress, self._warn),
            self._on_reader_sync_finished,
            self._on_reader_sync_failed,
            self._on_reader_sync_cancelled,
        )

    def cancel_sync(self) -> None:
        if self._sync is not None:
            self._sync.cancel()

    def forget(self) -> None:
        """Drops the handle of the last opened message, whose finished future holds the decrypted mail (the
        lock screen calls this after dropping the window's snapshots)."""
        if self._open is not None:
            self._open.cancel()
            self._open = None

    def close(self) -> Reader:
        """Stops what is running and hands the reader back for the bridge to close on the engine thread."""
        self.cancel_sync()
        return self.reader

    # Called on the engine thread by the sync; `post` carries them over to the GUI thread.
    def _progress(self, folder: str, done: int, total: int) -> None:
        self._bridge.post(lambda: self.sync_progressed.emit(folder, done, total))

    def _warn(self, message: str) -> None:
        self._bridge.post(lambda: self.notice_reported.emit(message))

    def _on_reader_seen_written(self, rows: list[MessageSummary], seen: bool) -> None:
        self.messages_changed.emit(rows)
        # Only rows whose state really changed come back, so each moves its folder's count by exactly one.
        delta = Counter(row.folder_id for row in rows)
        self.unread_changed.emit({folder: -n if seen else n for folder, n in delta.items()})

    def _on_reader_messages_removed(self, ids: tuple[MessageRowId, ...]) -> None:
        self.messages_removed.emit(ids)
        self.load_folders()

    def _on_reader_sync_finished(self, counts: dict[str, SyncCounts]) -> None:
        self.sync_finished.emit(counts)
        self.load_folders()

    def _on_reader_sync_failed(self, message: str) -> None:
        self.sync_failed.emit(message)
        self.load_folders()  # what was stored before the failure is kept and worth showing

    def _on_reader_sync_cancelled(self) -> None:
        self.sync_cancelled.emit()
        self.load_folders()

    def _submit(self, coroutine: Coroutine[Any, Any, T], on_done: Callable[[T], None]) -> Ticket:
        return self._bridge.submit(coroutine, on_done, self.error_reported.emit)


async def _render(reader: Reader, message_id: MessageRowId) -> RenderedMessage:
    opened = await reader.open_message(message_id)
    html = opened.message.html
    # nh3 is fast, but a hostile message can hold megabytes of markup: keep even that off the engine loop.
    safe = await asyncio.to_thread(sanitise_html, html) if html else None
    sender = opened.message.sender[0].addr.strip().lower() if opened.message.sender else ""
    # A decrypted message never loads remote content (EFAIL; refused by app.services.remote_content as well), so
    # the reader neither offers it nor loads it for an "always" sender.
    decrypted = opened.verdict.encryption in (Encryption.PGP, Encryption.SMIME)
    remote = RemoteState(reader.remote_content_allowed and not decrypted, sender)
    if safe is not None and safe.remote_images and remote.policy_allows and sender:
        remote = RemoteState(True, sender, await reader.remote_sender_allowed(sender))
    return RenderedMessage(opened, safe, remote)
