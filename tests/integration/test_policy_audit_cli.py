"""Managed-policy changes reach the audit chain at the next unlock (DESIGN.md §8), once per change."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.salus_cli import Salus


def _policy_entries(salus: Salus) -> list[dict[str, object]]:
    exported = salus.json("audit", "export", "--format", "json")["entries"]
    return [e["detail"] for e in exported if e["event"] == "policy.changed"]


def test_each_policy_change_is_recorded_once_at_the_next_unlock(tmp_path: Path) -> None:
    salus = Salus(tmp_path / "profile")
    salus.ok("profile", "create")
    salus.ok("stats")
    assert _policy_entries(salus) == []  # no policy, nothing to record
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"idle_timeout_minutes": 3, "allow_plain": False}), "utf-8")
    salus.env["SALUS_POLICY_FILE"] = str(policy)
    salus.ok("stats")
    salus.ok("stats")
    first = _policy_entries(salus)
    assert len(first) == 1 and first[0]["keys"] == ["allow_plain", "idle_timeout_minutes"]
    policy.write_text(json.dumps({"idle_timeout_minutes": 2, "allow_plain": False}), "utf-8")
    salus.ok("stats")
    second = _policy_entries(salus)
    assert len(second) == 2 and second[1]["digest"] != second[0]["digest"]
    del salus.env["SALUS_POLICY_FILE"]
    salus.ok("stats")
    assert _policy_entries(salus)[-1]["keys"] == []
    assert salus.json("audit", "verify")["ok"] is True
