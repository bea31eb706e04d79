"""Makes the committed vault fixture of one schema version (tests/data/vault-v<N>/), so later versions can prove
they upgrade it. Run once per released schema, from the repository root, and commit the result:

    .venv/bin/python -m tests.support.make_vault_fixture tests/data/vault-v5

Everything goes through the real pieces: a real Dovecot on loopback is synced by the real `salus` command line,
an OpenPGP key made by the real gpg is imported, a message is opened (an audit entry), and a send to that key's
owner is queued in the durable outbox because the submission port refuses connections. Policy points DNS at a
closed loopback port so that no lookup leaves the machine. Afterwards the GnuPG home is stripped of sockets and
the agent is stopped, and the vault is checkpointed so the fixture is one file (no -wal).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import gnupg

from tests.support.corpus import make_message
from tests.support.dovecot import start_dovecot
from tests.support.pki import TestCA
from tests.support.salus_cli import Salus

PASSPHRASE = "vault fixture passphrase v5"
FRIEND = "dr.friend@clinic-keys.invalid"
# (folder, subject, body): the words in capitals are what the upgrade test searches for.
MESSAGES = (
    ("INBOX", "Potassium results for bed 4", "The KALIUMZEBRA level is 5.9 mmol/l; please review before Friday."),
    ("INBOX", "Referral: cardiology consult", "Referral letter attached in words: ECHOPELICAN, mornings preferred."),
    ("INBOX", "Invoice 1042 for October", "Payment within 30 days. Reference INVOICEWALRUS."),
    ("INBOX", "Überweisung Dermatologie", "Bitte um einen Termin, Stichwort HAUTKRANICH."),
    ("Archiv/März", "MRI report ready", "The MRI report for the knee is ready: MENISKUSOTTER."),
    ("Archiv/März", "Staff meeting agenda", "Agenda: rota, flu jabs, AGENDAFALKE."),
)


def main(target: Path) -> None:
    if target.exists() and any(target.iterdir()):
        sys.exit(f"{target} is not empty; remove it first")
    with tempfile.TemporaryDirectory(prefix="salus-fixture-") as name:
        work = Path(name)
        profile = work / "profile"
        build(work, profile)
        _strip(profile)
        shutil.copytree(profile, target, dirs_exist_ok=True)
    print(f"wrote {target} ({sum(f.stat().st_size for f in target.rglob('*') if f.is_file())} bytes)")


def build(work: Path, profile: Path) -> None:
    ca = TestCA.create(work / "ca")
    server = start_dovecot(work / "dovecot", ca)
    try:
        user = server.new_user("fixture")
        when = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)
        for index, (folder, subject, body) in enumerate(MESSAGES):
            message = make_message(subject=subject, body=body, date=when + dt.timedelta(hours=index))
            server.seed(user, folder, [message])
        policy = work / "policy.json"
        policy.write_text(json.dumps({"dns_resolvers": [f"127.0.0.1:{_closed_port()}"]}), "utf-8")
        salus = Salus(profile, PASSPHRASE, env={"SALUS_POLICY_FILE": str(policy)})
        salus.ok("profile", "create")
        salus.ok(
            "account", "add", "work", "--imap", f"{server.host}:{server.imaps_port}", "--imap-security", "tls",
            "--smtp", f"{server.host}:1", "--smtp-security", "tls", "--user", user.name, "--address", user.address,
            "--ca-file", str(server.ca_file), extra_env={"SALUS_ACCOUNT_PASSWORD": user.password},
        )  # fmt: skip
        salus.ok("sync")
        salus.ok("keys", "import", "--verified", str(_friend_key(work)))
        salus.ok("show", "--uid", "1")  # "message opened" in the audit log
        _queue_in_outbox(salus, server.host)
        salus.ok("audit", "verify")
    finally:
        server.stop()


def _friend_key(work: Path) -> Path:
    home = work / "friend-gnupg"
    home.mkdir(mode=0o700)
    gpg = gnupg.GPG(gnupghome=str(home))
    key = gpg.gen_key(gpg.gen_key_input(name_email=FRIEND, key_type="EDDSA", key_curve="ed25519",
                                        subkey_type="ECDH", subkey_curve="cv25519", no_protection=True))  # fmt: skip
    assert key.fingerprint, key.stderr
    path = work / "friend.asc"
    path.write_text(gpg.export_keys(key.fingerprint), "ascii")
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
    return path


def _queue_in_outbox(salus: Salus, host: str) -> None:
    """The account's submission port (host:1) refuses connections, so the message stays queued for retry."""
    result = salus.run("send", "--to", FRIEND, "--subject", "Follow-up for bed 4", "--body", "Please call OUTBOXIBIS.")
    assert salus.json("outbox", "list")["messages"], f"nothing was queued: {result.stderr}"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _strip(profile: Path) -> None:
    """No sockets, agent state or random seed: only what a person's profile must keep between runs."""
    home = profile / "gnupg"
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
    for path in list(home.rglob("*")):
        if path.is_socket() or path.name in ("random_seed", "sshcontrol") or path.name.endswith(("~", ".lock")):
            path.unlink()
    for leftover in profile.glob("vault.db-*"):
        raise SystemExit(f"{leftover} is left over: the vault was not checkpointed on close")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
