"""The send plan: one decision per distinct recipient, grouped by method (DESIGN §5).

Rules this module keeps:
- Decisions keep the order in which recipients were given; a duplicate keeps its first spelling.
- Duplicates are the same mailbox: the domain compared case-insensitively, the local part as given
  (RFC 5321 §2.4). Their evidence is merged, so no copy is decided on less than all that is known.
- One outgoing message per method group; blocked recipients form their own group and are not sent.
- Groups and the summary are derived from the decisions, never stored beside them, so they cannot
  disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TypeVar

from app.policy.decide import Decision, decide
from app.policy.model import DomainTransportEvidence, MessageFacts, Method, PolicyRules, RecipientFacts

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Plan:
    """Every recipient's decision, in input order."""

    decisions: tuple[Decision, ...]

    @property
    def groups(self) -> Mapping[Method, tuple[str, ...]]:
        """Addresses per method, strongest method first; only non-empty groups appear."""
        grouped = {method: self.addresses(method) for method in Method}
        return MappingProxyType({method: addresses for method, addresses in grouped.items() if addresses})

    def addresses(self, method: Method) -> tuple[str, ...]:
        return tuple(decision.address for decision in self.decisions if decision.method is method)

    @property
    def blocked(self) -> tuple[Decision, ...]:
        """The decisions that stop these recipients from receiving the message at all."""
        return tuple(decision for decision in self.decisions if decision.method is Method.BLOCKED)

    def summary(self) -> Mapping[Method, int]:
        """How many recipients each method carries, every method listed (zero included)."""
        return MappingProxyType({method: len(self.addresses(method)) for method in Method})


def plan(recipients: Iterable[RecipientFacts], message: MessageFacts, rules: PolicyRules, now: datetime) -> Plan:
    """Decide every distinct recipient of `message` and group them by method."""
    return Plan(tuple(decide(recipient, message, rules, now) for recipient in merge_recipients(recipients)))


def merge_recipients(recipients: Iterable[RecipientFacts]) -> tuple[RecipientFacts, ...]:
    """One RecipientFacts per mailbox, in order of first appearance, with duplicates' evidence merged."""
    merged: dict[str, RecipientFacts] = {}
    for recipient in recipients:
        earlier = merged.get(recipient.key)
        merged[recipient.key] = recipient if earlier is None else _merge(earlier, recipient)
    return tuple(merged.values())


def _merge(first: RecipientFacts, second: RecipientFacts) -> RecipientFacts:
    return RecipientFacts(
        address=first.address,
        pgp_keys=_union(first.pgp_keys, second.pgp_keys),
        smime_certs=_union(first.smime_certs, second.smime_certs),
        transport=_same_transport(first.transport, second.transport),
        previous_method=_stronger(first.previous_method, second.previous_method),
        first_time=first.first_time and second.first_time,
        lookalike_of=first.lookalike_of or second.lookalike_of,
    )


def _union(first: tuple[_T, ...], second: tuple[_T, ...]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys((*first, *second)))


def _same_transport(
    first: DomainTransportEvidence | None, second: DomainTransportEvidence | None
) -> DomainTransportEvidence | None:
    if first is None or first == second:
        return second
    if second is None:
        return first
    # Two different answers for one domain mean the caller mixed up lookups; guessing could downgrade.
    raise ValueError("conflicting transport evidence for the same recipient domain")


def _stronger(first: Method | None, second: Method | None) -> Method | None:
    # The stronger previous method is the stricter baseline for the WEAKER_THAN_PREVIOUS flag.
    if first is None or (second is not None and second.strength > first.strength):
        return second
    return first
