"""What the composer shows for its recipients: badge text, tool tips in words, and the Send button's summary.

Rules:
- Pure snapshots and functions over a `PlanOutcome`; nothing here plans, and nothing touches the store.
- Every method is named with `METHOD_NAMES` and every reason with `reason_sentence`, so the composer says the
  same words as the command line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from app.policy import Method, ReasonCode
from app.policy.decide import Decision
from app.policy.model import split_address
from app.services.reason_text import METHOD_NAMES, reason_sentence

_SEPARATORS = re.compile(r"[,;\s]+")


@dataclass(frozen=True, slots=True)
class RecipientBadge:
    """One recipient as the composer shows it: the method (None while unknown) and why, in words."""

    address: str
    method: Method | None
    tooltip: str
    flags: tuple[str, ...] = ()  # short words for the flags (FLAG_CODES), shown beside the badge

    @property
    def text(self) -> str:
        return self.method.value if self.method is not None else "…"

    @property
    def marker(self) -> str:
        """The visible warning beside the badge, "" when nothing is flagged."""
        return f"  ⚠ {', '.join(self.flags)}" if self.flags else ""


def split_addresses(text: str) -> tuple[str, ...]:
    """The addresses typed into a field, in order, without duplicates (case-insensitively)."""
    seen: set[str] = set()
    found: list[str] = []
    for part in _SEPARATORS.split(text):
        address = part.strip().strip("<>")
        if address and address.lower() not in seen:
            seen.add(address.lower())
            found.append(address)
    return tuple(found)


def is_address(text: str) -> bool:
    try:
        split_address(text)
    except ValueError:
        return False
    return True


def pending_badge(address: str) -> RecipientBadge:
    if is_address(address):
        return RecipientBadge(address, None, f"{address}: working out how this recipient can be reached…")
    return RecipientBadge(address, None, f"{address}: not an email address")


FLAG_WORDS: dict[ReasonCode, str] = {
    ReasonCode.WEAKER_THAN_PREVIOUS: "weaker than last time",
    ReasonCode.FIRST_TIME_RECIPIENT: "first time",
    ReasonCode.LOOKALIKE_DOMAIN: "look-alike domain",
}


def badge_for(decision: Decision, now: datetime) -> RecipientBadge:
    reasons = "; ".join(reason_sentence(r, now) for r in decision.reasons) or "no reasons given"
    flags = tuple(FLAG_WORDS[code] for code in decision.flags)
    tooltip = f"{METHOD_NAMES[decision.method]}: {reasons}"
    if flags:
        tooltip = f"Check this recipient ({', '.join(flags)}). {tooltip}"
    return RecipientBadge(decision.address, decision.method, tooltip, flags)


def badges_for(addresses: Iterable[str], decisions: Iterable[Decision], now: datetime) -> tuple[RecipientBadge, ...]:
    """A badge per typed address: decided ones from the plan, the rest still pending."""
    by_address = {d.address.lower(): d for d in decisions}
    return tuple(
        badge_for(by_address[a.lower()], now) if a.lower() in by_address else pending_badge(a) for a in addresses
    )


def send_summary(counts: Mapping[Method, int]) -> str:
    """The Send button's text: "Send: 2 by OpenPGP, 1 by secure portal"."""
    parts = [f"{n} by {METHOD_NAMES[method]}" for method, n in counts.items() if n and method is not Method.BLOCKED]
    return f"Send: {', '.join(parts)}" if parts else "Send"


def blocked_text(decisions: Iterable[Decision], now: datetime) -> str:
    """Why the message cannot be sent, naming each blocked recipient; "" when nothing is blocked."""
    lines = [badge_for(d, now) for d in decisions if d.method is Method.BLOCKED]
    return "\n".join(f"Cannot send to {b.address}. {b.tooltip}" for b in lines)
