"""Machine-readable reasons for a delivery decision (DESIGN §5, CONVENTIONS "Decisions as data").

Rules this module keeps:
- A reason is data: a code, the evidence source and date it rests on, and an optional method or detail.
  Turning it into a sentence ("OpenPGP: key from WKD, 3 days ago") is the UI's job, never this package's.
- Codes are stable strings: the audit log stores them, so a code is never renamed or reused.
- `detail` holds only identifiers safe to log (a key or certificate fingerprint, or for LOOKALIKE_DOMAIN the
  known domain imitated), never an address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.policy.model import EvidenceSource, Method


class ReasonCode(StrEnum):
    # Message-level demands (DESIGN §5 "Escalation").
    ESCALATED_MANUAL = "escalated_manual"
    ESCALATED_SUBJECT_TAG = "escalated_subject_tag"
    ESCALATION_KEPT_END_TO_END = "escalation_kept_end_to_end"
    REPLY_TO_ENCRYPTED = "reply_to_encrypted"
    # OpenPGP keys.
    PGP_KEY_VERIFIED = "pgp_key_verified"
    PGP_KEY_IMPORTED = "pgp_key_imported"
    PGP_KEY_FROM_WKD = "pgp_key_from_wkd"
    PGP_KEY_FROM_AUTOCRYPT = "pgp_key_from_autocrypt"
    NO_PGP_KEY = "no_pgp_key"
    PGP_KEY_EXPIRED = "pgp_key_expired"
    PGP_KEY_REVOKED = "pgp_key_revoked"
    PGP_KEY_NOT_FOR_ENCRYPTION = "pgp_key_not_for_encryption"
    PGP_KEY_AUTOCRYPT_NOT_ALLOWED = "pgp_key_autocrypt_not_allowed"
    # S/MIME certificates.
    SMIME_CERT_VALID = "smime_cert_valid"
    NO_SMIME_CERT = "no_smime_cert"
    SMIME_CERT_EXPIRED = "smime_cert_expired"
    SMIME_CERT_REVOKED = "smime_cert_revoked"
    SMIME_CHAIN_INVALID = "smime_chain_invalid"
    # Recipient domain transport evidence.
    MTA_STS_ENFORCE = "mta_sts_enforce"
    MTA_STS_TESTING_ONLY = "mta_sts_testing_only"
    MTA_STS_NONE = "mta_sts_none"
    MTA_STS_MX_MISMATCH = "mta_sts_mx_mismatch"
    MTA_STS_LOOKUP_FAILED = "mta_sts_lookup_failed"
    DANE_VALIDATED = "dane_validated"
    DANE_NOT_VALIDATED = "dane_not_validated"
    DANE_ABSENT = "dane_absent"
    DANE_LOOKUP_FAILED = "dane_lookup_failed"
    ORG_TRUSTED_DOMAIN = "org_trusted_domain"
    NO_DOMAIN_EVIDENCE = "no_domain_evidence"
    # The first hop: the sender's submission server or the policy's relay.
    REQUIRETLS_AVAILABLE = "requiretls_available"
    REQUIRETLS_UNAVAILABLE = "requiretls_unavailable"
    RELAY_ENFORCES_TLS = "relay_enforces_tls"
    # Any evidence past the policy's maximum age or its own cache expiry.
    EVIDENCE_STALE = "evidence_stale"
    # Outcome.
    PORTAL_AVAILABLE = "portal_available"
    PLAIN_ALLOWED_BY_POLICY = "plain_allowed_by_policy"
    METHOD_NOT_ALLOWED_BY_POLICY = "method_not_allowed_by_policy"
    PLAIN_FORBIDDEN = "plain_forbidden"
    NO_ALLOWED_METHOD = "no_allowed_method"
    WEAKER_THAN_PREVIOUS = "weaker_than_previous"
    # Flags about the recipient itself (issue 5): never a method, always shown beside the badge.
    FIRST_TIME_RECIPIENT = "first_time_recipient"
    LOOKALIKE_DOMAIN = "lookalike_domain"


# The reasons the composer and `salus plan` raise as flags: the sender should look twice before sending.
FLAG_CODES = frozenset({ReasonCode.WEAKER_THAN_PREVIOUS, ReasonCode.FIRST_TIME_RECIPIENT, ReasonCode.LOOKALIKE_DOMAIN})


@dataclass(frozen=True, slots=True)
class Reason:
    """One fact behind a decision.

    `source`/`learned_at` cite the evidence the reason rests on (None for facts of the message itself).
    `method` names the method the reason is about where the code alone does not (the method policy
    excluded, or the previous method that this one is weaker than). `detail` is a fingerprint, a domain or empty.
    """

    code: ReasonCode
    source: EvidenceSource | None = None
    learned_at: datetime | None = None
    method: Method | None = None
    detail: str = ""
