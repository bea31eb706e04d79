"""The one client TLS context for every mail connection (DESIGN.md §4).

TLS 1.2 or newer, chain and host name always verified against the system store, plus the account's own CA when
it has one: a private CA is added to what is trusted, it never switches verification off.
"""

from __future__ import annotations

import ssl

from app.core.errors import TransportSecurityRefused


def never_resolves(host: str) -> bool:
    """RFC 6761 §6.4: names under .invalid never resolve (the demo profile uses them), so no lookup is tried:
    without network a resolver can take its full timeout to say so."""
    return host.rstrip(".").lower().endswith(".invalid") or host.lower() == "invalid"


def tls_context(ca_pem: str = "") -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if ca_pem:
        try:
            context.load_verify_locations(cadata=ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise TransportSecurityRefused(f"The account's CA certificate cannot be used: {exc}") from exc
    return context
