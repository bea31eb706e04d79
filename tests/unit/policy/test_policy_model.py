"""Invalid facts and invalid policies are errors when built, never silent defaults (DESIGN §10)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.policy import (
    DEFAULT_LADDER,
    EvidenceSource,
    Method,
    PgpKeyEvidence,
    PolicyRules,
    RecipientFacts,
    SmimeCertEvidence,
    SubmissionFacts,
    TrustLevel,
)

from .policy_builders import NOW, pgp, recipient, transport


def test_default_policy_is_strict() -> None:
    rules = PolicyRules()

    assert rules.ladder == DEFAULT_LADDER == (Method.PGP, Method.SMIME, Method.TLS, Method.PORTAL)
    assert not (rules.allow_plain or rules.autocrypt_allowed or rules.relay_enforces_tls)
    assert not rules.escalation_keeps_end_to_end
    assert rules.trusted_tls_domains == frozenset()
    assert rules.subject_tags == ("[secure]", "[encrypt]")


@pytest.mark.parametrize(
    "ladder",
    [
        pytest.param((), id="empty"),
        pytest.param((Method.PGP, Method.PGP), id="duplicate"),
        pytest.param((Method.PGP, Method.PLAIN), id="plain-on-ladder"),
        pytest.param((Method.PORTAL, Method.BLOCKED), id="blocked-on-ladder"),
        pytest.param((Method.TLS, Method.PGP, Method.PORTAL), id="tls-before-end-to-end"),
        pytest.param((Method.PGP, Method.PORTAL, Method.SMIME), id="portal-before-end-to-end"),
    ],
)
def test_invalid_ladder_is_refused(ladder: tuple[Method, ...]) -> None:
    with pytest.raises(ValueError, match="ladder"):
        PolicyRules(ladder=ladder)


def test_portal_may_come_before_tls() -> None:
    assert PolicyRules(ladder=(Method.SMIME, Method.PORTAL, Method.TLS)).ladder[-1] is Method.TLS


@pytest.mark.parametrize("age", [timedelta(0), timedelta(days=-1)])
def test_non_positive_evidence_age_is_refused(age: timedelta) -> None:
    with pytest.raises(ValueError, match="evidence_max_age"):
        PolicyRules(evidence_max_age=age)


def test_blank_subject_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="subject tags"):
        PolicyRules(subject_tags=("[secure]", " "))


def test_trusted_domains_are_normalised() -> None:
    rules = PolicyRules(trusted_tls_domains=frozenset({"Partner.Example.", "clinic.example"}))

    assert rules.trusted_tls_domains == {"partner.example", "clinic.example"}


@pytest.mark.parametrize("address", ["", "no-at-sign", "@partner.example", "bob@", "bob@ ."])
def test_invalid_address_is_refused_without_quoting_it(address: str) -> None:
    with pytest.raises(ValueError, match=r"not an email address|empty domain") as caught:
        RecipientFacts(address=address)

    assert not address or address not in str(caught.value)


def test_transport_evidence_for_another_domain_is_refused() -> None:
    with pytest.raises(ValueError, match="different domain"):
        recipient("a@clinic.example", domain=transport("partner.example"))


def test_naive_evidence_dates_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PgpKeyEvidence("A" * 40, EvidenceSource.WKD, NOW.replace(tzinfo=None), None, False, True)


@pytest.mark.parametrize("source", [EvidenceSource.MTA_STS, EvidenceSource.SIGNED_MAIL, EvidenceSource.POLICY])
def test_pgp_key_from_a_non_key_source_is_refused(source: EvidenceSource) -> None:
    with pytest.raises(ValueError, match="OpenPGP key cannot come from"):
        pgp(source)


def test_smime_cert_from_wkd_is_refused() -> None:
    with pytest.raises(ValueError, match="S/MIME certificate cannot come from"):
        SmimeCertEvidence("B" * 40, EvidenceSource.WKD, NOW, NOW, True, False)


def test_requiretls_without_a_date_is_refused() -> None:
    with pytest.raises(ValueError, match="learned_at"):
        SubmissionFacts(requiretls_offered=True)


@pytest.mark.parametrize(
    ("source", "verified", "trust"),
    [
        (EvidenceSource.AUTOCRYPT, False, TrustLevel.AUTOCRYPT),
        (EvidenceSource.WKD, False, TrustLevel.WKD),
        (EvidenceSource.IMPORT, False, TrustLevel.IMPORTED),
        (EvidenceSource.LOCAL_KEYRING, False, TrustLevel.IMPORTED),
        (EvidenceSource.AUTOCRYPT, True, TrustLevel.VERIFIED),
    ],
)
def test_key_trust_follows_source_unless_verified(source: EvidenceSource, verified: bool, trust: TrustLevel) -> None:
    assert pgp(source, verified=verified).trust is trust


def test_trust_levels_rank_verified_over_wkd_over_autocrypt() -> None:
    assert TrustLevel.VERIFIED > TrustLevel.IMPORTED > TrustLevel.WKD > TrustLevel.AUTOCRYPT


def test_fingerprints_are_normalised() -> None:
    assert pgp(fingerprint="ab cd\tef").fingerprint == "ABCDEF"


def test_method_strength_ranks_end_to_end_highest() -> None:
    ranked = sorted(Method, key=lambda method: method.strength, reverse=True)

    assert ranked == [Method.PGP, Method.SMIME, Method.PORTAL, Method.TLS, Method.PLAIN, Method.BLOCKED]
    assert Method.PGP.strength == Method.SMIME.strength
