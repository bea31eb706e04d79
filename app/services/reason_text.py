"""Sentences for the decision engine's reason codes, shared by the command line and the window.

`app.policy` keeps reasons as data; this is the one place that turns them into words. Every code has a
sentence (a test checks it), so a new code cannot reach a user as a bare identifier.
"""

from __future__ import annotations

from datetime import datetime

from app.policy import Method, Reason, ReasonCode

METHOD_NAMES: dict[Method, str] = {
    Method.PGP: "OpenPGP",
    Method.SMIME: "S/MIME",
    Method.PORTAL: "secure portal",
    Method.TLS: "verified TLS",
    Method.PLAIN: "unprotected",
    Method.BLOCKED: "blocked",
}

SENTENCES: dict[ReasonCode, str] = {
    ReasonCode.ESCALATED_MANUAL: "the sender chose the secure portal",
    ReasonCode.ESCALATED_SUBJECT_TAG: "the subject asks for the secure portal",
    ReasonCode.ESCALATION_KEPT_END_TO_END: "escalated, but policy keeps end-to-end encryption for key holders",
    ReasonCode.REPLY_TO_ENCRYPTED: "a reply to an encrypted message is sent at least as strongly",
    ReasonCode.PGP_KEY_VERIFIED: "verified OpenPGP key",
    ReasonCode.PGP_KEY_IMPORTED: "OpenPGP key imported into this profile",
    ReasonCode.PGP_KEY_FROM_WKD: "OpenPGP key from the recipient's domain (WKD)",
    ReasonCode.PGP_KEY_FROM_AUTOCRYPT: "OpenPGP key learned from the recipient's mail (Autocrypt)",
    ReasonCode.NO_PGP_KEY: "no OpenPGP key",
    ReasonCode.PGP_KEY_EXPIRED: "the OpenPGP key has expired",
    ReasonCode.PGP_KEY_REVOKED: "the OpenPGP key was revoked",
    ReasonCode.PGP_KEY_NOT_FOR_ENCRYPTION: "the OpenPGP key cannot encrypt",
    ReasonCode.PGP_KEY_AUTOCRYPT_NOT_ALLOWED: "policy does not accept keys learned from Autocrypt",
    ReasonCode.SMIME_CERT_VALID: "valid S/MIME certificate",
    ReasonCode.NO_SMIME_CERT: "no S/MIME certificate",
    ReasonCode.SMIME_CERT_EXPIRED: "the S/MIME certificate has expired",
    ReasonCode.SMIME_CERT_REVOKED: "the S/MIME certificate was revoked",
    ReasonCode.SMIME_CHAIN_INVALID: "the S/MIME certificate does not chain to a trusted authority",
    ReasonCode.MTA_STS_ENFORCE: "the domain enforces TLS (MTA-STS)",
    ReasonCode.MTA_STS_TESTING_ONLY: "the domain's MTA-STS policy is only in testing mode",
    ReasonCode.MTA_STS_NONE: "the domain publishes MTA-STS mode none",
    ReasonCode.MTA_STS_MX_MISMATCH: "the domain's mail servers do not match its MTA-STS policy",
    ReasonCode.MTA_STS_LOOKUP_FAILED: "MTA-STS lookup failed",
    ReasonCode.DANE_VALIDATED: "the domain's mail servers are pinned by DNSSEC-validated DANE",
    ReasonCode.DANE_NOT_VALIDATED: "DANE records found but not DNSSEC-validated",
    ReasonCode.DANE_ABSENT: "no DANE records",
    ReasonCode.DANE_LOOKUP_FAILED: "DANE lookup failed",
    ReasonCode.ORG_TRUSTED_DOMAIN: "on your organisation's list of TLS-enforcing partners",
    ReasonCode.NO_DOMAIN_EVIDENCE: "nothing proves the domain enforces TLS",
    ReasonCode.REQUIRETLS_AVAILABLE: "the submission server accepts REQUIRETLS",
    ReasonCode.REQUIRETLS_UNAVAILABLE: "the submission server does not offer REQUIRETLS",
    ReasonCode.RELAY_ENFORCES_TLS: "your organisation's relay enforces TLS",
    ReasonCode.EVIDENCE_STALE: "evidence is too old to rely on",
    ReasonCode.PORTAL_AVAILABLE: "the secure portal can deliver it",
    ReasonCode.PLAIN_ALLOWED_BY_POLICY: "policy allows unprotected mail to this recipient",
    ReasonCode.METHOD_NOT_ALLOWED_BY_POLICY: "a stronger method is not allowed by policy",
    ReasonCode.PLAIN_FORBIDDEN: "policy forbids unprotected mail",
    ReasonCode.NO_ALLOWED_METHOD: "no method allowed by policy can carry this message",
    ReasonCode.WEAKER_THAN_PREVIOUS: "weaker than the last message to this recipient",
    ReasonCode.FIRST_TIME_RECIPIENT: "you have never written to or heard from this address",
    ReasonCode.LOOKALIKE_DOMAIN: "the domain looks like one you know but is a different one",
}


def reason_sentence(reason: Reason, now: datetime) -> str:
    text = SENTENCES[reason.code]
    if reason.method is not None and reason.code is ReasonCode.METHOD_NOT_ALLOWED_BY_POLICY:
        text = f"{METHOD_NAMES[reason.method]} is not allowed by policy"
    if reason.method is not None and reason.code is ReasonCode.WEAKER_THAN_PREVIOUS:
        text = f"weaker than the last message to this recipient ({METHOD_NAMES[reason.method]})"
    if reason.detail and reason.code is ReasonCode.LOOKALIKE_DOMAIN:
        text = f"the domain looks like {reason.detail}, which you know, but is a different one"
    if reason.learned_at is not None:
        text += f" ({_age(reason.learned_at, now)})"
    return text


def _age(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return "just now"
    if seconds < 7200:
        return f"{seconds // 60} minutes ago"
    if seconds < 172800:
        return f"{seconds // 3600} hours ago"
    return f"{seconds // 86400} days ago"
