"""What the reading pane says about encryption and signatures: only what verification established.

A message's own claims ("this message is signed", a padlock in its HTML) never reach this text; the verdict of
`app.services.opening` is the only input, and every state maps to one sentence and one level of alarm.
"""

from __future__ import annotations

from enum import Enum

from app.services.opening import Encryption, OpenedMessage, SignatureState


class Level(Enum):
    GOOD = 0
    NOTICE = 1
    WARNING = 2
    DANGER = 3


_ENCRYPTION = {
    Encryption.NONE: (Level.GOOD, ""),
    Encryption.PGP: (Level.GOOD, "Encrypted with OpenPGP."),
    Encryption.SMIME: (Level.GOOD, "Encrypted with S/MIME."),
    Encryption.FAILED: (Level.DANGER, "This message is encrypted and could not be opened."),
}
_SIGNATURE = {
    SignatureState.NONE: (Level.GOOD, ""),
    SignatureState.VALID: (Level.GOOD, "Signature verified: the sender signed this message ({signer})."),
    SignatureState.UNTRUSTED: (
        Level.WARNING, "The signature is intact, but the signer is not established as the sender ({signer}).",
    ),
    SignatureState.UNKNOWN_KEY: (
        Level.NOTICE, "Signed with a key this profile does not have, so the signature cannot be checked.",
    ),
    SignatureState.INVALID: (Level.DANGER, "The signature does not verify: the message may have been altered."),
}  # fmt: skip


def security_text(verdict: OpenedMessage) -> tuple[Level, str]:
    """One sentence (or "") and its level, for the banner above the message."""
    level_e, encryption = _ENCRYPTION[verdict.encryption]
    level_s, signature = _SIGNATURE[verdict.signature]
    signer = f"key {_short(verdict.signer)}" if verdict.signer else "unknown key"
    parts = [encryption, signature.format(signer=signer)]
    if verdict.headers_protected:
        parts.append("The subject and addresses shown are the protected ones from inside the message.")
    parts += list(verdict.problems)
    # A note from verification (an S/MIME CBC message that could have been altered, a signer who is not the
    # sender) is never shown in the calm colour of a fully good message.
    level_p = Level.NOTICE if verdict.problems else Level.GOOD
    return max(level_e, level_s, level_p, key=lambda level: level.value), " ".join(p for p in parts if p)


def _short(fingerprint: str) -> str:
    compact = fingerprint.replace(" ", "").upper()
    return " ".join(compact[i : i + 4] for i in range(max(len(compact) - 16, 0), len(compact), 4))
