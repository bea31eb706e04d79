"""Recording managed-policy changes in the audit chain (DESIGN.md §8: "settings and policy changes").

The policy is a file IT replaces while Salus is closed, so a change is noticed at the next unlock of each
profile: the digest of the policy in force is compared with the one the chain last recorded, and a differing
one is recorded with the keys it sets. The chain itself is the memory; nothing else is stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.audit.events import AuditEvent
from app.audit.log import AuditLog
from app.core.settings import Settings, Source
from app.store.vault import Vault

DIGEST_HEX = 16


def policy_of(managed: Settings) -> dict[str, Any]:
    """The policy document behind settings that hold policy and defaults only (what `current_settings()` gives)."""
    return {key: e.value for key, e in managed.values.items() if e.source is Source.POLICY}


def policy_digest(policy: Mapping[str, Any]) -> str:
    canonical = json.dumps(dict(policy), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:DIGEST_HEX]


def record_if_changed(vault: Vault, audit: AuditLog, policy: Mapping[str, Any], now: datetime) -> bool:
    """Inside the unlock's transaction; True when an entry was written."""
    digest = policy_digest(policy)
    row = vault.execute(
        "SELECT detail FROM audit_log WHERE event = ? ORDER BY seq DESC LIMIT 1", (str(AuditEvent.POLICY_CHANGED),)
    ).fetchone()
    last = json.loads(row[0]).get("digest") if row is not None else policy_digest({})
    if digest == last:
        return False
    audit.record_in_transaction(AuditEvent.POLICY_CHANGED, now, detail={"digest": digest, "keys": sorted(policy)})
    return True
