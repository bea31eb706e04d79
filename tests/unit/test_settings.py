"""Settings precedence (default < user < policy) and policy validation that names the bad key."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.errors import PolicyError
from app.core.settings import SCHEMA, Source, effective, validate


def test_defaults_are_strict() -> None:
    settings = effective({}, {})
    assert settings["allow_plain"] is False
    assert settings["idle_timeout_minutes"] == 5
    assert settings["subject_tags"] == ["[secure]", "[encrypt]"]
    assert settings["remote_content_allowed"] is False
    assert all(settings.values[s.key].source is Source.DEFAULT for s in SCHEMA)


def test_user_beats_default_and_policy_beats_user() -> None:
    settings = effective({"allow_plain": False}, {"allow_plain": True, "portal_url": "https://p.example"})
    assert settings["allow_plain"] is False and settings.locked("allow_plain")
    assert settings["portal_url"] == "https://p.example"
    assert settings.values["portal_url"].source is Source.USER


def test_user_may_only_shorten_a_policy_idle_timeout() -> None:
    assert effective({"idle_timeout_minutes": 10}, {"idle_timeout_minutes": 3})["idle_timeout_minutes"] == 3
    assert effective({"idle_timeout_minutes": 10}, {"idle_timeout_minutes": 60})["idle_timeout_minutes"] == 10


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"idle_timeout_minutes": 0}, "idle_timeout_minutes"),
        ({"idle_timeout_minutes": True}, "idle_timeout_minutes"),
        ({"allow_plain": "no"}, "allow_plain"),
        ({"method_ladder": ["pgp", "carrier-pigeon"]}, "method_ladder"),
        ({"method_ladder": ["pgp", "pgp"]}, "method_ladder"),
        ({"method_ladder": ["portal", "pgp"]}, "method_ladder"),
        ({"subject_tags": [""]}, "subject_tags"),
        ({"audit_forward": "email"}, "audit_forward"),
        ({"alow_plain": True}, "alow_plain"),
    ],
)
def test_invalid_policy_names_the_key(document: dict[str, Any], named: str) -> None:
    with pytest.raises(PolicyError, match=named):
        validate(document, origin="policy test.json")


def test_policy_must_be_an_object() -> None:
    with pytest.raises(PolicyError, match="JSON object"):
        validate(["allow_plain"], origin="policy test.json")
