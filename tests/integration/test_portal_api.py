"""The portal server over real HTTPS, with codes emailed through a real SMTP server: verification, lockout,
expiry, revocation, status, replies, headers and what the server keeps and logs."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app.core.errors import TransportSecurityRefused
from app.crypto.portal_keys import open_message, open_reply, seal_reply
from app.portal.client import PortalClient, PortalEndpoint
from app.portal.errors import PortalAuthFailed, PortalRefused
from app.portal.protocol import ENVELOPE_MEDIA_TYPE, EventKind, MessageState, unb64
from app.portal.server import purge
from tests.support.pki import TestCA, untrusted_server_cert
from tests.support.portal_server import SENDER, PortalServer, call, escalate, request_code, sample, send_escalated
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[PortalServer]:
    base = tmp_path_factory.mktemp("portal-api")
    with (
        SmtpServer(test_ca.issue_server_cert(base / "smtp", name="smtp")) as smtp,
        PortalServer(base / "portal", test_ca, smtp) as server,
    ):
        yield server


def _verify(portal: PortalServer, message_id: str, secret: dict[str, str]) -> tuple[int, dict[str, object]]:
    status, _, body = call(portal, "POST", f"/api/v1/open/{message_id}/verify", secret)
    return status, json.loads(body)


def test_a_verified_code_releases_k2_and_the_envelope_which_open_with_k1(portal: PortalServer) -> None:
    item = sample("api1", "api.one@example.org")
    escalated = send_escalated(portal, item)
    message_id = escalated.receipt.message_id
    status, granted = _verify(portal, message_id, {"code": request_code(portal, message_id, item.recipient)})
    assert status == 200
    assert granted["recipient"] == item.recipient
    status, headers, envelope = call(portal, "GET", f"/api/v1/open/{message_id}/message", token=str(granted["access"]))
    assert status == 200 and headers["content-type"] == ENVELOPE_MEDIA_TYPE
    assert open_message(envelope, escalated.k1, unb64(str(granted["k2"]), "k2")) == item.mime


def test_a_code_works_once(portal: PortalServer) -> None:
    item = sample("api2", "api.two@example.org")
    message_id = send_escalated(portal, item).receipt.message_id
    code = request_code(portal, message_id, item.recipient)
    assert _verify(portal, message_id, {"code": code})[0] == 200
    status, refused = _verify(portal, message_id, {"code": code})
    assert (status, refused["error"]) == (409, "no_code")


def test_nothing_but_the_verification_method_is_told_before_verification(portal: PortalServer) -> None:
    item = sample("api3", "api.three@example.org")
    message_id = send_escalated(portal, item).receipt.message_id
    status, _, body = call(portal, "GET", f"/api/v1/open/{message_id}")
    assert status == 200
    assert set(json.loads(body)) == {"v", "state", "verification", "expires_at"}
    assert call(portal, "GET", f"/api/v1/open/{message_id}/message")[0] == 401
    assert call(portal, "GET", f"/api/v1/open/{message_id}/message", token="guessed")[0] == 401
    status, _, page = call(portal, "GET", f"/m/{message_id}")
    assert status == 200 and b"api.three" not in page and page == call(portal, "GET", "/m/" + "A" * 22)[2]


def test_wrong_codes_lock_out_even_the_right_code_until_the_lockout_ends(portal: PortalServer) -> None:
    item = sample("api4", "api.four@example.org")
    message_id = send_escalated(portal, item).receipt.message_id
    code = request_code(portal, message_id, item.recipient)
    wrong = f"{(int(code) + 7) % 1_000_000:06d}"
    answers = [_verify(portal, message_id, {"code": wrong}) for _ in range(5)]
    assert [a[1].get("attempts_left") for a in answers[:4]] == [4, 3, 2, 1]
    assert (answers[4][0], answers[4][1]["error"]) == (423, "locked")
    assert _verify(portal, message_id, {"code": code})[0] == 423
    portal.clock.advance(timedelta(minutes=16))
    assert _verify(portal, message_id, {"code": code})[1]["error"] == "no_code", "the lockout burned the code"
    fresh = request_code(portal, message_id, item.recipient)
    assert _verify(portal, message_id, {"code": fresh})[0] == 200


def test_code_requests_are_rate_limited(portal: PortalServer) -> None:
    item = sample("api5", "api.five@example.org")
    message_id = send_escalated(portal, item).receipt.message_id
    request_code(portal, message_id, item.recipient)
    status, headers, body = call(portal, "POST", f"/api/v1/open/{message_id}/code", {})
    assert status == 429 and int(headers["retry-after"]) > 0 and json.loads(body)["error"] == "too_many"


def test_passphrase_chosen_by_the_sender_opens_the_message_and_no_code_is_sent(portal: PortalServer) -> None:
    item = sample("api6", "api.six@example.org")
    escalated = send_escalated(portal, item, passphrase="blue heron at dawn")
    message_id = escalated.receipt.message_id
    assert json.loads(call(portal, "GET", f"/api/v1/open/{message_id}")[2])["verification"] == "passphrase"
    assert call(portal, "POST", f"/api/v1/open/{message_id}/code", {})[0] == 409
    assert _verify(portal, message_id, {"passphrase": "blue heron at dusk"})[1]["attempts_left"] == 4
    status, granted = _verify(portal, message_id, {"passphrase": "blue heron at dawn"})
    assert status == 200 and open_message(
        call(portal, "GET", f"/api/v1/open/{message_id}/message", token=str(granted["access"]))[2],
        escalated.k1, unb64(str(granted["k2"]), "k2"),
    ) == item.mime  # fmt: skip
    assert b"blue heron" not in portal.stored_bytes()


def test_expired_link_is_refused_and_purged(portal: PortalServer) -> None:
    item = sample("api7", "api.seven@example.org")
    escalated = send_escalated(portal, item, days=1)
    message_id = escalated.receipt.message_id
    portal.clock.advance(timedelta(days=1, minutes=1))
    status, _, body = call(portal, "GET", f"/api/v1/open/{message_id}")
    assert (status, json.loads(body)["error"]) == (410, "expired")
    assert call(portal, "POST", f"/api/v1/open/{message_id}/code", {})[0] == 410
    purge(portal.storage, portal.clock.now(), timedelta(days=30))
    assert not (portal.data_dir / "envelopes" / message_id).exists()
    status_now = asyncio.run(portal.client().status(message_id, escalated.receipt.sender_token))
    assert status_now.state is MessageState.EXPIRED


def test_revocation_needs_the_sender_token_and_destroys_k2_and_the_envelope(portal: PortalServer) -> None:
    item = sample("api8", "api.eight@example.org")
    escalated = send_escalated(portal, item)
    receipt = escalated.receipt
    client = portal.client()
    with pytest.raises(PortalAuthFailed):
        asyncio.run(client.revoke(receipt.message_id, "not-the-token"))
    asyncio.run(client.revoke(receipt.message_id, receipt.sender_token))
    status, _, body = call(portal, "GET", f"/api/v1/open/{receipt.message_id}")
    assert (status, json.loads(body)["error"]) == (410, "revoked")
    assert not (portal.data_dir / "envelopes" / receipt.message_id).exists()
    record = portal.storage.load(receipt.message_id)
    assert record is not None and record.k2 == b""
    assert asyncio.run(client.status(receipt.message_id, receipt.sender_token)).has(EventKind.REVOKED)


def test_a_reply_sealed_to_the_reply_key_is_fetched_and_opened_by_the_sender(portal: PortalServer) -> None:
    item = sample("api9", "api.nine@example.org")
    escalated = send_escalated(portal, item)
    message_id = escalated.receipt.message_id
    _, granted = _verify(portal, message_id, {"code": request_code(portal, message_id, item.recipient)})
    reply = seal_reply(b"Subject: Re\r\n\r\nthanks\r\n", escalated.reply_key.public_point)
    status, _, _ = _post_envelope(portal, f"/api/v1/open/{message_id}/replies", reply, str(granted["access"]))
    assert status == 201
    fetched = asyncio.run(portal.client().fetch_reply(message_id, escalated.receipt.sender_token, 1))
    assert open_reply(fetched, escalated.reply_key.private_pkcs8).endswith(b"thanks\r\n")
    assert _post_envelope(portal, f"/api/v1/open/{message_id}/replies", reply, "stolen")[0] == 401


def _post_envelope(portal: PortalServer, path: str, envelope: bytes, token: str) -> tuple[int, dict[str, str], bytes]:
    context = ssl.create_default_context(cafile=str(portal.ca.cert_file))
    connection = http.client.HTTPSConnection("127.0.0.1", portal.port, context=context)
    headers = {"Content-Type": ENVELOPE_MEDIA_TYPE, "Authorization": f"Bearer {token}"}
    connection.request("POST", path, body=envelope, headers=headers)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_uploads_need_the_organisation_upload_key(portal: PortalServer) -> None:
    item = sample("api10", "api.ten@example.org")
    stranger = PortalClient(PortalEndpoint(portal.url, "wrong-key", portal.ca.cert_file.read_text()))
    with pytest.raises(PortalAuthFailed):
        asyncio.run(escalate(stranger, portal.url, item.mime, item.recipient, SENDER, portal.clock.now()))


def test_every_answer_carries_the_security_headers(portal: PortalServer) -> None:
    for path in ("/m/" + "A" * 22, "/assets/app.js", "/api/v1/open/" + "A" * 22, "/nowhere"):
        _, headers, _ = call(portal, "GET", path)
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["strict-transport-security"].startswith("max-age=")
        assert "server" not in headers


def test_the_server_logs_routes_and_statuses_but_no_ids_addresses_or_codes(
    portal: PortalServer, caplog: pytest.LogCaptureFixture
) -> None:
    item = sample("api11", "api.eleven@example.org")
    with caplog.at_level(logging.INFO, logger="salus.portal"):
        message_id = send_escalated(portal, item).receipt.message_id
        code = request_code(portal, message_id, item.recipient)
        _verify(portal, message_id, {"code": code})
    text = caplog.text
    assert "POST verify 200" in text
    assert message_id not in text and item.recipient not in text and code not in text


def test_the_client_refuses_a_portal_certificate_it_cannot_verify(portal: PortalServer, tmp_path: Path) -> None:
    rogue = untrusted_server_cert(tmp_path)
    client = PortalClient(PortalEndpoint(portal.url, "key", rogue.cert_file.read_text()))
    with pytest.raises(TransportSecurityRefused):
        asyncio.run(client.status("A" * 22, "token"))


def test_status_and_replies_refuse_a_wrong_sender_token(portal: PortalServer) -> None:
    receipt = send_escalated(portal, sample("api12", "api.twelve@example.org")).receipt
    client = portal.client()
    with pytest.raises(PortalAuthFailed):
        asyncio.run(client.status(receipt.message_id, "guess"))
    with pytest.raises(PortalRefused) as refused:
        asyncio.run(client.fetch_reply(receipt.message_id, receipt.sender_token, 1))
    assert refused.value.status == 404
