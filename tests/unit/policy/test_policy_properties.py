"""Invariants of the decision engine that must hold for any facts and any valid policy (DESIGN §5)."""

from __future__ import annotations

import copy
import dataclasses
import random

from hypothesis import given
from hypothesis import strategies as st

from app.policy import (
    MessageFacts,
    Method,
    PolicyRules,
    ReasonCode,
    RecipientFacts,
    decide,
    plan,
)

from .policy_builders import NOW
from .policy_strategies import messages, policies, recipient_lists, recipients


@given(recipients(), messages, policies)
def test_protected_recipient_is_never_plain(facts: RecipientFacts, msg: MessageFacts, rules: PolicyRules) -> None:
    rules = dataclasses.replace(rules, allow_plain=False)

    assert decide(facts, msg, rules, NOW).method is not Method.PLAIN


@given(recipients(), messages, policies)
def test_escalation_never_yields_tls_or_plain(facts: RecipientFacts, msg: MessageFacts, rules: PolicyRules) -> None:
    msg = dataclasses.replace(msg, escalated_manually=True)

    assert decide(facts, msg, rules, NOW).method not in (Method.TLS, Method.PLAIN)


@given(recipients(), messages, policies)
def test_reply_to_encrypted_never_yields_tls_or_plain(
    facts: RecipientFacts, msg: MessageFacts, rules: PolicyRules
) -> None:
    msg = dataclasses.replace(msg, is_reply_to_encrypted=True)

    assert decide(facts, msg, rules, NOW).method not in (Method.TLS, Method.PLAIN)


@given(recipients(), messages, policies)
def test_every_decision_has_a_reason(facts: RecipientFacts, msg: MessageFacts, rules: PolicyRules) -> None:
    assert decide(facts, msg, rules, NOW).reasons


@given(recipients(), messages, policies)
def test_blocked_says_why(facts: RecipientFacts, msg: MessageFacts, rules: PolicyRules) -> None:
    decision = decide(facts, msg, rules, NOW)

    assert (decision.method is Method.BLOCKED) == (ReasonCode.NO_ALLOWED_METHOD in decision.codes)


@given(recipients(), messages, policies)
def test_method_is_allowed_by_policy(facts: RecipientFacts, msg: MessageFacts, rules: PolicyRules) -> None:
    allowed = {*rules.ladder, Method.BLOCKED} | ({Method.PLAIN} if rules.allow_plain else set())

    assert decide(facts, msg, rules, NOW).method in allowed


@given(recipients(), messages, policies)
def test_tls_always_cites_both_ends(facts: RecipientFacts, msg: MessageFacts, rules: PolicyRules) -> None:
    decision = decide(facts, msg, rules, NOW)
    codes = set(decision.codes)
    domain = {ReasonCode.MTA_STS_ENFORCE, ReasonCode.DANE_VALIDATED, ReasonCode.ORG_TRUSTED_DOMAIN}
    first_hop = {ReasonCode.REQUIRETLS_AVAILABLE, ReasonCode.RELAY_ENFORCES_TLS}

    if decision.method is Method.TLS:
        assert codes & domain
        assert codes & first_hop


@given(recipients(), messages, policies)
def test_weaker_than_previous_is_flagged_exactly_when_weaker(
    facts: RecipientFacts, msg: MessageFacts, rules: PolicyRules
) -> None:
    decision = decide(facts, msg, rules, NOW)
    previous = facts.previous_method
    weaker = (
        previous is not None
        and Method.BLOCKED not in (previous, decision.method)
        and decision.method.strength < previous.strength
    )

    assert weaker == (ReasonCode.WEAKER_THAN_PREVIOUS in decision.codes)


@given(recipient_lists(), messages, policies)
def test_same_facts_give_the_same_plan(facts: list[RecipientFacts], msg: MessageFacts, rules: PolicyRules) -> None:
    assert plan(facts, msg, rules, NOW) == plan(copy.deepcopy(facts), msg, rules, NOW)


@given(recipients(), messages, policies, st.randoms(use_true_random=False))
def test_evidence_order_does_not_matter(
    facts: RecipientFacts, msg: MessageFacts, rules: PolicyRules, rng: random.Random
) -> None:
    keys, certs = list(facts.pgp_keys), list(facts.smime_certs)
    rng.shuffle(keys)
    rng.shuffle(certs)
    shuffled = dataclasses.replace(facts, pgp_keys=tuple(keys), smime_certs=tuple(certs))

    assert decide(shuffled, msg, rules, NOW) == decide(facts, msg, rules, NOW)


@given(recipient_lists(), messages, policies, st.randoms(use_true_random=False))
def test_recipient_order_changes_only_the_order(
    facts: list[RecipientFacts], msg: MessageFacts, rules: PolicyRules, rng: random.Random
) -> None:
    unique = list({recipient.key: recipient for recipient in facts}.values())
    shuffled = list(unique)
    rng.shuffle(shuffled)

    original = plan(unique, msg, rules, NOW).decisions
    reordered = plan(shuffled, msg, rules, NOW).decisions

    assert sorted(original, key=lambda d: d.address) == sorted(reordered, key=lambda d: d.address)


@given(recipient_lists(), messages, policies)
def test_groups_partition_the_decisions(facts: list[RecipientFacts], msg: MessageFacts, rules: PolicyRules) -> None:
    result = plan(facts, msg, rules, NOW)
    grouped = [address for addresses in result.groups.values() for address in addresses]

    assert sorted(grouped) == sorted(decision.address for decision in result.decisions)
    assert sum(result.summary().values()) == len(result.decisions) == len({r.key for r in facts})
