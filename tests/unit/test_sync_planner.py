"""The sync planner, row by row: what the vault holds and what the server says, in; what to do, out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mail.imap.planner import (
    ExpungeCheck,
    FolderPlan,
    LocalFolderState,
    ServerFolderState,
    plan_folder,
    plan_folders,
)

NEVER_SYNCED = LocalFolderState(uidvalidity=0, uidnext=0, highestmodseq=0, max_uid=0, count=0)
SYNCED = LocalFolderState(uidvalidity=7, uidnext=101, highestmodseq=500, max_uid=100, count=100)


def server(uidvalidity: int = 7, uidnext: int = 101, exists: int = 100, modseq: int | None = 500) -> ServerFolderState:
    return ServerFolderState(uidvalidity, uidnext, exists, modseq)


CASES = [
    pytest.param(
        NEVER_SYNCED, server(), True,
        FolderPlan(False, 1, None, False, ExpungeCheck.NONE), id="first-sync-fetches-everything",
    ),
    pytest.param(
        NEVER_SYNCED, server(uidnext=1, exists=0), True,
        FolderPlan(False, None, None, False, ExpungeCheck.NONE), id="first-sync-of-empty-folder-fetches-nothing",
    ),
    pytest.param(
        SYNCED, server(uidvalidity=8), True,
        FolderPlan(True, 1, None, False, ExpungeCheck.NONE), id="uidvalidity-change-resets-and-refetches",
    ),
    pytest.param(
        SYNCED, server(), True,
        FolderPlan(False, None, None, False, ExpungeCheck.NONE), id="condstore-unchanged-modseq-is-up-to-date",
    ),
    pytest.param(
        SYNCED, server(uidnext=111, exists=110, modseq=510), True,
        FolderPlan(False, 101, 500, False, ExpungeCheck.VANISHED), id="qresync-new-mail-and-changes",
    ),
    pytest.param(
        SYNCED, server(uidnext=111, exists=110, modseq=510), False,
        FolderPlan(False, 101, 500, False, ExpungeCheck.UID_SEARCH), id="condstore-without-qresync-searches-uids",
    ),
    pytest.param(
        SYNCED, server(modseq=520), False,
        FolderPlan(False, None, 500, False, ExpungeCheck.NONE), id="condstore-flag-change-same-count-no-search",
    ),
    pytest.param(
        SYNCED, server(exists=98, modseq=520), False,
        FolderPlan(False, None, 500, False, ExpungeCheck.UID_SEARCH), id="condstore-fewer-messages-searches-uids",
    ),
    pytest.param(
        SYNCED, server(modseq=None), False,
        FolderPlan(False, None, None, True, ExpungeCheck.NONE), id="no-condstore-refetches-all-flags",
    ),
    pytest.param(
        SYNCED, server(exists=97, modseq=None), False,
        FolderPlan(False, None, None, True, ExpungeCheck.UID_SEARCH), id="no-condstore-count-drop-searches-uids",
    ),
    pytest.param(
        LocalFolderState(7, 0, 0, 60, 60), server(), True,
        FolderPlan(False, 61, None, True, ExpungeCheck.UID_SEARCH),
        id="interrupted-first-sync-resumes-above-highest-stored-uid",
    ),
    pytest.param(
        LocalFolderState(7, 101, 500, 0, 0), server(uidnext=105, exists=4, modseq=510), True,
        FolderPlan(False, 1, None, False, ExpungeCheck.NONE), id="emptied-folder-with-new-mail-fetches-new",
    ),
    pytest.param(
        SYNCED, server(uidnext=0, modseq=None), False,
        FolderPlan(False, 101, None, True, ExpungeCheck.UID_SEARCH), id="server-without-uidnext-is-asked-anyway",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("local", "remote", "qresync", "expected"), CASES)
def test_plan_folder(local: LocalFolderState, remote: ServerFolderState, qresync: bool, expected: FolderPlan) -> None:
    assert plan_folder(local, remote, qresync=qresync) == expected


def test_up_to_date_only_when_nothing_to_do() -> None:
    assert plan_folder(SYNCED, server(), qresync=True).up_to_date
    assert not plan_folder(SYNCED, server(modseq=501), qresync=True).up_to_date


def test_folder_changes_are_added_and_removed_names() -> None:
    changes = plan_folders(frozenset({"INBOX", "Old"}), frozenset({"INBOX", "Neu/März"}))
    assert changes.added == ("Neu/März",)
    assert changes.removed == ("Old",)


local_states = st.builds(
    LocalFolderState,
    uidvalidity=st.integers(0, 3),
    uidnext=st.integers(0, 50),
    highestmodseq=st.integers(0, 50),
    max_uid=st.integers(0, 50),
    count=st.integers(0, 50),
)
server_states = st.builds(
    ServerFolderState,
    uidvalidity=st.integers(1, 3),
    uidnext=st.integers(0, 60),
    exists=st.integers(0, 60),
    highestmodseq=st.none() | st.integers(1, 60),
)


@given(local_states, server_states, st.booleans())
def test_never_fetches_below_what_is_stored_unless_resetting(
    local: LocalFolderState, remote: ServerFolderState, qresync: bool
) -> None:
    plan = plan_folder(local, remote, qresync=qresync)
    if plan.fetch_from_uid is not None and not plan.reset and local.uidvalidity == remote.uidvalidity:
        assert plan.fetch_from_uid == local.max_uid + 1


@given(local_states, server_states, st.booleans())
def test_changed_uidvalidity_always_resets_a_nonempty_cache(
    local: LocalFolderState, remote: ServerFolderState, qresync: bool
) -> None:
    plan = plan_folder(local, remote, qresync=qresync)
    if local.uidvalidity != remote.uidvalidity and local.count > 0:
        assert plan.reset
