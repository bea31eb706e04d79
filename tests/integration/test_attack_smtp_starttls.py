""" "Why TLS is better without STARTTLS" (Poddebniak et al., USENIX Security 2021) against SMTP submission.

A small scripted SMTP server on a real loopback socket plays the attacker on the path (the aiosmtpd server of
tests/support/smtp_server.py behaves correctly, which is the point of it, so it cannot play these parts): it
greets or answers EHLO with an [ALERT]-style text before TLS, or injects a forged EHLO answer in the same
segment as its STARTTLS go-ahead.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

import pytest

from app.core.errors import MailError
from app.core.models import Endpoint, Security
from app.mail.smtp.probe import SubmissionCapabilities, probe_submission
from tests.support.pki import ServerCert, TestCA

ALERT = b"Your mailbox is locked: call +1 555 0100 or visit http://attacker.test/unlock"


class Play(Enum):
    ALERT_GREETING = "alert-greeting"
    ALERT_EHLO = "alert-ehlo"
    INJECT_AFTER_STARTTLS = "inject"


@pytest.fixture(scope="module")
def cert(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> ServerCert:
    return test_ca.issue_server_cert(tmp_path_factory.mktemp("smtp-attack-cert"))


def _serve(listener: socket.socket, play: Play, context: ssl.SSLContext) -> None:
    connection, _ = listener.accept()
    with connection:
        stream = connection.makefile("rb")
        if play is Play.ALERT_GREETING:
            connection.sendall(b"554 5.7.0 " + ALERT + b"\r\n")
            return
        connection.sendall(b"220 scripted ESMTP\r\n")
        stream.readline()  # EHLO
        if play is Play.ALERT_EHLO:
            connection.sendall(b"554 5.7.0 " + ALERT + b"\r\n")
            return
        connection.sendall(b"250-scripted\r\n250 STARTTLS\r\n")
        stream.readline()  # STARTTLS
        # The forged EHLO answer rides in the same segment as the go-ahead: a client that keeps it after the
        # handshake believes the server offers REQUIRETLS, which the real answer below does not.
        connection.sendall(b"220 Go ahead\r\n250-forged\r\n250 REQUIRETLS\r\n")
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                secure = tls.makefile("rb")
                while line := secure.readline():
                    if line.upper().startswith(b"EHLO"):
                        tls.sendall(b"250-scripted\r\n250 8BITMIME\r\n")
                    elif line.upper().startswith(b"QUIT"):
                        tls.sendall(b"221 bye\r\n")
                        return
                    else:
                        tls.sendall(b"502 no\r\n")
        except (ssl.SSLError, OSError):
            return


@contextmanager
def scripted(play: Play, cert: ServerCert) -> Iterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.chain_file, cert.key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=_serve, args=(listener, play, context), daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(5)


def probe(port: int, test_ca: TestCA) -> SubmissionCapabilities:
    endpoint = Endpoint("127.0.0.1", port, Security.STARTTLS)
    return asyncio.run(probe_submission(endpoint, test_ca.cert_file.read_text(), timeout=5))


@pytest.mark.parametrize("play", [Play.ALERT_GREETING, Play.ALERT_EHLO], ids=lambda p: p.value)
def test_smtp_text_sent_before_tls_is_never_shown_to_the_user(cert: ServerCert, test_ca: TestCA, play: Play) -> None:
    with scripted(play, cert) as port, pytest.raises(MailError) as caught:
        probe(port, test_ca)
    message = str(caught.value)
    assert "attacker.test" not in message and "555" not in message, message
    assert "before TLS" in message


def test_smtp_response_injected_behind_starttls_go_ahead_is_never_believed(cert: ServerCert, test_ca: TestCA) -> None:
    with scripted(Play.INJECT_AFTER_STARTTLS, cert) as port:
        try:
            capabilities = probe(port, test_ca)
        except MailError:
            return  # refusing the connection is also safe
    assert not capabilities.requiretls, capabilities.extensions
