"""Synchronising one account into the vault (issue: vault and sync).

The planner (`app.mail.imap.planner`) decides; this module executes the plan: IMAP on its thread, parsing in a
worker process, storing on the vault thread, with the next batch downloading while the previous one is parsed
and stored. Every batch is committed on its own, in ascending UID order, so a sync stopped at any moment resumes
where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from app.core.errors import CommandRefused
from app.core.models import Account, FolderId, SyncCounts
from app.mail.imap.planner import ExpungeCheck, FolderPlan, LocalFolderState, plan_folder
from app.mail.imap.planner import plan_folders as plan_folder_changes
from app.mail.imap.session import FetchedMessage, ImapSession, ServerFolder
from app.mime.parse import Address, ParsedMessage, escape_control_chars, parse_message
from app.mime.signed import smime_signature
from app.services.engine import Engine
from app.store import mail as store
from app.store.mail import AttachmentRow, FolderRow, MessageRecord
from app.store.vault import Vault

# Called after each stored batch: learning senders' keys, indexing decrypted content (see harvest.py).
AfterStore = Callable[[FolderId, "ParsedBatch"], Awaitable[None]]
Progress = Callable[[str, int, int], None]  # folder, messages stored so far, messages to store
Warn = Callable[[str], None]

BATCH_BYTES = 8 * 1024 * 1024
BATCH_MESSAGES = 500
MAX_INDEXED_CHARS = 1_000_000
PARSE_IN_PROCESS_BELOW = 200


@dataclass
class _Context:
    engine: Engine
    vault: Vault
    imap: ImapSession
    progress: Progress
    warn: Warn
    after_store: AfterStore | None


async def sync_account(
    engine: Engine,
    vault: Vault,
    account: Account,
    password: str,
    progress: Progress,
    warn: Warn,
    after_store: AfterStore | None = None,
) -> SyncCounts:
    imap = await engine.imap(lambda: ImapSession.login(account.imap, account.username, password, ca_pem=account.ca_pem))
    ctx = _Context(engine, vault, imap, progress, warn, after_store)
    try:
        folders, dropped = await _reconcile_folders(ctx, account)
        counts = SyncCounts(deleted=dropped)
        for folder in folders:
            try:
                counts += await _sync_folder(ctx, folder)
            except CommandRefused as exc:
                # A folder that vanished between LIST and SELECT, or that this user may not read, must not stop
                # the other folders; it is retried at the next sync.
                ctx.warn(f"Folder {folder.display_name!r} was skipped: {exc}")
        return counts
    finally:
        await engine.imap(imap.close)


async def _reconcile_folders(ctx: _Context, account: Account) -> tuple[list[FolderRow], int]:
    """Creates folders new on the server, drops those gone from it; returns the folders to sync and how many
    cached messages went with the dropped ones."""
    listed = [f for f in await ctx.engine.imap(ctx.imap.list_folders) if f.selectable]
    cached = await ctx.engine.db(store.folders, ctx.vault, account.id)
    changes = plan_folder_changes(frozenset(cached), frozenset(f.name for f in listed))
    by_name: dict[str, ServerFolder] = {f.name: f for f in listed}
    for name in changes.added:
        folder = by_name[name]
        await ctx.engine.db(store.add_folder, ctx.vault, account.id, name, escape_control_chars(name), folder.delimiter)
    dropped = 0
    for name in changes.removed:
        dropped += await ctx.engine.db(store.remove_folder, ctx.vault, cached[name].id)
    current = await ctx.engine.db(store.folders, ctx.vault, account.id)
    return [current[f.name] for f in listed], dropped


async def _sync_folder(ctx: _Context, folder: FolderRow) -> SyncCounts:
    server = await ctx.engine.imap(ctx.imap.select, folder.server_name)
    max_uid, count = await ctx.engine.db(store.folder_content, ctx.vault, folder.id)
    local = LocalFolderState(folder.uidvalidity, folder.uidnext, folder.highestmodseq, max_uid, count)
    plan = plan_folder(local, server, qresync=ctx.imap.qresync)
    if plan.up_to_date:
        return SyncCounts()
    deleted = 0
    if folder.uidvalidity != server.uidvalidity:
        deleted += await ctx.engine.db(store.reset_folder, ctx.vault, folder.id, server.uidvalidity)
    updated, removed = await _sync_flags_and_expunges(ctx, folder.id, plan, max_uid)
    new = 0
    if plan.fetch_from_uid is not None:
        new = await _fetch_new(ctx, folder, plan.fetch_from_uid)
    await ctx.engine.db(store.complete_folder, ctx.vault, folder.id, server.uidnext, server.highestmodseq or 0)
    return SyncCounts(new=new, updated=updated, deleted=deleted + removed)


async def _sync_flags_and_expunges(
    ctx: _Context, folder_id: FolderId, plan: FolderPlan, max_uid: int
) -> tuple[int, int]:
    updated = removed = 0
    if (plan.flags_changed_since is not None or plan.refetch_all_flags) and max_uid > 0:
        updates, vanished = await ctx.engine.imap(ctx.imap.fetch_flags, f"1:{max_uid}", plan.flags_changed_since)
        rows = [(u.uid, u.flags, u.modseq) for u in updates if u.uid <= max_uid]
        updated = await ctx.engine.db(store.apply_flags, ctx.vault, folder_id, rows)
        if plan.expunge_check is ExpungeCheck.VANISHED:
            removed = await ctx.engine.db(store.delete_uids, ctx.vault, folder_id, vanished)
    if plan.expunge_check is ExpungeCheck.UID_SEARCH:
        on_server = set(await ctx.engine.imap(ctx.imap.search_uids))
        cached = await ctx.engine.db(store.local_uids, ctx.vault, folder_id)
        removed += await ctx.engine.db(
            store.delete_uids, ctx.vault, folder_id, [u for u in cached if u not in on_server]
        )
    return updated, removed


async def _fetch_new(ctx: _Context, folder: FolderRow, first_uid: int) -> int:
    sizes = await ctx.engine.imap(ctx.imap.fetch_sizes, first_uid)
    batches = _batches(sizes)
    total, stored = len(sizes), 0
    pending: asyncio.Task[int] | None = None
    for batch in batches:
        fetched = await ctx.engine.imap(ctx.imap.fetch_messages, batch)
        if pending is not None:
            stored += await pending
            ctx.progress(folder.display_name, stored, total)
        pending = asyncio.create_task(_parse_and_store(ctx, folder.id, fetched))
    if pending is not None:
        stored += await pending
        ctx.progress(folder.display_name, stored, total)
    return stored


async def _parse_and_store(ctx: _Context, folder_id: FolderId, fetched: list[FetchedMessage]) -> int:
    # A worker process pays for itself only on large batches; a few new messages are parsed right here.
    if len(fetched) < PARSE_IN_PROCESS_BELOW:
        batch = build_batch(fetched)
    else:
        batch = await ctx.engine.cpu(build_batch, fetched)
    stored = await ctx.engine.db(store.store_messages, ctx.vault, folder_id, batch.records)
    if ctx.after_store is not None and (batch.evidence or batch.encrypted):
        await ctx.after_store(folder_id, batch)
    return stored


def _batches(sizes: Sequence[tuple[int, int]]) -> list[list[int]]:
    batches: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for uid, size in sizes:
        if current and (current_bytes + size > BATCH_BYTES or len(current) >= BATCH_MESSAGES):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(uid)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


@dataclass(frozen=True, slots=True)
class SenderEvidence:
    """What a message tells about its sender's keys: an Autocrypt header, an S/MIME signature's certificates."""

    sender: str
    date: datetime | None
    autocrypt: str | None
    smime_signature: bytes | None


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    records: list[MessageRecord]
    evidence: list[SenderEvidence]

    @property
    def encrypted(self) -> list[int]:
        """UIDs of messages whose content can only be indexed after decryption."""
        return [r.uid for r in self.records if r.is_encrypted]


def build_records(fetched: Sequence[FetchedMessage]) -> list[MessageRecord]:
    return build_batch(fetched).records


def build_batch(fetched: Sequence[FetchedMessage]) -> ParsedBatch:
    """Runs in the parser process: pure, picklable in and out."""
    records: list[MessageRecord] = []
    evidence: list[SenderEvidence] = []
    for message in fetched:
        parsed = _parse(message)
        records.append(_record(message, parsed))
        if found := _sender_evidence(message, parsed):
            evidence.append(found)
    return ParsedBatch(records, evidence)


def _parse(message: FetchedMessage) -> ParsedMessage:
    try:
        return parse_message(message.raw)
    except Exception as exc:  # noqa: BLE001 - a parser bug must cost one message's metadata, not the sync
        return unreadable_message(f"Salus could not read this message ({type(exc).__name__}); it is kept as sent.")


def _sender_evidence(message: FetchedMessage, parsed: ParsedMessage) -> SenderEvidence | None:
    if len(parsed.sender) != 1 or not parsed.sender[0].addr:
        return None
    signature = smime_signature(message.raw) if parsed.is_signed else None
    if parsed.autocrypt is None and signature is None:
        return None
    return SenderEvidence(parsed.sender[0].addr, parsed.date or message.internal_date, parsed.autocrypt, signature)


def _record(message: FetchedMessage, parsed: ParsedMessage) -> MessageRecord:
    return MessageRecord(
        uid=message.uid,
        modseq=message.modseq,
        flags=message.flags,
        size=message.size,
        internal_date=message.internal_date.isoformat(timespec="seconds") if message.internal_date else "",
        date=_sort_date(parsed, message),
        message_id=parsed.message_id or "",
        subject=parsed.subject,
        sender=_addresses(parsed.sender),
        recipients=_addresses((*parsed.to, *parsed.cc)),
        snippet=" ".join(parsed.text[:400].split())[:200],
        body_text=parsed.text[:MAX_INDEXED_CHARS],
        attachments=tuple(AttachmentRow(a.part, a.filename, a.content_type, a.size) for a in parsed.attachments),
        is_encrypted=parsed.is_encrypted,
        is_signed=parsed.is_signed,
        problems="\n".join(parsed.problems),
        raw=message.raw,
    )


def unreadable_message(problem: str) -> ParsedMessage:
    return ParsedMessage(
        subject="", sender=(), to=(), cc=(), reply_to=(), date=None, message_id=None, in_reply_to=None,
        references=(), text="", html=None, attachments=(), autocrypt=None, is_encrypted=False, is_signed=False,
        problems=(problem,),
    )  # fmt: skip


def _sort_date(parsed: ParsedMessage, message: FetchedMessage) -> str:
    # The Date header is what the sender claims; INTERNALDATE is when the server got it. Prefer the header, as
    # every mail client does, and fall back to the server's time when the header is missing or unparseable.
    moment = parsed.date or message.internal_date
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else ""


def _addresses(addresses: Sequence[Address]) -> str:
    return ", ".join(f"{a.name} <{a.addr}>" if a.name else a.addr for a in addresses)
