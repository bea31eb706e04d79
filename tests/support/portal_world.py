"""A Salus profile (CLI), a Dovecot account, a real SMTP server and a real portal, wired by a policy file:
what the portal's client-side integration tests share."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.crypto.portal_keys import open_message
from tests.support.dovecot import DovecotServer
from tests.support.pki import TestCA
from tests.support.portal_server import UPLOAD_KEY, PortalServer, call, request_code
from tests.support.salus_cli import Salus
from tests.support.smtp_server import SmtpServer

LINK = re.compile(rb"https://127\.0\.0\.1:\d+/m/([A-Za-z0-9_-]{22})#([A-Za-z0-9_-]{43})")
SENDER = "doctor@clinic.test"


@dataclass
class World:
    salus: Salus
    smtp: SmtpServer
    portal: PortalServer

    def send(self, recipient: str, word: str) -> str:
        """Sends a portal message with `salus send`; returns its portal id."""
        before = {m["portal_id"] for m in self.salus.json("portal", "status")["messages"]}
        result = self.salus.run("send", "--json", "--to", recipient, "--subject", f"Results {word}",
                                "--body", f"Your {word} values are normal.")  # fmt: skip
        assert result.code == 0, result.stderr
        listed = self.salus.json("portal", "status")["messages"]
        (new,) = [m["portal_id"] for m in listed if m["portal_id"] not in before]
        return str(new)

    def link(self, recipient: str) -> str:
        """The link of the newest notice sent to `recipient` (with K1 in its fragment)."""
        notice = next(a for a in reversed(self.smtp.accepted) if a.rcpt_tos == [recipient])
        found = LINK.search(notice.data.replace(b"=\r\n", b""))
        assert found is not None, "the notice carries no portal link"
        return found.group(0).decode()

    def open_as_recipient(self, link: str, recipient: str) -> bytes:
        """What the page does: a code by email, verification, the envelope; returns the decrypted message."""
        found = LINK.search(link.encode())
        assert found is not None
        portal_id, k1 = found.group(1).decode(), found.group(2).decode()
        code = request_code(self.portal, portal_id, recipient)
        status, _, body = call(self.portal, "POST", f"/api/v1/open/{portal_id}/verify", {"code": code})
        assert status == 200, body
        verified = json.loads(body)
        status, _, envelope = call(self.portal, "GET", f"/api/v1/open/{portal_id}/message", token=verified["access"])
        assert status == 200
        return open_message(envelope, _unb64(k1), _unb64(verified["k2"]))

    def status(self, portal_id: str) -> dict[str, object]:
        listed = self.salus.json("portal", "status")["messages"]
        (found,) = [m for m in listed if m["portal_id"] == portal_id]
        return dict(found)


@contextmanager
def portal_world(base: Path, dovecot: DovecotServer, ca: TestCA, user: str) -> Iterator[World]:
    with (
        SmtpServer(ca.issue_server_cert(base / "smtp")) as smtp,
        PortalServer(base / "portal", ca, smtp) as portal,
    ):
        (base / "upload.key").write_text(UPLOAD_KEY + "\n")
        policy = base / "policy.json"
        policy.write_text(json.dumps({
            "portal_url": portal.url, "portal_upload_key_file": str(base / "upload.key"),
            "portal_ca_file": str(ca.cert_file), "dns_resolvers": ["127.0.0.1:9"], "discovery_timeout_seconds": 1,
        }))  # fmt: skip
        salus = Salus(base / "p", env={"SALUS_POLICY_FILE": str(policy)})
        salus.ok("profile", "create")
        mail_user = dovecot.new_user(user)
        added = salus.run(
            "account", "add", "work", "--imap", f"{dovecot.host}:{dovecot.imaps_port}", "--smtp",
            f"127.0.0.1:{smtp.port}", "--user", mail_user.name, "--address", SENDER,
            "--ca-file", str(ca.cert_file), extra_env={"SALUS_ACCOUNT_PASSWORD": mail_user.password},
        )  # fmt: skip
        assert added.code == 0, added.stderr
        yield World(salus, smtp, portal)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
