"""How much plaintext a decryption may produce (issue 5: decompression bombs).

OpenPGP messages may be compressed (RFC 4880 §5.6), so a few kilobytes of ciphertext can expand to gigabytes.
GnuPG stops writing at `--max-output`; S/MIME enveloped data is not compressed, so its plaintext is no larger
than the ciphertext, and the same limit is checked after decryption.
"""

from __future__ import annotations

from app.core.errors import CryptoError

MIB = 1 << 20
DEFAULT_MAX_PLAINTEXT = 64 * MIB


class PlaintextTooLarge(CryptoError):
    """Decryption stopped: the content would exceed the limit."""

    def __init__(self, limit: int) -> None:
        size = f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit} bytes"
        super().__init__(
            f"Cannot decrypt the message: its content would be larger than {size}, the limit for decrypted mail "
            "(setting max_decrypted_mib). It may be a decompression bomb; nothing of it was kept."
        )
        self.limit = limit
