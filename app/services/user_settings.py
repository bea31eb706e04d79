"""The person's own settings, kept in the vault (DESIGN.md §10: policy beats user settings, which beat defaults).

Rules:
- Only the keys in `USER_KEYS` can be changed from the window; every other key is the organisation's.
- A key set by policy cannot be changed, except that a key the schema marks `user_may_only_lower` may be set
  below the policy's value (the idle timeout may get shorter, never longer).
- A change is validated by the settings schema, stored and audited (`settings.changed`, with the key and the
  old and new values, which are numbers and switches, never mail) in one transaction.
- Settings are per profile: on a shared workstation one person's choices never apply to another's profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import BlockedByPolicy
from app.core.settings import SCHEMA, Settings, effective, validate
from app.services.policy_audit import policy_of
from app.services.profile import Session
from app.store import workstation as store

__all__ = ["SET_BY_POLICY", "USER_KEYS", "effective_for", "policy_of", "save"]

USER_KEYS = ("idle_timeout_minutes", "lock_warning_seconds", "remote_content_allowed", "compose_rich_text")
_LOWER_ONLY = {s.key for s in SCHEMA if s.user_may_only_lower}
SET_BY_POLICY = "Set by your organisation"


def effective_for(session: Session, policy: Mapping[str, Any]) -> Settings:
    return effective(policy, store.user_settings(session.vault))


def save(session: Session, policy: Mapping[str, Any], changes: Mapping[str, Any]) -> Settings:
    """Stores the changed keys and returns the new effective settings; raises naming the first refused key."""
    document = validate(dict(changes), origin="Your settings")
    current = effective_for(session, policy)
    for key, value in document.items():
        _check_allowed(key, value, policy)
    now = utc_now()
    with session.vault.transaction():
        for key, value in document.items():
            old = current[key]
            if old == value:
                continue
            store.put_user_setting(session.vault, key, value, now)
            detail: dict[str, object] = {"key": key, "old": old, "new": value, "source": "user"}
            session.audit.record_in_transaction(AuditEvent.SETTINGS_CHANGED, now, detail=detail)
    session.audit.forward_committed()
    return effective_for(session, policy)


def _check_allowed(key: str, value: Any, policy: Mapping[str, Any]) -> None:
    if key not in USER_KEYS:
        raise BlockedByPolicy(f"{key} is not a setting you can change here.")
    if key not in policy:
        return
    if key in _LOWER_ONLY and value <= policy[key]:
        return
    if key in _LOWER_ONLY:
        raise BlockedByPolicy(f"{key}: your organisation allows at most {policy[key]}.")
    raise BlockedByPolicy(f"{key}: {SET_BY_POLICY.lower()}.")
