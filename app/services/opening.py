"""Opening a message for reading: decrypt, verify, and show only what verification established (DESIGN.md §5).

Rules:
- Signature and encryption state come only from the crypto layer's results, never from what the message says
  about itself; a message that merely looks signed is shown as not verified.
- EFAIL: a message that mixes encrypted and unencrypted parts is never shown as one encrypted message. Only a
  message that is exactly one encrypted entity at the top is decrypted; otherwise (ciphertext beside other parts,
  or nested anywhere below the top) the outer message is shown with a problem saying why it was not opened.
- A signature that holds but whose signer is not the From address names the signer's addresses in a problem;
  one by a key bound to the From address only by an Autocrypt header is not shown as the sender's.
- Decryption that fails its integrity check yields no plaintext at all (enforced in app.crypto).
- The protected (inner) headers replace the outer ones only when the payload carries RFC 9788 `hp`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from app.core.clock import utc_now
from app.core.errors import CryptoError
from app.core.settings import Settings
from app.crypto import smime_ops
from app.crypto.limits import MIB
from app.crypto.openpgp_ops import BadSignature, OpenPgpOps, Verification
from app.mime.parse import ParsedMessage, parse_message
from app.mime.protected import (
    Protocol,
    apply_header_protection,
    encrypted_payload,
    holds_nested_ciphertext,
    is_single_protected_entity,
    signed_payload,
)
from app.policy import EvidenceSource, normalize_address
from app.services.keys import GNUPG_DIR, smime_trust
from app.services.profile import Session
from app.store import evidence


class Encryption(StrEnum):
    NONE = "none"
    PGP = "pgp"
    SMIME = "smime"
    FAILED = "failed"  # encrypted, but could not be opened (reason in problems)


class SignatureState(StrEnum):
    NONE = "none"  # not signed
    VALID = "valid"  # good signature by a key or certificate that names the sender
    UNTRUSTED = "untrusted"  # mathematically good, but the signer is not established as the sender
    INVALID = "invalid"  # the signature does not verify
    UNKNOWN_KEY = "unknown_key"  # signed with a key this profile does not have


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    message: ParsedMessage
    encryption: Encryption
    signature: SignatureState
    signer: str = ""  # fingerprint of the signing key or certificate, when verification got that far
    headers_protected: bool = False
    problems: tuple[str, ...] = field(default=())


def open_message(session: Session, settings: Settings, raw: bytes) -> OpenedMessage:
    outer = parse_message(raw)
    payload = encrypted_payload(raw)
    if payload is not None:
        if not is_single_protected_entity(raw):
            return OpenedMessage(outer, Encryption.FAILED, SignatureState.NONE, problems=(_EFAIL,))
        if payload.kind is Protocol.PGP:
            return _open_pgp(session, settings, outer, payload.data)
        return _open_smime(session, settings, outer, payload.data)
    signed = signed_payload(raw)
    if signed is not None:
        # The signer is checked against the From the window will show: with RFC 9788 header protection that is
        # the signed payload's own From, which a signer could otherwise set to anyone ("Johnny, you are fired!",
        # ID attacks, with the outer From left as the signer's own address).
        shown = apply_header_protection(outer, signed.signed, encrypted=False)
        state, signer, problems = _verify(
            session, settings, signed.kind, signed.signed, signed.signature, shown.message
        )
        return OpenedMessage(shown.message, Encryption.NONE, state, signer, shown.headers_protected, problems)
    if holds_nested_ciphertext(raw):
        return OpenedMessage(outer, Encryption.FAILED, SignatureState.NONE, problems=(_EFAIL,))
    return OpenedMessage(outer, Encryption.NONE, SignatureState.NONE)


_EFAIL = "This message mixes encrypted and unencrypted parts, so its encrypted part is not opened (EFAIL protection)."
# EFAIL (Poddebniak et al. 2018): S/MIME EnvelopedData (CBC) has no integrity check, so whoever holds such a
# ciphertext can rewrite parts of its plaintext. Only a valid signature inside proves the text is the sender's.
_CBC_UNPROTECTED = (
    "This S/MIME encryption (CBC, without authentication) does not detect changes, and the message is not validly "
    "signed: its text could have been altered on the way."
)
_NO_SMIME_KEY = "This message is encrypted with S/MIME, and this profile holds no S/MIME key to open it."


def _open_pgp(session: Session, settings: Settings, outer: ParsedMessage, ciphertext: bytes) -> OpenedMessage:
    try:
        with OpenPgpOps(session.profile_dir / GNUPG_DIR, session.openpgp_passphrase) as ops:
            decrypted = ops.decrypt(ciphertext, max_plaintext=settings["max_decrypted_mib"] * MIB)
    except CryptoError as exc:
        return OpenedMessage(outer, Encryption.FAILED, SignatureState.NONE, problems=(f"Cannot decrypt: {exc}",))
    shown = apply_header_protection(outer, decrypted.plaintext, encrypted=True)
    state, signer = _pgp_state(decrypted.signature, shown.message)
    state, problems = _binding(session, state, signer, decrypted.signature, shown.message)
    inner_signed = signed_payload(decrypted.plaintext)
    if decrypted.signature is None and inner_signed is not None:
        state, signer, problems = _verify(
            session, settings, inner_signed.kind, inner_signed.signed, inner_signed.signature, shown.message
        )
    return OpenedMessage(shown.message, Encryption.PGP, state, signer, shown.headers_protected, problems)


def _open_smime(session: Session, settings: Settings, outer: ParsedMessage, der: bytes) -> OpenedMessage:
    identities = evidence.identities(session.vault)
    if not identities:
        return OpenedMessage(outer, Encryption.FAILED, SignatureState.NONE, problems=(_NO_SMIME_KEY,))
    plaintext, errors = None, []
    for identity in identities:
        try:
            plaintext = smime_ops.decrypt(
                der, identity.certificate, identity.private_key, max_plaintext=settings["max_decrypted_mib"] * MIB
            )
            break
        except CryptoError as exc:
            errors.append(str(exc))
    if plaintext is None:
        return OpenedMessage(outer, Encryption.FAILED, SignatureState.NONE, problems=(f"Cannot decrypt: {errors[-1]}",))
    shown = apply_header_protection(outer, plaintext, encrypted=True)
    inner_signed = signed_payload(plaintext)
    problems: tuple[str, ...] = ()
    state, signer = SignatureState.NONE, ""
    if inner_signed is not None:
        state, signer, problems = _verify(
            session, settings, inner_signed.kind, inner_signed.signed, inner_signed.signature, shown.message
        )
    if state is not SignatureState.VALID and not smime_ops.is_integrity_protected(der):
        problems = (*problems, _CBC_UNPROTECTED)
    return OpenedMessage(shown.message, Encryption.SMIME, state, signer, shown.headers_protected, problems)


def _pgp_state(verification: Verification | None, message: ParsedMessage) -> tuple[SignatureState, str]:
    if verification is None:
        return SignatureState.NONE, ""
    sender = message.sender[0].addr if len(message.sender) == 1 else ""
    if verification.signed_by(sender):
        return SignatureState.VALID, verification.fingerprint or ""
    if verification.valid:
        return SignatureState.UNTRUSTED, verification.fingerprint or ""
    if verification.status.value == "no_public_key":
        return SignatureState.UNKNOWN_KEY, verification.issuer
    return SignatureState.INVALID, verification.issuer


def _verify(
    session: Session, settings: Settings, kind: Protocol, data: bytes, signature: bytes, message: ParsedMessage
) -> tuple[SignatureState, str, tuple[str, ...]]:
    sender = message.sender[0].addr if len(message.sender) == 1 else None
    canonical = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # RFC 5751 §3.1.1: verify over CRLF
    if kind is Protocol.PGP:
        try:
            with OpenPgpOps(session.profile_dir / GNUPG_DIR, session.openpgp_passphrase) as ops:
                verification = ops.verify_detached(canonical, signature)
        except BadSignature as exc:
            state, signer = _pgp_state(exc.verification, message)
            return state, signer, (str(exc),)
        except CryptoError as exc:
            return SignatureState.INVALID, "", (str(exc),)
        state, signer = _pgp_state(verification, message)
        state, problems = _binding(session, state, signer, verification, message)
        return state, signer, problems
    try:
        check = smime_ops.verify_detached(
            canonical, signature, roots=smime_trust(settings).roots(), now=utc_now(), address=sender
        )
    except CryptoError as exc:
        return SignatureState.INVALID, "", (str(exc),)
    state = SignatureState.VALID if check.trusted and check.address_matches else SignatureState.UNTRUSTED
    mismatch = _signer_is_not_sender(state, check.signer_emails, message) if check.address_matches is not True else ()
    return state, check.signer_fingerprint, (*check.problems, *mismatch)


def _binding(
    session: Session, state: SignatureState, signer: str, verification: Verification | None, message: ParsedMessage
) -> tuple[SignatureState, tuple[str, ...]]:
    """The state once it is known how the signing key came to be bound to the sender's address.

    A key learned only from an Autocrypt header proves nothing about who wrote a later message: anyone can send
    mail "From" the sender with an Autocrypt header carrying their own key under the sender's address, and then
    sign as them (the key-replacement attacks of "Mailto: Me Your Secrets", Müller et al. 2020, and the ID
    attacks of "Johnny, you are fired!", 2019). Autocrypt Level 1 §1 itself promises no protection against an
    active attacker, so such a signature is good but the signer is not established as the sender."""
    if state is SignatureState.VALID and _autocrypt_only(session, signer, message):
        return SignatureState.UNTRUSTED, (_AUTOCRYPT_ONLY,)
    return state, _signer_is_not_sender(state, verification.emails if verification else (), message)


_AUTOCRYPT_ONLY = (
    "The signing key is known only from an Autocrypt header in earlier mail, which anyone can send in the sender's "
    "name; compare its fingerprint with the sender before trusting this signature."
)


def _autocrypt_only(session: Session, fingerprint: str, message: ParsedMessage) -> bool:
    sources = evidence.key_sources(session.vault, normalize_address(message.sender[0].addr))
    source = sources.get(fingerprint)
    return source is not None and source.source == EvidenceSource.AUTOCRYPT.value and not source.verified


def _signer_is_not_sender(state: SignatureState, emails: Sequence[str], message: ParsedMessage) -> tuple[str, ...]:
    """Names who really signed when that is not the From address. "Johnny, you are fired!" (Müller et al. 2019,
    ID attacks) and "Re: What's up Johnny?" (resent ciphertext under another From) both rely on the reader
    seeing a good signature next to a From the signer never used; a key ID alone does not tell the user that."""
    if state is not SignatureState.UNTRUSTED:
        return ()
    signer = ", ".join(dict.fromkeys(email.lower() for email in emails)) or "a key that names no address"
    senders = ", ".join(address.addr for address in message.sender) or "no address"
    return (f"Signed by {signer}, which is not the sender shown in From ({senders}).",)
