"""The TOTP second factor through the real command line (issue 7): enrolment, policy, single use, audit."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from app.core.totp import code_at
from tests.support.salus_cli import Salus


def _secret(base32: str) -> bytes:
    return base64.b32decode(base32 + "=" * (-len(base32) % 8))


def _required(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"unlock_requires_totp": True}), "utf-8")
    return {"SALUS_POLICY_FILE": str(path)}


@pytest.fixture
def salus(tmp_path: Path) -> Salus:
    salus = Salus(tmp_path / "profile")
    salus.ok("profile", "create")
    return salus


def _events(salus: Salus, code: str) -> list[dict[str, object]]:
    exported = salus.ok("audit", "export", "--format", "json", "--totp-code", code).json()["entries"]
    return [{"event": e["event"], **e["detail"]} for e in exported]


def test_policy_refuses_a_profile_without_an_authenticator_and_says_how_to_enrol(salus: Salus, tmp_path: Path) -> None:
    salus.env.update(_required(tmp_path))
    result = salus.run("stats")
    assert result.code == 3
    assert "salus profile totp enrol" in result.stderr
    enrolment = salus.json("profile", "totp", "enrol")
    assert enrolment["uri"].startswith("otpauth://totp/Salus:profile?secret=")
    code = code_at(_secret(enrolment["secret"]), time.time())
    events = _events(salus, code)
    assert {"event": "unlock.failed", "factor": "totp", "problem": "not_enrolled"} in events
    assert {"event": "second_factor.changed", "action": "enrolled"} in events
    assert events[-2] == {"event": "unlock.succeeded", "method": "passphrase", "factor": "totp"}


def test_code_is_required_single_use_and_failures_are_audited(salus: Salus, tmp_path: Path) -> None:
    salus.env.update(_required(tmp_path))
    secret = _secret(salus.json("profile", "totp", "enrol")["secret"])
    assert secret.hex() not in (salus.profile / "profile.json").read_text()
    assert base64.b32encode(secret).decode().rstrip("=") not in (salus.profile / "profile.json").read_text()
    missing = salus.run("stats")
    assert missing.code == 3 and "code from your authenticator" in missing.stderr
    wrong_code = str((int(code_at(secret, time.time())) + 1) % 1_000_000).zfill(6)
    wrong = salus.run("stats", extra_env={"SALUS_TOTP_CODE": wrong_code})
    assert wrong.code == 3 and "Wrong authenticator code" in wrong.stderr
    now = time.time()
    assert salus.run("stats", extra_env={"SALUS_TOTP_CODE": code_at(secret, now)}).code == 0
    replay = salus.run("stats", "--totp-code", code_at(secret, now))
    assert replay.code == 3 and "used already" in replay.stderr
    events = _events(salus, code_at(secret, now + 30))
    assert events.count({"event": "unlock.failed", "factor": "totp"}) == 2
    assert wrong_code not in json.dumps(events)


def test_policy_forbids_disabling_the_second_factor(salus: Salus, tmp_path: Path) -> None:
    salus.env.update(_required(tmp_path))
    secret = _secret(salus.json("profile", "totp", "enrol")["secret"])
    result = salus.run("profile", "totp", "disable", "--totp-code", code_at(secret, time.time()))
    assert result.code == 5 and "cannot be turned off" in result.stderr


def test_enrolled_profile_asks_for_a_code_until_disabled_even_without_policy(salus: Salus) -> None:
    secret = _secret(salus.json("profile", "totp", "enrol")["secret"])
    assert salus.run("stats").code == 3
    salus.ok("profile", "totp", "disable", "--totp-code", code_at(secret, time.time()))
    assert salus.run("stats").code == 0


def test_enrolling_again_needs_the_current_code_and_replaces_the_secret(salus: Salus) -> None:
    first = _secret(salus.json("profile", "totp", "enrol")["secret"])
    assert salus.run("profile", "totp", "enrol").code == 3
    second = _secret(salus.json("profile", "totp", "enrol", "--totp-code", code_at(first, time.time()))["secret"])
    assert second != first
    assert salus.run("stats", "--totp-code", code_at(first, time.time() + 30)).code == 3
    assert salus.run("stats", "--totp-code", code_at(second, time.time())).code == 0


def test_wrong_codes_in_a_row_lock_the_second_factor_out_for_a_while(salus: Salus, tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"unlock_requires_totp": True, "unlock_max_failures": 2}), "utf-8")
    salus.env["SALUS_POLICY_FILE"] = str(policy)
    secret = _secret(salus.json("profile", "totp", "enrol")["secret"])
    wrong = str((int(code_at(secret, time.time())) + 1) % 1_000_000).zfill(6)
    for _ in range(2):
        assert "Wrong authenticator code" in salus.run("stats", "--totp-code", wrong).stderr
    refused = salus.run("stats", "--totp-code", code_at(secret, time.time()))
    assert refused.code == 3 and "Too many wrong authenticator codes: try again in 5 minutes" in refused.stderr


def test_lockout_ends_five_minutes_after_the_last_wrong_code(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from app.core.settings import effective
    from app.services import second_factor
    from app.services.profile import create_profile

    settings = effective({"unlock_requires_totp": True, "unlock_max_failures": 2}, {})
    session = create_profile(tmp_path / "p", "a passphrase")
    try:
        secret = _secret(second_factor.enrol(session, "p", datetime.now(UTC)).secret_base32)
        start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
        for minute in (0, 1):
            with pytest.raises(second_factor.SecondFactorRejected, match="Wrong"):
                at = start + timedelta(minutes=minute)
                second_factor.check_code(session.vault, session.audit, settings, "000000", at)
        later = start + timedelta(minutes=5)
        code = code_at(secret, later.timestamp())
        with pytest.raises(second_factor.SecondFactorRejected, match="try again in 1 minute"):
            second_factor.check_code(session.vault, session.audit, settings, code, later)
        after = start + timedelta(minutes=6, seconds=1)
        assert second_factor.check_code(
            session.vault, session.audit, settings, code_at(secret, after.timestamp()), after
        ) == int(after.timestamp() // 30)
    finally:
        session.close()
