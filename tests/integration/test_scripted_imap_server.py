"""Self-tests of the scripted IMAP server, driven by the standard library's imaplib and ssl.

These check that each scenario misbehaves exactly as scripted, so that a client test failing against it
points at the client. The server's certificate comes from a throw-away CA made here, not from
tests/support/pki.py, so this file stands alone.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import ipaddress
import select
import socket
import ssl
import struct
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.scripted_imap import (
    FORGED_EXISTS,
    FORGED_FOLDER,
    MESSAGE,
    UIDVALIDITY,
    Scenario,
    ScriptedImapServer,
)

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    """A leaf signs handshakes; the CA signs only certificates (RFC 5280 §4.2.1.3)."""
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder(issuer_name=issuer, subject_name=subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def _make_pki(directory: Path) -> Pki:
    """A CA and a leaf for localhost and 127.0.0.1 that pass OpenSSL's strict checks (RFC 5280 §4.2)."""
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Scripted IMAP Test CA")
    ca = (
        _builder(ca_name, ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
    leaf = (
        _builder(_name("localhost"), ca_name, leaf_key)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(_key_usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pki.key_file.write_bytes(key_pem)
    return pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _make_pki(tmp_path_factory.mktemp("scripted-imap-pki"))


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [thread for thread in set(threading.enumerate()) - before if thread.is_alive()]
    assert not leaked, f"threads left running: {leaked}"


def _server(scenario: Scenario, pki: Pki) -> ScriptedImapServer:
    return ScriptedImapServer(scenario, cert_file=pki.cert_file, key_file=pki.key_file)


def _client_context(pki: Pki) -> ssl.SSLContext:
    """What Salus demands (DESIGN §4): verified certificate and hostname, TLS 1.2 at least."""
    context = ssl.create_default_context(cafile=pki.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _tls10_client_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}; got {data!r}")
        data += chunk
    return data


def _raw_starttls(port: int, tag: bytes = b"A1") -> tuple[socket.socket, bytes]:
    """Connect in plaintext, send STARTTLS, and return the socket and the first read of the answer."""
    sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
    _read_until(sock, b"\r\n")
    sock.sendall(tag + b" STARTTLS\r\n")
    # Wait until the answer has arrived, then take it in one read: one read is one send on loopback.
    select.select([sock], [], [], TIMEOUT)
    return sock, sock.recv(65536)


def _sync_inbox(imap: imaplib.IMAP4) -> None:
    """The calls a sync makes, checked against the scripted mailbox."""
    assert imap.login("alice", "secret")[0] == "OK"
    _typ, folders = imap.list('""', "*")
    assert folders == [b'(\\HasNoChildren) "/" INBOX']
    assert imap.select("INBOX") == ("OK", [b"1"])
    assert imap.response("UIDVALIDITY") == ("UIDVALIDITY", [str(UIDVALIDITY).encode()])
    assert imap.uid("SEARCH", "ALL") == ("OK", [b"1"])
    _typ, fetched = imap.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
    envelope, body = fetched[0]
    assert b"UID 1" in envelope and b"FLAGS ()" in envelope and b"RFC822.SIZE %d" % len(MESSAGE) in envelope
    assert body == MESSAGE


def test_normal_tls_serves_a_minimal_session_over_implicit_tls(pki: Pki) -> None:
    with _server(Scenario.NORMAL_TLS, pki) as server:
        with imaplib.IMAP4_SSL(HOST, server.port, ssl_context=_client_context(pki), timeout=TIMEOUT) as imap:
            assert "STARTTLS" not in imap.capabilities
            _sync_inbox(imap)
            assert imap.close()[0] == "OK"
        assert server.tls_established and server.credentials_received
        assert server.handshake_errors == []


def test_session_answers_status_id_namespace_enable_examine_and_noop(pki: Pki) -> None:
    with (
        _server(Scenario.NORMAL_TLS, pki) as server,
        imaplib.IMAP4_SSL(HOST, server.port, ssl_context=_client_context(pki), timeout=TIMEOUT) as imap,
    ):
        imap.login("alice", "secret")
        assert imap.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY)") == (
            "OK",
            [b"INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1234)"],
        )
        assert imap.xatom("ID", "NIL")[0] == "OK"
        assert imap.response("ID")[1] == [b'("name" "salus-scripted-imap")']
        assert imap.namespace() == ("OK", [b'(("" "/")) NIL NIL'])
        assert imap.xatom("ENABLE", "CONDSTORE")[0] == "OK"
        assert imap.response("ENABLED")[1] in ([None], [b""])
        assert imap.select("INBOX", readonly=True) == ("OK", [b"1"])
        assert imap.noop()[0] == "OK"


def test_uid_search_from_beyond_the_last_uid_still_returns_the_last(pki: Pki) -> None:
    # RFC 9051 §6.4.9: "n:*" always includes the highest UID, as real servers answer.
    with (
        _server(Scenario.NORMAL_TLS, pki) as server,
        imaplib.IMAP4_SSL(HOST, server.port, ssl_context=_client_context(pki), timeout=TIMEOUT) as imap,
    ):
        imap.login("alice", "secret")
        imap.select("INBOX")
        assert imap.uid("SEARCH", "UID", "5:*") == ("OK", [b"1"])
        assert imap.uid("SEARCH", "UID", "2:4") == ("OK", [b""])


def test_normal_starttls_advertises_logindisabled_then_upgrades(pki: Pki) -> None:
    with _server(Scenario.NORMAL_STARTTLS, pki) as server:
        with imaplib.IMAP4(HOST, server.port, timeout=TIMEOUT) as imap:
            assert {"STARTTLS", "LOGINDISABLED"} <= set(imap.capabilities)
            assert imap.starttls(_client_context(pki))[0] == "OK"
            assert not {"STARTTLS", "LOGINDISABLED"} & set(imap.capabilities)
            credentials_before_login = server.credentials_received
            _sync_inbox(imap)
        assert not credentials_before_login
        assert server.tls_established and server.credentials_received
        assert [command.split(b" ", 1)[1] for command in server.commands[:3]] == [
            b"CAPABILITY",
            b"STARTTLS",
            b"CAPABILITY",
        ]


def test_normal_starttls_refuses_plaintext_login_but_records_it(pki: Pki) -> None:
    with _server(Scenario.NORMAL_STARTTLS, pki) as server:
        with (
            imaplib.IMAP4(HOST, server.port, timeout=TIMEOUT) as imap,
            pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"),
        ):
            imap.login("alice", "secret")
        assert server.credentials_received and not server.tls_established


def test_starttls_not_offered_answers_bad_and_accepts_plaintext_login(pki: Pki) -> None:
    with _server(Scenario.STARTTLS_NOT_OFFERED, pki) as server:
        with imaplib.IMAP4(HOST, server.port, timeout=TIMEOUT) as imap:
            assert "STARTTLS" not in imap.capabilities
            with pytest.raises(imaplib.IMAP4.error, match="STARTTLS"):
                imap.xatom("STARTTLS")
            credentials_before_login = server.credentials_received
            _sync_inbox(imap)  # The trap: a client that falls back gets a working plaintext session.
        assert not credentials_before_login
        assert server.credentials_received and not server.tls_established


def test_starttls_refused_answers_no(pki: Pki) -> None:
    with _server(Scenario.STARTTLS_REFUSED, pki) as server:
        with imaplib.IMAP4(HOST, server.port, timeout=TIMEOUT) as imap:
            assert "STARTTLS" in imap.capabilities
            with pytest.raises(imaplib.IMAP4.error, match="Couldn't establish TLS session"):
                imap.starttls(_client_context(pki))
        assert b" STARTTLS" in server.commands[1]
        assert not server.credentials_received and not server.tls_established


def test_starttls_refused_needs_no_certificate() -> None:
    with ScriptedImapServer(Scenario.STARTTLS_REFUSED, cert_file=None, key_file=None) as server:
        assert server.port > 0


def test_tls_scenarios_demand_a_certificate() -> None:
    with pytest.raises(ValueError, match="NORMAL_TLS needs cert_file and key_file"):
        ScriptedImapServer(Scenario.NORMAL_TLS, cert_file=None, key_file=None)


def test_preauth_greets_as_authenticated_in_plaintext(pki: Pki) -> None:
    with _server(Scenario.PREAUTH, pki) as server:
        with imaplib.IMAP4(HOST, server.port, timeout=TIMEOUT) as imap:
            assert imap.welcome.startswith(b"* PREAUTH")
            assert imap.state == "AUTH"
            with pytest.raises(imaplib.IMAP4.error, match="STARTTLS"):
                imap.xatom("STARTTLS")
            assert imap.select("INBOX") == ("OK", [b"1"])
        assert not server.credentials_received and not server.tls_established


def test_starttls_injection_sends_forged_lines_in_the_same_segment_as_ok(pki: Pki) -> None:
    with _server(Scenario.STARTTLS_INJECTION, pki) as server:
        sock, answer = _raw_starttls(server.port, b"TAG7")
        with sock:
            assert answer == (
                b"TAG7 OK Begin TLS negotiation now\r\n"
                b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
                b"* %d EXISTS\r\n"
                b'* LIST () "/" "%s"\r\n'
                b"TAG8 OK Forged completion of a command not yet sent\r\n"
            ) % (FORGED_EXISTS, FORGED_FOLDER.encode())
            with _client_context(pki).wrap_socket(sock, server_hostname="localhost") as tls:
                tls.sendall(b"TAG8 CAPABILITY\r\n")
                assert _read_until(tls, b"TAG8 OK") == (
                    b"* CAPABILITY IMAP4rev1 ID NAMESPACE\r\nTAG8 OK CAPABILITY completed\r\n"
                )
        server.wait_for_connections(1)
        assert server.tls_established and not server.credentials_received


def test_starttls_injection_then_serves_only_inbox_with_one_message(pki: Pki) -> None:
    with _server(Scenario.STARTTLS_INJECTION, pki) as server:
        with imaplib.IMAP4(HOST, server.port, timeout=TIMEOUT) as imap:
            # imaplib drops its read buffer when it wraps the socket, so the forged lines never reach it.
            imap.starttls(_client_context(pki))
            assert "AUTH=PLAIN" not in imap.capabilities
            _sync_inbox(imap)
        assert server.tls_established and server.credentials_received


def test_plaintext_sent_instead_of_a_client_hello_is_recorded(pki: Pki) -> None:
    with _server(Scenario.NORMAL_STARTTLS, pki) as server:
        sock, answer = _raw_starttls(server.port)
        with sock:
            assert answer == b"A1 OK Begin TLS negotiation now\r\n"
            sock.sendall(b'A2 LOGIN alice "secret"\r\n')
            server.wait_for_connections(1)
        assert server.commands[-1] == b'A2 LOGIN alice "secret"'
        assert server.credentials_received and not server.tls_established
        assert server.handshake_errors == ["client sent plaintext where a TLS ClientHello was due"]


def test_tls10_only_completes_a_handshake_with_a_client_allowing_tls10(pki: Pki) -> None:
    with _server(Scenario.TLS10_ONLY, pki) as server:
        raw = socket.create_connection((HOST, server.port), timeout=TIMEOUT)
        with _tls10_client_context(pki).wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == "TLSv1"
            assert _read_until(tls, b"\r\n").startswith(b"* OK [CAPABILITY IMAP4rev1")
        assert server.tls_established and server.handshake_errors == []


def test_tls10_only_fails_the_handshake_with_a_client_requiring_tls12(pki: Pki) -> None:
    with _server(Scenario.TLS10_ONLY, pki) as server:
        with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|HANDSHAKE_FAILURE"):
            imaplib.IMAP4_SSL(HOST, server.port, ssl_context=_client_context(pki), timeout=TIMEOUT)
        server.wait_for_connections(1)
        assert not server.tls_established and not server.credentials_received
        assert server.commands == []
        assert len(server.handshake_errors) == 1
        assert "UNSUPPORTED_PROTOCOL" in server.handshake_errors[0]


def test_untrusting_client_leaves_a_handshake_error_and_no_command(pki: Pki) -> None:
    with _server(Scenario.NORMAL_TLS, pki) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            imaplib.IMAP4_SSL(HOST, server.port, ssl_context=ssl.create_default_context(), timeout=TIMEOUT)
        server.wait_for_connections(1)
        assert not server.tls_established and server.commands == []
        assert len(server.handshake_errors) == 1


def test_credentials_stay_unreceived_without_login(pki: Pki) -> None:
    with _server(Scenario.NORMAL_TLS, pki) as server:
        with imaplib.IMAP4_SSL(HOST, server.port, ssl_context=_client_context(pki), timeout=TIMEOUT) as imap:
            imap.noop()
        server.wait_for_connections(1)
        assert [command.split(b" ", 1)[1] for command in server.commands] == [
            b"CAPABILITY",
            b"NOOP",
            b"LOGOUT",
        ]
        assert not server.credentials_received


def test_password_in_any_line_counts_as_received(pki: Pki) -> None:
    with _server(Scenario.STARTTLS_NOT_OFFERED, pki) as server:
        with (
            imaplib.IMAP4(HOST, server.port, timeout=TIMEOUT) as imap,
            pytest.raises(imaplib.IMAP4.error, match="Unknown command"),
        ):
            imap.xatom("XCHECK", "secret")
        assert server.credentials_received


def test_wrong_password_is_refused_but_recorded(pki: Pki) -> None:
    with _server(Scenario.NORMAL_TLS, pki) as server:
        with (
            imaplib.IMAP4_SSL(HOST, server.port, ssl_context=_client_context(pki), timeout=TIMEOUT) as imap,
            pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
        ):
            imap.login("alice", "wrong")
        assert server.credentials_received


def test_authenticate_plain_logs_in(pki: Pki) -> None:
    with _server(Scenario.NORMAL_TLS, pki) as server:
        with imaplib.IMAP4_SSL(HOST, server.port, ssl_context=_client_context(pki), timeout=TIMEOUT) as imap:
            typ, _data = imap.authenticate("PLAIN", lambda _challenge: b"\0alice\0secret")
            assert typ == "OK"
        assert server.credentials_received


def test_synchronizing_and_non_synchronizing_literals_are_read(pki: Pki) -> None:
    with _server(Scenario.NORMAL_TLS, pki) as server:
        raw = socket.create_connection((HOST, server.port), timeout=TIMEOUT)
        with _client_context(pki).wrap_socket(raw, server_hostname="localhost") as tls:
            _read_until(tls, b"\r\n")
            tls.sendall(b"A1 LOGIN {5}\r\n")
            assert _read_until(tls, b"\r\n") == b"+ Ready for literal data\r\n"
            tls.sendall(b"alice {6+}\r\nsecret\r\n")
            assert _read_until(tls, b"Logged in\r\n").startswith(b"A1 OK")
        assert server.commands == [b"A1 LOGIN {5}\r\nalice {6+}\r\nsecret"]
        assert server.credentials_received


def test_server_stops_promptly_while_a_client_stays_connected(pki: Pki) -> None:
    with socket.socket() as idle:
        server = _server(Scenario.NORMAL_STARTTLS, pki)
        with server:
            idle.connect((HOST, server.port))
            _read_until(idle, b"\r\n")
            started = time.monotonic()
        assert time.monotonic() - started < 0.5
        assert idle.recv(1) == b""  # The server closed its end on the way out.


@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
def test_client_leaving_before_the_handshake_is_recorded(pki: Pki, reset: bool) -> None:
    with _server(Scenario.NORMAL_TLS, pki) as server:
        with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as sock:
            if reset:  # A zero linger turns close() into a TCP reset.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.wait_for_connections(1)
        assert server.handshake_errors == ["client closed the connection before the TLS handshake"]


def test_unsupported_fetch_items_are_answered_bad_by_name(pki: Pki) -> None:
    with (
        _server(Scenario.NORMAL_TLS, pki) as server,
        imaplib.IMAP4_SSL(HOST, server.port, ssl_context=_client_context(pki), timeout=TIMEOUT) as imap,
    ):
        imap.login("alice", "secret")
        imap.select("INBOX")
        with pytest.raises(imaplib.IMAP4.error, match=r"BODY\.PEEK\[HEADER\.FIELDS \(FROM\)\]"):
            imap.uid("FETCH", "1", "(UID BODY.PEEK[HEADER.FIELDS (FROM)])")
