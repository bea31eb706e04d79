"""Per-recipient decision engine: facts in, a Decision with machine-readable reasons out (DESIGN §5).

Pure: standard library only, no I/O, no clock reads (`now` is passed in), no settings lookups (the
policy's rules are passed in as PolicyRules).
"""

from __future__ import annotations

from app.policy.decide import Decision, decide
from app.policy.model import (
    DEFAULT_LADDER,
    DaneEvidence,
    DaneState,
    DomainTransportEvidence,
    EvidenceSource,
    MessageFacts,
    Method,
    MtaStsEvidence,
    MtaStsMode,
    OrgListEvidence,
    PgpKeyEvidence,
    PolicyRules,
    RecipientFacts,
    SmimeCertEvidence,
    SubmissionFacts,
    TrustLevel,
    normalize_address,
)
from app.policy.plan import Plan, merge_recipients, plan
from app.policy.reasons import Reason, ReasonCode
from app.policy.subject import strip_subject_tags

__all__ = [
    "DEFAULT_LADDER",
    "DaneEvidence",
    "DaneState",
    "Decision",
    "DomainTransportEvidence",
    "EvidenceSource",
    "MessageFacts",
    "Method",
    "MtaStsEvidence",
    "MtaStsMode",
    "OrgListEvidence",
    "PgpKeyEvidence",
    "Plan",
    "PolicyRules",
    "Reason",
    "ReasonCode",
    "RecipientFacts",
    "SmimeCertEvidence",
    "SubmissionFacts",
    "TrustLevel",
    "decide",
    "merge_recipients",
    "normalize_address",
    "plan",
    "strip_subject_tags",
]
