"""Profiles, passphrases and the audit chain through the real command line and a real SQLCipher vault."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from app.services.profile import Session, unlock
from tests.support.salus_cli import PASSPHRASE, Salus


@pytest.fixture
def salus(tmp_path: Path) -> Salus:
    salus = Salus(tmp_path / "profile")
    salus.ok("profile", "create")
    return salus


def test_created_profile_is_private_and_holds_only_header_and_vault(salus: Salus) -> None:
    assert salus.profile.stat().st_mode & 0o777 == 0o700
    names = {p.name for p in salus.profile.iterdir()}
    assert {"profile.json", "vault.db"} <= names
    assert (salus.profile / "profile.json").stat().st_mode & 0o777 == 0o600
    assert b"SQLite format 3" not in (salus.profile / "vault.db").read_bytes()[:16]


def test_profile_create_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    result = Salus(tmp_path / "busy").run("profile", "create")
    assert result.code == 1
    assert "not empty" in result.stderr
    assert (tmp_path / "busy" / "notes.txt").read_text() == "keep me"


def test_profile_create_accepts_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert Salus(tmp_path / "empty").run("profile", "create").code == 0


def test_wrong_passphrase_is_exit_3_and_leaves_the_vault_untouched(salus: Salus) -> None:
    vault = salus.profile / "vault.db"
    before = vault.read_bytes()
    result = salus.run("stats", extra_env={"SALUS_PASSPHRASE": "not the passphrase"})
    assert result.code == 3
    assert "Wrong passphrase" in result.stderr
    assert "not the passphrase" not in result.stderr + result.stdout
    assert vault.read_bytes() == before


def test_failed_unlocks_enter_the_audit_chain_at_the_next_unlock(salus: Salus) -> None:
    for _ in range(2):
        assert salus.run("stats", extra_env={"SALUS_PASSPHRASE": "nope"}).code == 3
    events = [e["event"] for e in salus.json("audit", "export", "--format", "json")["entries"]]
    assert events.count("unlock.failed") == 2
    assert events.index("unlock.failed") < len(events) - 1
    events = [e["event"] for e in salus.json("audit", "export", "--format", "json")["entries"]]
    assert events.count("unlock.failed") == 2  # recorded once, not again at every unlock


def test_passphrase_file_is_accepted_before_or_after_the_subcommand(salus: Salus, tmp_path: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text(PASSPHRASE + "\n")
    from_file = Salus(salus.profile, passphrase="")
    assert from_file.run("stats", "--json", "--passphrase-file", str(secret)).code == 0
    assert from_file.run("--passphrase-file", str(secret), "stats").code == 0


def test_missing_passphrase_without_a_terminal_is_exit_3(salus: Salus) -> None:
    result = Salus(salus.profile, passphrase="").run("stats")
    assert result.code == 3
    assert "No passphrase" in result.stderr


def test_no_profile_is_a_clear_error(tmp_path: Path) -> None:
    result = Salus(tmp_path / "missing").run("stats")
    assert result.code == 1
    assert "no profile" in result.stderr.lower()


def test_unknown_option_is_a_usage_error(salus: Salus) -> None:
    assert salus.run("stats", "--frobnicate").code == 2
    assert salus.run("account", "add", "x", "--imap", "nohostport", "--smtp", "h:1", "--user", "u").code == 2


def test_version_is_printed(tmp_path: Path) -> None:
    result = Salus(tmp_path).run("--version")
    assert result.code == 0 and result.stdout.startswith("salus ")


def test_keyring_without_a_secure_backend_is_refused(tmp_path: Path) -> None:
    result = Salus(tmp_path / "kr").run(
        "profile",
        "create",
        "--use-keyring",
        extra_env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
    )
    assert result.code == 1
    assert "No secure OS keyring" in result.stderr
    assert not (tmp_path / "kr" / "profile.json").exists()


def test_demo_profile_opens_with_messages(tmp_path: Path) -> None:
    result = Salus(tmp_path / "unused").run("--demo", extra_env={"XDG_DATA_HOME": str(tmp_path / "data")})
    assert result.code == 0, result.stderr
    demo = Salus(tmp_path / "data" / "salus" / "demo", passphrase="demo")
    assert demo.json("stats")["messages"] >= 200
    assert demo.json("search", "referral")["results"]


# --- the audit chain ----------------------------------------------------------------------------------------


def tamper(salus: Salus, change: Callable[[Session], object]) -> None:
    """Edits the vault the way someone holding the key could: bypassing the append-only triggers."""
    session = unlock(salus.profile, PASSPHRASE)
    try:
        with session.vault.transaction():
            session.vault.execute("DROP TRIGGER audit_log_no_update")
            session.vault.execute("DROP TRIGGER audit_log_no_delete")
            change(session)
    finally:
        session.close()


def busy(salus: Salus) -> None:
    for word in ("alpha", "beta", "gamma"):
        salus.ok("search", word)


def test_intact_audit_log_verifies(salus: Salus) -> None:
    busy(salus)
    report = salus.json("audit", "verify")
    assert report["ok"] is True and report["entries"] >= 5 and report["problems"] == []


def test_append_only_triggers_refuse_edits(salus: Salus) -> None:
    session = unlock(salus.profile, PASSPHRASE)
    try:
        with pytest.raises(Exception, match="append-only"), session.vault.transaction():
            session.vault.execute("DELETE FROM audit_log WHERE seq = 1")
    finally:
        session.close()


def test_edited_entry_is_named_by_verify(salus: Salus) -> None:
    busy(salus)
    tamper(salus, lambda s: s.vault.execute("UPDATE audit_log SET detail = '{}' WHERE seq = 3"))
    result = salus.run("audit", "verify", "--json")
    assert result.code == 1
    assert [p["seq"] for p in result.json()["problems"]] == [3]


def test_deleted_entry_is_named_by_verify(salus: Salus) -> None:
    busy(salus)
    tamper(salus, lambda s: s.vault.execute("DELETE FROM audit_log WHERE seq = 2"))
    result = salus.run("audit", "verify", "--json")
    assert result.code == 1
    assert any("entry 2 is missing" in p["problem"] for p in result.json()["problems"])


def test_reordered_entries_are_found_by_verify(salus: Salus) -> None:
    busy(salus)

    def swap(session: Session) -> None:
        rows = {
            seq: row
            for seq, *row in session.vault.execute(
                "SELECT seq, at, actor, event, target, detail, mac FROM audit_log WHERE seq IN (3, 4)"
            ).fetchall()
        }
        for seq, other in ((3, 4), (4, 3)):
            session.vault.execute(
                "UPDATE audit_log SET at = ?, actor = ?, event = ?, target = ?, detail = ?, mac = ? WHERE seq = ?",
                (*rows[other], seq),
            )

    tamper(salus, swap)
    result = salus.run("audit", "verify", "--json")
    assert result.code == 1
    assert {p["seq"] for p in result.json()["problems"]} >= {3, 4}


def test_truncated_log_is_found_by_verify(salus: Salus) -> None:
    busy(salus)
    tamper(salus, lambda s: s.vault.execute("DELETE FROM audit_log WHERE seq >= 4"))
    result = salus.run("audit", "verify", "--json")
    assert result.code == 1
    # The unlock that ran `verify` appended after the old head, so the cut shows as a gap before it.
    assert "entries 4 to 8 are missing" in result.json()["problems"][0]["problem"]


def test_audit_export_csv_lists_unlocks_and_searches(salus: Salus) -> None:
    busy(salus)
    result = salus.ok("audit", "export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    events = [r["event"] for r in rows]
    assert events[0] == "profile.created"
    assert "unlock.succeeded" in events and events.count("search") == 3
    assert [int(r["seq"]) for r in rows] == list(range(1, len(rows) + 1))


# --- managed policy -------------------------------------------------------------------------------------------


def test_policy_show_reports_each_value_and_its_source(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text('{"idle_timeout_minutes": 2, "keyring_allowed": false}')
    shown = Salus(tmp_path / "p").json("policy", "show", extra_env={"SALUS_POLICY_FILE": str(policy)})
    assert shown["policy_file"] == str(policy)
    assert shown["policy_sources"] == [str(policy)]
    assert shown["settings"]["idle_timeout_minutes"] == {"value": 2, "source": "policy", "origin": str(policy)}
    assert shown["settings"]["allow_plain"] == {"value": False, "source": "default", "origin": "default"}


def test_invalid_policy_stops_every_command_with_the_key_named(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text('{"allow_plain": "sometimes"}')
    result = Salus(tmp_path / "p").run("profile", "create", extra_env={"SALUS_POLICY_FILE": str(policy)})
    assert result.code == 1
    assert "allow_plain" in result.stderr
    assert not (tmp_path / "p").exists()


def test_policy_forbidding_the_keyring_blocks_it_with_exit_5(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text('{"keyring_allowed": false}')
    result = Salus(tmp_path / "p").run(
        "profile", "create", "--use-keyring", extra_env={"SALUS_POLICY_FILE": str(policy)}
    )
    assert result.code == 5
    assert "policy" in result.stderr
