"""The send plan: input order, duplicates merged, one group per method (DESIGN §5)."""

from __future__ import annotations

import pytest

from app.policy import (
    EvidenceSource,
    Method,
    PolicyRules,
    ReasonCode,
    RecipientFacts,
    merge_recipients,
    normalize_address,
    plan,
)

from .policy_builders import FP_A, FP_B, NOW, dane, message, mta_sts, pgp, recipient, transport

DEFAULT = PolicyRules()


def _mixed() -> list[RecipientFacts]:
    return [
        recipient("gp@clinic.example", keys=(pgp(),)),
        recipient("patient@home.example"),
        recipient("lab@partner.example", domain=transport(sts=mta_sts())),
        recipient("ward@hospital.example", keys=(pgp(EvidenceSource.WKD, fingerprint=FP_B),)),
    ]


def test_mixed_recipients_are_grouped_by_method_in_input_order() -> None:
    result = plan(_mixed(), message(requiretls=True), DEFAULT, NOW)

    assert [d.method for d in result.decisions] == [Method.PGP, Method.PORTAL, Method.TLS, Method.PGP]
    assert dict(result.groups) == {
        Method.PGP: ("gp@clinic.example", "ward@hospital.example"),
        Method.PORTAL: ("patient@home.example",),
        Method.TLS: ("lab@partner.example",),
    }


def test_summary_counts_every_method() -> None:
    result = plan(_mixed(), message(requiretls=True), DEFAULT, NOW)

    assert dict(result.summary()) == {
        Method.PGP: 2,
        Method.SMIME: 0,
        Method.PORTAL: 1,
        Method.TLS: 1,
        Method.PLAIN: 0,
        Method.BLOCKED: 0,
    }


def test_blocked_recipients_form_their_own_group() -> None:
    rules = PolicyRules(ladder=(Method.PGP, Method.SMIME, Method.TLS))

    result = plan(_mixed(), message(requiretls=True), rules, NOW)

    assert result.groups[Method.BLOCKED] == ("patient@home.example",)
    assert [d.address for d in result.blocked] == ["patient@home.example"]
    assert ReasonCode.NO_ALLOWED_METHOD in result.blocked[0].codes


def test_escalation_moves_everyone_to_portal() -> None:
    result = plan(_mixed(), message(manual=True, requiretls=True), DEFAULT, NOW)

    assert list(result.groups) == [Method.PORTAL]
    assert all(ReasonCode.ESCALATED_MANUAL in d.codes for d in result.decisions)


def test_empty_recipient_list_gives_empty_plan() -> None:
    result = plan([], message(), DEFAULT, NOW)

    assert (result.decisions, dict(result.groups)) == ((), {})


def test_duplicates_differing_in_domain_case_are_merged_keeping_first_spelling() -> None:
    facts = [
        recipient("Dr.Jones@Partner.EXAMPLE"),
        recipient("dr.jones@x.example"),
        recipient("Dr.Jones@partner.example"),
    ]

    result = plan(facts, message(), DEFAULT, NOW)

    assert [d.address for d in result.decisions] == ["Dr.Jones@Partner.EXAMPLE", "dr.jones@x.example"]


def test_local_parts_differing_in_case_are_different_mailboxes() -> None:
    # RFC 5321 §2.4: only the receiving host may decide that Bob and bob are the same mailbox.
    result = plan([recipient("Bob@clinic.example"), recipient("bob@clinic.example")], message(), DEFAULT, NOW)

    assert len(result.decisions) == 2


def test_merged_duplicate_uses_evidence_from_every_copy() -> None:
    facts = [
        recipient("a@partner.example", previous=Method.PORTAL),
        recipient("a@PARTNER.example", keys=(pgp(),), previous=Method.SMIME),
    ]

    (merged,) = merge_recipients(facts)

    assert (merged.address, merged.pgp_keys, merged.previous_method) == (
        "a@partner.example",
        (pgp(),),
        Method.SMIME,
    )


def test_merged_revocation_from_one_copy_wins() -> None:
    facts = [
        recipient("a@partner.example", keys=(pgp(fingerprint=FP_A),)),
        recipient("a@partner.example", keys=(pgp(EvidenceSource.WKD, fingerprint=FP_A, revoked=True),)),
    ]

    (decision,) = plan(facts, message(), DEFAULT, NOW).decisions

    assert decision.method is Method.PORTAL
    assert ReasonCode.PGP_KEY_REVOKED in decision.codes


def test_merge_takes_transport_evidence_from_whichever_copy_has_it() -> None:
    evidence = transport(tlsa=dane())

    (merged,) = merge_recipients([recipient(), recipient(domain=evidence)])

    assert merged.transport == evidence


def test_conflicting_transport_evidence_for_one_mailbox_is_refused() -> None:
    facts = [recipient(domain=transport(tlsa=dane())), recipient(domain=transport(sts=mta_sts()))]

    with pytest.raises(ValueError, match="conflicting transport evidence"):
        merge_recipients(facts)


def test_normalize_address_lowercases_only_the_domain() -> None:
    assert normalize_address(" Dr.Jones@Partner.Example. ") == "Dr.Jones@partner.example"


def test_quoted_local_part_with_at_sign_splits_at_the_last_at() -> None:
    assert normalize_address('"a@b"@Clinic.Example') == '"a@b"@clinic.example'
