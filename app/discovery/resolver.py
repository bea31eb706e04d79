"""A small asynchronous DNS facade over dnspython, the only place Salus speaks DNS.

Rules this module keeps:
- Every question is bounded by `config.timeout`; every failure comes back as data in `error`
  ("timeout after 5 s"), never as an exception. Only cancellation propagates.
- "Absent" (NXDOMAIN, or NOERROR with no records of the type) is distinct from an error: a name that does not
  exist is an answer, a server that does not answer is not.
- `authenticated` is the AD bit of the response header and nothing else (RFC 4035 §3.2.3). Queries carry the
  EDNS0 DO bit and the AD bit so a validating resolver reports it (RFC 3225 §3, RFC 6840 §5.7). Trusting AD
  is only sound when the path to the resolver is trusted; that is why IT names the resolver (RFC 6698 §4.1).
- Nothing is cached here: the service layer caches evidence with its own expiry.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
import dns.rrset

from app.discovery.config import DiscoveryConfig

# Large enough for TLSA and TXT answers, small enough to avoid IP fragmentation (DNS flag day 2020).
_EDNS_PAYLOAD = 1232
_LDH_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# The time one query to one resolver may take before the next configured resolver is tried.
_PER_SERVER_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class MxAnswer:
    """The MX hosts of a domain, best preference first. `hosts == ()` with no error: the domain has no MX
    (NXDOMAIN, no MX records, or a null MX, RFC 7505)."""

    hosts: tuple[str, ...]
    authenticated: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TxtAnswer:
    """TXT records, each one's character-strings joined without separators (RFC 7208 §3.3, RFC 8461 §3.1)."""

    records: tuple[str, ...]
    authenticated: bool
    error: str | None = None


@dataclass(frozen=True, slots=True, order=True)
class TlsaRecord:
    """One TLSA record (RFC 6698 §2.1); `data` is the certificate association data in hex."""

    usage: int
    selector: int
    mtype: int
    data: str

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data}"


@dataclass(frozen=True, slots=True)
class TlsaAnswer:
    records: tuple[TlsaRecord, ...]
    authenticated: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AddressAnswer:
    """A and AAAA addresses of a host, IPv4 first."""

    addresses: tuple[str, ...]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """One SRV record (RFC 2782). `target == ""` is the root name ".": the service is decidedly not offered."""

    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True)
class SrvAnswer:
    """SRV records in the order to try them: lowest priority first, then the highest weight (RFC 2782 weighs
    at random; a suggestion shown to a person should not change between two looks, so the order is fixed)."""

    records: tuple[SrvRecord, ...]
    authenticated: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Raw:
    rrset: dns.rrset.RRset | None
    authenticated: bool
    error: str | None = None


class DnsResolver:
    """Asks the configured resolvers (or the system's) and returns frozen answers."""

    def __init__(self, config: DiscoveryConfig) -> None:
        self.config = config
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._setup_error: str | None = None
        try:
            self._resolver = _build(config)
        except (dns.resolver.NoResolverConfiguration, OSError):
            self._setup_error = "no DNS resolver is configured on this computer"

    async def mx(self, domain: str) -> MxAnswer:
        raw = await self._query(domain, dns.rdatatype.MX)
        if raw.rrset is None:
            return MxAnswer((), raw.authenticated, raw.error)
        ranked = sorted((rdata.preference, _host(rdata.exchange)) for rdata in raw.rrset)
        # A null MX ("0 .") says the domain accepts no mail (RFC 7505 §3); it names no host.
        hosts = tuple(dict.fromkeys(host for _, host in ranked if host))
        return MxAnswer(hosts, raw.authenticated)

    async def txt(self, name: str) -> TxtAnswer:
        raw = await self._query(name, dns.rdatatype.TXT)
        if raw.rrset is None:
            return TxtAnswer((), raw.authenticated, raw.error)
        texts = tuple(b"".join(rdata.strings).decode("utf-8", "replace") for rdata in raw.rrset)
        return TxtAnswer(texts, raw.authenticated)

    async def tlsa(self, name: str) -> TlsaAnswer:
        raw = await self._query(name, dns.rdatatype.TLSA)
        if raw.rrset is None:
            return TlsaAnswer((), raw.authenticated, raw.error)
        records = tuple(sorted(TlsaRecord(rd.usage, rd.selector, rd.mtype, rd.cert.hex()) for rd in raw.rrset))
        return TlsaAnswer(records, raw.authenticated)

    async def srv(self, name: str) -> SrvAnswer:
        raw = await self._query(name, dns.rdatatype.SRV)
        if raw.rrset is None:
            return SrvAnswer((), raw.authenticated, raw.error)
        records = [SrvRecord(rd.priority, rd.weight, rd.port, _host(rd.target)) for rd in raw.rrset]
        records.sort(key=lambda r: (r.priority, -r.weight, r.target, r.port))
        return SrvAnswer(tuple(records), raw.authenticated)

    async def address(self, host: str) -> AddressAnswer:
        v4, v6 = await asyncio.gather(self._query(host, dns.rdatatype.A), self._query(host, dns.rdatatype.AAAA))
        addresses = tuple(rdata.address for raw in (v4, v6) if raw.rrset is not None for rdata in raw.rrset)
        if addresses:
            return AddressAnswer(addresses)
        return AddressAnswer((), v4.error or v6.error)

    async def _query(self, name: str, rdtype: dns.rdatatype.RdataType) -> _Raw:
        if self._resolver is None:
            return _Raw(None, False, self._setup_error)
        try:
            qname = dns.name.from_text(name)
            async with asyncio.timeout(self.config.timeout):
                answer = await self._resolver.resolve(
                    qname, rdtype, raise_on_no_answer=False, lifetime=self.config.timeout
                )
        except dns.resolver.NXDOMAIN:
            return _Raw(None, False)
        except (TimeoutError, dns.exception.Timeout):
            return _Raw(None, False, f"timeout after {self.config.timeout:g} s")
        except dns.resolver.NoNameservers as exc:
            return _Raw(None, False, f"no resolver could answer ({_rcodes(exc)})")
        except dns.exception.DNSException as exc:
            return _Raw(None, False, _describe(exc))
        except OSError as exc:
            return _Raw(None, False, f"network error ({exc.strerror or type(exc).__name__})")
        authenticated = bool(answer.response.flags & dns.flags.AD)
        return _Raw(answer.rrset, authenticated)


def ascii_domain(name: str) -> str | None:
    """A mail domain or host in lower-case A-label form without the final dot (IDNA via dnspython), or None
    when the text is not a host name of letters, digits and hyphens (RFC 5321 §4.1.2, RFC 5890 §2.3.2.1)."""
    try:
        text = dns.name.from_text(name.strip()).to_text(omit_final_dot=True).lower()
    except (dns.exception.DNSException, UnicodeError):
        return None
    return text if _LDH_NAME.fullmatch(text) else None


def _build(config: DiscoveryConfig) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=not config.resolvers)
    if config.resolvers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(ns.address, ns.port) for ns in config.nameservers()]
    resolver.lifetime = config.timeout
    resolver.timeout = min(_PER_SERVER_TIMEOUT, config.timeout)
    resolver.cache = None
    resolver.use_edns(0, dns.flags.DO, _EDNS_PAYLOAD)
    resolver.set_flags(dns.flags.RD | dns.flags.AD)
    return resolver


def _host(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower() if name != dns.name.root else ""


def _rcodes(exc: dns.resolver.NoNameservers) -> str:
    """The distinct failures the resolvers reported, e.g. "SERVFAIL", without addresses or names."""
    errors: list[Any] = exc.kwargs.get("errors", [])
    texts = sorted({err[3] if isinstance(err[3], str) else type(err[3]).__name__ for err in errors})
    return ", ".join(texts) or "no reply"


def _describe(exc: dns.exception.DNSException) -> str:
    if isinstance(exc, dns.name.NameTooLong | dns.name.LabelTooLong | dns.name.EmptyLabel | dns.name.IDNAException):
        return "not a valid domain name"
    if isinstance(exc, dns.resolver.YXDOMAIN):
        return "the name is too long after DNAME substitution"
    return f"DNS error ({type(exc).__name__})"
