"""Default < user setting < policy, and every effective value says where it came from."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.core.managed_policy import PolicyLayer, merge
from app.core.settings import SCHEMA, Source, effective

FILE = "/etc/salus/policy.json"
REGISTRY = r"HKLM\SOFTWARE\Policies\Salus"


def test_each_value_carries_its_source_and_origin() -> None:
    settings = effective(
        {"allow_plain": False},
        {"allow_plain": True, "portal_url": "https://p.example"},
        policy_origins={"allow_plain": FILE},
    )
    assert (settings.values["allow_plain"].source, settings.values["allow_plain"].origin) == (Source.POLICY, FILE)
    assert (settings.values["portal_url"].source, settings.values["portal_url"].origin) == (
        Source.USER,
        "user settings",
    )
    assert (settings.values["audit_forward"].source, settings.values["audit_forward"].origin) == (
        Source.DEFAULT,
        "default",
    )


def test_a_users_shorter_idle_timeout_is_the_users_even_under_policy() -> None:
    settings = effective(
        {"idle_timeout_minutes": 10}, {"idle_timeout_minutes": 3}, policy_origins={"idle_timeout_minutes": REGISTRY}
    )
    assert settings["idle_timeout_minutes"] == 3
    assert settings.values["idle_timeout_minutes"].origin == "user settings"
    longer = effective(
        {"idle_timeout_minutes": 10}, {"idle_timeout_minutes": 60}, policy_origins={"idle_timeout_minutes": REGISTRY}
    )
    assert (longer["idle_timeout_minutes"], longer.values["idle_timeout_minutes"].origin) == (10, REGISTRY)


def test_merge_takes_each_key_from_the_first_layer_that_sets_it() -> None:
    policy = merge(
        [
            PolicyLayer(REGISTRY, {"idle_timeout_minutes": 2}),
            PolicyLayer(FILE, {"idle_timeout_minutes": 9, "allow_plain": False}),
        ]
    )
    assert policy.values == {"idle_timeout_minutes": 2, "allow_plain": False}
    assert policy.origins == {"idle_timeout_minutes": REGISTRY, "allow_plain": FILE}
    assert policy.primary == REGISTRY and policy.sources == (REGISTRY, FILE)


_KEYS = st.sampled_from([s.key for s in SCHEMA if not s.user_may_only_lower])


@given(st.sets(_KEYS), st.sets(_KEYS))
def test_policy_always_beats_user_which_always_beats_default(policy_keys: set[str], user_keys: set[str]) -> None:
    # Values are markers, not valid settings: precedence does not look at them.
    policy = {key: ("policy", key) for key in policy_keys}
    user = {key: ("user", key) for key in user_keys}
    settings = effective(policy, user, policy_origins=dict.fromkeys(policy_keys, FILE))
    for setting in SCHEMA:
        if setting.user_may_only_lower:
            continue
        value = settings.values[setting.key]
        if setting.key in policy_keys:
            assert (value.value, value.source, value.origin) == (policy[setting.key], Source.POLICY, FILE)
            assert settings.locked(setting.key)
        elif setting.key in user_keys:
            assert (value.value, value.source, value.origin) == (user[setting.key], Source.USER, "user settings")
        else:
            assert (value.value, value.source, value.origin) == (setting.default, Source.DEFAULT, "default")
