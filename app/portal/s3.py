"""A small S3-compatible object store client for the portal's envelopes and replies: SigV4 over http.client.

Rules:
- HTTPS only, certificates and host names verified, TLS 1.2 or newer; a private CA is added, never a bypass.
- Requests are signed with AWS Signature Version 4 (the "AWS4-HMAC-SHA256" scheme), payload hash included, so a
  body altered on the way is refused by the store. `signature_headers` is pure and tested against AWS's
  published example and against botocore.
- Path-style addressing (`https://endpoint/bucket/key`): MinIO, Ceph and most S3-compatible stores accept it,
  and it needs no wildcard DNS or certificate.
- Only three operations: put, get, delete. Objects hold ciphertext only (the portal never has anything else).
- Why not boto3: it would add botocore (about 100 MB of service models) to the portal server for three
  requests; the signing is 40 lines of the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from app.portal.errors import PortalStorageError

_MAX_OBJECT = 128 * 1024 * 1024  # over the largest upload the portal accepts (64 MiB)
_SCHEME = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class S3Settings:
    endpoint: str  # https://s3.example.org (or https://127.0.0.1:9000 for a local MinIO)
    bucket: str
    region: str
    access_key: str
    secret_key: str
    ca_pem: str = ""  # an extra CA for a private store
    timeout: float = 60.0

    def __repr__(self) -> str:  # the secret key is a secret
        return f"S3Settings({self.endpoint!r}, {self.bucket!r}, {self.region!r})"


def signature_headers(
    method: str, host: str, path: str, headers: dict[str, str], payload: bytes, settings: S3Settings, now: datetime,
    service: str = "s3",
) -> dict[str, str]:  # fmt: skip
    """The headers that authenticate one request (SigV4): x-amz-date, x-amz-content-sha256, Authorization.
    `path` is already URI-encoded; `headers` are the other headers to sign (for example Range)."""
    amz_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload_hash = hashlib.sha256(payload).hexdigest()
    signed = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed.update({k.lower(): " ".join(v.split()) for k, v in headers.items()})
    names = sorted(signed)
    canonical = "\n".join([method, path, "", *(f"{n}:{signed[n]}" for n in names), "", ";".join(names), payload_hash])
    scope = f"{amz_date[:8]}/{settings.region}/{service}/aws4_request"
    to_sign = "\n".join([_SCHEME, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + settings.secret_key).encode()
    for part in (amz_date[:8], settings.region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = (
        f"{_SCHEME} Credential={settings.access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return {"x-amz-date": amz_date, "x-amz-content-sha256": payload_hash, "Authorization": authorization}


class S3ObjectStore:
    def __init__(self, settings: S3Settings) -> None:
        parts = urlsplit(settings.endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise PortalStorageError("The object store address must be an https:// address.")
        self._settings = settings
        self._host = parts.hostname
        self._port = parts.port or 443
        self._host_header = parts.netloc
        self._prefix = parts.path.rstrip("/")
        # One kept-alive connection per thread: storage runs on one worker thread per server, and a TLS
        # handshake per object would cost more than the object.
        self._local = threading.local()
        self._context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        if settings.ca_pem:
            try:
                self._context.load_verify_locations(cadata=settings.ca_pem)
            except (ssl.SSLError, ValueError) as exc:
                raise PortalStorageError(f"The object store's CA certificate cannot be used: {exc}") from exc

    @property
    def bucket(self) -> str:
        return self._settings.bucket

    def put(self, key: str, data: bytes) -> None:
        self._request("PUT", key, data, {"Content-Type": "application/octet-stream"}, (200,))

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        status, body = self._request("GET", key, b"", {}, (200, 404))
        return body if status == 200 else None

    def delete(self, key: str) -> None:
        # S3 answers 204 whether or not the object existed, which makes a retried delete harmless.
        self._request("DELETE", key, b"", {}, (200, 204, 404))

    def _exchange(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._settings.timeout, context=self._context
            )
            self._local.connection = connection
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        data = response.read(_MAX_OBJECT + 1)
        if response.will_close:
            self._drop()
        return response.status, data

    def close(self) -> None:
        """Closes this thread's connection (the next request opens a new one)."""
        self._drop()

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def create_bucket(self) -> None:
        """For first-time setup and tests; an existing bucket owned by us is fine."""
        status, body = self._request("PUT", "", b"", {}, (200, 409))
        if status == 409 and b"BucketAlreadyOwnedByYou" not in body:
            raise PortalStorageError("The object store bucket exists and belongs to someone else.")

    def _request(
        self, method: str, key: str, body: bytes, headers: dict[str, str], accepted: tuple[int, ...]
    ) -> tuple[int, bytes]:
        path = f"{self._prefix}/{quote(self._settings.bucket, safe='')}" + (f"/{quote(key, safe='/')}" if key else "")
        signed = signature_headers(method, self._host_header, path, headers, body, self._settings, datetime.now(UTC))
        sent = {**headers, **signed, "Host": self._host_header}
        try:
            status, data = self._exchange(method, path, body, sent)
        except (OSError, http.client.HTTPException):
            # A kept-alive connection the store has closed meanwhile fails on first use; put, get and delete are
            # idempotent in S3, so one retry on a fresh connection is safe.
            self._drop()
            try:
                status, data = self._exchange(method, path, body, sent)
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise PortalStorageError(f"The object store could not be reached: {type(exc).__name__}: {exc}") from exc
        if status not in accepted:
            # The store's error document names the bucket and key at most, never content; its code is enough.
            raise PortalStorageError(f"The object store refused a {method} (HTTP {status}).")
        if len(data) > _MAX_OBJECT:
            self._drop()  # the rest of that answer is still on the connection
            raise PortalStorageError("An object in the store is larger than the portal ever writes.")
        return status, data
