"""Finding the signature of a top-level S/MIME signed message (RFC 8551 §3.5.3), without verifying it.

Sync uses this to harvest the signer's certificate (DESIGN.md §5, evidence "from signed mail"); verification is
the reader's job and never uses anything found here to show a message as signed.
"""

from __future__ import annotations

from app.mime.headers import header_str
from app.mime.structure import DEFAULT_LIMITS, walk
from app.mime.transfer import decode_transfer, normalise_cte

_SMIME_SIGNATURES = frozenset({"application/pkcs7-signature", "application/x-pkcs7-signature"})


def smime_signature(raw: bytes) -> bytes | None:
    """The DER bytes of the detached signature of a multipart/signed S/MIME message, or None."""
    problems: list[str] = []
    entities = walk(raw, DEFAULT_LIMITS, problems)
    top = next(entities, None)
    if top is None or top.media != "multipart/signed":
        return None
    for entity in entities:
        if entity.path == "2" and entity.media in _SMIME_SIGNATURES:
            values = entity.fields.get("content-transfer-encoding")
            cte = normalise_cte(header_str(values[0], "signature", problems) if values else None)
            data = decode_transfer(raw[entity.body_start : entity.body_end], cte, "signature", problems)
            return data or None
    return None
