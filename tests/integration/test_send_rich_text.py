"""Rich text sent for real: the composer's clean HTML goes out as multipart/alternative inside OpenPGP, S/MIME
and TLS delivery, to a real SMTP server; real GnuPG and OpenSSL decrypt what arrived and find both parts."""

from __future__ import annotations

import asyncio
import email
from email.message import Message

import gnupg
import pytest

from app.services.policy import current_settings
from app.services.profile import unlock
from app.services.send import SendRequest, send
from tests.integration.test_send_cli import (  # noqa: F401 - the module's world fixture
    PARTNER,
    PGP_FRIEND,
    SMIME_FRIEND,
    World,
    openssl_decrypt,
    profile,
    world,
)
from tests.support.salus_cli import PASSPHRASE
from tests.support.smtp_server import SmtpServer

HTML = (
    "<p>Dear colleague, <b>potassiumzebra</b> levels:</p>\n<ul>\n"
    '<li>see <a href="https://lab.example/r">the lab</a></li>'
    "\n</ul>"
)
TEXT = "Dear colleague, potassiumzebra levels:\n- see the lab <https://lab.example/r>"


def _alternatives(data: bytes) -> tuple[str, str]:
    """The text/plain and text/html of the message's one multipart/alternative, decoded."""
    message = email.message_from_bytes(data)
    found = [part for part in message.walk() if part.get_content_type() == "multipart/alternative"]
    assert len(found) == 1
    children = [child for child in found[0].get_payload() if isinstance(child, Message)]
    assert [child.get_content_type() for child in children] == ["text/plain", "text/html"]
    return _text(children[0]), _text(children[1])


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8").replace("\r\n", "\n")


def test_rich_text_arrives_as_plain_and_html_alternatives_inside_every_protection(
    world: World,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SmtpServer(world.smtp_cert, requiretls=True, dsn=True) as smtp:
        salus = profile(world, smtp.port, "rich")
        monkeypatch.setenv("SALUS_POLICY_FILE", str(world.policy))
        _, settings = current_settings()
        session = unlock(salus.profile, PASSPHRASE)
        try:
            request = SendRequest((PGP_FRIEND, SMIME_FRIEND, PARTNER), "Rich results", TEXT, body_html=HTML)
            report = asyncio.run(send(session, settings, request))
        finally:
            session.close()
    assert {d.method: d.state for d in report.deliveries} == {
        "pgp": "submitted",
        "smime": "submitted",
        "tls": "submitted",
    }
    arrived = {tuple(a.rcpt_tos): a.data for a in smtp.accepted}

    pgp = arrived[(PGP_FRIEND,)]
    assert b"potassiumzebra" not in pgp and b"multipart/alternative" not in pgp  # the structure is inside too
    decrypted = gnupg.GPG(gnupghome=str(world.bob_home)).decrypt(pgp)
    assert decrypted.ok, decrypted.stderr
    assert b'hp="cipher"' in decrypted.data and b"Subject: Rich results" in decrypted.data
    plain, markup = _alternatives(decrypted.data)
    assert plain.rstrip("\n") == TEXT and HTML in markup

    smime = arrived[(SMIME_FRIEND,)]
    assert b"potassiumzebra" not in smime
    plain, markup = _alternatives(openssl_decrypt(world, smime))
    assert plain.rstrip("\n") == TEXT and HTML in markup

    plain, markup = _alternatives(arrived[(PARTNER,)])  # tls: sent as is, over TLS with REQUIRETLS
    assert plain.rstrip("\n") == TEXT and HTML in markup
