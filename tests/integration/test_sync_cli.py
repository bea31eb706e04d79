"""`salus sync`, `stats`, `search` and `show` against a real Dovecot, through the real command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.services.profile import unlock
from tests.support.corpus import CANARY_WORDS, make_message, varied_corpus
from tests.support.dovecot import DovecotServer, MailUser, capabilities_without, start_dovecot
from tests.support.pki import TestCA
from tests.support.salus_cli import PASSPHRASE, Salus

NON_ASCII_FOLDER = "Überweisungen/März"


def new_profile(tmp_path: Path) -> Salus:
    salus = Salus(tmp_path / "profile")
    salus.ok("profile", "create")
    return salus


def connect(salus: Salus, server: DovecotServer, user: MailUser, *, security: str = "tls") -> None:
    port = server.imaps_port if security == "tls" else server.imap_port
    result = salus.add_account(
        "work", host=server.host, port=port, security=security, user=user.name, password=user.password,
        ca_file=server.ca_file,
    )  # fmt: skip
    assert result.code == 0, result.stderr


@pytest.fixture(scope="module")
def corpus() -> list[bytes]:
    return varied_corpus(300, seed=11)


@pytest.fixture(scope="module")
def synced(
    tmp_path_factory: pytest.TempPathFactory, dovecot: DovecotServer, corpus: list[bytes]
) -> Iterator[tuple[Salus, MailUser, dict[str, object]]]:
    """One profile synced once from a mailbox of varied mail in two folders; shared by the read-only tests."""
    user = dovecot.new_user("synced")
    dovecot.seed(user, "INBOX", corpus[:250])
    dovecot.seed(user, NON_ASCII_FOLDER, corpus[250:], flags=["\\Seen"])
    salus = new_profile(tmp_path_factory.mktemp("synced"))
    connect(salus, dovecot, user)
    report = salus.json("sync")
    yield salus, user, report


def test_initial_sync_stores_every_message_of_every_folder(
    synced: tuple[Salus, MailUser, dict[str, object]], corpus: list[bytes]
) -> None:
    salus, _, report = synced
    assert report == {"accounts": {"work": {"new": len(corpus), "updated": 0, "deleted": 0}}}
    stats = salus.json("stats")
    assert stats["messages"] == len(corpus)
    assert stats["folders"]["INBOX"] == {"messages": 250, "unseen": 250}
    assert stats["folders"][NON_ASCII_FOLDER] == {"messages": 50, "unseen": 0}


def test_second_sync_without_changes_does_nothing(synced: tuple[Salus, MailUser, dict[str, object]]) -> None:
    salus, _, _ = synced
    assert salus.json("sync") == {"accounts": {"work": {"new": 0, "updated": 0, "deleted": 0}}}


def test_no_plaintext_of_the_mail_anywhere_in_the_profile(
    synced: tuple[Salus, MailUser, dict[str, object]],
) -> None:
    salus, _, _ = synced
    files = [p for p in salus.profile.rglob("*") if p.is_file()]
    assert any(p.name == "vault.db" for p in files)
    for path in files:
        data = path.read_bytes()
        for word in CANARY_WORDS:
            assert word.encode() not in data, f"{word!r} found in plaintext in {path.name}"
            assert word.encode("utf-16-le") not in data, f"{word!r} found as UTF-16 in {path.name}"


def test_every_canary_word_is_found_by_search(synced: tuple[Salus, MailUser, dict[str, object]]) -> None:
    salus, _, _ = synced
    for word in CANARY_WORDS:
        results = salus.json("search", word)["results"]
        assert results, f"search for {word!r} found nothing"
        assert set(results[0]) >= {"folder", "uid", "subject", "from", "date"}


def test_search_by_sender_phrase_and_date_range(synced: tuple[Salus, MailUser, dict[str, object]]) -> None:
    salus, _, _ = synced
    everything = salus.json("search", "date:1970-01-01..2100-01-01", "--limit", "1000")["results"]
    assert len(everything) > 200
    sender = next(r["from"] for r in everything if r["from"]).split("<")[-1].rstrip(">")
    by_sender = salus.json("search", f"from:{sender}", "--limit", "1000")["results"]
    assert by_sender and all(sender.lower() in r["from"].lower() for r in by_sender)
    assert salus.json("search", "no-such-word-anywhere-qqq")["results"] == []


def test_search_limit_is_respected(synced: tuple[Salus, MailUser, dict[str, object]]) -> None:
    salus, _, _ = synced
    assert len(salus.json("search", "date:1970-01-01..2100-01-01", "--limit", "7")["results"]) == 7


def test_show_prints_a_message_and_audits_the_read(synced: tuple[Salus, MailUser, dict[str, object]]) -> None:
    salus, _, _ = synced
    hit = salus.json("search", CANARY_WORDS[0])["results"][0]
    shown = salus.json("show", "--folder", hit["folder"], "--uid", str(hit["uid"]))
    assert shown["subject"] == hit["subject"]
    exported = salus.json("audit", "export", "--format", "json")
    reads = [e for e in exported["entries"] if e["event"] == "message.read"]
    assert reads and reads[-1]["target"].endswith(f"/{hit['uid']}")


def test_broken_mail_is_kept_with_its_problems(synced: tuple[Salus, MailUser, dict[str, object]]) -> None:
    salus, _, _ = synced
    session = unlock(salus.profile, PASSPHRASE)
    try:
        broken = session.vault.scalar("SELECT count(*) FROM messages WHERE problems != ''")
        raw_rows = session.vault.scalar("SELECT count(*) FROM message_raw")
        messages = session.vault.scalar("SELECT count(*) FROM messages")
    finally:
        session.close()
    assert broken > 0
    assert raw_rows == messages


def test_incremental_sync_sees_new_mail_flag_changes_and_expunges(tmp_path: Path, dovecot: DovecotServer) -> None:
    _assert_incremental_sync(tmp_path, dovecot)


def test_incremental_sync_without_condstore_or_qresync(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA
) -> None:
    plain = start_dovecot(
        tmp_path_factory.mktemp("dovecot-plain"),
        test_ca,
        capabilities=capabilities_without("CONDSTORE", "QRESYNC"),
    )
    try:
        _assert_incremental_sync(tmp_path, plain)
    finally:
        plain.stop()


def _assert_incremental_sync(tmp_path: Path, server: DovecotServer) -> None:
    user = server.new_user("incremental")
    server.seed(user, "INBOX", [make_message(subject=f"first {i}", body=f"body {i}") for i in range(20)])
    salus = new_profile(tmp_path)
    connect(salus, server, user)
    assert salus.json("sync")["accounts"]["work"] == {"new": 20, "updated": 0, "deleted": 0}
    with server.client(user) as client:
        client.select_folder("INBOX")
        uids = sorted(client.search(["ALL"]))
        client.add_flags(uids[:4], ["\\Seen"])
        client.add_flags(uids[4:5], ["\\Flagged"])
        client.delete_messages(uids[-2:])
        client.expunge()
        for i in range(3):
            client.append("INBOX", make_message(subject=f"second {i}", body="later"))
    assert salus.json("sync")["accounts"]["work"] == {"new": 3, "updated": 5, "deleted": 2}
    assert salus.json("stats")["folders"]["INBOX"] == {"messages": 21, "unseen": 17}
    assert salus.json("sync")["accounts"]["work"] == {"new": 0, "updated": 0, "deleted": 0}


def test_uidvalidity_change_replaces_the_cached_folder(tmp_path: Path, dovecot: DovecotServer) -> None:
    user = dovecot.new_user("uidvalidity")
    dovecot.seed(user, "Cases", [make_message(subject=f"old {i}", body="x") for i in range(5)])
    salus = new_profile(tmp_path)
    connect(salus, dovecot, user)
    salus.ok("sync")
    with dovecot.client(user) as client:
        # Deleting and recreating a mailbox gives it a new UIDVALIDITY (RFC 9051 §2.3.1.1).
        client.delete_folder("Cases")
        client.create_folder("Cases")
        for i in range(3):
            client.append("Cases", make_message(subject=f"new {i}", body="y"))
    assert salus.json("sync")["accounts"]["work"] == {"new": 3, "updated": 0, "deleted": 5}
    assert salus.json("stats")["folders"]["Cases"]["messages"] == 3
    assert len(salus.json("search", "subject:new")["results"]) == 3
    assert salus.json("search", "subject:old")["results"] == []


def test_folder_deleted_on_server_is_dropped_locally(tmp_path: Path, dovecot: DovecotServer) -> None:
    user = dovecot.new_user("folders")
    dovecot.seed(user, "Gone", [make_message(subject="bye", body="x")])
    salus = new_profile(tmp_path)
    connect(salus, dovecot, user)
    salus.ok("sync")
    with dovecot.client(user) as client:
        client.delete_folder("Gone")
    assert salus.json("sync")["accounts"]["work"]["deleted"] == 1
    assert "Gone" not in salus.json("stats")["folders"]


def test_starttls_account_syncs(tmp_path: Path, dovecot: DovecotServer) -> None:
    user = dovecot.new_user("starttls")
    dovecot.seed(user, "INBOX", [make_message(subject="over starttls", body="x")])
    salus = new_profile(tmp_path)
    connect(salus, dovecot, user, security="starttls")
    assert salus.json("sync")["accounts"]["work"]["new"] == 1


def test_wrong_account_password_is_exit_3(tmp_path: Path, dovecot: DovecotServer) -> None:
    user = dovecot.new_user("badpw")
    salus = new_profile(tmp_path)
    result = salus.add_account(
        "work", host=dovecot.host, port=dovecot.imaps_port, security="tls", user=user.name, password="wrong",
        ca_file=dovecot.ca_file,
    )  # fmt: skip
    assert result.code == 0
    failed = salus.run("sync")
    assert failed.code == 3
    assert "rejected" in failed.stderr
    assert "wrong" not in failed.stderr
