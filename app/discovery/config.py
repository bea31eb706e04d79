"""Where recipient discovery asks its questions: the resolvers, the extra trust anchors, the time budget.

Rules this module keeps:
- A configuration is checked when it is built: a malformed resolver address or a non-positive timeout raises
  ValueError at start-up (DESIGN §10: an invalid policy is an error, never a silent default).
- An empty `resolvers` tuple means the operating system's resolver. A validating resolver that IT names here is
  the only source of the DNSSEC AD flag that DANE evidence trusts (RFC 7672 §1.3, RFC 6698 §4.1).
- `ca_pem` adds trust anchors for HTTPS lookups; it never replaces the system store or turns checks off.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

DNS_PORT = 53
HTTPS_PORT = 443


@dataclass(frozen=True, slots=True)
class Nameserver:
    """One resolver to ask: an IP address and a port."""

    address: str
    port: int = DNS_PORT


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    """Settings for every discovery lookup.

    `resolvers`: "IP" or "IP:PORT" ("[IPv6]:PORT" for IPv6 with a port); empty means the system resolver.
    `ca_pem`: extra trust anchors (PEM text) for HTTPS lookups, added to the system store.
    `timeout`: seconds one whole lookup may take (an MTA-STS discovery, a DANE check, one DNS question).
    `https_port`: the port HTTPS lookups connect to. Always 443 in production; tests and unusual deployments
    (a policy host behind a port-forward) change it, because the test servers cannot listen on 443.
    """

    resolvers: tuple[str, ...] = ()
    ca_pem: str = ""
    timeout: float = 5.0
    https_port: int = HTTPS_PORT

    def __post_init__(self) -> None:
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise ValueError("the discovery timeout must be a positive number of seconds")
        _check_port(self.https_port, "https_port")
        object.__setattr__(self, "resolvers", tuple(self.resolvers))
        self.nameservers()

    def nameservers(self) -> tuple[Nameserver, ...]:
        """The configured resolvers, parsed; raises ValueError on a malformed entry."""
        return tuple(parse_nameserver(entry) for entry in self.resolvers)


def parse_nameserver(entry: str) -> Nameserver:
    """Parse "IP", "IP:PORT", "IPv6" or "[IPv6]:PORT"; host names are refused, since resolving the
    resolver's own name would need a resolver we have not chosen."""
    text = entry.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"resolver {entry!r}: expected [IPv6]:PORT")
        return Nameserver(_check_ip(host, entry), _parse_port(port_text, entry))
    if text.count(":") == 1:
        host, _, port_text = text.partition(":")
        return Nameserver(_check_ip(host, entry), _parse_port(port_text, entry))
    return Nameserver(_check_ip(text, entry))


def _check_ip(host: str, entry: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError as exc:
        raise ValueError(f"resolver {entry!r}: not an IP address") from exc


def _parse_port(text: str, entry: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"resolver {entry!r}: the port is not a number")
    port = int(text)
    _check_port(port, f"resolver {entry!r}")
    return port


def _check_port(port: int, what: str) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"{what}: port {port} is outside 1-65535")
