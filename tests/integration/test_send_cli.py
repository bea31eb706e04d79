"""`salus send` end to end: plan, build, queue, submit to a real SMTP server, Sent copy on a real Dovecot.

Recipients: one with an OpenPGP key, one with an S/MIME certificate, one whose domain enforces MTA-STS (so
`tls` with REQUIRETLS), and strangers the plan sends to the portal (not configured here: such sends are blocked).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gnupg
import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.dns_server import DnsServer
from tests.support.dovecot import DovecotServer, MailUser
from tests.support.https_server import HttpsServer, Route
from tests.support.identities import SmimeIdentity, pgp_identity, smime_identity
from tests.support.pki import ServerCert, TestCA
from tests.support.salus_cli import Salus
from tests.support.smtp_server import SmtpServer
from tests.support.tcp_proxy import TcpProxy

SENDER = "clinician@salus.test"
PGP_FRIEND = "bob@keys.test"
SMIME_FRIEND = "carol@certs.test"
PARTNER = "x@partner.test"
STRANGER = "n@nothing.test"
SECRET_WORDS = ("potassiumzebra", "Quarterly cardiology follow-up")
ENFORCE = b"version: STSv1\nmode: enforce\nmx: mx.partner.test\nmax_age: 86400\n"


@dataclass
class World:
    base: Path
    ca: TestCA
    smtp_cert: ServerCert
    dovecot: DovecotServer
    user: MailUser
    policy: Path
    bob_home: Path
    carol: SmimeIdentity


@pytest.fixture(scope="module")
def world(dovecot: DovecotServer, test_ca: TestCA) -> Iterator[World]:
    # GnuPG's agent socket must fit in a Unix socket path (about 100 bytes): keep the profiles short.
    base = Path(tempfile.mkdtemp(prefix="snd", dir="/tmp"))
    bob = pgp_identity(base / "bob", PGP_FRIEND)
    carol = smime_identity(test_ca, SMIME_FRIEND)
    web_cert = test_ca.issue_server_cert(base / "web", dns_names=("mta-sts.partner.test",), ip_addresses=())
    routes = {("mta-sts.partner.test", "/.well-known/mta-sts.txt"): Route(body=ENFORCE)}
    records = [
        ("partner.test", "MX", "10 mx.partner.test."),
        ("_mta-sts.partner.test", "TXT", '"v=STSv1; id=1"'),
        ("mta-sts.partner.test", "A", "127.0.0.1"),
    ]
    with DnsServer(records) as dns, HttpsServer(web_cert, routes) as web:
        policy = base / "policy.json"
        policy.write_text(json.dumps({
            "dns_resolvers": [f"127.0.0.1:{dns.port}"], "discovery_ca_file": str(test_ca.cert_file),
            "smime_ca_file": str(test_ca.cert_file), "discovery_https_port": web.port, "discovery_timeout_seconds": 2,
        }))  # fmt: skip
        (base / "bob.asc").write_bytes(bob.public)
        (base / "carol.pem").write_bytes(carol.pem)
        yield World(base, test_ca, test_ca.issue_server_cert(base / "smtp"), dovecot, dovecot.new_user("sender"),
                    policy, base / "bob", carol)  # fmt: skip
    shutil.rmtree(base, ignore_errors=True)


def profile(world: World, smtp_port: int, name: str) -> Salus:
    salus = Salus(world.base / name, env={"SALUS_POLICY_FILE": str(world.policy)})
    salus.ok("profile", "create")
    added = salus.run(
        "account", "add", "work", "--imap", f"{world.dovecot.host}:{world.dovecot.imaps_port}",
        "--smtp", f"127.0.0.1:{smtp_port}", "--user", world.user.name, "--address", SENDER,
        "--ca-file", str(world.ca.cert_file), extra_env={"SALUS_ACCOUNT_PASSWORD": world.user.password},
    )  # fmt: skip
    assert added.code == 0, added.stderr
    salus.ok("keys", "import", str(world.base / "bob.asc"), str(world.base / "carol.pem"))
    return salus


def send(salus: Salus, *to: str, extra: tuple[str, ...] = ()) -> Any:
    body = f"Dear colleague, {SECRET_WORDS[0]} levels are attached."
    return salus.run("send", "--json", "--to", *to, "--subject", SECRET_WORDS[1], "--body", body, *extra)


def assert_no_secrets(data: bytes) -> None:
    for word in SECRET_WORDS:
        assert word.encode() not in data


def test_each_group_goes_out_protected_as_planned(world: World) -> None:
    with SmtpServer(world.smtp_cert, requiretls=True, dsn=True) as smtp:
        salus = profile(world, smtp.port, "p1")
        result = send(salus, PGP_FRIEND, SMIME_FRIEND, PARTNER)
        assert result.code == 0, result.stderr
        report = result.json()
    by_method = {m["method"]: m for m in report["messages"]}
    assert {m: by_method[m]["state"] for m in by_method} == {
        "pgp": "submitted",
        "smime": "submitted",
        "tls": "submitted",
    }
    arrived = {tuple(a.rcpt_tos): a for a in smtp.accepted}
    assert set(arrived) == {(PGP_FRIEND,), (SMIME_FRIEND,), (PARTNER,)}

    pgp = arrived[(PGP_FRIEND,)]
    assert b"multipart/encrypted" in pgp.data and b"Subject: [...]" in pgp.data
    assert_no_secrets(pgp.data)
    decrypted = gnupg.GPG(gnupghome=str(world.bob_home)).decrypt(pgp.data)
    assert decrypted.ok, decrypted.stderr
    assert SECRET_WORDS[0].encode() in decrypted.data and SECRET_WORDS[1].encode() in decrypted.data

    smime = arrived[(SMIME_FRIEND,)]
    assert b"application/pkcs7-mime" in smime.data
    assert_no_secrets(smime.data)
    assert SECRET_WORDS[0].encode() in openssl_decrypt(world, smime.data)

    tls = arrived[(PARTNER,)]
    assert "REQUIRETLS" in tls.mail_options and tls.over_tls
    assert any(o.startswith("NOTIFY=") for o in tls.rcpt_options)
    assert all(m["sent_copy"] == "stored" for m in report["messages"])


def test_sent_copies_are_encrypted_to_the_sender(world: World) -> None:
    with world.dovecot.client(world.user) as client:
        client.select_folder("Sent", readonly=True)
        copies = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
    assert len(copies) >= 3
    for data in copies.values():
        assert b"multipart/encrypted" in data[b"BODY[]"]
        assert_no_secrets(data[b"BODY[]"])


def test_send_is_audited_with_every_method_and_reason(world: World) -> None:
    with SmtpServer(world.smtp_cert, requiretls=True) as smtp:
        salus = profile(world, smtp.port, "p2")
        assert send(salus, PGP_FRIEND, PARTNER).code == 0
    entries = salus.json("audit", "export", "--format", "json")["entries"]
    (sent,) = [e for e in entries if e["event"] == "send"]
    methods = {r["address"]: r["method"] for r in sent["detail"]["recipients"]}
    assert methods == {PGP_FRIEND: "pgp", PARTNER: "tls"}
    assert all(r["reasons"] for r in sent["detail"]["recipients"])
    assert salus.json("audit", "verify")["ok"] is True


def test_recipient_only_the_portal_could_reach_blocks_the_send(world: World) -> None:
    with SmtpServer(world.smtp_cert, requiretls=True) as smtp:
        salus = profile(world, smtp.port, "p3")
        result = send(salus, PGP_FRIEND, STRANGER)
        escalated = send(salus, PGP_FRIEND, extra=("--escalate",))
    assert result.code == 5 and "portal" in result.stderr
    assert escalated.code == 5
    assert smtp.accepted == []
    assert salus.json("outbox", "list")["messages"] == []


def test_server_without_requiretls_at_send_time_fails_the_tls_message_permanently(world: World) -> None:
    with SmtpServer(world.smtp_cert, requiretls=True) as planned:
        salus = profile(world, planned.port, "p4")
        salus.json("plan", "--to", PARTNER)  # caches "REQUIRETLS offered" for this server
    with SmtpServer(world.smtp_cert, requiretls=False, port=planned.port) as downgraded:
        result = send(salus, PARTNER)
    assert result.code == 1
    assert "REQUIRETLS" in result.stderr
    assert downgraded.accepted == []
    (message,) = salus.json("outbox", "list")["messages"]
    assert message["state"] == "failed"


def test_permanent_rejection_is_reported_and_never_retried(world: World) -> None:
    refusal = "550 5.7.30 REQUIRETLS support required"
    with SmtpServer(world.smtp_cert, requiretls=True, refuse={PGP_FRIEND: refusal}) as smtp:
        salus = profile(world, smtp.port, "p5")
        result = send(salus, PGP_FRIEND)
        assert result.code == 1 and "5.7.30" in result.stderr
        assert salus.run("outbox", "flush").code == 0
        assert smtp.accepted == []
    (message,) = salus.json("outbox", "list")["messages"]
    assert message["state"] == "failed" and "5.7.30" in message["error"]


def test_message_queued_while_the_server_is_down_is_sent_exactly_once_later(world: World) -> None:
    port = free_port()
    salus = profile(world, port, "p6")
    down = send(salus, PGP_FRIEND)
    assert down.code == 1
    (queued,) = salus.json("outbox", "list")["messages"]
    assert queued["state"] == "queued"
    with SmtpServer(world.smtp_cert, requiretls=True, port=port) as smtp:
        flush_now(salus)
        flush_now(salus)
        assert len(smtp.accepted) == 1
    assert salus.json("outbox", "list")["messages"][0]["state"] == "submitted"


def test_killed_before_submission_the_message_is_sent_once_after(world: World) -> None:
    with blackhole() as port:
        salus = profile(world, port, "p7")
        process = subprocess.Popen(
            salus.command("send", "--to", PGP_FRIEND, "--subject", "s", "--body", "b"),
            env=salus.environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_state(salus, "queued")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with SmtpServer(world.smtp_cert, requiretls=True, port=port) as smtp:
        flush_now(salus)
        flush_now(salus)
        assert len(smtp.accepted) == 1


def flush_now(salus: Salus) -> None:
    """`outbox flush` is the user's "try again now": it does not wait for the back-off."""
    salus.run("outbox", "flush")


def wait_for_state(salus: Salus, state: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = salus.json("outbox", "list")["messages"]
        if messages and messages[0]["state"] == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"the outbox never reached {state!r}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class blackhole:
    """A port that accepts TCP connections and never says anything: a server hung before its greeting."""

    def __enter__(self) -> int:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        return int(self._socket.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._socket.close()


def openssl_decrypt(world: World, message: bytes) -> bytes:
    key = world.base / "carol.key"
    key.write_bytes(world.carol.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))  # fmt: skip
    done = subprocess.run(
        ["openssl", "cms", "-decrypt", "-recip", str(world.base / "carol.pem"), "-inkey", str(key)],
        input=message, capture_output=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def p12(identity: SmimeIdentity, path: Path) -> Path:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"me", identity.key, identity.certificate, None, BestAvailableEncryption(b"p12-secret")
    ))  # fmt: skip
    (path.parent / f"{path.name}.pw").write_text("p12-secret\n")
    return path


def test_smime_with_own_identity_is_signed_then_encrypted_and_reads_back_verified(world: World) -> None:
    me = smime_identity(world.ca, SENDER)
    with SmtpServer(world.smtp_cert, requiretls=True) as smtp:
        salus = profile(world, smtp.port, "p8")
        path = p12(me, world.base / "me.p12")
        salus.ok("keys", "import-identity", str(path), "--p12-password-file", f"{path}.pw")
        assert send(salus, SMIME_FRIEND).code == 0
    (delivered,) = smtp.accepted
    assert b"application/pkcs7-signature" in openssl_decrypt(world, delivered.data)

    # Carol, using Salus too, receives it: decrypted with her identity, signature verified against the CA.
    carol_user = world.dovecot.new_user("carol")
    world.dovecot.seed(carol_user, "INBOX", [delivered.data])
    carol = Salus(world.base / "c8", env={"SALUS_POLICY_FILE": str(world.policy)})
    carol.ok("profile", "create")
    added = carol.add_account(
        "work",
        host=world.dovecot.host,
        port=world.dovecot.imaps_port,
        security="tls",
        user=carol_user.name,
        password=carol_user.password,
        ca_file=world.ca.cert_file,
    )
    assert added.code == 0
    carol_p12 = p12(world.carol, world.base / "carol.p12")
    carol.ok("keys", "import-identity", str(carol_p12), "--p12-password-file", f"{carol_p12}.pw")
    carol.ok("sync")
    shown = carol.json("show", "--uid", "1")
    assert shown["encryption"] == "smime"
    assert shown["signature"]["state"] == "valid"
    assert shown["subject"] == SECRET_WORDS[1]
    assert SECRET_WORDS[0] in shown["text"]
    assert carol.json("search", SECRET_WORDS[0])["results"]


def test_killed_before_the_sent_copy_the_message_is_not_sent_again_and_the_copy_stored_once(world: World) -> None:
    with (
        TcpProxy((world.dovecot.host, world.dovecot.imaps_port), forwarding=False) as imap,
        SmtpServer(world.smtp_cert, requiretls=True) as smtp,
    ):
        salus = Salus(world.base / "p9", env={"SALUS_POLICY_FILE": str(world.policy)})
        salus.ok("profile", "create")
        user = world.dovecot.new_user("sentcopy")
        # Dovecot's certificate names 127.0.0.1, so the relay is reached by that address too.
        added = salus.run(
            "account", "add", "work", "--imap", f"127.0.0.1:{imap.port}", "--smtp", f"127.0.0.1:{smtp.port}",
            "--user", user.name, "--address", SENDER, "--ca-file", str(world.ca.cert_file),
            extra_env={"SALUS_ACCOUNT_PASSWORD": user.password},
        )  # fmt: skip
        assert added.code == 0, added.stderr
        salus.ok("keys", "import", str(world.base / "bob.asc"))
        process = subprocess.Popen(
            salus.command("send", "--to", PGP_FRIEND, "--subject", "s", "--body", "b"),
            env=salus.environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_state(salus, "submitted")  # submitted, and now hanging on the IMAP server for the Sent copy
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        (row,) = salus.json("outbox", "list")["messages"]
        assert row["sent_copy"] == "pending"
        imap.forwarding = True
        flush_now(salus)
        flush_now(salus)
        assert len(smtp.accepted) == 1
    (row,) = salus.json("outbox", "list")["messages"]
    assert row["state"] == "submitted" and row["sent_copy"] == "stored"
    with world.dovecot.client(user) as client:
        client.select_folder("Sent", readonly=True)
        assert len(client.search(["ALL"])) == 1


def test_killed_between_delivery_and_its_acknowledgement_the_retry_keeps_the_message_id(world: World) -> None:
    """The one window a client cannot close: the server took the message but its "250" never arrived. The retry
    is sent with the same Message-ID, so receivers can drop the duplicate, and the audit log says so."""
    hold = threading.Event()
    hold.set()
    with SmtpServer(world.smtp_cert, requiretls=True, hold_reply=hold) as smtp:
        salus = profile(world, smtp.port, "p10")
        process = subprocess.Popen(
            salus.command("send", "--to", PGP_FRIEND, "--subject", "s", "--body", "b"),
            env=salus.environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_state(salus, "submitting")
        deadline = time.monotonic() + 30
        while not smtp.accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        hold.clear()
        flush_now(salus)
        flush_now(salus)
    first, second = smtp.accepted
    assert message_id(first.data) == message_id(second.data)
    entries = salus.json("audit", "export", "--format", "json")["entries"]
    assert any(e["event"] == "send" and e["detail"].get("retry_after_interruption") for e in entries)
    assert salus.json("outbox", "list")["messages"][0]["state"] == "submitted"


def test_a_flush_while_another_process_is_sending_leaves_the_message_to_it(world: World) -> None:
    """The window is mid-send (the server has the bytes, its "250" is pending) when someone runs `outbox flush`.
    Without one sender per profile the flush would find the row in `submitting` and submit it a second time."""
    hold = threading.Event()
    hold.set()
    with SmtpServer(world.smtp_cert, requiretls=True, hold_reply=hold) as smtp:
        salus = profile(world, smtp.port, "p20")
        sending = subprocess.Popen(
            salus.command("send", "--to", PGP_FRIEND, "--subject", "s", "--body", "b"),
            env=salus.environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_state(salus, "submitting")
        flushed = salus.run("outbox", "flush", "--json")
        assert len(smtp.accepted) == 1  # only the first process's copy reached the server
        (row,) = flushed.json()["messages"]
        assert row["state"] == "submitting" and "Another Salus process is sending" in row["error"]
        hold.clear()
        assert sending.wait(timeout=60) == 0
        flush_now(salus)
    assert len(smtp.accepted) == 1
    assert salus.json("outbox", "list")["messages"][0]["state"] == "submitted"


def message_id(data: bytes) -> bytes:
    return next(line for line in data.split(b"\r\n") if line.lower().startswith(b"message-id:"))


def test_cc_recipients_are_planned_and_addressed_as_cc(world: World) -> None:
    with SmtpServer(world.smtp_cert, requiretls=True) as smtp:
        salus = profile(world, smtp.port, "p11")
        result = send(salus, PARTNER, extra=("--cc", PGP_FRIEND))
        assert result.code == 0, result.stderr
    arrived = {tuple(a.rcpt_tos): a.data for a in smtp.accepted}
    assert set(arrived) == {(PARTNER,), (PGP_FRIEND,)}
    assert f"Cc: {PGP_FRIEND}".encode() in arrived[(PGP_FRIEND,)]
    assert f"To: {PARTNER}".encode() in arrived[(PARTNER,)]


def test_a_reply_keeps_its_thread_headers_inside_the_encryption_and_is_never_planned_weaker(world: World) -> None:
    import asyncio

    from app.core.settings import effective, validate
    from app.services.profile import unlock
    from app.services.send import SendRequest
    from app.services.send import send as send_message
    from tests.support.salus_cli import PASSPHRASE

    with SmtpServer(world.smtp_cert, requiretls=True) as smtp:
        salus = profile(world, smtp.port, "p12")
        settings = effective(validate(json.loads(world.policy.read_text()), origin="test"), {})
        session = unlock(salus.profile, PASSPHRASE)
        try:
            reply = SendRequest(
                to=(PGP_FRIEND,), subject="Re: results", body="Thanks", in_reply_to="m2@keys.test",
                references=("m1@salus.test", "m2@keys.test"), reply_to_encrypted=True,
            )  # fmt: skip
            asyncio.run(send_message(session, settings, reply))
            weaker = SendRequest(to=(PARTNER,), subject="Re: results", body="x", reply_to_encrypted=True)
            with pytest.raises(Exception, match="portal"):
                asyncio.run(send_message(session, settings, weaker))  # tls would be weaker: the portal it is
        finally:
            session.close()
    (delivered,) = smtp.accepted
    decrypted = gnupg.GPG(gnupghome=str(world.bob_home)).decrypt(delivered.data)
    assert decrypted.ok
    assert b"In-Reply-To: <m2@keys.test>" in decrypted.data
    assert b"References: <m1@salus.test> <m2@keys.test>" in decrypted.data


def test_plan_after_a_real_send_flags_first_time_lookalike_and_weaker_recipients(world: World) -> None:
    lookalike = "n@xn--kys-bma.test"  # "kéys.test" in Punycode: reads like keys.test, where bob was written to
    with SmtpServer(world.smtp_cert, requiretls=True) as smtp:
        salus = profile(world, smtp.port, "p13")
        (before,) = salus.json("plan", "--to", PGP_FRIEND)["recipients"]
        assert before["flags"] == ["first_time_recipient"]
        assert send(salus, PGP_FRIEND).code == 0
    after = {r["address"]: r for r in salus.json("plan", "--to", PGP_FRIEND, lookalike, STRANGER)["recipients"]}
    assert after[PGP_FRIEND]["method"] == "pgp" and after[PGP_FRIEND]["flags"] == []
    assert after[lookalike]["flags"] == ["first_time_recipient", "lookalike_domain"]
    assert [r["detail"] for r in after[lookalike]["reasons"] if r["code"] == "lookalike_domain"] == ["keys.test"]
    assert after[STRANGER]["flags"] == ["first_time_recipient"]
    # Policy now forbids OpenPGP: bob would get the portal, weaker than the OpenPGP message he got last time.
    no_pgp = world.base / "no-pgp.json"
    no_pgp.write_text(json.dumps({**json.loads(world.policy.read_text()), "method_ladder": ["smime", "tls", "portal"]}))
    result = salus.run("plan", "--json", "--to", PGP_FRIEND, extra_env={"SALUS_POLICY_FILE": str(no_pgp)})
    assert result.code == 0, result.stderr
    (weaker,) = result.json()["recipients"]
    assert weaker["method"] == "portal" and weaker["flags"] == ["weaker_than_previous"]
    assert [r["method"] for r in weaker["reasons"] if r["code"] == "weaker_than_previous"] == ["pgp"]


def test_bcc_recipients_are_named_in_no_copy_others_get_and_receive_their_own(world: World) -> None:
    hidden_pgp = "dana@keys.test"  # keys.test has no MX or MTA-STS: with her key she is planned pgp, like bob
    dana = pgp_identity(world.base / "dana", hidden_pgp)
    (world.base / "dana.asc").write_bytes(dana.public)
    with SmtpServer(world.smtp_cert, requiretls=True) as smtp:
        salus = profile(world, smtp.port, "p14")
        salus.ok("keys", "import", str(world.base / "dana.asc"))
        result = send(salus, PGP_FRIEND, extra=("--cc", PARTNER, "--bcc", hidden_pgp, "x2@partner.test"))
        assert result.code == 0, result.stderr
    arrived = {tuple(a.rcpt_tos): a.data for a in smtp.accepted}
    assert set(arrived) == {(PGP_FRIEND,), (PARTNER,), (hidden_pgp,), ("x2@partner.test",)}
    for envelope in ((PGP_FRIEND,), (PARTNER,)):
        assert b"dana" not in arrived[envelope].lower() and b"x2@" not in arrived[envelope]
        assert b"bcc:" not in arrived[envelope].lower()
    # Inside the encryption too: bob's copy decrypts without naming dana, and dana's key cannot open it.
    opened = gnupg.GPG(gnupghome=str(world.bob_home)).decrypt(arrived[(PGP_FRIEND,)])
    assert opened.ok, opened.stderr
    assert SECRET_WORDS[0].encode() in opened.data and b"dana" not in opened.data.lower()
    assert not gnupg.GPG(gnupghome=str(world.base / "dana")).decrypt(arrived[(PGP_FRIEND,)]).ok
    # Dana's own copy is encrypted to her and carries the message; the tls Bcc copy goes out with REQUIRETLS.
    hers = gnupg.GPG(gnupghome=str(world.base / "dana")).decrypt(arrived[(hidden_pgp,)])
    assert hers.ok, hers.stderr
    assert SECRET_WORDS[0].encode() in hers.data and b"bcc:" not in hers.data.lower()
    assert not gnupg.GPG(gnupghome=str(world.bob_home)).decrypt(arrived[(hidden_pgp,)]).ok
    assert SECRET_WORDS[0].encode() in arrived[("x2@partner.test",)]
    assert f"Cc: {PARTNER}".encode() in arrived[(PARTNER,)]
    assert all("REQUIRETLS" in a.mail_options for a in smtp.accepted if a.rcpt_tos[0].endswith("partner.test"))
