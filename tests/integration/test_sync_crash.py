"""A sync killed part-way (SIGKILL, or the server dropping the connection) resumes with nothing lost or doubled."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from app.services.profile import unlock
from tests.support.corpus import make_message
from tests.support.dovecot import DovecotServer
from tests.support.salus_cli import PASSPHRASE, Salus

COUNT = 3000


def test_sigkill_during_initial_sync_then_rerun_gives_exact_counts(tmp_path: Path, dovecot: DovecotServer) -> None:
    user = dovecot.new_user("crash")
    body = "Clinical notes follow. " * 200  # about 4.6 KB each, so the folder takes several batches
    dovecot.seed(user, "INBOX", [make_message(subject=f"note {i}", body=f"{body} number{i}") for i in range(COUNT)])
    salus = Salus(tmp_path / "profile")
    salus.ok("profile", "create")
    added = salus.add_account("work", host=dovecot.host, port=dovecot.imaps_port, security="tls", user=user.name,
                              password=user.password, ca_file=dovecot.ca_file)  # fmt: skip
    assert added.code == 0

    stored_before_kill = _kill_after_first_progress(salus)
    assert 0 < stored_before_kill < COUNT

    report = salus.json("sync")["accounts"]["work"]
    assert report == {"new": COUNT - stored_before_kill, "updated": 0, "deleted": 0}
    total, distinct_ids, distinct_uids = _stored(salus)
    assert total == distinct_ids == distinct_uids == COUNT
    assert salus.json("stats")["folders"]["INBOX"]["messages"] == COUNT
    assert salus.json("sync")["accounts"]["work"] == {"new": 0, "updated": 0, "deleted": 0}
    assert salus.json("audit", "verify")["ok"] is True


def _kill_after_first_progress(salus: Salus) -> int:
    process = subprocess.Popen(
        salus.command("sync", "--progress"),
        env=salus.environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        for line in process.stderr:
            if "new messages stored" in line:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.wait(timeout=60)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL, "sync finished before it could be killed"
    return _stored(salus)[0]


def _stored(salus: Salus) -> tuple[int, int, int]:
    session = unlock(salus.profile, PASSPHRASE)
    try:
        row = session.vault.execute(
            "SELECT count(*), count(DISTINCT message_id), count(DISTINCT folder_id || ':' || uid) FROM messages"
        ).fetchone()
    finally:
        session.close()
    return int(row[0]), int(row[1]), int(row[2])


def test_connection_dropped_mid_sync_is_an_error_and_the_rerun_completes(
    tmp_path: Path, dovecot: DovecotServer
) -> None:
    """The vault keeps what arrived before the drop; the next sync fetches the rest exactly once."""
    user = dovecot.new_user("drop")
    dovecot.seed(user, "INBOX", [make_message(subject=f"m {i}", body="x" * 5000) for i in range(1500)])
    salus = Salus(tmp_path / "profile")
    salus.ok("profile", "create")
    salus.add_account("work", host=dovecot.host, port=dovecot.imaps_port, security="tls", user=user.name,
                      password=user.password, ca_file=dovecot.ca_file)  # fmt: skip
    process = subprocess.Popen(
        salus.command("sync", "--progress"), env=salus.environment(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if "new messages stored" in line:
            # Dovecot's `kick` ends the user's IMAP sessions, as a server restart or a network cut would.
            subprocess.run(dovecot.doveadm("kick", user.name), check=True, capture_output=True)
            break
    rest = process.stderr.read()
    process.wait(timeout=60)
    process.stderr.close()
    assert process.returncode in (0, 1), rest
    if process.returncode == 1:
        assert "connection" in rest.lower() or "server" in rest.lower()
    salus.ok("sync")
    total, distinct_ids, _ = _stored(salus)
    assert total == distinct_ids == 1500
