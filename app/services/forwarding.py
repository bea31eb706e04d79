"""The attachments of a message being forwarded, as bytes in memory (issue 5: "forward keeps attachments").

Rules:
- Nothing is written to a file: the bytes go from the vault (or from decryption) into the composer's memory and
  from there into the vault's outbox or drafts.
- An encrypted message is decrypted again for its attachments, with the same size cap as reading it; the parts
  are numbered within the decrypted content, which is parsed here so numbering and content always agree.
- An attachment that cannot be decrypted or found is an error naming it, never silently left out: a forward that
  quietly lost the results PDF would be worse than no forward.
"""

from __future__ import annotations

from app.core.errors import CryptoError, UsageError
from app.core.settings import Settings
from app.crypto import smime_ops
from app.crypto.limits import MIB
from app.crypto.openpgp_ops import OpenPgpOps
from app.mime.compose import OutgoingAttachment
from app.mime.headers import header_str
from app.mime.parse import parse_message
from app.mime.protected import Protocol, encrypted_payload
from app.mime.structure import DEFAULT_LIMITS, walk
from app.mime.transfer import decode_transfer, normalise_cte
from app.services.keys import GNUPG_DIR
from app.services.profile import Session
from app.store import evidence


def forwarded_attachments(session: Session, settings: Settings, raw: bytes) -> tuple[OutgoingAttachment, ...]:
    content = _content(session, settings, raw)
    found = []
    for attachment in parse_message(content).attachments:
        data, media = _part(content, attachment.part)
        found.append(OutgoingAttachment(attachment.filename or "attachment", media, data))
    return tuple(found)


def _content(session: Session, settings: Settings, raw: bytes) -> bytes:
    payload = encrypted_payload(raw)
    if payload is None:
        return raw
    limit = settings["max_decrypted_mib"] * MIB
    if payload.kind is Protocol.PGP:
        with OpenPgpOps(session.profile_dir / GNUPG_DIR, session.openpgp_passphrase) as ops:
            return ops.decrypt(payload.data, max_plaintext=limit).plaintext
    for identity in evidence.identities(session.vault):
        try:
            return smime_ops.decrypt(payload.data, identity.certificate, identity.private_key, max_plaintext=limit)
        except CryptoError:
            continue
    raise CryptoError("Cannot forward the attachments: the message cannot be decrypted with this profile's keys.")


def _part(content: bytes, part: str) -> tuple[bytes, str]:
    problems: list[str] = []
    for entity in walk(content, DEFAULT_LIMITS, problems):
        if entity.number == part and not entity.media.startswith("multipart/"):
            values = entity.fields.get("content-transfer-encoding")
            cte = normalise_cte(header_str(values[0], f"part {part}", problems) if values else None)
            return decode_transfer(content[entity.body_start : entity.body_end], cte, f"part {part}", problems), (
                entity.media
            )
    raise UsageError(f"Cannot forward the attachment in part {part}: it is no longer in the message.")
