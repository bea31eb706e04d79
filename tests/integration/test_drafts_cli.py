"""`salus drafts list|delete` over a real SQLCipher vault; a draft replaced by a later save keeps one row and
its attachments follow it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.services.profile import unlock
from app.store import drafts
from app.store.drafts import DraftAttachment, StoredDraft
from tests.support.salus_cli import PASSPHRASE, Salus

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _draft(draft_id: str, subject: str, attachments: int) -> StoredDraft:
    return StoredDraft(
        draft_id, ("a@clinic.example",), ("b@clinic.example",), (), subject, "Body", False, "parent@x", ("parent@x",),
        True, tuple(DraftAttachment(f"f{i}.txt", "text/plain", bytes([i]) * 10) for i in range(attachments)),
    )  # fmt: skip


def test_drafts_are_listed_newest_first_replaced_in_place_and_deleted(tmp_path: Path) -> None:
    salus = Salus(tmp_path / "p")
    salus.ok("profile", "create")
    session = unlock(salus.profile, PASSPHRASE)
    try:
        drafts.save(session.vault, _draft("older", "First", 2), NOW)
        drafts.save(session.vault, _draft("newer", "Second", 1), NOW + timedelta(minutes=1))
        drafts.save(session.vault, _draft("older", "First, edited", 1), NOW + timedelta(minutes=2))
        reloaded = drafts.load(session.vault, "older")
    finally:
        session.close()
    assert reloaded is not None
    assert (reloaded.subject, reloaded.cc, reloaded.references, reloaded.reply_to_encrypted) == (
        "First, edited", ("b@clinic.example",), ("parent@x",), True,
    )  # fmt: skip
    assert [a.filename for a in reloaded.attachments] == ["f0.txt"]

    listed = salus.json("drafts", "list")["drafts"]
    assert [(d["draft_id"], d["subject"], d["recipients"], d["attachments"]) for d in listed] == [
        ("older", "First, edited", 2, 1), ("newer", "Second", 2, 1),
    ]  # fmt: skip
    salus.ok("drafts", "delete", "older")
    assert [d["draft_id"] for d in salus.json("drafts", "list")["drafts"]] == ["newer"]
    missing = salus.run("drafts", "delete", "older")
    assert missing.code == 2 and "No draft" in missing.stderr
    session = unlock(salus.profile, PASSPHRASE)
    try:
        left = session.vault.scalar("SELECT count(*) FROM draft_attachments WHERE draft_id = 'older'")
    finally:
        session.close()
    assert left == 0
