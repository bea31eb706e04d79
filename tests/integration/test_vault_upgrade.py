"""A profile made by the previous schema version opens in this one, upgraded, with everything it held; a vault
from a newer Salus is refused without being touched.

The fixture in tests/data/vault-v5/ was made by `tests.support.make_vault_fixture` at schema 5 (its README says
how): a real Dovecot sync, an imported OpenPGP key, an opened message, a pgp message waiting in the outbox and
the audit entries all of that wrote. Every command runs through the real command line on a copy.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3

from app.crypto.keys import WrappedKey, unwrap_data_key
from app.store.header import read_header, vault_path
from app.store.migrations import LATEST_VERSION
from tests.support.salus_cli import Salus

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "vault-v5"
FIXTURE_SCHEMA = 5
PASSPHRASE = "vault fixture passphrase v5"  # published in the fixture's README: the vault holds only test mail
FRIEND = "dr.friend@clinic-keys.invalid"
# The audit events the fixture's own history wrote, in order (unlocks left out).
FIXTURE_HISTORY = ["profile.created", "account.added", "sync", "key.imported", "message.read", "send"]


@pytest.fixture
def old_profile(tmp_path: Path) -> Salus:
    profile = Path(shutil.copytree(FIXTURE, tmp_path / "profile"))
    profile.chmod(0o700)  # git does not keep directory modes
    return Salus(profile, PASSPHRASE)


@contextmanager
def raw_vault(profile: Path) -> Iterator[Any]:
    """The vault opened with its data key but without Salus's migrations, to see the schema as it is on disk."""
    header = read_header(profile)
    key = unwrap_data_key(WrappedKey.from_json(header.wrapped_key), PASSPHRASE, header.profile_id)
    with closing(sqlcipher3.connect(str(vault_path(profile)), isolation_level=None)) as connection:
        connection.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        yield connection


def schema_version(profile: Path) -> int:
    with raw_vault(profile) as connection:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])


def fingerprint_of_files(profile: Path) -> dict[str, str]:
    return {
        str(path.relative_to(profile)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(profile.rglob("*"))
        if path.is_file()
    }


def test_fixture_is_a_vault_of_the_previous_schema(old_profile: Salus) -> None:
    assert schema_version(old_profile.profile) == FIXTURE_SCHEMA
    assert sum(f.stat().st_size for f in FIXTURE.rglob("*") if f.is_file()) < 1_000_000
    assert not [p for p in FIXTURE.rglob("*") if p.is_socket() or p.name.startswith("S.gpg-agent")]


def test_previous_schema_is_upgraded_to_the_latest_on_first_open(old_profile: Salus) -> None:
    old_profile.json("stats")
    assert schema_version(old_profile.profile) == LATEST_VERSION


def test_mail_survives_the_upgrade_with_counts_and_search(old_profile: Salus) -> None:
    stats = old_profile.json("stats")
    assert stats["messages"] == 6
    assert stats["folders"]["INBOX"] == {"messages": 4, "unseen": 4}
    assert stats["folders"]["Archiv/März"]["messages"] == 2
    found = old_profile.json("search", "KALIUMZEBRA")["results"]
    assert [(r["folder"], r["uid"], r["subject"]) for r in found] == [("INBOX", 1, "Potassium results for bed 4")]
    umlaut = old_profile.json("search", "subject:Überweisung")["results"]
    assert [r["subject"] for r in umlaut] == ["Überweisung Dermatologie"]
    archived = old_profile.json("search", "MENISKUSOTTER")["results"]
    assert [r["folder"] for r in archived] == ["Archiv/März"]
    shown = old_profile.ok("show", "--uid", "1").stdout
    assert "KALIUMZEBRA" in shown


def test_keys_evidence_and_the_queued_message_survive_the_upgrade(old_profile: Salus) -> None:
    keys = {
        tuple(k["addresses"]): (k["kind"], k["source"], k["state"]) for k in old_profile.json("keys", "list")["keys"]
    }
    assert keys.pop((FRIEND,)) == ("pgp", "import", "usable")  # imported, with its verified source from the vault
    assert list(keys.values()) == [("pgp", "local_keyring", "usable")]  # the profile's own key, made at first send
    queued = old_profile.json("outbox", "list")["messages"]
    assert [(m["method"], m["recipients"], m["state"]) for m in queued] == [("pgp", [FRIEND], "queued")]
    accounts = old_profile.json("account", "list")
    assert [a["name"] for a in accounts["accounts"]] == ["work"]


def test_audit_chain_of_the_old_vault_still_verifies_after_the_upgrade(old_profile: Salus) -> None:
    before = old_profile.json("audit", "verify")
    assert before["ok"] is True
    exported = old_profile.json("audit", "export", "--format", "json")
    events = [e["event"] for e in exported["entries"] if not e["event"].startswith(("unlock.", "audit."))]
    assert events[: len(FIXTURE_HISTORY)] == FIXTURE_HISTORY
    after = old_profile.json("audit", "verify")
    assert after["ok"] is True and after["entries"] > before["entries"]


def test_vault_from_a_newer_salus_is_refused_clearly_and_left_untouched(old_profile: Salus) -> None:
    with raw_vault(old_profile.profile) as connection:
        connection.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    on_disk = fingerprint_of_files(old_profile.profile)
    for command in (("stats", "--json"), ("audit", "verify")):
        result = old_profile.run(*command)
        assert result.code == 1, result.stderr
        assert f"newer than this Salus ({LATEST_VERSION})" in result.stderr
        assert "Traceback" not in result.stderr
    assert fingerprint_of_files(old_profile.profile) == on_disk
    assert schema_version(old_profile.profile) == LATEST_VERSION + 1
