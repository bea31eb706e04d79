"""Hypothesis strategies for arbitrary (but valid) policy facts and rules."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import strategies as st

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
    PolicyRules,
    RecipientFacts,
    SmimeCertEvidence,
    SubmissionFacts,
)

from .policy_builders import NOW

DOMAINS = ("partner.example", "clinic.example", "mail.example")
FINGERPRINTS = ("A" * 40, "B" * 40, "C" * 40)

moments = st.integers(min_value=-400, max_value=400).map(lambda days: NOW + timedelta(days=days))
past = st.integers(min_value=0, max_value=90).map(lambda days: NOW - timedelta(days=days))
maybe_moment = st.none() | moments

pgp_keys = st.builds(
    PgpKeyEvidence,
    fingerprint=st.sampled_from(FINGERPRINTS),
    source=st.sampled_from(
        (EvidenceSource.LOCAL_KEYRING, EvidenceSource.IMPORT, EvidenceSource.WKD, EvidenceSource.AUTOCRYPT)
    ),
    learned_at=past,
    expires_at=maybe_moment,
    revoked=st.booleans(),
    usable_for_encryption=st.booleans(),
    verified=st.booleans(),
)

smime_certs = st.builds(
    SmimeCertEvidence,
    fingerprint=st.sampled_from(FINGERPRINTS),
    source=st.sampled_from((EvidenceSource.SIGNED_MAIL, EvidenceSource.IMPORT)),
    learned_at=past,
    not_after=moments,
    chain_valid=st.booleans(),
    revoked=st.booleans(),
)

mta_sts_evidence = st.builds(
    MtaStsEvidence,
    mode=st.sampled_from(MtaStsMode),
    mx_matched=st.booleans(),
    learned_at=past,
    expires_at=maybe_moment,
)
dane_evidence = st.builds(DaneEvidence, state=st.sampled_from(DaneState), learned_at=past, expires_at=maybe_moment)
org_list_evidence = st.builds(OrgListEvidence, learned_at=past, expires_at=maybe_moment)


def transports(domain: str) -> st.SearchStrategy[DomainTransportEvidence | None]:
    return st.none() | st.builds(
        DomainTransportEvidence,
        domain=st.just(domain),
        mta_sts=st.none() | mta_sts_evidence,
        dane=st.none() | dane_evidence,
        org_list=st.none() | org_list_evidence,
    )


@st.composite
def recipients(draw: st.DrawFn, known: dict[str, DomainTransportEvidence | None] | None = None) -> RecipientFacts:
    """One recipient; with `known`, every recipient of a domain shares that domain's evidence, as the
    discovery layer would give it."""
    domain = draw(st.sampled_from(DOMAINS))
    local = draw(st.sampled_from(("alice", "Bob", "dr.smith")))
    transport = known[domain] if known is not None else draw(transports(domain))
    return RecipientFacts(
        address=f"{local}@{draw(st.sampled_from((domain, domain.upper())))}",
        pgp_keys=tuple(draw(st.lists(pgp_keys, max_size=3))),
        smime_certs=tuple(draw(st.lists(smime_certs, max_size=2))),
        transport=transport,
        previous_method=draw(st.none() | st.sampled_from(Method)),
    )


@st.composite
def recipient_lists(draw: st.DrawFn) -> list[RecipientFacts]:
    known = {domain: draw(transports(domain)) for domain in DOMAINS}
    return draw(st.lists(recipients(known), max_size=6))


@st.composite
def submissions(draw: st.DrawFn) -> SubmissionFacts:
    offered = draw(st.booleans())
    return SubmissionFacts(requiretls_offered=offered, learned_at=draw(past) if offered else None)


messages = st.builds(
    MessageFacts,
    escalated_manually=st.booleans(),
    escalated_by_subject_tag=st.booleans(),
    is_reply_to_encrypted=st.booleans(),
    submission=submissions(),
)


@st.composite
def ladders(draw: st.DrawFn) -> tuple[Method, ...]:
    e2e = draw(st.permutations((Method.PGP, Method.SMIME)))
    rest = draw(st.permutations((Method.TLS, Method.PORTAL)))
    keep = draw(st.lists(st.booleans(), min_size=4, max_size=4))
    ladder = tuple(method for method, kept in zip((*e2e, *rest), keep, strict=True) if kept)
    return ladder or (Method.PORTAL,)


policies = st.builds(
    PolicyRules,
    ladder=ladders(),
    allow_plain=st.booleans(),
    trusted_tls_domains=st.frozensets(st.sampled_from(DOMAINS)),
    relay_enforces_tls=st.booleans(),
    escalation_keeps_end_to_end=st.booleans(),
    evidence_max_age=st.integers(min_value=1, max_value=60).map(lambda days: timedelta(days=days)),
    autocrypt_allowed=st.booleans(),
)
