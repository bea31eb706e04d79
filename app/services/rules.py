"""From the effective settings (DESIGN.md §10) to the decision engine's `PolicyRules` (DESIGN.md §5)."""

from __future__ import annotations

from datetime import timedelta

from app.core.errors import PolicyError
from app.core.settings import Settings
from app.policy import Method, PolicyRules


def policy_rules(settings: Settings) -> PolicyRules:
    try:
        return PolicyRules(
            ladder=tuple(Method(m) for m in settings["method_ladder"]),
            allow_plain=settings["allow_plain"],
            trusted_tls_domains=frozenset(settings["trusted_tls_domains"]),
            relay_enforces_tls=settings["relay_enforces_tls"],
            escalation_keeps_end_to_end=settings["escalation_keeps_end_to_end"],
            evidence_max_age=timedelta(days=settings["evidence_max_age_days"]),
            autocrypt_allowed=settings["autocrypt_allowed"],
            subject_tags=tuple(settings["subject_tags"]),
        )
    except ValueError as exc:
        raise PolicyError(f"The delivery policy is inconsistent: {exc}") from exc
