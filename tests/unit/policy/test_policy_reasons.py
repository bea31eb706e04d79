"""What each reason cites: source, date, fingerprint, method (DESIGN §5: "key from WKD, 3 days ago")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.policy import (
    Decision,
    EvidenceSource,
    Method,
    PolicyRules,
    Reason,
    ReasonCode,
    RecipientFacts,
    decide,
)

from .policy_builders import FP_A, FP_B, NOW, message, mta_sts, org_listed, pgp, recipient, transport

R = ReasonCode
S = EvidenceSource
WKD, IMPORT = S.WKD, S.IMPORT
DEFAULT = PolicyRules()
NO_PORTAL = PolicyRules(ladder=(Method.PGP, Method.SMIME, Method.TLS))
TLS_READY = transport(sts=mta_sts())


def _reason(decision: Decision, code: ReasonCode) -> Reason:
    return next(reason for reason in decision.reasons if reason.code is code)


def test_chosen_key_reason_cites_source_date_and_fingerprint() -> None:
    key = pgp(WKD, fingerprint="abcd " * 10, age_days=3)

    reason = _reason(decide(recipient(keys=(key,)), message(), DEFAULT, NOW), R.PGP_KEY_FROM_WKD)

    assert (reason.source, reason.learned_at, reason.detail) == (WKD, NOW - timedelta(days=3), "ABCD" * 10)


def test_verified_key_is_chosen_over_fresher_wkd_key() -> None:
    keys = (pgp(WKD, fingerprint=FP_A, age_days=0), pgp(IMPORT, fingerprint=FP_B, verified=True, age_days=90))

    decision = decide(recipient(keys=keys), message(), DEFAULT, NOW)

    assert _reason(decision, R.PGP_KEY_VERIFIED).detail == FP_B
    assert R.PGP_KEY_FROM_WKD not in decision.codes


def test_tls_reasons_cite_domain_and_first_hop_sources() -> None:
    decision = decide(recipient(domain=TLS_READY), message(requiretls=True), DEFAULT, NOW)

    assert decision.codes == (R.NO_PGP_KEY, R.NO_SMIME_CERT, R.MTA_STS_ENFORCE, R.REQUIRETLS_AVAILABLE)
    assert [reason.source for reason in decision.reasons[2:]] == [S.MTA_STS, S.EHLO]


def test_org_list_and_policy_trust_are_told_apart_by_source() -> None:
    rules = PolicyRules(trusted_tls_domains=frozenset({"partner.example"}))
    facts = recipient(domain=transport(org=org_listed()))

    decision = decide(facts, message(requiretls=True), rules, NOW)

    trusted = [r.source for r in decision.reasons if r.code is R.ORG_TRUSTED_DOMAIN]
    assert trusted == [S.ORG_LIST, S.POLICY]


def test_excluded_method_is_named_in_the_reason() -> None:
    rules = PolicyRules(ladder=(Method.SMIME, Method.PORTAL))

    decision = decide(recipient(keys=(pgp(),)), message(), rules, NOW)

    assert _reason(decision, R.METHOD_NOT_ALLOWED_BY_POLICY).method is Method.PGP


def test_weaker_flag_names_the_previous_method() -> None:
    decision = decide(recipient(previous=Method.SMIME), message(), DEFAULT, NOW)

    assert _reason(decision, R.WEAKER_THAN_PREVIOUS).method is Method.SMIME


@pytest.mark.parametrize("previous", [Method.BLOCKED, Method.PORTAL, Method.TLS, Method.PLAIN, None])
def test_portal_is_not_weaker_than_previous(previous: Method | None) -> None:
    decision = decide(recipient(previous=previous), message(), DEFAULT, NOW)

    assert R.WEAKER_THAN_PREVIOUS not in decision.codes


def test_blocked_is_never_flagged_weaker() -> None:
    decision = decide(recipient(previous=Method.PGP), message(), NO_PORTAL, NOW)

    assert decision.method is Method.BLOCKED
    assert R.WEAKER_THAN_PREVIOUS not in decision.codes


def test_mta_sts_cache_expiry_makes_evidence_stale() -> None:
    expired = transport(sts=mta_sts()).mta_sts
    assert expired is not None
    facts = recipient(
        domain=transport(sts=type(expired)(expired.mode, True, expired.learned_at, NOW - timedelta(seconds=1)))
    )

    decision = decide(facts, message(requiretls=True), DEFAULT, NOW)

    assert (decision.method, _reason(decision, R.EVIDENCE_STALE).source) == (Method.PORTAL, S.MTA_STS)


def test_evidence_max_age_comes_from_policy() -> None:
    facts = recipient(keys=(pgp(WKD, age_days=10),))

    strict = decide(facts, message(), PolicyRules(evidence_max_age=timedelta(days=7)), NOW)
    lenient = decide(facts, message(), PolicyRules(evidence_max_age=timedelta(days=14)), NOW)

    assert (strict.method, lenient.method) == (Method.PORTAL, Method.PGP)


def test_decision_keeps_the_address_as_given() -> None:
    decision = decide(recipient("Dr.Jones@PARTNER.example"), message(), DEFAULT, NOW)

    assert decision.address == "Dr.Jones@PARTNER.example"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(recipient(), message(), DEFAULT, NOW.replace(tzinfo=None))


def test_first_time_recipient_is_flagged() -> None:
    facts = RecipientFacts(address="new@partner.example", first_time=True)

    decision = decide(facts, message(), DEFAULT, NOW)

    assert decision.flags == (R.FIRST_TIME_RECIPIENT,)


def test_lookalike_flag_names_the_imitated_domain() -> None:
    facts = RecipientFacts(address="x@c1inic.example", lookalike_of="clinic.example")

    decision = decide(facts, message(), DEFAULT, NOW)

    assert _reason(decision, R.LOOKALIKE_DOMAIN).detail == "clinic.example"
    assert R.LOOKALIKE_DOMAIN in decision.flags


def test_known_recipient_at_a_known_domain_carries_no_flags() -> None:
    assert decide(recipient(), message(), DEFAULT, NOW).flags == ()
