"""What the submission server offers, learned from its EHLO reply over verified TLS (no login needed)."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.models import Endpoint
from app.mail.smtp.connection import submission


@dataclass(frozen=True, slots=True)
class SubmissionCapabilities:
    requiretls: bool  # RFC 8689: MAIL FROM ... REQUIRETLS is accepted
    dsn: bool  # RFC 3461
    extensions: tuple[str, ...]


async def probe_submission(endpoint: Endpoint, ca_pem: str = "", timeout: float = 15.0) -> SubmissionCapabilities:
    async with submission(endpoint, ca_pem, timeout) as client:
        extensions = tuple(sorted(name.lower() for name in client.esmtp_extensions))
    return SubmissionCapabilities("requiretls" in extensions, "dsn" in extensions, extensions)
