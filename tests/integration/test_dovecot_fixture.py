"""The Dovecot fixture behaves as the other integration tests assume: TLS, STARTTLS, seeding, isolation."""

from __future__ import annotations

import email
import email.utils
import ssl
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.support.corpus import CANARY_WORDS, canaries_in, make_message, special_cases, varied_corpus
from tests.support.dovecot import (
    DOVECOT_BASE_CAPABILITIES,
    DovecotServer,
    MailUser,
    capabilities_without,
    start_dovecot,
)
from tests.support.pki import TestCA, untrusted_server_cert

NON_ASCII_FOLDERS = ("Überweisungen/März", "患者")


def _subjects(client: IMAPClient) -> list[str]:
    """Subjects in UID order, decoded, of the selected folder."""
    fetched = client.fetch(client.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    headers = [fetched[uid][b"BODY[HEADER.FIELDS (SUBJECT)]"] for uid in sorted(fetched)]
    return [str(email.message_from_bytes(h)["Subject"]) for h in headers]


def test_implicit_tls_login_verifies_the_server_against_the_test_ca(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    with dovecot.client(mail_user) as client:
        assert b"IMAP4REV1" in client.capabilities()
        assert client.socket().version() in {"TLSv1.2", "TLSv1.3"}


def test_a_client_without_the_test_ca_refuses_the_server(dovecot: DovecotServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(dovecot.host, port=dovecot.imaps_port, ssl=True, ssl_context=ssl.create_default_context())


def test_starttls_port_offers_starttls_and_refuses_login_before_it(dovecot: DovecotServer, mail_user: MailUser) -> None:
    client = IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10)
    try:
        assert {b"STARTTLS", b"LOGINDISABLED"} <= set(client.capabilities())
        with pytest.raises(LoginError, match="PRIVACYREQUIRED"):
            client.login(mail_user.name, mail_user.password)
        client.starttls(dovecot.ssl_context())
        client.login(mail_user.name, mail_user.password)
        assert b"LOGINDISABLED" not in client.capabilities()
    finally:
        client.logout()


def test_seeded_mail_is_listed_with_its_counts_in_inbox_and_non_ascii_folders(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    inbox = [make_message(subject=f"inbox {i}", body="x") for i in range(5)]
    assert dovecot.seed(mail_user, "INBOX", inbox) == 5
    dovecot.seed(mail_user, NON_ASCII_FOLDERS[0], [make_message(subject=f"ü {i}", body="ü") for i in range(3)])
    dovecot.seed(mail_user, NON_ASCII_FOLDERS[1], [make_message(subject="患者", body="x")] * 2, flags=["\\Seen"])
    with dovecot.client(mail_user) as client:
        names = {name for _, _, name in client.list_folders()}
        assert {"INBOX", *NON_ASCII_FOLDERS} <= names
        assert set(NON_ASCII_FOLDERS) <= {name for _, _, name in client.list_sub_folders()}
        counts = {f: client.folder_status(f, ["MESSAGES", "UNSEEN"]) for f in ("INBOX", *NON_ASCII_FOLDERS)}
        client.select_folder("INBOX", readonly=True)
        assert _subjects(client) == [f"inbox {i}" for i in range(5)]
    assert counts["INBOX"] == {b"MESSAGES": 5, b"UNSEEN": 5}
    assert counts[NON_ASCII_FOLDERS[0]] == {b"MESSAGES": 3, b"UNSEEN": 3}
    assert counts[NON_ASCII_FOLDERS[1]] == {b"MESSAGES": 2, b"UNSEEN": 0}


def test_seeded_mail_reads_back_byte_for_byte_with_flags_and_dates(dovecot: DovecotServer, mail_user: MailUser) -> None:
    corpus = varied_corpus(40, seed=3)
    assert corpus == varied_corpus(40, seed=3)
    assert set().union(*map(canaries_in, corpus)) == set(CANARY_WORDS)
    dovecot.seed(mail_user, "Archive", corpus, flags=["\\Seen", "\\Flagged", "$Forwarded"])
    with dovecot.client(mail_user) as client:
        client.select_folder("Archive", readonly=True)
        fetched = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]", "RFC822.SIZE", "FLAGS", "INTERNALDATE"])
    assert [fetched[uid][b"BODY[]"] for uid in sorted(fetched)] == corpus
    for uid, message in zip(sorted(fetched), corpus, strict=True):
        assert fetched[uid][b"RFC822.SIZE"] == len(message)
        assert {b"\\Seen", b"\\Flagged", b"$Forwarded"} <= set(fetched[uid][b"FLAGS"])
    # Maildir keeps INTERNALDATE in the file's mtime, which seeding takes from the Date header.
    first_date = email.utils.parsedate_to_datetime(email.message_from_bytes(corpus[0])["Date"])
    assert fetched[min(fetched)][b"INTERNALDATE"] == first_date.astimezone().replace(tzinfo=None)
    assert not [line for line in dovecot.log_errors() if mail_user.name in line]


def test_a_folder_seeded_during_a_session_appears_in_that_session(dovecot: DovecotServer, mail_user: MailUser) -> None:
    with dovecot.client(mail_user) as client:
        client.list_folders()
        dovecot.seed(mail_user, "Later", [make_message(subject="later", body="x")])
        assert "Later" in {name for _, _, name in client.list_folders()}
        assert client.folder_status("Later", ["MESSAGES"]) == {b"MESSAGES": 1}


def test_users_see_only_their_own_mail(dovecot: DovecotServer) -> None:
    alice, bob = dovecot.new_user("alice"), dovecot.new_user("bob")
    dovecot.seed(alice, "INBOX", [make_message(subject="for alice", body="x")])
    dovecot.seed(alice, "Private", [make_message(subject="private", body="x")])
    with dovecot.client(bob) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert "Private" not in {name for _, _, name in client.list_folders()}
    with pytest.raises(LoginError):
        dovecot.client(MailUser(bob.name, alice.password, bob.address, bob.maildir))


def test_a_wrong_password_is_refused_without_the_default_delay(dovecot: DovecotServer, mail_user: MailUser) -> None:
    start = time.monotonic()
    with pytest.raises(LoginError):
        dovecot.client(MailUser(mail_user.name, "wrong", mail_user.address, mail_user.maildir))
    assert time.monotonic() - start < 1.5
    # No per-address penalty either: the right password right after works at once.
    with dovecot.client(mail_user) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_default_capabilities_include_what_capabilities_without_starts_from(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    with dovecot.client(mail_user) as client:
        advertised = {c.decode().upper() for c in client.capabilities()}
    assert {c.upper() for c in DOVECOT_BASE_CAPABILITIES.split()} <= advertised


def test_a_server_started_without_condstore_does_not_advertise_it(
    tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA
) -> None:
    with start_dovecot(
        tmp_path_factory.mktemp("dovecot-plain"), test_ca, capabilities=capabilities_without("CONDSTORE", "QRESYNC")
    ) as server:
        user = server.new_user()
        with server.client(user) as client:
            advertised = set(client.capabilities())
    assert b"CONDSTORE" not in advertised and b"QRESYNC" not in advertised
    assert {b"IMAP4REV1", b"UIDPLUS", b"IDLE"} <= advertised


def test_a_server_with_an_untrusted_certificate_fails_verification(
    tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA
) -> None:
    directory = tmp_path_factory.mktemp("dovecot-untrusted")
    cert = untrusted_server_cert(directory / "pki", ip_addresses=("127.0.0.1", DovecotServer.host))
    with start_dovecot(directory / "server", test_ca, server_cert=cert) as server:
        user = server.new_user()
        with pytest.raises(ssl.SSLCertVerificationError):
            server.client(user)


def test_special_cases_are_named_and_carry_every_canary() -> None:
    cases = special_cases(seed=5)
    assert {"no_headers_at_all", "deeply_nested", "large_attachment"} <= set(cases)
    assert len(cases["large_attachment"]) > 3_000_000
    assert set().union(*map(canaries_in, cases.values())) == set(CANARY_WORDS)


def test_stop_leaves_no_listener(tmp_path: Path, test_ca: TestCA) -> None:
    server = start_dovecot(tmp_path / "dovecot", test_ca)
    server.stop()
    server.stop()
    with pytest.raises(OSError):
        IMAPClient(server.host, port=server.imaps_port, ssl=True, ssl_context=server.ssl_context(), timeout=2)
