"""Errors of the portal adapter (client and server).

They derive from `AppError` like every deliberate Salus error. They live here rather than in app.core.errors
only because this package was written while that module belonged to another change; they can move there as is.
"""

from __future__ import annotations

from app.core.errors import AppError, ExitCode


class PortalError(AppError):
    """The secure portal could not do what was asked."""


class PortalUnavailable(PortalError):
    """The portal could not be reached, or its TLS certificate was refused."""


class PortalRefused(PortalError):
    """The portal answered with an error; `status` and `code` say which (docs/portal-protocol.md §5)."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class PortalAuthFailed(PortalRefused):
    """The upload key or the sender token was not accepted."""

    exit_code = ExitCode.AUTH_FAILED


class PortalStorageError(PortalError):
    """The portal server's storage could not be read or written."""
