"""Learning senders' keys from the mail that sync brings in (DESIGN.md §5, evidence).

- Autocrypt (Level 1 §2.3): the peer state is updated by the pure rules of `app.mime.autocrypt`; a newer key is
  imported into the profile's GnuPG home and recorded with source `autocrypt`, which the decision engine ranks
  below keys that were imported, verified or found by WKD, and uses only where policy allows.
- S/MIME: the certificates in a signed message's signature are stored when the end-entity certificate names the
  sender. Nothing here marks a message as signed; only verification will.
- A broken header or certificate costs that piece of evidence, never the sync.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from app.core.clock import utc_now
from app.core.errors import CryptoError
from app.core.models import FolderId
from app.core.settings import Settings
from app.crypto.certificates import signature_certificates
from app.mime.autocrypt import PeerState, effective_date, parse_autocrypt, update_peer
from app.policy import EvidenceSource, normalize_address
from app.services.engine import Engine
from app.services.keys import openpgp_store, store_certificate_chain
from app.services.opening import Encryption, open_message
from app.services.profile import Session
from app.services.sync import AfterStore, ParsedBatch, SenderEvidence
from app.store import evidence
from app.store import mail as store
from app.store.evidence import AutocryptPeer


def after_store(session: Session, settings: Settings, engine: Engine) -> AfterStore:
    """What sync does with each stored batch beyond storing it: learn senders' keys, and index what encrypted
    messages say (inside the vault only), so search finds it."""

    async def hook(folder_id: FolderId, batch: ParsedBatch) -> None:
        now = utc_now()
        for item in batch.evidence:
            if item.autocrypt is not None:
                await _autocrypt(session, engine, item, now)
            if item.smime_signature is not None:
                await engine.db(_certificates, session, item, now)
        for uid in batch.encrypted:
            await _index_decrypted(session, settings, engine, folder_id, uid)

    return hook


async def _index_decrypted(session: Session, settings: Settings, engine: Engine, folder_id: FolderId, uid: int) -> None:
    raw = await engine.db(store.raw_by_uid, session.vault, folder_id, uid)
    if raw is None:
        return
    opened = await engine.crypto(open_message, session, settings, raw)
    if opened.encryption is Encryption.FAILED:
        return
    message = opened.message
    await engine.db(
        store.reindex, session.vault, folder_id, uid, subject=message.subject, body=message.text,
        attachments=" ".join(a.filename for a in message.attachments),
    )  # fmt: skip


async def _autocrypt(session: Session, engine: Engine, item: SenderEvidence, now: datetime) -> None:
    header = parse_autocrypt(item.autocrypt or "", item.sender)
    if header is None:
        return
    address = normalize_address(header.addr)
    stored = await engine.db(evidence.autocrypt_peer, session.vault, address)
    before = _peer_state(stored) if stored else None
    after = update_peer(before, header, effective_date(item.date, now), item.sender)
    if after.public_key is None or after.autocrypt_timestamp is None:
        return
    if before is None or after.public_key != before.public_key:
        try:
            fingerprints = await engine.crypto(openpgp_store(session).import_keys, after.public_key)
        except CryptoError:
            return  # keydata GnuPG will not take: no evidence from this header
        for fingerprint in fingerprints:
            await engine.db(
                evidence.record_key_source, session.vault, fingerprint, (address,), EvidenceSource.AUTOCRYPT.value,
                after.autocrypt_timestamp, verified=False,
            )  # fmt: skip
    peer = AutocryptPeer(address, after.last_seen, after.autocrypt_timestamp, after.public_key, after.prefer_mutual)
    await engine.db(evidence.save_autocrypt_peer, session.vault, peer)


def _peer_state(peer: AutocryptPeer) -> PeerState:
    return PeerState(peer.address, peer.last_seen, peer.autocrypt_timestamp, peer.keydata, peer.prefer_mutual)


def _certificates(session: Session, item: SenderEvidence, now: datetime) -> None:
    try:
        leaves, everything = signature_certificates(item.smime_signature or b"")
    except CryptoError:
        return
    for leaf in leaves:
        # A signature may carry anyone's certificate; only one naming the sender says something about the sender.
        with contextlib.suppress(CryptoError):
            store_certificate_chain(session, leaf, everything, EvidenceSource.SIGNED_MAIL, now, naming=item.sender)
