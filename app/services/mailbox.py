"""Reading the vault: sync, search, stats and reading one message, each recorded in the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import AppError, UsageError
from app.core.models import Account, FolderStats, SearchHit, SyncCounts
from app.core.query import parse_query
from app.core.settings import Settings
from app.mime.parse import ParsedMessage, parse_message
from app.services.engine import Engine
from app.services.harvest import after_store
from app.services.profile import Session
from app.services.sync import Progress, Warn, sync_account
from app.store import mail as store
from app.store import search as store_search


def accounts_to_sync(session: Session, name: str | None) -> list[Account]:
    accounts = store.list_accounts(session.vault)
    if name is not None:
        accounts = [a for a in accounts if a.name == name]
        if not accounts:
            raise UsageError(f"There is no account named {name!r} in this profile.")
    return accounts


def sync(
    session: Session, settings: Settings, account_name: str | None, progress: Progress, warn: Warn
) -> dict[str, SyncCounts]:
    accounts = accounts_to_sync(session, account_name)
    passwords = {a.name: store.account_password(session.vault, a.id) for a in accounts}
    results: dict[str, SyncCounts] = {}
    engine = Engine()
    try:
        for account in accounts:
            try:
                results[account.name] = asyncio.run(
                    sync_account(
                        engine,
                        session.vault,
                        account,
                        passwords[account.name],
                        progress,
                        warn,
                        after_store(session, settings, engine),
                    )
                )
            except AppError as exc:
                _audit_sync(session, account.name, None, str(exc))
                raise
            _audit_sync(session, account.name, results[account.name], None)
    finally:
        engine.shutdown()
    return results


def _audit_sync(session: Session, account: str, counts: SyncCounts | None, error: str | None) -> None:
    detail: dict[str, object] = {"ok": error is None}
    if counts is not None:
        detail.update(new=counts.new, updated=counts.updated, deleted=counts.deleted)
    if error is not None:
        detail["error"] = error
    session.audit.record(AuditEvent.SYNC, utc_now(), target=account, detail=detail)


def search(session: Session, text: str, limit: int) -> list[SearchHit]:
    query = parse_query(text)
    hits = [] if query.is_empty else store_search.search(session.vault, query, limit)
    session.audit.record(AuditEvent.SEARCH, utc_now(), detail={"query": text, "results": len(hits)})
    return hits


@dataclass(frozen=True, slots=True)
class Stats:
    messages: int
    folders: list[FolderStats]


def stats(session: Session) -> Stats:
    return Stats(store.message_count(session.vault), store.folder_stats(session.vault))


def read_message(session: Session, account: str, folder: str, uid: int) -> tuple[ParsedMessage, bytes]:
    raw = store.raw_message(session.vault, account, folder, uid)
    session.audit.record(AuditEvent.MESSAGE_READ, utc_now(), target=f"{account}/{folder}/{uid}")
    return parse_message(raw), raw


ProgressPrinter = Callable[[str, int, int], None]
