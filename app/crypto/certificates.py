"""S/MIME certificates as the services see them: DER bytes in, verdicts out.

The services layer may not import `cryptography` (DESIGN.md §2, rule 4), so this facade keeps x509 objects
inside app.crypto. Trust anchors are the OS store plus the policy's extra CA, loaded once per `TrustStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from cryptography import x509

from app.crypto.smime_bundles import load_certificates, roots_from_pem, signer_certificates, system_roots, to_der
from app.crypto.smime_certs import CertVerdict, end_entity_certificates, evaluate


@dataclass
class TrustStore:
    extra_ca_pem: str = ""
    _roots: tuple[x509.Certificate, ...] | None = field(default=None, init=False, repr=False)

    def roots(self) -> tuple[x509.Certificate, ...]:
        if self._roots is None:
            extra = roots_from_pem(self.extra_ca_pem) if self.extra_ca_pem else ()
            self._roots = (*_os_roots(), *extra)
        return self._roots


@cache
def _os_roots() -> tuple[x509.Certificate, ...]:
    # Reading and parsing the OS bundle costs about 15 ms; it does not change while Salus runs.
    return system_roots()


def end_entities_in(data: bytes) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """(end-entity certificates, every certificate) in a PEM/DER/PKCS#7 file, as DER; raises CryptoError."""
    certificates = load_certificates(data)
    return tuple(to_der(c) for c in end_entity_certificates(certificates)), tuple(to_der(c) for c in certificates)


def signature_certificates(signature: bytes) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """(end-entity certificates, every certificate) carried by a detached S/MIME signature, as DER;
    raises CryptoError."""
    certificates = signer_certificates(signature)
    return tuple(to_der(c) for c in end_entity_certificates(certificates)), tuple(to_der(c) for c in certificates)


def judge(der: bytes, *, others: Sequence[bytes], trust: TrustStore, now: datetime, address: str | None) -> CertVerdict:
    (certificate,) = load_certificates(der)
    intermediates = [c for blob in others if blob != der for c in load_certificates(blob)]
    return evaluate(certificate, intermediates=intermediates, roots=trust.roots(), now=now, address=address)


__all__ = ["CertVerdict", "TrustStore", "end_entities_in", "judge", "signature_certificates"]
