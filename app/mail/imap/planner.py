"""The sync planner: a pure function from (what the vault holds, what the server says) to what to do.

Rules (RFC 9051 §2.3.1.1, RFC 4549, RFC 7162):
- A UIDVALIDITY different from the cached one invalidates every cached UID of the folder: drop and refetch.
- New messages are fetched from one above the highest UID already stored, not from the UIDNEXT of the last
  sync: the vault commits whole batches in ascending UID order, so after a crash or a dropped connection the
  highest stored UID is exactly where to resume, and nothing is fetched twice.
- With CONDSTORE, an unchanged HIGHESTMODSEQ means no flag changed and nothing was expunged; otherwise fetch only
  what changed since the stored mod-sequence, and learn expunges from VANISHED (QRESYNC) or a UID SEARCH.
- Without CONDSTORE, flags of every cached message are refetched, and expunges are found by UID SEARCH unless
  the counts prove there were none.
- The mod-sequence and UIDNEXT are recorded only when a folder's sync completes, so an interrupted sync
  redoes the flag step next time instead of skipping it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class LocalFolderState:
    uidvalidity: int  # 0: never synced
    uidnext: int
    highestmodseq: int
    max_uid: int  # highest UID stored in the vault, 0 if none
    count: int  # messages stored


@dataclass(frozen=True, slots=True)
class ServerFolderState:
    uidvalidity: int
    uidnext: int
    exists: int
    highestmodseq: int | None  # None when the server has no CONDSTORE


class ExpungeCheck(Enum):
    NONE = "none"  # nothing can have been expunged
    VANISHED = "vanished"  # learned from the flag fetch (QRESYNC)
    UID_SEARCH = "uid_search"  # compare the server's UID list with the vault's


@dataclass(frozen=True, slots=True)
class FolderPlan:
    reset: bool  # drop every cached message of the folder first
    fetch_from_uid: int | None  # fetch UIDs from here up; None: nothing new
    flags_changed_since: int | None  # CONDSTORE: only changes after this mod-sequence
    refetch_all_flags: bool  # no CONDSTORE: refetch flags of every cached message
    expunge_check: ExpungeCheck

    @property
    def up_to_date(self) -> bool:
        return (
            not self.reset
            and self.fetch_from_uid is None
            and self.flags_changed_since is None
            and not self.refetch_all_flags
            and self.expunge_check is ExpungeCheck.NONE
        )


def plan_folder(local: LocalFolderState, server: ServerFolderState, *, qresync: bool) -> FolderPlan:
    if local.uidvalidity == 0 or local.uidvalidity != server.uidvalidity:
        return _full_fetch(reset=local.count > 0 or local.uidvalidity != 0, server=server)
    fetch_from = local.max_uid + 1 if _may_have_new(local, server) else None
    if local.count == 0:
        return FolderPlan(False, fetch_from, None, False, ExpungeCheck.NONE)
    if server.highestmodseq is not None and local.highestmodseq > 0:
        return _condstore_plan(local, server, fetch_from, qresync=qresync)
    return _plain_plan(local, server, fetch_from)


def _full_fetch(*, reset: bool, server: ServerFolderState) -> FolderPlan:
    fetch_from = 1 if server.exists > 0 or server.uidnext > 1 else None
    return FolderPlan(reset, fetch_from, None, False, ExpungeCheck.NONE)


def _may_have_new(local: LocalFolderState, server: ServerFolderState) -> bool:
    # UIDNEXT is only a lower bound on future UIDs; when a server omits it (0), ask anyway.
    return server.uidnext == 0 or server.uidnext > local.max_uid + 1


def _condstore_plan(
    local: LocalFolderState, server: ServerFolderState, fetch_from: int | None, *, qresync: bool
) -> FolderPlan:
    assert server.highestmodseq is not None
    if server.highestmodseq == local.highestmodseq and local.uidnext == server.uidnext:
        return FolderPlan(False, fetch_from, None, False, ExpungeCheck.NONE)
    check = ExpungeCheck.VANISHED if qresync else _expunge_check_by_count(local, server, fetch_from)
    return FolderPlan(False, fetch_from, local.highestmodseq, False, check)


def _plain_plan(local: LocalFolderState, server: ServerFolderState, fetch_from: int | None) -> FolderPlan:
    return FolderPlan(False, fetch_from, None, True, _expunge_check_by_count(local, server, fetch_from))


def _expunge_check_by_count(local: LocalFolderState, server: ServerFolderState, fetch_from: int | None) -> ExpungeCheck:
    # With nothing new on the server, an unchanged message count proves nothing was expunged.
    if fetch_from is None and server.exists == local.count:
        return ExpungeCheck.NONE
    return ExpungeCheck.UID_SEARCH


@dataclass(frozen=True, slots=True)
class FolderChanges:
    added: tuple[str, ...]
    removed: tuple[str, ...]


def plan_folders(cached: frozenset[str], on_server: frozenset[str]) -> FolderChanges:
    """Folders to create and to drop locally. A rename arrives as one of each (RFC 9051 has no rename event)."""
    return FolderChanges(tuple(sorted(on_server - cached)), tuple(sorted(cached - on_server)))
