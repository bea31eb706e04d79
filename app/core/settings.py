"""The one schema of every setting, and how defaults, user settings and managed policy combine (DESIGN.md §10).

Rules:
- Policy beats user settings, which beat defaults. A key set by policy is locked: the user's value is ignored.
- A few keys may be tightened, never loosened, by the user even when policy sets them (the idle timeout may
  only get shorter).
- An invalid policy is an error naming the key and the reason, never a silent default. Unknown keys are errors
  too: a misspelt key in a managed file would otherwise be a policy IT believes is in force but is not.
- Pure: the caller reads the files and passes their parsed JSON in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.core.errors import PolicyError

METHODS = ("pgp", "smime", "tls", "portal")


class Source(StrEnum):
    DEFAULT = "default"
    USER = "user"
    POLICY = "policy"


Validator = Callable[[Any], str | None]  # returns the reason the value is invalid, or None


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    default: Any
    validate: Validator
    description: str
    user_may_only_lower: bool = False


def _int_between(low: int, high: int) -> Validator:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _strings(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        return "must be a list of non-empty strings"
    return None


def _ladder(value: Any) -> str | None:
    if (problem := _strings(value)) is not None:
        return problem
    unknown = [v for v in value if v not in METHODS]
    if unknown:
        return f"unknown method {unknown[0]!r}; allowed: {', '.join(METHODS)}"
    if len(set(value)) != len(value) or not value:
        return "must name each method at most once, and at least one"
    # No policy may prefer a weaker method over a usable key (DESIGN.md §5): end-to-end methods come first.
    ranks = [0 if v in ("pgp", "smime") else 1 for v in value]
    if ranks != sorted(ranks):
        return "must list pgp and smime before tls and portal"
    return None


def _choice(*options: str) -> Validator:
    def check(value: Any) -> str | None:
        return None if value in options else f"must be one of {', '.join(options)}"

    return check


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
    Setting("audit_forward", "none", _choice("none", "syslog", "eventlog"), "Copy audit entries to the OS log."),
    Setting("audit_syslog_address", "", _text, "Syslog collector: udp://HOST:PORT, tcp://HOST:PORT or unix:/PATH."),
    Setting("dns_resolvers", [], _strings, "DNS resolvers for recipient discovery (empty: the system's)."),
    Setting("discovery_ca_file", "", _text, "Extra CA bundle for discovery's HTTPS lookups."),
    Setting("smime_ca_file", "", _text, "Extra trusted CA certificates for S/MIME (e.g. a health network's CA)."),
    Setting("discovery_timeout_seconds", 5, _int_between(1, 60), "Time allowed for each discovery lookup."),
    Setting("discovery_https_port", 443, _int_between(1, 65535), "Port of MTA-STS and WKD servers (tests only)."),
)
_BY_KEY = {s.key: s for s in SCHEMA}


@dataclass(frozen=True, slots=True)
class Effective:
    value: Any
    source: Source


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


def effective(policy: Mapping[str, Any], user: Mapping[str, Any]) -> Settings:
    values: dict[str, Effective] = {}
    for setting in SCHEMA:
        values[setting.key] = _resolve(setting, policy, user)
    return Settings(values)


def _resolve(setting: Setting, policy: Mapping[str, Any], user: Mapping[str, Any]) -> Effective:
    key = setting.key
    if key in policy:
        if setting.user_may_only_lower and key in user and user[key] < policy[key]:
            return Effective(user[key], Source.USER)
        return Effective(policy[key], Source.POLICY)
    if key in user:
        return Effective(user[key], Source.USER)
    return Effective(setting.default, Source.DEFAULT)
