"""Suggesting an account's server settings from what its mail domain publishes.

Sources, asked in this order; the first that yields a usable server wins, and the result says which it was:
1. Thunderbird autoconfig at `https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=<address>`;
2. the same document at `https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml`;
3. RFC 6186 SRV records: `_imaps._tcp` and `_submissions._tcp` (implicit TLS, RFC 8314 §5.1), then `_imap._tcp`
   and `_submission._tcp` (STARTTLS).

Rules this module keeps:
- HTTPS only, through `https_get`: certificates verified against the host name, TLS 1.2+, no redirect followed
  (to another host or any other), the body capped at MAX_CONFIG_BYTES. Plain http:// is never tried, although
  Thunderbird does: a configuration an on-path attacker can rewrite would point the password at their server.
- Only implicit TLS ("SSL") and STARTTLS servers are suggested (DESIGN.md §4). A document offering only "plain"
  servers, or only POP3, is ignored and the reason is kept in `notes`.
- An SRV target of "." means the service is not offered (RFC 6186 §3.4, RFC 2782); such a label is skipped.
- Nothing here decides: the result is a suggestion shown with its source, which the user confirms or edits; the
  connection later verifies the server's certificate against the host name like any other.
- Failures are data (`notes`), never exceptions, apart from an address that is not one (DiscoveryError).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from enum import StrEnum
from urllib.parse import quote

from app.core.models import Endpoint, Security
from app.discovery.autoconfig_xml import MAX_CONFIG_BYTES, ConfigInvalid, OfferedServer, parse_client_config
from app.discovery.http import DiscoveryError, HttpFetchError, https_get
from app.discovery.resolver import DnsResolver, SrvAnswer, ascii_domain

CONFIG_PATH = "/mail/config-v1.1.xml"
WELL_KNOWN_PATH = "/.well-known/autoconfig/mail/config-v1.1.xml"
_SOCKET_TYPES = {"ssl": Security.TLS, "tls": Security.TLS, "starttls": Security.STARTTLS}


class SettingsSource(StrEnum):
    AUTOCONFIG = "autoconfig"  # autoconfig.<domain>
    WELL_KNOWN = "well-known"  # <domain>/.well-known/autoconfig
    SRV = "srv"  # RFC 6186 DNS records


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """A suggestion: where to read and send mail, the user name to log in with, and where it came from."""

    imap: Endpoint | None
    smtp: Endpoint | None
    username: str
    source: SettingsSource
    origin: str  # the URL asked (without the address) or the DNS names answered


@dataclass(frozen=True, slots=True)
class Discovery:
    address: str
    suggestion: ServerSettings | None
    notes: tuple[str, ...]  # why each source asked before the one used (or all of them) gave nothing


async def discover_servers(address: str, resolver: DnsResolver) -> Discovery:
    local, domain = _split(address)
    notes: list[str] = []
    for source, host, path in (
        (SettingsSource.AUTOCONFIG, f"autoconfig.{domain}", f"{CONFIG_PATH}?emailaddress={quote(address, safe='')}"),
        (SettingsSource.WELL_KNOWN, domain, WELL_KNOWN_PATH),
    ):
        origin = f"https://{host}{path.partition('?')[0]}"
        found = await _from_config(source, host, path, origin, resolver, (local, domain), notes)
        if found is not None:
            return Discovery(address, found, tuple(notes))
    return Discovery(address, await _from_srv(domain, address, resolver, notes), tuple(notes))


def _split(address: str) -> tuple[str, str]:
    local, at, domain_text = address.strip().rpartition("@")
    domain = ascii_domain(domain_text) if at and local else None
    if domain is None or "." not in domain:
        raise DiscoveryError(f"{address.strip()[:80]!r} is not an email address whose domain can be looked up")
    return local, domain


# --- autoconfig ---------------------------------------------------------------------------------------------


async def _from_config(
    source: SettingsSource,
    host: str,
    path: str,
    origin: str,
    resolver: DnsResolver,
    parts: tuple[str, str],
    notes: list[str],
) -> ServerSettings | None:
    try:
        response = await https_get(host, path, resolver, max_bytes=MAX_CONFIG_BYTES)
        if response.status != 200:
            notes.append(f"{origin}: no configuration (HTTP {response.status})")
            return None
        offered = parse_client_config(response.body)
    except (HttpFetchError, ConfigInvalid) as exc:
        notes.append(f"{origin}: {exc}")
        return None
    return _choose(offered, source, origin, parts, notes)


def _choose(
    offered: tuple[OfferedServer, ...],
    source: SettingsSource,
    origin: str,
    parts: tuple[str, str],
    notes: list[str],
) -> ServerSettings | None:
    filled = tuple(replace(s, hostname=_fill(s.hostname, *parts)) for s in offered)
    imap = _first(filled, "incoming", "imap")
    smtp = _first(filled, "outgoing", "smtp")
    if imap is None and smtp is None:
        notes.append(f"{origin}: ignored, it offers no IMAP or SMTP server with TLS or STARTTLS")
        return None
    for kind, found in (("IMAP", imap), ("SMTP", smtp)):
        if found is None:
            notes.append(f"{origin}: offers no {kind} server with TLS or STARTTLS")
    chosen = imap or smtp
    assert chosen is not None
    username = _fill(chosen.username, *parts) or f"{parts[0]}@{parts[1]}"
    return ServerSettings(_endpoint(imap), _endpoint(smtp), username, source, origin)


def _first(offered: tuple[OfferedServer, ...], direction: str, kind: str) -> OfferedServer | None:
    return next((s for s in offered if s.direction == direction and s.type == kind and _usable(s)), None)


def _usable(server: OfferedServer) -> bool:
    return server.socket_type.lower() in _SOCKET_TYPES and server.port > 0 and ascii_domain(server.hostname) is not None


def _endpoint(server: OfferedServer | None) -> Endpoint | None:
    if server is None:
        return None
    host = ascii_domain(server.hostname)
    assert host is not None  # _usable checked it
    return Endpoint(host, server.port, _SOCKET_TYPES[server.socket_type.lower()])


def _fill(template: str, local: str, domain: str) -> str:
    # The placeholders of the autoconfig format (in user names, and in host names of shared configurations);
    # anything else is taken literally.
    text = template.replace("%EMAILADDRESS%", f"{local}@{domain}").replace("%EMAILLOCALPART%", local)
    return text.replace("%EMAILDOMAIN%", domain)


# --- RFC 6186 SRV -------------------------------------------------------------------------------------------

_IMAP_LABELS = (("_imaps._tcp", Security.TLS), ("_imap._tcp", Security.STARTTLS))
_SUBMISSION_LABELS = (("_submissions._tcp", Security.TLS), ("_submission._tcp", Security.STARTTLS))


async def _from_srv(domain: str, address: str, resolver: DnsResolver, notes: list[str]) -> ServerSettings | None:
    labels = (*_IMAP_LABELS, *_SUBMISSION_LABELS)
    answers = await asyncio.gather(*(resolver.srv(f"{label}.{domain}") for label, _ in labels))
    found = dict(zip((label for label, _ in labels), answers, strict=True))
    imap = _srv_endpoint(_IMAP_LABELS, found, domain, notes)
    smtp = _srv_endpoint(_SUBMISSION_LABELS, found, domain, notes)
    if imap is None and smtp is None:
        notes.append(f"DNS SRV records of {domain}: no IMAP or submission service published")
        return None
    names = ", ".join(f"{label}.{domain}" for label, answer in found.items() if answer.records)
    # RFC 6186 §5: the client uses the full address as the user name unless told otherwise.
    return ServerSettings(imap, smtp, address, SettingsSource.SRV, f"DNS SRV records ({names})")


def _srv_endpoint(
    labels: tuple[tuple[str, Security], ...], found: dict[str, SrvAnswer], domain: str, notes: list[str]
) -> Endpoint | None:
    for label, security in labels:
        answer = found[label]
        if answer.error is not None:
            notes.append(f"{label}.{domain}: {answer.error}")
        usable = [r for r in answer.records if r.target and r.port and ascii_domain(r.target) is not None]
        if answer.records and not usable:
            notes.append(f'{label}.{domain}: the service is not offered (target ".")')
        if usable:
            return Endpoint(usable[0].target, usable[0].port, security)
    return None
