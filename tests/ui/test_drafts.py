"""Drafts (issue 5, issue 7): autosaved encrypted in the vault, saved before a lock empties the composer, filled
again from the vault after the unlock; no readable copy of the draft anywhere on disk."""

from __future__ import annotations

import gc
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.core.lock import LockConfig
from app.mime.compose import OutgoingAttachment
from app.services.profile import unlock
from app.store import drafts
from app.store.drafts import StoredDraft
from app.ui.lock_screen import WindowLock, attach_lock
from app.ui.windows.actions import Act
from app.ui.windows.composer import ComposerWindow, DraftStart
from app.ui.windows.drafts_dialog import DraftsDialog
from app.ui.windows.main_window import MainWindow
from tests.support.memory_scan import find_strings, scan
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, make_profile, plain_message

CONFIG = LockConfig(idle_timeout_seconds=600.0, warning_seconds=10.0, max_failures=3)


def _open(make_window: WindowFactory, qtbot: QtBot, tmp_path: Path) -> tuple[Path, MainWindow, WindowLock]:
    profile = make_profile(tmp_path / "p", {"INBOX": [plain_message("Hello", "Hi.", sender="Lab <lab@lab.example>")]})
    window = make_window(profile, PASSPHRASE)
    lock = attach_lock(window, make_window.bridge, CONFIG, tick_seconds=0.02)
    qtbot.waitUntil(lambda: window.messages.rowCount() > 0, timeout=15_000)
    return profile, window, lock


def _stored(profile: Path, draft_id: str) -> StoredDraft | None:
    session = unlock(profile, PASSPHRASE)
    try:
        return drafts.load(session.vault, draft_id)
    finally:
        session.close()


def _files(roots: list[Path], since: float) -> Iterator[Path]:
    for root in roots:
        for directory, _dirs, names in os.walk(root):
            for name in names:
                path = Path(directory, name)
                try:
                    if path.is_file() and path.stat().st_mtime >= since and path.stat().st_size < 64 << 20:
                        yield path
                except OSError:
                    continue  # another test's file, gone meanwhile


def _readable_copies(words: list[str], roots: list[Path], since: float) -> list[Path]:
    found = []
    for path in _files(roots, since):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if any(w.encode() in data for w in words):
            found.append(path)
    return found


def _compose(
    window: MainWindow, qtbot: QtBot, words: list[str], attachment: Path, start: DraftStart | None = None
) -> ComposerWindow:
    composer = window.open_composer(start or DraftStart())
    qtbot.keyClicks(composer.subject, f"Consult {words[0]}")  # type: ignore[no-untyped-call]
    composer.body.setPlainText(f"Patient {words[1]} needs follow-up.")
    composer.to.edit.setText("dr.who@clinic.example")
    composer.add_attachments([attachment])
    return composer


def test_composer_autosaves_its_draft_encrypted_in_the_vault(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    started = time.time()
    words = [secrets.token_hex(10), secrets.token_hex(10)]
    attachment = tmp_path / "scan.txt"
    attachment.write_bytes(b"scan contents")
    profile, window, _lock = _open(make_window, qtbot, tmp_path)
    with qtbot.waitSignal(_compose(window, qtbot, words, attachment).draft_saved, timeout=15_000):
        pass  # the debounced autosave, two seconds after the last edit
    (draft,) = [d for d in (_stored(profile, c.draft_id) for c in window.composers) if d is not None]
    assert draft.subject == f"Consult {words[0]}" and words[1] in draft.body
    assert draft.to == ("dr.who@clinic.example",)
    assert [(a.filename, a.data) for a in draft.attachments] == [("scan.txt", b"scan contents")]
    assert _readable_copies(words, [profile, tmp_path, Path(tempfile.gettempdir())], started) == []


def test_lock_saves_the_draft_first_empties_the_composer_and_unlock_restores_it(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    started = time.time()
    words = [secrets.token_hex(10), secrets.token_hex(10)]
    attachment = tmp_path / "scan.txt"
    attachment.write_bytes(b"scan contents")
    profile, window, lock = _open(make_window, qtbot, tmp_path)
    # A reply to an encrypted message: its thread and its "never weaker" fact must survive the lock too.
    reply = DraftStart(in_reply_to="m1@lab.example", references=("m0@lab.example", "m1@lab.example"),
                       reply_to_encrypted=True)  # fmt: skip
    composer = _compose(window, qtbot, words, attachment, reply)
    composer.escalate.setChecked(True)
    assert words[0] in find_strings(words)  # the search does see the draft (its subject) while it is open
    window.actions_by_name[Act.LOCK].trigger()  # at once: no autosave has happened yet
    qtbot.waitUntil(lambda: lock.is_locked and window.controller.reader.locked, timeout=15_000)
    assert not composer.isVisible()
    assert composer.subject.text() == "" and composer.body.toPlainText() == "" and composer.attachments == []
    qtbot.wait(50)  # let queued callbacks (and their closures) run and go
    gc.collect()
    # Not covered (see tests/support/memory_scan.py): Qt's own QString buffers and freed memory.
    assert scan(words) == [], "the composer's draft stayed in Python memory after the lock"

    draft = _stored(profile, composer.draft_id)
    assert draft is not None
    assert (draft.subject, draft.to, draft.escalate) == (f"Consult {words[0]}", ("dr.who@clinic.example",), True)
    assert words[1] in draft.body
    assert [a.data for a in draft.attachments] == [b"scan contents"]
    attachment.unlink()  # the draft holds the bytes: the file is no longer needed
    assert _readable_copies(words, [profile, tmp_path, Path(tempfile.gettempdir())], started) == []

    lock.screen.passphrase.setText(PASSPHRASE)
    with qtbot.waitSignal(composer.draft_restored, timeout=15_000):
        QTest.mouseClick(lock.screen.unlock_button, Qt.MouseButton.LeftButton)
    assert composer.isVisible()
    assert composer.subject.text() == f"Consult {words[0]}"
    assert composer.body.toPlainText() == f"Patient {words[1]} needs follow-up."
    assert composer.to.addresses() == ("dr.who@clinic.example",)
    assert composer.escalate.isChecked()
    assert composer.attachments == [OutgoingAttachment("scan.txt", "text/plain", b"scan contents")]
    restored = composer.draft_content()
    assert (restored.in_reply_to, restored.references, restored.reply_to_encrypted) == (
        "m1@lab.example", ("m0@lab.example", "m1@lab.example"), True,
    )  # fmt: skip


def test_draft_reopens_in_a_new_composer_and_an_emptied_draft_is_removed(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    profile, window, _lock = _open(make_window, qtbot, tmp_path)
    words = [secrets.token_hex(10), secrets.token_hex(10)]
    attachment = tmp_path / "scan.txt"
    attachment.write_bytes(b"scan contents")
    composer = _compose(window, qtbot, words, attachment)
    draft_id = composer.draft_id
    composer.close()
    qtbot.waitUntil(lambda: _stored(profile, draft_id) is not None, timeout=15_000)

    window.open_draft(draft_id)
    qtbot.waitUntil(lambda: bool(window.composers) and window.composers[-1].subject.text() != "", timeout=15_000)
    reopened = window.composers[-1]
    assert reopened.draft_id == draft_id
    assert reopened.body.toPlainText() == f"Patient {words[1]} needs follow-up."
    reopened.subject.clear()
    reopened.body.clear()
    reopened.to.edit.clear()
    reopened.attachment_list.setCurrentRow(0)
    reopened.remove_button.click()
    with qtbot.waitSignal(reopened.draft_saved, timeout=15_000):
        pass
    assert _stored(profile, draft_id) is None


def test_drafts_dialog_lists_saved_drafts_and_opens_the_chosen_one(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    profile, window, _lock = _open(make_window, qtbot, tmp_path)
    composer = window.open_composer(DraftStart(("dr.who@clinic.example",), "Handover notes", "Bed 4"))
    composer.body.appendPlainText("Stable.")  # an edit: a composer closed untouched leaves no draft
    draft_id = composer.draft_id
    composer.close()
    qtbot.waitUntil(lambda: _stored(profile, draft_id) is not None, timeout=15_000)

    window.actions_by_name[Act.DRAFTS].trigger()
    dialog = window.findChild(DraftsDialog)
    assert isinstance(dialog, DraftsDialog)
    qtbot.waitUntil(lambda: dialog.list.count() == 1, timeout=15_000)
    assert dialog.list.item(0).text().startswith("Handover notes")
    QTest.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(c.draft_id == draft_id for c in window.composers), timeout=15_000)
    reopened = next(c for c in window.composers if c.draft_id == draft_id)
    assert (reopened.subject.text(), reopened.body.toPlainText()) == ("Handover notes", "Bed 4\nStable.")


def test_a_composer_closed_untouched_leaves_no_draft(make_window: WindowFactory, qtbot: QtBot, tmp_path: Path) -> None:
    profile, window, _lock = _open(make_window, qtbot, tmp_path)
    composer = window.open_composer(DraftStart(("dr.who@clinic.example",), "Re: Results", "> quoted"))
    draft_id = composer.draft_id
    composer.close()
    qtbot.wait(500)
    assert _stored(profile, draft_id) is None


def test_a_draft_that_cannot_be_saved_stays_in_its_hidden_window_and_the_lock_goes_ahead(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    profile, window, lock = _open(make_window, qtbot, tmp_path)
    words = [secrets.token_hex(10), secrets.token_hex(10)]
    attachment = tmp_path / "scan.txt"
    attachment.write_bytes(b"scan contents")
    composer = _compose(window, qtbot, words, attachment)
    attachment.unlink()  # gone before any save could read it
    window.actions_by_name[Act.LOCK].trigger()
    qtbot.waitUntil(lambda: lock.is_locked and window.controller.reader.locked, timeout=15_000)
    assert "could not be saved" in lock.screen.message.text() and "scan.txt" in lock.screen.message.text()
    assert not composer.isVisible() and not composer.emptied_for_lock
    assert _stored(profile, composer.draft_id) is None

    lock.screen.passphrase.setText(PASSPHRASE)
    QTest.mouseClick(lock.screen.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not lock.is_locked and composer.isVisible(), timeout=15_000)
    assert composer.subject.text() == f"Consult {words[0]}"
