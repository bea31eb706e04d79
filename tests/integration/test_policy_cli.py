"""`salus policy show` through the real command line, and an invalid managed policy stopping every command before it
does anything, with the bad key named on stderr (DESIGN.md §9, §10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import _HANDLERS
from tests.support.salus_cli import Salus

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "policy" / "examples" / "shared-workstation.json"
MALFORMED = sorted((ROOT / "tests" / "data" / "policy" / "invalid").glob("*.json"))

# One invocation of every command, with the arguments its parser requires; none of them may run under a bad policy.
EVERY_COMMAND: dict[tuple[str | None, str | None], list[str]] = {
    ("profile", "create"): ["profile", "create"],
    ("account", "add"): ["account", "add", "work", "--imap", "m.example:993", "--smtp", "m.example:465", "--user", "a"],
    ("account", "list"): ["account", "list"],
    ("account", "discover"): ["account", "discover", "someone@example.org"],
    ("profile", "totp"): ["profile", "totp", "enrol"],
    ("drafts", "list"): ["drafts", "list"],
    ("drafts", "delete"): ["drafts", "delete", "abc"],
    ("sync", None): ["sync"],
    ("stats", None): ["stats"],
    ("search", None): ["search", "x-ray"],
    ("show", None): ["show", "--uid", "1"],
    ("policy", "show"): ["policy", "show"],
    ("plan", None): ["plan", "--to", "someone@example.org"],
    ("send", None): ["send", "--to", "someone@example.org", "--subject", "s", "--body", "b"],
    ("outbox", "list"): ["outbox", "list"],
    ("outbox", "flush"): ["outbox", "flush"],
    ("outbox", "resend"): ["outbox", "resend", "1", "--escalate"],
    ("evidence", "refresh"): ["evidence", "refresh"],
    ("portal", "status"): ["portal", "status"],
    ("portal", "revoke"): ["portal", "revoke", "abc"],
    ("portal", "fetch"): ["portal", "fetch"],
    ("portal", "reissue"): ["portal", "reissue", "abc"],
    ("keys", "import"): ["keys", "import", "key.asc"],
    ("keys", "list"): ["keys", "list"],
    ("keys", "import-identity"): ["keys", "import-identity", "me.p12"],
    ("audit", "verify"): ["audit", "verify"],
    ("audit", "export"): ["audit", "export"],
    (None, None): [],  # the window (or its text version)
}


def test_policy_show_json_gives_each_value_its_source_and_origin(tmp_path: Path) -> None:
    shown = Salus(tmp_path / "p").json("policy", "show", extra_env={"SALUS_POLICY_FILE": str(EXAMPLE)})
    policy = json.loads(EXAMPLE.read_text("utf-8"))
    assert shown["policy_file"] == str(EXAMPLE)
    assert shown["policy_sources"] == [str(EXAMPLE)]
    for key, value in policy.items():
        assert shown["settings"][key] == {"value": value, "source": "policy", "origin": str(EXAMPLE)}
    assert shown["settings"]["method_ladder"]["origin"] == "default"
    assert not (tmp_path / "p").exists()


def test_policy_show_text_says_where_each_value_came_from(tmp_path: Path) -> None:
    result = Salus(tmp_path / "p").ok("policy", "show", extra_env={"SALUS_POLICY_FILE": str(EXAMPLE)})
    lines = result.stdout.splitlines()
    assert lines[0] == f"policy file: {EXAMPLE}"
    assert f"idle_timeout_minutes = 3  (policy: {EXAMPLE})" in lines
    assert "allow_plain = false  (policy: " + str(EXAMPLE) + ")" in lines
    assert 'method_ladder = ["pgp", "smime", "tls", "portal"]  (default)' in lines


def test_the_table_below_names_every_command() -> None:
    missing = set(_HANDLERS) - set(EVERY_COMMAND)
    assert not missing, f"add {sorted(missing, key=str)} to EVERY_COMMAND in this file"


@pytest.mark.parametrize("command", EVERY_COMMAND.values(), ids=lambda c: " ".join(c[:2]) or "window")
def test_invalid_policy_stops_every_command_naming_the_key(tmp_path: Path, command: list[str]) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text('{"idle_timeout_minutes": 5, "method_ladder": ["portal", "pgp"]}', "utf-8")
    result = Salus(tmp_path / "p").run(*command, extra_env={"SALUS_POLICY_FILE": str(policy)})
    assert result.code == 1, result.stderr
    assert f"policy {policy}: method_ladder must list pgp and smime before tls and portal" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.stem)
def test_every_malformed_policy_stops_start_up_with_its_key_on_stderr(tmp_path: Path, path: Path) -> None:
    result = Salus(tmp_path / "p").run("policy", "show", "--json", extra_env={"SALUS_POLICY_FILE": str(path)})
    assert result.code == 1
    assert path.name.split(".")[0] in result.stderr
    assert result.stdout == ""


def test_a_policy_file_named_but_missing_stops_start_up(tmp_path: Path) -> None:
    missing = tmp_path / "policy.json"
    result = Salus(tmp_path / "p").run("policy", "show", extra_env={"SALUS_POLICY_FILE": str(missing)})
    assert result.code == 1
    assert f"The policy file {missing} named by SALUS_POLICY_FILE does not exist." in result.stderr
