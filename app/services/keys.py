"""The profile's OpenPGP keys and S/MIME certificates: importing, listing, and harvesting from mail.

Rules:
- OpenPGP keys live in the profile's own GnuPG home (never the user's ~/.gnupg); how each key arrived (import,
  WKD, Autocrypt) and whether its owner verified it is kept in the vault, because GnuPG does not remember.
- S/MIME certificates live in the vault, indexed by the addresses they name. Intermediates are stored too (with
  no address) so chains can be built later.
- Every import is an audit entry naming fingerprints only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import CryptoError
from app.core.settings import Settings
from app.crypto import smime_ops
from app.crypto.certificates import TrustStore, end_entities_in, judge
from app.crypto.openpgp import KeyInfo, OpenPgpStore
from app.policy import EvidenceSource, normalize_address
from app.services.policy import read_policy_file
from app.services.profile import Session
from app.store import evidence

GNUPG_DIR = "gnupg"


@dataclass(frozen=True, slots=True)
class ImportedKey:
    kind: str  # "pgp" or "smime"
    fingerprint: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyListing:
    kind: str
    fingerprint: str
    addresses: tuple[str, ...]
    source: str
    expires: datetime | None
    state: str  # "usable", "expired", "revoked", "invalid" (a reason in words follows in `problems`)


def openpgp_store(session: Session) -> OpenPgpStore:
    return OpenPgpStore(session.profile_dir / GNUPG_DIR)


def import_keys(session: Session, data: bytes, *, verified: bool, origin: str) -> list[ImportedKey]:
    if _looks_like_openpgp(data):
        imported = _import_openpgp(session, data, verified=verified)
    else:
        imported = _import_certificates(session, data)
    session.audit.record(
        AuditEvent.KEY_IMPORTED,
        utc_now(),
        target=origin,
        detail={"keys": [f"{k.kind}:{k.fingerprint}" for k in imported], "verified": verified},
    )
    return imported


def _looks_like_openpgp(data: bytes) -> bool:
    # ASCII armour, or a binary OpenPGP packet (RFC 9580 §4.2: the first octet always has its top bit set),
    # whereas DER certificates start with 0x30 and PEM with "-----BEGIN CERTIFICATE" or "-----BEGIN PKCS7".
    return b"-----BEGIN PGP" in data[:4096] or (bool(data) and data[0] & 0x80 == 0x80)


def _import_openpgp(session: Session, data: bytes, *, verified: bool) -> list[ImportedKey]:
    store = openpgp_store(session)
    fingerprints = set(store.import_keys(data))
    now = utc_now()
    imported = []
    for key in store.keys():
        if key.fingerprint in fingerprints:
            addresses = tuple(normalize_address(e) for e in key.emails)
            evidence.record_key_source(
                session.vault, key.fingerprint, addresses, EvidenceSource.IMPORT.value, now, verified=verified
            )
            imported.append(ImportedKey("pgp", key.fingerprint, addresses))
    return imported


def _import_certificates(session: Session, data: bytes) -> list[ImportedKey]:
    leaves, everything = end_entities_in(data)
    if not leaves:
        raise CryptoError("The file holds no end-entity certificate to import.")
    stored = [store_certificate_chain(session, leaf, everything, EvidenceSource.IMPORT, utc_now()) for leaf in leaves]
    return [s for s in stored if s is not None]


def store_certificate_chain(
    session: Session,
    leaf: bytes,
    everything: tuple[bytes, ...],
    source: EvidenceSource,
    now: datetime,
    *,
    naming: str | None = None,
) -> ImportedKey | None:
    """Stores a certificate under the addresses it names, and the rest of its bundle as possible intermediates.
    With `naming`, only a certificate that names that address is stored (None otherwise)."""
    verdict = judge(leaf, others=everything, trust=TrustStore(), now=now, address=None)
    addresses = tuple(normalize_address(e.address) for e in verdict.emails)
    if naming is not None and normalize_address(naming) not in addresses:
        return None
    evidence.store_certificate(session.vault, verdict.fingerprint, leaf, addresses, source.value, now)
    for other in everything:
        if other != leaf:
            other_verdict = judge(other, others=(), trust=TrustStore(), now=now, address=None)
            evidence.store_certificate(session.vault, other_verdict.fingerprint, other, (), source.value, now)
    return ImportedKey("smime", verdict.fingerprint, addresses)


def smime_trust(settings: Settings) -> TrustStore:
    """The OS trust store plus the CA the policy names for S/MIME (e.g. a health network's own CA)."""
    return TrustStore(read_policy_file(settings["smime_ca_file"], "CA file"))


def import_identity(session: Session, data: bytes, password: bytes | None, *, origin: str) -> ImportedKey:
    """The user's own S/MIME certificate and private key, from a PKCS#12 file, into the vault."""
    identity = smime_ops.load_pkcs12(data, password)
    now = utc_now()
    verdict = judge(identity.certificate, others=identity.chain, trust=TrustStore(), now=now, address=None)
    if not verdict.emails:
        raise CryptoError("The certificate in this file names no email address, so it cannot sign or receive mail.")
    address = normalize_address(verdict.emails[0].address)
    evidence.save_identity(
        session.vault,
        evidence.OwnIdentity(
            verdict.fingerprint, address, identity.certificate, identity.chain, identity.private_key_pem
        ),
        now,
    )
    # The own certificate is also a recipient certificate: mail to oneself and Sent copies use it.
    store_certificate_chain(
        session, identity.certificate, (identity.certificate, *identity.chain), EvidenceSource.IMPORT, now
    )
    session.audit.record(
        AuditEvent.KEY_IMPORTED, now, target=origin, detail={"keys": [f"smime-identity:{verdict.fingerprint}"]}
    )
    return ImportedKey("smime-identity", verdict.fingerprint, (address,))


def list_keys(session: Session, settings: Settings) -> list[KeyListing]:
    now = utc_now()
    listing = [_pgp_listing(session, key) for key in openpgp_store(session).keys()]
    stored = evidence.all_certificates(session.vault)
    pool = tuple(c.der for c, _ in stored)
    trust = smime_trust(settings)
    for certificate, addresses in stored:
        if addresses:
            verdict = judge(certificate.der, others=pool, trust=trust, now=now, address=addresses[0])
            listing.append(
                KeyListing("smime", certificate.fingerprint, tuple(addresses), certificate.source, verdict.not_after,
                           _cert_state(verdict.expired, verdict.chain_valid))
            )  # fmt: skip
    return listing


def _pgp_listing(session: Session, key: KeyInfo) -> KeyListing:
    sources = {
        s.source
        for address in key.emails
        for fp, s in evidence.key_sources(session.vault, normalize_address(address)).items()
        if fp == key.fingerprint
    }
    state = "revoked" if key.revoked else "expired" if key.expired else "usable" if key.can_encrypt else "invalid"
    source = ",".join(sorted(sources)) or EvidenceSource.LOCAL_KEYRING.value
    return KeyListing("pgp", key.fingerprint, key.emails, source, key.expires, state)


def _cert_state(expired: bool, chain_valid: bool) -> str:
    return "expired" if expired else "usable" if chain_valid else "invalid"
