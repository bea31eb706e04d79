"""What the main window does with the vault: folders, pages of messages, reading, flags, moves, exports, sync.

Rules:
- Every public method is a coroutine for the engine loop (DESIGN.md §2). Blocking work runs through
  `Engine.db` (the vault's single thread) or `Engine.imap` (the IMAP thread); nothing here knows Qt.
- What the user changes (seen, flagged, deleted, moved) is written to the server first and to the vault only
  after the server accepted it, so a refusal leaves both as they were and the window can say why. Accounts on
  a `.invalid` host, such as the demo, can have no server (RFC 6761 §6.4): their changes go to the vault only.
- Opening a message and exporting an attachment are recorded in the audit log in the same step that reads
  the vault (DESIGN.md §8); an export whose file cannot be written leaves no audit entry behind.
- A message is opened by `app.services.opening` (decryption, signature verification, EFAIL rules) on the
  crypto thread; what the window shows about encryption and signatures comes only from that verdict.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import groupby
from pathlib import Path
from typing import Any, TypeVar

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import AppError, MailError, UnlockError, UsageError
from app.core.models import Account, AccountId, FolderId, MessageRowId, SyncCounts
from app.core.query import parse_query
from app.core.settings import Settings
from app.mail.imap.session import ImapSession
from app.mime.compose import OutgoingAttachment
from app.mime.headers import header_str
from app.mime.parse import ParsedMessage
from app.mime.protected import encrypted_payload
from app.mime.structure import DEFAULT_LIMITS, walk
from app.mime.transfer import decode_transfer, normalise_cte
from app.services import opening, remote_content
from app.services.accounts import AccountSettings, add_account
from app.services.engine import Engine
from app.services.forwarding import forwarded_attachments
from app.services.harvest import after_store
from app.services.policy_audit import policy_of
from app.services.profile import Session, create_profile, unlock
from app.services.sync import Progress, Warn, sync_account
from app.services.user_settings import effective_for
from app.store import browse, workstation
from app.store import mail as store
from app.store.browse import FolderCount, MessageLocation, MessageSummary, Order, Page, PageCursor
from app.store.files import write_private_atomic
from app.store.mail import vault_only

T = TypeVar("T")

PAGE_SIZE = 500
SEARCH_LIMIT = 500
CLOSE_TIMEOUT = 5.0
SEEN = "\\Seen"
FLAGGED = "\\Flagged"
_TRASH_NAMES = ("trash", "deleted items", "deleted messages", "papierkorb", "corbeille")


@dataclass(frozen=True, slots=True)
class FolderNode:
    id: FolderId | None  # None: a level of the hierarchy the server does not list as a folder of its own
    name: str  # the last component of the display name
    path: str  # the full display name
    total: int
    unread: int
    children: tuple[FolderNode, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountNode:
    id: AccountId
    name: str
    folders: tuple[FolderNode, ...]


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    id: MessageRowId
    account: str
    folder: str
    uid: int
    verdict: opening.OpenedMessage  # what decryption and verification established, and the message to show

    @property
    def message(self) -> ParsedMessage:
        return self.verdict.message


@dataclass(frozen=True, slots=True)
class CreatedProfile:
    reader: Reader
    account_problem: str | None  # the profile exists; only adding the account failed, for this reason


async def unlock_reader(
    engine: Engine, directory: Path, passphrase: str, settings: Settings, totp_code: str | None = None
) -> Reader:
    """`settings` are the managed ones (policy and defaults, from `current_settings()`); the person's own
    settings stored in the vault are applied on top of them here."""
    session = await engine.db(partial(unlock, directory, passphrase, totp_code=totp_code))
    policy = policy_of(settings)
    return Reader(engine, session, await engine.db(effective_for, session, policy), policy)


async def create_reader(
    engine: Engine,
    directory: Path,
    passphrase: str,
    account: AccountSettings | None,
    password: str,
    settings: Settings,
) -> CreatedProfile:
    session = await engine.db(create_profile, directory, passphrase)
    problem = None
    if account is not None:
        try:
            await engine.db(add_account, session, account, password)
        except AppError as exc:
            problem = str(exc)
    return CreatedProfile(Reader(engine, session, settings, policy_of(settings)), problem)


def is_local_only(account: Account) -> bool:
    return account.imap.host.lower().rstrip(".").endswith(".invalid")


class Reader:
    def __init__(
        self, engine: Engine, session: Session, settings: Settings, policy: Mapping[str, Any] | None = None
    ) -> None:
        self._engine = engine
        self.policy: Mapping[str, Any] = policy if policy is not None else policy_of(settings)
        self._current: Session | None = session  # None while locked (DESIGN.md §7)
        self._profile_dir = session.profile_dir
        self._settings = settings
        self._servers = _Servers(engine, lambda: self._session)
        self._sync_task: asyncio.Task[Any] | None = None
        # Whether unlocking again needs an authenticator code; refreshed from the vault at each lock.
        self.needs_code = bool(settings["unlock_requires_totp"])

    @property
    def profile_dir(self) -> Path:
        return self._profile_dir

    @property
    def _session(self) -> Session:
        if self._current is None:
            raise UsageError("Salus is locked; unlock it to go on.")
        return self._current

    @property
    def locked(self) -> bool:
        return self._current is None

    @property
    def settings(self) -> Settings:
        return self._settings

    def use_settings(self, settings: Settings) -> None:
        """After the person changed their settings (`app.services.user_settings.save`)."""
        self._settings = settings

    async def in_vault(self, func: Callable[..., T], *args: object) -> T:
        """Runs `func(session, *args)` on the vault's thread, for use cases kept in their own service modules
        (the access log, settings); raises `UsageError` while locked."""
        return await self._engine.db(lambda: func(self._session, *args))

    async def audit_lock(self, reason: str) -> None:
        """Records the lock in the audit chain, which lives in the vault: called before `lock`."""
        if self._current is not None:
            await self._db(self._session.audit.record, AuditEvent.LOCKED, utc_now(), detail={"reason": reason})

    async def lock(self) -> None:
        """Stops the sync (it needs the vault), logs out of the servers and closes the vault.

        The data key lives in SQLCipher's connection (freed with it) and in subkeys held by the `Session`, which
        is dropped here; Python cannot wipe immutable `bytes`/`str`, so copies stay in freed memory until reused.
        """
        if self._current is None:
            return
        task, self._sync_task = self._sync_task, None
        if task is not None and not task.done():
            task.cancel()  # it records its own cancellation in the audit log, so the vault stays open for it
            await asyncio.gather(task, return_exceptions=True)
        try:
            await asyncio.wait_for(self._servers.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            pass
        finally:
            session, self._current = self._current, None
            self._servers = _Servers(self._engine, lambda: self._session)
            if session is not None:
                try:
                    enrolled = await self._engine.db(workstation.second_factor, session.vault)
                    self.needs_code = bool(self._settings["unlock_requires_totp"]) or enrolled is not None
                finally:
                    await self._engine.db(session.close)

    async def unlock_again(self, passphrase: str, totp_code: str | None = None) -> bool:
        """Reopens the vault after a lock; False for a wrong passphrase or authenticator code (recorded by
        `unlock` for the audit log)."""
        if self._current is not None:
            return True
        try:
            session = await self._engine.db(partial(unlock, self._profile_dir, passphrase, totp_code=totp_code))
        except UnlockError:
            return False
        self._current = session
        return True

    async def folder_tree(self) -> tuple[AccountNode, ...]:
        return build_tree(await self._db(browse.folder_counts, self._session.vault))

    async def page(self, folder: FolderId, order: Order, after: PageCursor | None, limit: int = PAGE_SIZE) -> Page:
        return await self._db(browse.page, self._session.vault, folder, order, after, limit)

    async def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[MessageSummary]:
        return await self._db(self._search, text, limit)

    def _search(self, text: str, limit: int) -> list[MessageSummary]:
        query = parse_query(text)
        hits = [] if query.is_empty else browse.search(self._session.vault, query, limit)
        self._session.audit.record(AuditEvent.SEARCH, utc_now(), detail={"query": text, "results": len(hits)})
        return hits

    async def open_message(self, message_id: MessageRowId) -> OpenedMessage:
        location, raw = await self._db(self._read, message_id)
        verdict = await self._engine.crypto(opening.open_message, self._session, self._settings, raw)
        return OpenedMessage(message_id, location.account, location.folder_display, location.uid, verdict)

    def _read(self, message_id: MessageRowId) -> tuple[MessageLocation, bytes]:
        location = self._location(message_id)
        raw = browse.raw_message(self._session.vault, message_id)
        self._session.audit.record(AuditEvent.MESSAGE_READ, utc_now(), target=_target(location))
        return location, raw

    @property
    def remote_content_allowed(self) -> bool:
        return remote_content.policy_allows(self._settings)

    async def remote_sender_allowed(self, sender: str) -> bool:
        return await self._db(remote_content.sender_allowed, self._session, self._settings, sender)

    async def load_remote_images(
        self, message_id: MessageRowId, sender: str, urls: tuple[str, ...], scope: remote_content.RemoteScope
    ) -> remote_content.LoadedImages:
        session = self._session
        return await remote_content.load_images(self._engine, session, self._settings, message_id, sender, urls, scope)

    async def forget_remote_sender(self, sender: str) -> bool:
        return await self._db(remote_content.forget_sender, self._session, sender)

    async def forward_attachments(self, message_id: MessageRowId) -> tuple[OutgoingAttachment, ...]:
        """The message's attachments as bytes for a forward: in memory only, decrypted again where needed."""
        raw = await self._db(browse.raw_message, self._session.vault, message_id)
        return await self._engine.crypto(forwarded_attachments, self._session, self._settings, raw)

    async def set_seen(self, ids: Sequence[MessageRowId], seen: bool) -> list[MessageSummary]:
        return await self._set_flag(ids, SEEN, seen)

    async def set_flagged(self, ids: Sequence[MessageRowId], flagged: bool) -> list[MessageSummary]:
        return await self._set_flag(ids, FLAGGED, flagged)

    async def _set_flag(self, ids: Sequence[MessageRowId], flag: str, present: bool) -> list[MessageSummary]:
        for account_id, folder, uids in await self._server_groups(ids):
            await self._servers.run(account_id, partial(ImapSession.store_flags, add=present), folder, uids, [flag])
        return await self._db(browse.set_flag, self._session.vault, ids, flag, present)

    async def delete(self, ids: Sequence[MessageRowId]) -> tuple[MessageRowId, ...]:
        """Moves the messages to the account's Trash; deletes them for good where there is none, or when they
        are in the Trash already."""
        for account_id, folder, uids in await self._server_groups(ids):
            trash = await self._servers.trash(account_id)
            if trash is not None and trash != folder:
                await self._servers.run(account_id, ImapSession.move_messages, folder, uids, trash)
            else:
                await self._servers.run(account_id, ImapSession.expunge_uids, folder, uids)
        await self._db(browse.remove, self._session.vault, ids)
        return tuple(ids)

    async def move(self, ids: Sequence[MessageRowId], target: FolderId) -> tuple[MessageRowId, ...]:
        counts = {c.folder_id: c for c in await self._db(browse.folder_counts, self._session.vault)}
        destination = counts.get(target)
        if destination is None:
            raise UsageError("The folder to move to no longer exists.")
        locations = await self._db(browse.locations, self._session.vault, ids)
        if any(loc.account_id != destination.account_id for loc in locations):
            raise UsageError("Messages can only be moved to a folder of their own account.")
        if vault_only(destination.server_name) or any(vault_only(loc.folder) for loc in locations):
            raise UsageError("Portal replies exist only in this vault; they cannot be moved to or from the server.")
        moving = [loc for loc in locations if loc.folder_id != target]
        for account_id, folder, uids in await self._server_groups([loc.id for loc in moving]):
            await self._servers.run(account_id, ImapSession.move_messages, folder, uids, destination.server_name)
        moved = tuple(loc.id for loc in moving)
        if await self._servers.local_only(destination.account_id):
            await self._db(browse.relocate, self._session.vault, moved, target)
        else:
            # The server gives the moved messages new UIDs; the next sync of the target folder fetches them.
            await self._db(browse.remove, self._session.vault, moved)
        return moved

    async def export_attachment(self, message_id: MessageRowId, part: str, destination: Path, *, opened: bool) -> int:
        """Writes one attachment to `destination` (private permissions) and records the export; returns its
        size. `opened` says the user asked to open it in another program rather than to save it."""
        return await self._db(self._export, message_id, part, destination, opened)

    def _export(self, message_id: MessageRowId, part: str, destination: Path, opened: bool) -> int:
        location = self._location(message_id)
        raw = browse.raw_message(self._session.vault, message_id)
        if encrypted_payload(raw) is not None:
            # The parts listed for an encrypted message are numbered inside its decrypted content, which is never
            # stored; exporting them needs the decryption step here too, which is not built yet.
            raise UsageError("Attachments of encrypted messages cannot be saved or opened yet.")
        data, content_type = attachment_bytes(raw, part)
        event = AuditEvent.ATTACHMENT_OPENED if opened else AuditEvent.ATTACHMENT_SAVED
        detail: dict[str, object] = {
            "part": part, "content_type": content_type, "size": len(data), "destination": str(destination),
        }  # fmt: skip
        with self._session.vault.transaction():
            self._session.audit.record_in_transaction(event, utc_now(), target=_target(location), detail=detail)
            write_private_atomic(destination, data)
        return len(data)

    async def sync(self, progress: Progress, warn: Warn) -> dict[str, SyncCounts]:
        self._sync_task = asyncio.current_task()  # a lock cancels it before closing the vault
        accounts = [a for a in await self._db(store.list_accounts, self._session.vault) if not is_local_only(a)]
        results: dict[str, SyncCounts] = {}
        learn = after_store(self._session, self._settings, self._engine)  # keys, and indexing decrypted mail
        for account in accounts:
            password = await self._db(store.account_password, self._session.vault, account.id)
            try:
                counts = await sync_account(self._engine, self._session.vault, account, password, progress, warn, learn)
            except AppError as exc:
                await self._audit_sync(account.name, None, str(exc))
                raise
            except asyncio.CancelledError:
                # Every stored batch is committed, so the next sync resumes after it; the log says it stopped.
                await self._audit_sync(account.name, None, "cancelled by the user")
                raise
            await self._audit_sync(account.name, counts, None)
            results[account.name] = counts
        return results

    async def _audit_sync(self, account: str, counts: SyncCounts | None, error: str | None) -> None:
        detail: dict[str, object] = {"ok": error is None}
        if counts is not None:
            detail.update(new=counts.new, updated=counts.updated, deleted=counts.deleted)
        if error is not None:
            detail["error"] = error
        await self._db(self._session.audit.record, AuditEvent.SYNC, utc_now(), target=account, detail=detail)

    async def close(self) -> None:
        if self._current is None:
            return  # locked: the servers were logged out of and the vault closed then
        try:
            # A server that stopped answering must not keep the vault open: logging out is a courtesy.
            await asyncio.wait_for(self._servers.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            pass
        finally:
            await self._db(self._session.close)

    async def _server_groups(self, ids: Sequence[MessageRowId]) -> list[tuple[AccountId, str, list[int]]]:
        """The messages' UIDs grouped by account and server folder, leaving out accounts without a server."""
        locations = await self._db(browse.locations, self._session.vault, ids)
        groups: list[tuple[AccountId, str, list[int]]] = []
        for (account_id, folder), members in groupby(locations, key=lambda loc: (loc.account_id, loc.folder)):
            if not vault_only(folder) and not await self._servers.local_only(account_id):
                groups.append((account_id, folder, [m.uid for m in members]))
        return groups

    def _location(self, message_id: MessageRowId) -> MessageLocation:
        found = browse.locations(self._session.vault, [message_id])
        if not found:
            raise UsageError("This message is no longer in the vault; a sync may have removed it.")
        return found[0]

    async def _db(self, func: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await self._engine.db(lambda: func(*args, **kwargs))


class _Servers:
    """One logged-in IMAP session per account for write-backs, opened on first use, reopened once if the
    connection was lost. Sync has its own connection, so a long sync never holds a flag change hostage to its
    folder selection."""

    def __init__(self, engine: Engine, session: Callable[[], Session]) -> None:
        self._engine = engine
        self._get_session = session  # the reader's current session, which a lock closes
        self._accounts: dict[AccountId, Account] = {}
        self._open: dict[AccountId, ImapSession] = {}
        self._trash: dict[AccountId, str | None] = {}
        self._locks: dict[AccountId, asyncio.Lock] = {}

    @property
    def _session(self) -> Session:
        return self._get_session()

    async def local_only(self, account_id: AccountId) -> bool:
        return is_local_only(await self._account(account_id))

    async def run(self, account_id: AccountId, operation: Callable[..., T], *args: Any) -> T:
        """Calls `operation(imap_session, *args)` on the IMAP thread."""
        async with self._locks.setdefault(account_id, asyncio.Lock()):
            imap = await self._connect(account_id)
            try:
                return await self._engine.imap(operation, imap, *args)
            except MailError as exc:
                if type(exc) is not MailError:  # refused, unauthenticated, insecure: retrying cannot help
                    raise
            await self._drop(account_id)
            return await self._engine.imap(operation, await self._connect(account_id), *args)

    async def trash(self, account_id: AccountId) -> str | None:
        if account_id not in self._trash:
            found = await self.run(account_id, ImapSession.special_folder, "\\Trash")
            if found is None:
                names = await self._engine.db(store.folders, self._session.vault, account_id)
                found = next((n for n in names if re.split(r"[/.]", n)[-1].lower() in _TRASH_NAMES), None)
            self._trash[account_id] = found
        return self._trash[account_id]

    async def _account(self, account_id: AccountId) -> Account:
        if account_id not in self._accounts:
            listed = await self._engine.db(store.list_accounts, self._session.vault)
            self._accounts = {a.id: a for a in listed}
        return self._accounts[account_id]

    async def _connect(self, account_id: AccountId) -> ImapSession:
        if account_id not in self._open:
            account = await self._account(account_id)
            password = await self._engine.db(store.account_password, self._session.vault, account.id)
            self._open[account_id] = await self._engine.imap(
                lambda: ImapSession.login(account.imap, account.username, password, ca_pem=account.ca_pem)
            )
        return self._open[account_id]

    async def _drop(self, account_id: AccountId) -> None:
        imap = self._open.pop(account_id, None)
        if imap is not None:
            await self._engine.imap(imap.close)

    async def close(self) -> None:
        for account_id in list(self._open):
            await self._drop(account_id)


def build_tree(counts: Sequence[FolderCount]) -> tuple[AccountNode, ...]:
    """Accounts with their folders nested by the server's hierarchy delimiter, the Inbox first."""
    accounts: list[AccountNode] = []
    for (account_id, name), folders in groupby(counts, key=lambda c: (c.account_id, c.account)):
        accounts.append(AccountNode(account_id, name, _nest(list(folders), "")))
    return tuple(accounts)


def _nest(folders: list[FolderCount], prefix: str) -> tuple[FolderNode, ...]:
    own: dict[str, FolderCount] = {}
    below: dict[str, list[FolderCount]] = {}
    for folder in folders:
        rest = folder.display_name[len(prefix) :]
        head, sep, _ = rest.partition(folder.delimiter) if folder.delimiter else (rest, "", "")
        below.setdefault(head, [])
        if sep:
            below[head].append(folder)
        else:
            own[head] = folder
    nodes = [_node(head, own.get(head), members, prefix) for head, members in below.items()]
    return tuple(sorted(nodes, key=lambda n: (n.path.upper() != "INBOX", n.name.casefold())))


def _node(head: str, folder: FolderCount | None, members: list[FolderCount], prefix: str) -> FolderNode:
    path = prefix + head
    delimiter = folder.delimiter if folder is not None else members[0].delimiter
    children = _nest(members, path + delimiter) if members else ()
    if folder is None:
        return FolderNode(None, head, path, 0, 0, children)
    return FolderNode(folder.folder_id, head, path, folder.total, folder.unread, children)


def with_unread_changes(accounts: tuple[AccountNode, ...], delta: dict[FolderId, int]) -> tuple[AccountNode, ...]:
    """The same tree with each folder's unread count moved by `delta`, so marking a message read does not
    need the whole tree recounted (which reads every message of the vault)."""
    return tuple(replace(a, folders=_shift(a.folders, delta)) for a in accounts)


def _shift(folders: tuple[FolderNode, ...], delta: dict[FolderId, int]) -> tuple[FolderNode, ...]:
    shifted = []
    for node in folders:
        change = delta.get(node.id, 0) if node.id is not None else 0
        unread = min(max(node.unread + change, 0), node.total)
        shifted.append(replace(node, unread=unread, children=_shift(node.children, delta)))
    return tuple(shifted)


def attachment_bytes(raw: bytes, part: str) -> tuple[bytes, str]:
    """The decoded content and media type of the leaf part numbered `part` (IMAP numbering)."""
    problems: list[str] = []
    for entity in walk(raw, DEFAULT_LIMITS, problems):
        if entity.number == part and not entity.media.startswith("multipart/"):
            values = entity.fields.get("content-transfer-encoding")
            cte = normalise_cte(header_str(values[0], f"part {part}", problems) if values else None)
            body = raw[entity.body_start : entity.body_end]
            return decode_transfer(body, cte, f"part {part}", problems), entity.media
    raise UsageError("This attachment is no longer in the message.")


def _target(location: MessageLocation) -> str:
    return f"{location.account}/{location.folder_display}/{location.uid}"
