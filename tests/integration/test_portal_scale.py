"""The portal server on its multi-machine storage, configured as `salus-portal serve` reads it: a real
PostgreSQL (TLS, SCRAM) for records and an S3-compatible store (moto's S3 over HTTPS, a simulation of S3, not
MinIO) for envelopes and replies. Upload, code, open, reply, status, revoke over real HTTPS; neither the
database nor the object store ever holds the message, the reply or K1 in the clear."""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from app.crypto.portal_keys import open_message, open_reply, seal_reply
from app.portal.main import load_config
from app.portal.protocol import ENVELOPE_MEDIA_TYPE, EventKind, MessageState, b64, unb64
from app.portal.rules import Refusal, Refused
from app.portal.storage_config import open_storage
from app.portal.storage_pg import PostgresS3Storage
from tests.support.pki import TestCA
from tests.support.portal_server import PortalServer, call, request_code, sample, send_escalated
from tests.support.postgres import PostgresServer, postgres_bin, running_postgres
from tests.support.s3_server import S3Server, running_s3
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres(test_ca: TestCA) -> Iterator[PostgresServer]:
    if postgres_bin() is None:
        pytest.skip("Debian's postgresql is not installed (scripts/bootstrap installs it)")
    with running_postgres(test_ca) as server:
        yield server


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA, postgres: PostgresServer
) -> Iterator[tuple[PortalServer, str]]:
    base = tmp_path_factory.mktemp("portal-scale")
    with running_s3(base / "s3", test_ca) as s3:
        dsn, bucket = postgres.new_database(), s3.new_store().bucket
        config = _config_file(base, test_ca, dsn, s3, bucket)
        loaded = load_config(config)
        storage = open_storage(loaded.storage, loaded.data_dir, loaded.base)
        assert isinstance(storage, PostgresS3Storage)
        with (
            SmtpServer(test_ca.issue_server_cert(base / "smtp", name="smtp")) as smtp,
            PortalServer(base / "portal", test_ca, smtp, storage=storage) as server,
        ):
            yield server, dsn


def _config_file(base: Path, ca: TestCA, dsn: str, s3: S3Server, bucket: str) -> Path:
    (base / "postgres.dsn").write_text(dsn)
    (base / "s3-secret").write_text("not-checked-by-the-simulation")
    config = {
        "public_url": "https://portal.example.org", "tls_cert": "unused.pem", "tls_key": "unused.key",
        "data_dir": "data", "upload_key_digests": [],
        "smtp": {"host": "127.0.0.1", "port": 1, "from": "portal@example.org"},
        "storage": {"backend": "postgres-s3", "dsn_file": "postgres.dsn",
                    "s3": {"endpoint": s3.url, "bucket": bucket, "region": "us-east-1", "access_key_id": "AKIDTEST",
                           "secret_key_file": "s3-secret", "ca_file": str(ca.cert_file)}},
    }  # fmt: skip
    path = base / "portal.json"
    path.write_text(json.dumps(config))
    return path


def _post_envelope(portal: PortalServer, path: str, envelope: bytes, token: str) -> int:
    context = ssl.create_default_context(cafile=str(portal.ca.cert_file))
    connection = http.client.HTTPSConnection("127.0.0.1", portal.port, context=context, timeout=30)
    try:
        headers = {"Content-Type": ENVELOPE_MEDIA_TYPE, "Authorization": f"Bearer {token}"}
        connection.request("POST", path, body=envelope, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def _database_bytes(dsn: str) -> bytes:
    """Every value in every portal table, for scanning."""
    found = b""
    with psycopg.connect(dsn) as db:
        for table in ("messages", "events", "replies"):
            for row in db.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))):
                found += b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    return found


def test_a_message_travels_through_postgres_and_s3_and_neither_holds_plaintext(
    portal: tuple[PortalServer, str],
) -> None:
    server, dsn = portal
    item = sample("scale", "scale.one@example.org")
    escalated = send_escalated(server, item)
    message_id, token = escalated.receipt.message_id, escalated.receipt.sender_token
    code = request_code(server, message_id, item.recipient)
    status, _, body = call(server, "POST", f"/api/v1/open/{message_id}/verify", {"code": code})
    assert status == 200
    granted = json.loads(body)
    status, _, envelope = call(server, "GET", f"/api/v1/open/{message_id}/message", token=granted["access"])
    assert status == 200
    assert open_message(envelope, escalated.k1, unb64(granted["k2"], "k2")) == item.mime

    reply = seal_reply(b"Subject: Re\r\n\r\nreply word kestrelsonnet\r\n", escalated.reply_key.public_point)
    assert _post_envelope(server, f"/api/v1/open/{message_id}/replies", reply, granted["access"]) == 201
    client = server.client()
    status_now = asyncio.run(client.status(message_id, token))
    assert [r.n for r in status_now.replies] == [1]
    assert all(status_now.has(k) for k in (EventKind.UPLOADED, EventKind.OPENED, EventKind.REPLIED))
    fetched = asyncio.run(client.fetch_reply(message_id, token, 1))
    assert b"kestrelsonnet" in open_reply(fetched, escalated.reply_key.private_pkcs8)

    stored = _database_bytes(dsn) + server.storage.envelope(message_id) + server.storage.reply(message_id, 1)
    secrets = [b"quasarnimbusscale", b"zephyrlanternscale", b"marmaladeorbitscale", b"kestrelsonnet",
               escalated.k1, b64(escalated.k1).encode()]  # fmt: skip
    assert [s for s in secrets if s in stored] == []

    asyncio.run(client.revoke(message_id, token))
    assert asyncio.run(client.status(message_id, token)).state is MessageState.REVOKED
    assert call(server, "GET", f"/api/v1/open/{message_id}")[0] == 410
    with pytest.raises(Refused) as gone:
        server.storage.envelope(message_id)
    assert gone.value.refusal is Refusal.NOT_FOUND
    assert server.storage.reply(message_id, 1) == fetched, "replies outlive revocation, as on SQLite"
