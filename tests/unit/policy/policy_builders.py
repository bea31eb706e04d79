"""Small builders for policy facts, so each test states only what matters to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.policy import (
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
    RecipientFacts,
    SmimeCertEvidence,
    SubmissionFacts,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FP_A = "A" * 40
FP_B = "B" * 40
FP_C = "C" * 40


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def later(days: float) -> datetime:
    return NOW + timedelta(days=days)


def pgp(
    source: EvidenceSource = EvidenceSource.LOCAL_KEYRING,
    *,
    fingerprint: str = FP_A,
    age_days: float = 1,
    expires_in_days: float | None = 365,
    revoked: bool = False,
    usable: bool = True,
    verified: bool = False,
) -> PgpKeyEvidence:
    return PgpKeyEvidence(
        fingerprint=fingerprint,
        source=source,
        learned_at=ago(age_days),
        expires_at=None if expires_in_days is None else later(expires_in_days),
        revoked=revoked,
        usable_for_encryption=usable,
        verified=verified,
    )


def smime(
    source: EvidenceSource = EvidenceSource.SIGNED_MAIL,
    *,
    fingerprint: str = FP_B,
    age_days: float = 1,
    valid_for_days: float = 365,
    chain_valid: bool = True,
    revoked: bool = False,
) -> SmimeCertEvidence:
    return SmimeCertEvidence(
        fingerprint=fingerprint,
        source=source,
        learned_at=ago(age_days),
        not_after=later(valid_for_days),
        chain_valid=chain_valid,
        revoked=revoked,
    )


def mta_sts(mode: MtaStsMode = MtaStsMode.ENFORCE, *, mx_matched: bool = True, age_days: float = 1) -> MtaStsEvidence:
    return MtaStsEvidence(mode=mode, mx_matched=mx_matched, learned_at=ago(age_days))


def dane(state: DaneState = DaneState.VALIDATED, *, age_days: float = 1) -> DaneEvidence:
    return DaneEvidence(state=state, learned_at=ago(age_days))


def org_listed(*, age_days: float = 1) -> OrgListEvidence:
    return OrgListEvidence(learned_at=ago(age_days))


def transport(
    domain: str = "partner.example",
    *,
    sts: MtaStsEvidence | None = None,
    tlsa: DaneEvidence | None = None,
    org: OrgListEvidence | None = None,
) -> DomainTransportEvidence:
    return DomainTransportEvidence(domain=domain, mta_sts=sts, dane=tlsa, org_list=org)


def recipient(
    address: str = "dr.jones@partner.example",
    *,
    keys: tuple[PgpKeyEvidence, ...] = (),
    certs: tuple[SmimeCertEvidence, ...] = (),
    domain: DomainTransportEvidence | None = None,
    previous: Method | None = None,
) -> RecipientFacts:
    return RecipientFacts(address=address, pgp_keys=keys, smime_certs=certs, transport=domain, previous_method=previous)


def message(
    *,
    manual: bool = False,
    tag: bool = False,
    reply: bool = False,
    requiretls: bool = False,
    ehlo_age_days: float = 0,
) -> MessageFacts:
    submission = SubmissionFacts(requiretls_offered=requiretls, learned_at=ago(ehlo_age_days))
    return MessageFacts(
        escalated_manually=manual,
        escalated_by_subject_tag=tag,
        is_reply_to_encrypted=reply,
        submission=submission,
    )
