"""The per-recipient decision: facts and policy in, one method and its reasons out (DESIGN §5).

Rules this module keeps:
- The method is the first one on the policy's ladder whose evidence holds; `plain` comes after the
  ladder, and only when the policy sets `allow_plain`. Nothing is ever `plain` by default.
- Escalation and replies to encrypted mail raise the floor to `portal`: neither ever yields `tls` or
  `plain`. Escalation also puts `portal` first, unless the policy lets end-to-end recipients keep it.
- When no allowed method can carry the message the outcome is `blocked`, with NO_ALLOWED_METHOD and the
  reasons each method failed; the sender is told why and nothing is sent.
- Every decision carries at least one reason, and the same facts always give the same decision.
- A decision weaker than the one this recipient last received is flagged, never silently accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from app.policy.evidence import Verdict, pgp_verdict, smime_verdict, tls_verdict
from app.policy.model import (
    DEFAULT_LADDER,
    EvidenceSource,
    MessageFacts,
    Method,
    PolicyRules,
    RecipientFacts,
    require_aware,
)
from app.policy.reasons import FLAG_CODES, Reason, ReasonCode


@dataclass(frozen=True, slots=True)
class Decision:
    """How one recipient will receive the message, and every reason why, in evaluation order:
    message-level demands, why stronger methods were passed over, what supports the chosen method,
    then policy notes and flags."""

    address: str
    method: Method
    reasons: tuple[Reason, ...]

    @property
    def codes(self) -> tuple[ReasonCode, ...]:
        return tuple(reason.code for reason in self.reasons)

    @property
    def flags(self) -> tuple[ReasonCode, ...]:
        """The reasons to look twice before sending (weaker than last time, first time, look-alike domain)."""
        return tuple(code for code in self.codes if code in FLAG_CODES)


_Judge = Callable[[RecipientFacts, MessageFacts, PolicyRules, datetime], Verdict]

_ALWAYS_PORTAL = Verdict(True, (Reason(ReasonCode.PORTAL_AVAILABLE, EvidenceSource.POLICY),))
_ALWAYS_PLAIN = Verdict(True, (Reason(ReasonCode.PLAIN_ALLOWED_BY_POLICY, EvidenceSource.POLICY),))

# One judge per method. Portal needs no recipient evidence (DESIGN §6); plain reaches this table only
# when the policy allows it (see _ladder).
_JUDGES: Mapping[Method, _Judge] = MappingProxyType(
    {
        Method.PGP: lambda recipient, message, rules, now: pgp_verdict(recipient.pgp_keys, rules, now),
        Method.SMIME: lambda recipient, message, rules, now: smime_verdict(recipient.smime_certs, rules, now),
        Method.TLS: lambda recipient, message, rules, now: tls_verdict(
            recipient.domain, recipient.transport, message.submission, rules, now
        ),
        Method.PORTAL: lambda recipient, message, rules, now: _ALWAYS_PORTAL,
        Method.PLAIN: lambda recipient, message, rules, now: _ALWAYS_PLAIN,
    }
)

# Message facts that demand at least portal-strength protection for every recipient (DESIGN §5).
_DEMANDS: tuple[tuple[ReasonCode, Callable[[MessageFacts], bool]], ...] = (
    (ReasonCode.ESCALATED_MANUAL, lambda message: message.escalated_manually),
    (ReasonCode.ESCALATED_SUBJECT_TAG, lambda message: message.escalated_by_subject_tag),
    (ReasonCode.REPLY_TO_ENCRYPTED, lambda message: message.is_reply_to_encrypted),
)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """Everything the notes below need to know about a finished walk down the ladder."""

    recipient: RecipientFacts
    message: MessageFacts
    rules: PolicyRules
    floor: Method
    chosen: Method
    ideal: Method | None


def _demands(message: MessageFacts) -> tuple[Reason, ...]:
    return tuple(Reason(code) for code, applies in _DEMANDS if applies(message))


def _ladder(rules: PolicyRules) -> tuple[Method, ...]:
    # `plain` is only ever the last resort, and only where the policy allows it (DESIGN §5).
    return (*rules.ladder, Method.PLAIN) if rules.allow_plain else rules.ladder


def _preference(
    ladder: tuple[Method, ...], message: MessageFacts, rules: PolicyRules, floor: Method
) -> tuple[Method, ...]:
    """The methods to try, in order: the ladder above the floor, with portal first under escalation
    unless the policy lets end-to-end recipients keep their method."""
    allowed = tuple(method for method in ladder if method.strength >= floor.strength)
    if message.escalated and not rules.escalation_keeps_end_to_end and Method.PORTAL in allowed:
        return (Method.PORTAL, *(method for method in allowed if method is not Method.PORTAL))
    return allowed


def _walk(order: tuple[Method, ...], judge: Callable[[Method], Verdict]) -> tuple[Method | None, tuple[Reason, ...]]:
    """The first eligible method, with the faults of those before it and its own support."""
    passed_over: list[Reason] = []
    for method in order:
        verdict = judge(method)
        if verdict.eligible:
            return method, (*passed_over, *verdict.reasons)
        passed_over.extend(verdict.reasons)
    return None, tuple(passed_over)


def _memo_judge(
    recipient: RecipientFacts, message: MessageFacts, rules: PolicyRules, now: datetime
) -> Callable[[Method], Verdict]:
    verdicts: dict[Method, Verdict] = {}

    def judge(method: Method) -> Verdict:
        if method not in verdicts:
            verdicts[method] = _JUDGES[method](recipient, message, rules, now)
        return verdicts[method]

    return judge


# --- Notes appended after the walk, each a small rule over the outcome ----------------------------


def _note_excluded(outcome: _Outcome) -> tuple[Reason, ...]:
    # The method the default ladder would have chosen, when this policy excludes it: the sender (and the
    # audit log) should see that policy, not missing evidence, decided the method.
    ideal = outcome.ideal
    if ideal is None or ideal is outcome.chosen or ideal in outcome.rules.ladder:
        return ()
    return (Reason(ReasonCode.METHOD_NOT_ALLOWED_BY_POLICY, EvidenceSource.POLICY, method=ideal),)


def _note_kept_end_to_end(outcome: _Outcome) -> tuple[Reason, ...]:
    kept = outcome.message.escalated and outcome.chosen.is_end_to_end and outcome.rules.escalation_keeps_end_to_end
    return (Reason(ReasonCode.ESCALATION_KEPT_END_TO_END, EvidenceSource.POLICY),) if kept else ()


def _note_blocked(outcome: _Outcome) -> tuple[Reason, ...]:
    if outcome.chosen is not Method.BLOCKED:
        return ()
    plain_would_do = not outcome.rules.allow_plain and outcome.floor is Method.PLAIN
    forbidden = (Reason(ReasonCode.PLAIN_FORBIDDEN, EvidenceSource.POLICY),) if plain_would_do else ()
    return (*forbidden, Reason(ReasonCode.NO_ALLOWED_METHOD, EvidenceSource.POLICY))


def _note_weaker(outcome: _Outcome) -> tuple[Reason, ...]:
    # A recipient who got end-to-end mail last time and would now get the portal (or less) must not be
    # downgraded unnoticed. Blocked sends nothing, so it is never weaker; a blocked past proves nothing.
    previous, chosen = outcome.recipient.previous_method, outcome.chosen
    if previous is None or Method.BLOCKED in (previous, chosen) or chosen.strength >= previous.strength:
        return ()
    return (Reason(ReasonCode.WEAKER_THAN_PREVIOUS, method=previous),)


def _note_first_time(outcome: _Outcome) -> tuple[Reason, ...]:
    # A mistyped or unfamiliar address is the commonest way patient data reaches the wrong person.
    return (Reason(ReasonCode.FIRST_TIME_RECIPIENT),) if outcome.recipient.first_time else ()


def _note_lookalike(outcome: _Outcome) -> tuple[Reason, ...]:
    imitated = outcome.recipient.lookalike_of
    return (Reason(ReasonCode.LOOKALIKE_DOMAIN, detail=imitated),) if imitated else ()


_NOTES: tuple[Callable[[_Outcome], tuple[Reason, ...]], ...] = (
    _note_excluded,
    _note_kept_end_to_end,
    _note_blocked,
    _note_weaker,
    _note_first_time,
    _note_lookalike,
)


def decide(recipient: RecipientFacts, message: MessageFacts, rules: PolicyRules, now: datetime) -> Decision:
    """Choose how `recipient` receives `message` under `rules` at `now`, and say why."""
    require_aware("now", now)
    demands = _demands(message)
    floor = Method.PORTAL if demands else Method.PLAIN
    judge = _memo_judge(recipient, message, rules, now)
    chosen, walked = _walk(_preference(_ladder(rules), message, rules, floor), judge)
    ideal, _ = _walk(_preference(DEFAULT_LADDER, message, rules, floor), judge)
    outcome = _Outcome(recipient, message, rules, floor, chosen or Method.BLOCKED, ideal)
    notes = tuple(reason for note in _NOTES for reason in note(outcome))
    return Decision(recipient.address, outcome.chosen, (*demands, *walked, *notes))
