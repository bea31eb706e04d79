"""`salus send` to recipients only the portal can reach: sealed upload, a notice with K1 in the link's
fragment, notice-delivered status, revoke; the portal never holds the message in the clear."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.dovecot import DovecotServer
from tests.support.pki import TestCA
from tests.support.portal_server import UPLOAD_KEY, PortalServer
from tests.support.salus_cli import Salus
from tests.support.smtp_server import SmtpServer

STRANGER = "patient@nowhere.test"
SECRET = "thrombocytopeniaotter"
LINK = re.compile(rb"https://127\.0\.0\.1:\d+/m/([A-Za-z0-9_-]+)#([A-Za-z0-9_-]+)")


@dataclass
class World:
    salus: Salus
    smtp: SmtpServer
    portal: PortalServer


@pytest.fixture(scope="module")
def world(dovecot: DovecotServer, test_ca: TestCA) -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="ptl", dir="/tmp"))
    smtp_cert = test_ca.issue_server_cert(base / "smtp")
    with SmtpServer(smtp_cert, requiretls=True) as smtp, PortalServer(base / "portal", test_ca, smtp) as portal:
        (base / "upload.key").write_text(UPLOAD_KEY + "\n")
        policy = base / "policy.json"
        policy.write_text(json.dumps({
            "portal_url": portal.url, "portal_upload_key_file": str(base / "upload.key"),
            "portal_ca_file": str(test_ca.cert_file), "dns_resolvers": ["127.0.0.1:9"], "discovery_timeout_seconds": 1,
        }))  # fmt: skip
        salus = Salus(base / "p", env={"SALUS_POLICY_FILE": str(policy)})
        salus.ok("profile", "create")
        user = dovecot.new_user("escalating")
        added = salus.run(
            "account", "add", "work", "--imap", f"{dovecot.host}:{dovecot.imaps_port}", "--smtp",
            f"127.0.0.1:{smtp.port}", "--user", user.name, "--address", "doctor@clinic.test",
            "--ca-file", str(test_ca.cert_file), extra_env={"SALUS_ACCOUNT_PASSWORD": user.password},
        )  # fmt: skip
        assert added.code == 0, added.stderr
        yield World(salus, smtp, portal)
    shutil.rmtree(base, ignore_errors=True)


def test_stranger_gets_a_notice_and_the_portal_only_ciphertext(world: World) -> None:
    result = world.salus.run("send", "--json", "--to", STRANGER, "--subject", f"Results {SECRET}",
                             "--body", f"Your {SECRET} count is normal.")  # fmt: skip
    assert result.code == 0, result.stderr
    (delivery,) = result.json()["messages"]
    assert delivery["method"] == "portal" and delivery["state"] == "submitted"
    notices = [a for a in world.smtp.accepted if a.rcpt_tos == [STRANGER]]
    assert len(notices) == 1
    notice = notices[0].data
    assert SECRET.encode() not in notice
    portal_id, k1 = LINK.search(notice.replace(b"=\r\n", b"")).groups()  # type: ignore[union-attr]
    stored = world.portal.stored_bytes()
    assert SECRET.encode() not in stored and k1 not in stored

    status = world.salus.json("portal", "status")["messages"]
    (mine,) = [m for m in status if m["portal_id"] == portal_id.decode()]
    assert "notice_delivered" in mine["events"]


def test_revoked_message_is_reported_revoked(world: World) -> None:
    assert world.salus.run("send", "--to", STRANGER, "--subject", "s", "--body", "b").code == 0
    newest = world.salus.json("portal", "status")["messages"][-1]
    world.salus.ok("portal", "revoke", "--", newest["portal_id"])  # an id may start with "-"
    after = {m["portal_id"]: m for m in world.salus.json("portal", "status")["messages"]}
    assert after[newest["portal_id"]]["state"] == "revoked"
    events = [e["event"] for e in world.salus.json("audit", "export", "--format", "json")["entries"]]
    assert "portal.revoke" in events


def test_subject_tag_escalates_and_is_removed_before_sending(world: World) -> None:
    before = len(world.smtp.accepted)
    result = world.salus.run("send", "--json", "--to", STRANGER, "--subject", "[SECURE] lab values", "--body", "x")
    assert result.code == 0, result.stderr
    (notice,) = world.smtp.accepted[before:]
    assert b"[SECURE]" not in notice.data
    events = [e["event"] for e in world.salus.json("audit", "export", "--format", "json")["entries"]]
    assert "escalation" in events
