"""DANE for SMTP (RFC 7672): do the recipient domain's MX hosts publish DNSSEC-validated TLSA records?

Rules this module keeps:
- `validated` needs the resolver's word for every link: the MX answer and every MX host's TLSA answer carry
  the AD flag (RFC 7672 §2.1, §2.2), every host has TLSA records, and each host has at least one record a
  DANE SMTP client can use (RFC 7672 §3.1). Salus never validates DNSSEC itself; it trusts the AD bit of
  the validating resolver IT configured (RFC 6698 §4.1), and anything less is `not_validated`, never guessed.
- TLSA records without AD (or on only some hosts) are `not_validated`; no TLSA anywhere is `absent`;
  any failed MX or TLSA lookup is `lookup_failed` (RFC 7672 §2.1.1: a failed lookup is not a denial).
- A domain without MX records is its own implicit MX host (RFC 5321 §5.1, RFC 7672 §2.2.2).
- The whole check is bounded by `config.timeout`; it never raises.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from app.discovery.resolver import DnsResolver, TlsaAnswer, TlsaRecord, ascii_domain

# RFC 7672 §3.1: SMTP clients use DANE-TA(2) and DANE-EE(3); PKIX-TA(0) and PKIX-EE(1) are unusable.
_USABLE_USAGES = frozenset({2, 3})
_KNOWN_SELECTORS = frozenset({0, 1})  # Cert, SPKI (RFC 6698 §2.1.2)
_KNOWN_MATCHING_TYPES = frozenset({0, 1, 2})  # Full, SHA2-256, SHA2-512 (RFC 6698 §2.1.3)


class DaneStatus(StrEnum):
    VALIDATED = "validated"
    NOT_VALIDATED = "not_validated"
    ABSENT = "absent"
    LOOKUP_FAILED = "lookup_failed"


@dataclass(frozen=True, slots=True)
class DaneResult:
    """`records` reads "<mx host> <usage> <selector> <matching type> <data hex>", one per TLSA record."""

    state: DaneStatus
    records: tuple[str, ...] = ()
    error: str | None = None


def usable(record: TlsaRecord) -> bool:
    """Whether a DANE SMTP client can authenticate a server with this record (RFC 7672 §3.1)."""
    return (
        record.usage in _USABLE_USAGES and record.selector in _KNOWN_SELECTORS and record.mtype in _KNOWN_MATCHING_TYPES
    )


def judge(mx_authenticated: bool, answers: dict[str, TlsaAnswer]) -> DaneResult:
    """The DANE state from the MX answer's AD flag and each MX host's TLSA answer (pure)."""
    for host, answer in answers.items():
        if answer.error is not None:
            return DaneResult(DaneStatus.LOOKUP_FAILED, error=f"TLSA lookup for {host} failed: {answer.error}")
    records = tuple(f"{host} {record}" for host, answer in answers.items() for record in answer.records)
    if not records:
        return DaneResult(DaneStatus.ABSENT)
    every_host_secure = all(
        answer.authenticated and any(usable(record) for record in answer.records) for answer in answers.values()
    )
    state = DaneStatus.VALIDATED if mx_authenticated and every_host_secure else DaneStatus.NOT_VALIDATED
    return DaneResult(state, records)


async def lookup_dane(domain: str, resolver: DnsResolver) -> DaneResult:
    """Check the TLSA records `_25._tcp.<mx>` of every MX host of `domain`; never raises."""
    name = ascii_domain(domain)
    if name is None:
        return DaneResult(DaneStatus.LOOKUP_FAILED, error="not a valid domain name")
    timeout = resolver.config.timeout
    try:
        async with asyncio.timeout(timeout):
            return await _check(name, resolver)
    except TimeoutError:
        return DaneResult(DaneStatus.LOOKUP_FAILED, error=f"timeout after {timeout:g} s")


async def _check(domain: str, resolver: DnsResolver) -> DaneResult:
    mx = await resolver.mx(domain)
    if mx.error is not None:
        return DaneResult(DaneStatus.LOOKUP_FAILED, error=f"MX lookup failed: {mx.error}")
    hosts = mx.hosts or (domain,)
    answers = await asyncio.gather(*(resolver.tlsa(f"_25._tcp.{host}") for host in hosts))
    return judge(mx.authenticated, dict(zip(hosts, answers, strict=True)))
