"""Judging the evidence for each method: can it carry this message to this recipient, and why (DESIGN §5).

Rules this module keeps:
- Each judge returns a Verdict: eligible or not, with the reasons either way. Judges never choose between
  methods; decide.py does that from the policy's ladder.
- The result never depends on the order of the evidence tuples: candidates are sorted on every field
  before they are judged, so the same facts always give the same reasons.
- A revocation seen from any source revokes that fingerprint everywhere: a stale local copy of a key
  must not outvote a fresh WKD answer that says it is revoked.
- Evidence fetched from the network ages: past the policy's `evidence_max_age`, or past its own cache
  expiry, it no longer counts. Keys and certificates the user holds locally do not age; their own
  expiry dates and the chain check govern them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.policy.model import (
    DaneEvidence,
    DaneState,
    DomainTransportEvidence,
    EvidenceSource,
    MtaStsEvidence,
    MtaStsMode,
    OrgListEvidence,
    PgpKeyEvidence,
    PolicyRules,
    SmimeCertEvidence,
    SubmissionFacts,
    TrustLevel,
)
from app.policy.reasons import Reason, ReasonCode

_AGING_SOURCES = frozenset(
    {
        EvidenceSource.WKD,
        EvidenceSource.AUTOCRYPT,
        EvidenceSource.MTA_STS,
        EvidenceSource.DANE,
        EvidenceSource.ORG_LIST,
        EvidenceSource.EHLO,
    }
)
_POLICY = EvidenceSource.POLICY


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one method can carry the message to one recipient, and the facts that say so."""

    eligible: bool
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class _Finding:
    holds: bool
    reason: Reason


def is_stale(
    source: EvidenceSource,
    learned_at: datetime,
    expires_at: datetime | None,
    rules: PolicyRules,
    now: datetime,
) -> bool:
    """Network evidence older than the policy allows, or past its own expiry, no longer counts."""
    if source not in _AGING_SOURCES:
        return False
    return now - learned_at > rules.evidence_max_age or (expires_at is not None and expires_at <= now)


def _stale_reason(source: EvidenceSource, learned_at: datetime) -> Reason:
    return Reason(ReasonCode.EVIDENCE_STALE, source, learned_at)


def _latest_first(moment: datetime | None) -> float:
    """Sort key that puts later dates (and 'never') first."""
    return -math.inf if moment is None else -moment.timestamp()


# --- OpenPGP keys ---------------------------------------------------------------------------------

_KeyFault = Callable[[PgpKeyEvidence, frozenset[str], PolicyRules, datetime], bool]

# The first matching fault names why a key is unusable; revocation and expiry come first because they
# are the reasons a sender most needs to see.
_PGP_FAULTS: tuple[tuple[ReasonCode, _KeyFault], ...] = (
    (ReasonCode.PGP_KEY_REVOKED, lambda key, revoked, rules, now: key.fingerprint in revoked),
    (
        ReasonCode.PGP_KEY_EXPIRED,
        lambda key, revoked, rules, now: key.expires_at is not None and key.expires_at <= now,
    ),
    (ReasonCode.PGP_KEY_NOT_FOR_ENCRYPTION, lambda key, revoked, rules, now: not key.usable_for_encryption),
    (
        ReasonCode.PGP_KEY_AUTOCRYPT_NOT_ALLOWED,
        lambda key, revoked, rules, now: key.trust is TrustLevel.AUTOCRYPT and not rules.autocrypt_allowed,
    ),
    (
        ReasonCode.EVIDENCE_STALE,
        lambda key, revoked, rules, now: is_stale(key.source, key.learned_at, None, rules, now),
    ),
)

_PGP_CHOSEN: dict[TrustLevel, ReasonCode] = {
    TrustLevel.VERIFIED: ReasonCode.PGP_KEY_VERIFIED,
    TrustLevel.IMPORTED: ReasonCode.PGP_KEY_IMPORTED,
    TrustLevel.WKD: ReasonCode.PGP_KEY_FROM_WKD,
    TrustLevel.AUTOCRYPT: ReasonCode.PGP_KEY_FROM_AUTOCRYPT,
}


def _pgp_rank(key: PgpKeyEvidence) -> tuple[int, float, float, str, str, bool, bool, bool]:
    # Verified keys outrank WKD keys, which outrank Autocrypt-learned ones (DESIGN §5); then the
    # freshest, then the longest-lived; the remaining fields only make the order total.
    return (
        -key.trust,
        _latest_first(key.learned_at),
        _latest_first(key.expires_at),
        key.fingerprint,
        key.source.value,
        key.revoked,
        key.usable_for_encryption,
        key.verified,
    )


def _pgp_fault(key: PgpKeyEvidence, revoked: frozenset[str], rules: PolicyRules, now: datetime) -> Reason | None:
    for code, applies in _PGP_FAULTS:
        if applies(key, revoked, rules, now):
            return Reason(code, key.source, key.learned_at, detail=key.fingerprint)
    return None


def pgp_verdict(keys: Sequence[PgpKeyEvidence], rules: PolicyRules, now: datetime) -> Verdict:
    """The best usable OpenPGP key, or every key's fault when none is usable."""
    if not keys:
        return Verdict(False, (Reason(ReasonCode.NO_PGP_KEY),))
    revoked = frozenset(key.fingerprint for key in keys if key.revoked)
    faults: list[Reason] = []
    for key in sorted(keys, key=_pgp_rank):
        fault = _pgp_fault(key, revoked, rules, now)
        if fault is None:
            chosen = Reason(_PGP_CHOSEN[key.trust], key.source, key.learned_at, detail=key.fingerprint)
            return Verdict(True, (chosen,))
        faults.append(fault)
    return Verdict(False, tuple(faults))


# --- S/MIME certificates --------------------------------------------------------------------------

_CertFault = Callable[[SmimeCertEvidence, frozenset[str], PolicyRules, datetime], bool]

_SMIME_FAULTS: tuple[tuple[ReasonCode, _CertFault], ...] = (
    (ReasonCode.SMIME_CERT_REVOKED, lambda cert, revoked, rules, now: cert.fingerprint in revoked),
    (ReasonCode.SMIME_CERT_EXPIRED, lambda cert, revoked, rules, now: cert.not_after <= now),
    (ReasonCode.SMIME_CHAIN_INVALID, lambda cert, revoked, rules, now: not cert.chain_valid),
    (
        ReasonCode.EVIDENCE_STALE,
        lambda cert, revoked, rules, now: is_stale(cert.source, cert.learned_at, None, rules, now),
    ),
)


def _smime_rank(cert: SmimeCertEvidence) -> tuple[float, float, str, str, bool, bool]:
    # The longest-lived certificate first, then the freshest; the rest only makes the order total.
    return (
        _latest_first(cert.not_after),
        _latest_first(cert.learned_at),
        cert.fingerprint,
        cert.source.value,
        cert.chain_valid,
        cert.revoked,
    )


def _smime_fault(cert: SmimeCertEvidence, revoked: frozenset[str], rules: PolicyRules, now: datetime) -> Reason | None:
    for code, applies in _SMIME_FAULTS:
        if applies(cert, revoked, rules, now):
            return Reason(code, cert.source, cert.learned_at, detail=cert.fingerprint)
    return None


def smime_verdict(certs: Sequence[SmimeCertEvidence], rules: PolicyRules, now: datetime) -> Verdict:
    """The best usable S/MIME certificate, or every certificate's fault when none is usable."""
    if not certs:
        return Verdict(False, (Reason(ReasonCode.NO_SMIME_CERT),))
    revoked = frozenset(cert.fingerprint for cert in certs if cert.revoked)
    faults: list[Reason] = []
    for cert in sorted(certs, key=_smime_rank):
        fault = _smime_fault(cert, revoked, rules, now)
        if fault is None:
            chosen = Reason(ReasonCode.SMIME_CERT_VALID, cert.source, cert.learned_at, detail=cert.fingerprint)
            return Verdict(True, (chosen,))
        faults.append(fault)
    return Verdict(False, tuple(faults))


# --- Hop-by-hop TLS -------------------------------------------------------------------------------

# RFC 8461 §5: only `enforce` makes a sending MTA refuse an unauthenticated MX; `testing` delivers anyway
# and `none` withdraws the policy, so neither assures anything.
_MTA_STS_MODES: dict[MtaStsMode, ReasonCode] = {
    MtaStsMode.ENFORCE: ReasonCode.MTA_STS_ENFORCE,
    MtaStsMode.TESTING: ReasonCode.MTA_STS_TESTING_ONLY,
    MtaStsMode.NONE: ReasonCode.MTA_STS_NONE,
    MtaStsMode.LOOKUP_FAILED: ReasonCode.MTA_STS_LOOKUP_FAILED,
}

# RFC 7672 §2.1: TLSA records count only when a validating resolver proved them secure.
_DANE_STATES: dict[DaneState, ReasonCode] = {
    DaneState.VALIDATED: ReasonCode.DANE_VALIDATED,
    DaneState.NOT_VALIDATED: ReasonCode.DANE_NOT_VALIDATED,
    DaneState.ABSENT: ReasonCode.DANE_ABSENT,
    DaneState.LOOKUP_FAILED: ReasonCode.DANE_LOOKUP_FAILED,
}


def _positive(
    code: ReasonCode,
    source: EvidenceSource,
    learned_at: datetime,
    expires_at: datetime | None,
    rules: PolicyRules,
    now: datetime,
) -> _Finding:
    """Positive evidence holds only while fresh; stale, it is reported as stale instead."""
    if is_stale(source, learned_at, expires_at, rules, now):
        return _Finding(False, _stale_reason(source, learned_at))
    return _Finding(True, Reason(code, source, learned_at))


def _mta_sts(evidence: MtaStsEvidence, rules: PolicyRules, now: datetime) -> _Finding:
    source, learned = EvidenceSource.MTA_STS, evidence.learned_at
    if evidence.mode is not MtaStsMode.ENFORCE:
        return _Finding(False, Reason(_MTA_STS_MODES[evidence.mode], source, learned))
    if not evidence.mx_matched:
        # RFC 8461 §4.1: an MX host the policy does not list is not covered by it.
        return _Finding(False, Reason(ReasonCode.MTA_STS_MX_MISMATCH, source, learned))
    return _positive(ReasonCode.MTA_STS_ENFORCE, source, learned, evidence.expires_at, rules, now)


def _dane(evidence: DaneEvidence, rules: PolicyRules, now: datetime) -> _Finding:
    source, learned = EvidenceSource.DANE, evidence.learned_at
    if evidence.state is not DaneState.VALIDATED:
        return _Finding(False, Reason(_DANE_STATES[evidence.state], source, learned))
    return _positive(ReasonCode.DANE_VALIDATED, source, learned, evidence.expires_at, rules, now)


def _org_list(evidence: OrgListEvidence, rules: PolicyRules, now: datetime) -> _Finding:
    source = EvidenceSource.ORG_LIST
    return _positive(ReasonCode.ORG_TRUSTED_DOMAIN, source, evidence.learned_at, evidence.expires_at, rules, now)


def _domain_findings(
    domain: str, transport: DomainTransportEvidence | None, rules: PolicyRules, now: datetime
) -> list[_Finding]:
    findings: list[_Finding] = []
    if transport is not None:
        if transport.mta_sts is not None:
            findings.append(_mta_sts(transport.mta_sts, rules, now))
        if transport.dane is not None:
            findings.append(_dane(transport.dane, rules, now))
        if transport.org_list is not None:
            findings.append(_org_list(transport.org_list, rules, now))
    if domain in rules.trusted_tls_domains:
        findings.append(_Finding(True, Reason(ReasonCode.ORG_TRUSTED_DOMAIN, _POLICY)))
    return findings


def _first_hop_findings(submission: SubmissionFacts, rules: PolicyRules, now: datetime) -> list[_Finding]:
    # RFC 8689 §4.2.1: with REQUIRETLS each hop must verify the next one's TLS or return the message,
    # so the recipient's domain evidence actually binds every relay, not just the one we talk to.
    findings: list[_Finding] = []
    if submission.requiretls_offered and submission.learned_at is not None:
        finding = _positive(
            ReasonCode.REQUIRETLS_AVAILABLE, EvidenceSource.EHLO, submission.learned_at, None, rules, now
        )
        findings.append(finding)
    if not any(finding.holds for finding in findings):
        findings.append(_Finding(False, Reason(ReasonCode.REQUIRETLS_UNAVAILABLE, EvidenceSource.EHLO)))
    if rules.relay_enforces_tls:
        findings.append(_Finding(True, Reason(ReasonCode.RELAY_ENFORCES_TLS, _POLICY)))
    return findings


def _summarise(findings: list[_Finding], missing: ReasonCode) -> tuple[bool, tuple[Reason, ...]]:
    """Any holding finding suffices, and then only those are cited; otherwise every finding is."""
    holding = tuple(finding.reason for finding in findings if finding.holds)
    if holding:
        return True, holding
    return False, tuple(finding.reason for finding in findings) or (Reason(missing),)


def tls_verdict(
    domain: str,
    transport: DomainTransportEvidence | None,
    submission: SubmissionFacts,
    rules: PolicyRules,
    now: datetime,
) -> Verdict:
    """`tls` needs both ends: evidence that the recipient domain enforces TLS, and a first hop that will
    carry that requirement onwards (REQUIRETLS, or a relay the policy says enforces TLS) (DESIGN §5)."""
    domain_ok, domain_reasons = _summarise(
        _domain_findings(domain, transport, rules, now), ReasonCode.NO_DOMAIN_EVIDENCE
    )
    hop_ok, hop_reasons = _summarise(_first_hop_findings(submission, rules, now), ReasonCode.REQUIRETLS_UNAVAILABLE)
    return Verdict(domain_ok and hop_ok, domain_reasons + hop_reasons)
