"""The one schema of every setting, and how defaults, user settings and managed policy combine (DESIGN.md §10).

Rules:
- Policy beats user settings, which beat defaults. A key set by policy is locked: the user's value is ignored.
- A few keys may be tightened, never loosened, by the user even when policy sets them (the idle timeout may
  only get shorter).
- An invalid policy is an error naming the key and the reason, never a silent default. Unknown keys are errors
  too: a misspelt key in a managed file would otherwise be a policy IT believes is in force but is not.
- Every validator helper states its rule twice, as Python and as a JSON Schema fragment, so that `json_schema()`
  publishes exactly what Salus accepts (resources/policy/salus-policy.schema.json, and IT's templates made from
  it by packaging/policy_templates.py). Build new settings from these helpers.
- Every effective value remembers its origin: the policy place that set it, "user settings" or "default".
- Pure: the caller reads the files and passes their parsed JSON in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from app.core.errors import PolicyError

METHODS = ("pgp", "smime", "tls", "portal")


class Source(StrEnum):
    DEFAULT = "default"
    USER = "user"
    POLICY = "policy"


USER_ORIGIN = "user settings"
DEFAULT_ORIGIN = "default"


class Validator(Protocol):
    """Returns the reason a value is invalid, or None. The helpers below also carry `json_schema`, the same rule in
    JSON Schema 2020-12; a bare function type-checks too, but `json_schema()` refuses it, naming the setting."""

    def __call__(self, value: Any) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    default: Any
    validate: Validator
    description: str
    user_may_only_lower: bool = False


# Each helper below is one rule written twice, as Python for the loader and as a JSON Schema fragment for IT's
# tools and the published schema; tests/unit/test_policy_schema.py checks on generated documents that the two agree.


@dataclass(frozen=True, slots=True)
class _IntBetween:
    low: int
    high: int

    def __call__(self, value: Any) -> str | None:
        # bool is an int in Python but not in JSON: `true` is never a number of minutes.
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        return None if self.low <= value <= self.high else f"must be between {self.low} and {self.high}"

    @property
    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


@dataclass(frozen=True, slots=True)
class _Boolean:
    def __call__(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else "must be true or false"

    @property
    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True, slots=True)
class _Text:
    def __call__(self, value: Any) -> str | None:
        return None if isinstance(value, str) else "must be a string"

    @property
    def json_schema(self) -> dict[str, Any]:
        return {"type": "string"}


@dataclass(frozen=True, slots=True)
class _Strings:
    def __call__(self, value: Any) -> str | None:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return "must be a list of non-empty strings"
        return None

    @property
    def json_schema(self) -> dict[str, Any]:
        # "\\S" (one character that is not white space) is JSON Schema's way of saying `v.strip()` is not empty.
        return {"type": "array", "items": {"type": "string", "pattern": "\\S"}}


_END_TO_END = ("pgp", "smime")


@dataclass(frozen=True, slots=True)
class _Ladder:
    def __call__(self, value: Any) -> str | None:
        if (problem := _strings(value)) is not None:
            return problem
        unknown = [v for v in value if v not in METHODS]
        if unknown:
            return f"unknown method {unknown[0]!r}; allowed: {', '.join(METHODS)}"
        if len(set(value)) != len(value) or not value:
            return "must name each method at most once, and at least one"
        # No policy may prefer a weaker method over a usable key (DESIGN.md §5): end-to-end methods come first.
        ranks = [0 if v in _END_TO_END else 1 for v in value]
        if ranks != sorted(ranks):
            return "must list pgp and smime before tls and portal"
        return None

    @property
    def json_schema(self) -> dict[str, Any]:
        end_to_end = {"enum": list(_END_TO_END)}
        hop = {"enum": [m for m in METHODS if m not in _END_TO_END]}
        # "End-to-end methods first" as JSON Schema: zero, one or two end-to-end items, then only hop-by-hop ones.
        orders = [{"items": hop}] + [
            {"prefixItems": [end_to_end] * n, "items": hop} for n in range(1, len(_END_TO_END) + 1)
        ]
        return {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(METHODS)}, "anyOf": orders}


@dataclass(frozen=True, slots=True)
class _Choice:
    options: tuple[str, ...]

    def __call__(self, value: Any) -> str | None:
        return None if isinstance(value, str) and value in self.options else f"must be one of {', '.join(self.options)}"

    @property
    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.options)}


def _int_between(low: int, high: int) -> _IntBetween:
    return _IntBetween(low, high)


def _choice(*options: str) -> _Choice:
    return _Choice(options)


_boolean = _Boolean()
_text = _Text()
_strings = _Strings()
_ladder = _Ladder()


SCHEMA: tuple[Setting, ...] = (
    Setting("idle_timeout_minutes", 5, _int_between(1, 480), "Lock after this many idle minutes.", True),
    Setting("unlock_max_failures", 5, _int_between(1, 100), "Failed unlocks before the profile closes."),
    Setting(
        "lock_warning_seconds", 30, _int_between(0, 300), "Countdown before the idle lock (at most half the timeout)."
    ),
    Setting("unlock_requires_totp", False, _boolean, "Unlocking also needs a code from an authenticator app."),
    Setting("keyring_allowed", True, _boolean, "May the OS keyring hold the data key (off on shared machines)."),
    Setting("method_ladder", list(METHODS), _ladder, "Secure delivery methods in order of preference."),
    Setting("allow_plain", False, _boolean, "May a message ever go out without protection."),
    Setting("subject_tags", ["[secure]", "[encrypt]"], _strings, "Subject tags that escalate to the portal."),
    Setting("trusted_tls_domains", [], _strings, "Partner domains known to enforce TLS."),
    Setting("relay_enforces_tls", False, _boolean, "The submission relay enforces TLS onward."),
    Setting("escalation_keeps_end_to_end", False, _boolean, "Escalated mail to key holders stays PGP/S/MIME."),
    Setting("autocrypt_allowed", False, _boolean, "Keys learned from Autocrypt headers may be used."),
    Setting("evidence_max_age_days", 30, _int_between(1, 365), "Discovery evidence older than this is stale."),
    Setting("portal_url", "", _text, "Address of the secure portal."),
    Setting("portal_link_expiry_days", 30, _int_between(1, 365), "Days before a portal link expires."),
    Setting("portal_upload_key_file", "", _text, "File holding the organisation's portal upload key."),
    Setting("portal_ca_file", "", _text, "Extra CA certificate for a privately certified portal."),
    Setting("remote_content_allowed", False, _boolean, "May the reader load remote images when asked."),
    Setting("remote_images_private_networks", False, _boolean, "May remote images come from non-public addresses."),
    Setting("max_decrypted_mib", 64, _int_between(1, 2048), "Largest decrypted message in MiB (zip bombs)."),
    Setting("audit_forward", "none", _choice("none", "syslog", "eventlog"), "Copy audit entries to the OS log."),
    Setting("audit_syslog_address", "", _text, "Syslog collector: udp://HOST:PORT, tcp://HOST:PORT or unix:/PATH."),
    Setting("dns_resolvers", [], _strings, "DNS resolvers for recipient discovery (empty: the system's)."),
    Setting("discovery_ca_file", "", _text, "Extra CA bundle for discovery's HTTPS lookups."),
    Setting("smime_ca_file", "", _text, "Extra trusted CA certificates for S/MIME (e.g. a health network's CA)."),
    Setting("discovery_timeout_seconds", 5, _int_between(1, 60), "Time allowed for each discovery lookup."),
    Setting("discovery_https_port", 443, _int_between(1, 65535), "Port of MTA-STS and WKD servers (tests only)."),
    Setting("compose_rich_text", False, _boolean, "New messages start in rich text (formatting, links), not plain."),
)
_BY_KEY = {s.key: s for s in SCHEMA}


@dataclass(frozen=True, slots=True)
class Effective:
    value: Any
    source: Source
    # Where the value came from, for people: the policy file, registry key or plist; "user settings"; "default".
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    values: Mapping[str, Effective]

    def __getitem__(self, key: str) -> Any:
        return self.values[key].value

    def locked(self, key: str) -> bool:
        return self.values[key].source is Source.POLICY


def validate(document: Any, *, origin: str) -> dict[str, Any]:
    """Checks a policy or user-settings document; raises `PolicyError` naming the first bad key."""
    if not isinstance(document, dict):
        raise PolicyError(f"{origin}: must be a JSON object of settings.")
    for key, value in document.items():
        setting = _BY_KEY.get(key)
        if setting is None:
            raise PolicyError(f"{origin}: unknown key {key!r}.")
        if (problem := setting.validate(value)) is not None:
            raise PolicyError(f"{origin}: {key} {problem}.")
    return dict(document)


def effective(
    policy: Mapping[str, Any], user: Mapping[str, Any], *, policy_origins: Mapping[str, str] | None = None
) -> Settings:
    """Combines the layers; `policy_origins` names, per policy key, the file or registry key that set it."""
    origins = policy_origins or {}
    values: dict[str, Effective] = {}
    for setting in SCHEMA:
        values[setting.key] = _resolve(setting, policy, user, origins.get(setting.key, "policy"))
    return Settings(values)


def _resolve(setting: Setting, policy: Mapping[str, Any], user: Mapping[str, Any], policy_origin: str) -> Effective:
    key = setting.key
    if key in policy:
        if setting.user_may_only_lower and key in user and user[key] < policy[key]:
            return Effective(user[key], Source.USER, USER_ORIGIN)
        return Effective(policy[key], Source.POLICY, policy_origin)
    if key in user:
        return Effective(user[key], Source.USER, USER_ORIGIN)
    return Effective(setting.default, Source.DEFAULT, DEFAULT_ORIGIN)


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a policy document, built from SCHEMA alone.

    Published as resources/policy/salus-policy.schema.json for IT's editors and validators. One difference is
    inherent to JSON Schema: it counts 5.0 as an integer, which Salus refuses (write 5).
    """
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Salus managed policy",
        "description": (
            "Settings that IT fixes for every user of this computer. Every key is optional; unknown keys are errors. "
            "Write whole numbers without a decimal point (5, not 5.0): Salus refuses 5.0, which JSON Schema allows."
        ),
        "$comment": "Generated from app/core/settings.py by packaging/policy_templates.py; do not edit by hand.",
        "type": "object",
        "additionalProperties": False,
        "properties": {setting.key: _property_schema(setting) for setting in SCHEMA},
    }


def _property_schema(setting: Setting) -> dict[str, Any]:
    fragment = getattr(setting.validate, "json_schema", None)
    if not isinstance(fragment, dict):
        raise TypeError(f"The validator of {setting.key!r} has no JSON Schema: build it from the helpers above.")
    description = setting.description
    if setting.user_may_only_lower:
        description += " Users may still choose a lower value."
    return {"description": description, "default": setting.default, **fragment}
