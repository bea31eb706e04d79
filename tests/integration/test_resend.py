"""A message refused with 5.7.30 (the submission server cannot honour REQUIRETLS) is resent through the secure
portal with `salus outbox resend ID --escalate`: same subject, text and attachment, a new message, audited as a
resend of the original, and never twice. Real SMTP server, real portal, real Dovecot for the Sent copy."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.crypto.portal_keys import open_message
from app.mime.parse import parse_message
from app.portal.protocol import unb64
from app.services.reader import attachment_bytes
from tests.support.dovecot import DovecotServer
from tests.support.pki import TestCA
from tests.support.portal_server import PortalServer, call, request_code
from tests.support.refusing_world import PARTNER, refusing_world
from tests.support.salus_cli import Salus
from tests.support.smtp_server import SmtpServer

SECRET = "haemoglobinpelican"
LINK = re.compile(rb"https://127\.0\.0\.1:\d+/m/([A-Za-z0-9_-]+)#([A-Za-z0-9_-]+)")


@dataclass
class World:
    base: Path
    salus: Salus
    smtp: SmtpServer
    portal: PortalServer


@pytest.fixture(scope="module")
def world(dovecot: DovecotServer, test_ca: TestCA) -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="rsd", dir="/tmp"))  # GnuPG's socket path must stay short
    with refusing_world(base, test_ca) as servers:
        policy, smtp, portal = servers.policy, servers.smtp, servers.portal
        salus = Salus(base / "p", env={"SALUS_POLICY_FILE": str(policy)})
        salus.ok("profile", "create")
        user = dovecot.new_user("resender")
        added = salus.run(
            "account", "add", "work", "--imap", f"{dovecot.host}:{dovecot.imaps_port}", "--smtp",
            f"127.0.0.1:{smtp.port}", "--user", user.name, "--address", "doctor@clinic.test",
            "--ca-file", str(test_ca.cert_file), extra_env={"SALUS_ACCOUNT_PASSWORD": user.password},
        )  # fmt: skip
        assert added.code == 0, added.stderr
        yield World(base, salus, smtp, portal)
    shutil.rmtree(base, ignore_errors=True)


def _failed_tls_send(world: World, tag: str) -> dict[str, object]:
    report = world.base / f"report-{tag}.pdf"
    report.write_bytes(f"%PDF-1.4 {SECRET}{tag}\n".encode() * 20)
    result = world.salus.run(
        "send", "--json", "--to", PARTNER, "--subject", f"Results {SECRET}{tag}", "--body",
        f"Dear colleague, {SECRET}{tag} is attached.", "--attach", str(report),
    )  # fmt: skip
    assert result.code == 1 and "5.7.30" in result.stderr
    sent_id = result.json()["messages"][0]["message_id"]
    (row,) = [m for m in world.salus.json("outbox", "list")["messages"] if m["message_id"] == sent_id]
    assert (row["method"], row["state"]) == ("tls", "failed") and "5.7.30" in str(row["error"])
    return dict(row)


def _open_from_portal(world: World, notice: bytes) -> bytes:
    found = LINK.search(notice.replace(b"=\r\n", b""))
    assert found is not None
    portal_id, k1 = (g.decode() for g in found.groups())
    code = request_code(world.portal, portal_id, PARTNER)
    status, _, body = call(world.portal, "POST", f"/api/v1/open/{portal_id}/verify", {"code": code})
    assert status == 200
    granted = json.loads(body)
    status, _, envelope = call(world.portal, "GET", f"/api/v1/open/{portal_id}/message", token=str(granted["access"]))
    assert status == 200
    return open_message(envelope, unb64(k1, "k1"), unb64(str(granted["k2"]), "k2"))


def test_requiretls_bounce_is_resent_through_the_portal_with_the_same_content(world: World) -> None:
    row = _failed_tls_send(world, "a")
    assert world.smtp.accepted == [] or all(PARTNER not in a.rcpt_tos for a in world.smtp.accepted)
    assert world.salus.run("outbox", "resend", str(row["id"])).code == 2  # a resend is by a stronger method only

    result = world.salus.run("outbox", "resend", str(row["id"]), "--escalate", "--json")
    assert result.code == 0, result.stderr
    done = result.json()
    (message,) = done["messages"]
    assert (done["original"], message["method"], message["state"]) == (row["message_id"], "portal", "submitted")
    (notice,) = [a for a in world.smtp.accepted if a.rcpt_tos == [PARTNER]]
    assert SECRET.encode() not in notice.data and "REQUIRETLS" not in notice.mail_options
    assert SECRET.encode() not in world.portal.stored_bytes()

    opened = _open_from_portal(world, notice.data)
    resent = parse_message(opened)
    assert resent.subject == f"Results {SECRET}a"
    assert f"Dear colleague, {SECRET}a is attached." in resent.text
    (attachment,) = resent.attachments
    assert attachment.filename == "report-a.pdf"
    assert attachment_bytes(opened, attachment.part)[0] == (world.base / "report-a.pdf").read_bytes()

    audit = json.loads(world.salus.ok("audit", "export", "--format", "json").stdout)
    entries = audit if isinstance(audit, list) else audit["entries"]
    (entry,) = [e for e in entries if e["event"] == "send.resend"]
    assert entry["target"] == row["message_id"]
    detail = entry["detail"] if isinstance(entry["detail"], dict) else json.loads(entry["detail"])
    assert detail["resent_as"] == done["send_id"] and "5.7.30" in detail["failure"]


def test_a_failed_message_is_resent_once_only(world: World) -> None:
    row = _failed_tls_send(world, "b")
    world.salus.ok("outbox", "resend", str(row["message_id"]), "--escalate")
    again = world.salus.run("outbox", "resend", str(row["id"]), "--escalate")
    assert again.code == 2 and "resent already" in again.stderr
    newest = world.salus.json("outbox", "list")["messages"][-1]
    assert newest["method"] == "portal"
    assert world.salus.run("outbox", "resend", str(newest["id"]), "--escalate").code == 2  # not failed
