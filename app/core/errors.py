"""The error tree of Salus.

Rules:
- Every error Salus raises on purpose derives from `AppError`; each layer has its own subtree.
- Adapters translate library exceptions at their edge (`raise StoreError(...) from exc`), so nothing above an
  adapter sees a library's exception type.
- `str(error)` is a sentence a user can read: what could not be done and why. It never holds a passphrase, a
  key, a body, a subject or a patient's address.
- `exit_code` is the command-line contract of DESIGN.md §9.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    AUTH_FAILED = 3
    TRANSPORT_REFUSED = 4
    BLOCKED_BY_POLICY = 5


class AppError(Exception):
    """Root of every deliberate Salus error."""

    exit_code: ExitCode = ExitCode.ERROR


class UsageError(AppError):
    exit_code = ExitCode.USAGE


class ProfileError(AppError):
    """The profile directory is missing, unreadable, or not a Salus profile."""


class UnlockError(AppError):
    """The passphrase (or the keyring) did not open the vault. Nothing was changed."""

    exit_code = ExitCode.AUTH_FAILED


class StoreError(AppError):
    """The vault could not be read or written."""


class CryptoError(AppError):
    """A cryptographic operation failed (never returned as False: always raised)."""


class KeyringError(CryptoError):
    """The OS keyring is missing, insecure, or refused the request."""


class AuditError(AppError):
    """The audit log could not be written or read."""


class AuditChainBroken(AuditError):
    """Verification found a deleted, altered or reordered entry."""


class MailError(AppError):
    """A mail server could not be reached or answered in a way we cannot use."""


class AuthenticationFailed(MailError):
    exit_code = ExitCode.AUTH_FAILED


class CommandRefused(MailError):
    """The server answered NO or BAD to one command; the connection itself is still usable."""


class TransportSecurityRefused(MailError):
    """A connection did not meet the transport rules of DESIGN.md §4, so Salus refused to use it."""

    exit_code = ExitCode.TRANSPORT_REFUSED


class ServerProtocolError(MailError):
    """The server sent something that breaks the protocol or our safety limits."""


class PolicyError(AppError):
    """The managed policy is invalid, or forbids what was asked."""


class BlockedByPolicy(PolicyError):
    exit_code = ExitCode.BLOCKED_BY_POLICY
