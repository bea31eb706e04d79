"""`salus-portal`: run the portal server, or make an upload key for an organisation's clients.

    salus-portal serve --config /etc/salus-portal/portal.json
    salus-portal upload-key            prints a new upload key (for the clients) and its digest (for the config)

The configuration is one JSON file (docs/portal-protocol.md §7). The server speaks HTTPS only: the portal
sends Strict-Transport-Security and serves keys, so there is no plaintext listener to fall back to.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from app.core.errors import AppError, ExitCode
from app.mime.addresses import Address
from app.portal.mailer import SmtpMailer, SmtpSettings
from app.portal.server import DEFAULT_STATIC, PortalApp, ServerSettings
from app.portal.storage_config import open_storage


@dataclass(frozen=True, slots=True)
class PortalConfig:
    host: str
    port: int
    tls_cert: Path
    tls_key: Path
    data_dir: Path
    server: ServerSettings
    smtp: SmtpSettings
    storage: dict[str, Any] | None = None  # the "storage" section; see app.portal.storage_config
    base: Path = Path()


def load_config(path: Path) -> PortalConfig:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _config(raw, path.parent)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AppError(f"The portal configuration {path} cannot be used: {type(exc).__name__}: {exc}") from exc


def _config(raw: dict[str, Any], base: Path) -> PortalConfig:
    smtp = raw["smtp"]
    password_file = smtp.get("password_file", "")
    sender = Address(str(smtp.get("from_name", "Secure portal")), str(smtp["from"]))
    settings = ServerSettings(
        public_url=str(raw["public_url"]), upload_key_digests=frozenset(map(str, raw["upload_key_digests"])),
        mail_sender=sender, static_dir=base / raw["static_dir"] if "static_dir" in raw else DEFAULT_STATIC,
    )  # fmt: skip
    mail = SmtpSettings(
        host=str(smtp["host"]), port=int(smtp["port"]), sender=sender, security=smtp.get("security", "tls"),
        ca_file=base / smtp["ca_file"] if smtp.get("ca_file") else None, username=str(smtp.get("username", "")),
        password=(base / password_file).read_text(encoding="utf-8").strip() if password_file else "",
    )  # fmt: skip
    if mail.security not in ("tls", "starttls"):
        raise ValueError("smtp.security must be tls or starttls")
    return PortalConfig(
        host=str(raw.get("host", "127.0.0.1")), port=int(raw.get("port", 8443)), tls_cert=base / raw["tls_cert"],
        tls_key=base / raw["tls_key"], data_dir=base / raw["data_dir"], server=settings, smtp=mail,
        storage=raw.get("storage"), base=base,
    )  # fmt: skip


def build_app(config: PortalConfig) -> PortalApp:
    try:
        storage = open_storage(config.storage, config.data_dir, config.base)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AppError(f"The portal storage configuration cannot be used: {type(exc).__name__}: {exc}") from exc
    return PortalApp(config.server, storage, SmtpMailer(config.smtp))


def uvicorn_server(app: PortalApp, host: str, port: int, tls_cert: Path, tls_key: Path) -> uvicorn.Server:
    """An HTTPS-only uvicorn server for `app`, with its access log off (paths carry message ids)."""
    config = uvicorn.Config(
        app, host=host, port=port, ssl_certfile=str(tls_cert), ssl_keyfile=str(tls_key), access_log=False,
        server_header=False, log_level="warning", lifespan="on", timeout_keep_alive=15, backlog=1024,
    )  # fmt: skip
    return uvicorn.Server(config)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salus-portal", description="The Salus secure portal server.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the portal over HTTPS")
    serve.add_argument("--config", type=Path, required=True)
    commands.add_parser("upload-key", help="print a new upload key and the digest to put in the configuration")
    args = parser.parse_args(argv)
    if args.command == "upload-key":
        key = secrets.token_urlsafe(32)
        print(json.dumps({"upload_key": key, "digest": hashlib.sha256(key.encode()).hexdigest()}))
        return ExitCode.OK
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
        server = uvicorn_server(build_app(config), config.host, config.port, config.tls_cert, config.tls_key)
    except AppError as error:
        print(f"salus-portal: {error}", file=sys.stderr)
        return error.exit_code
    server.run()
    return ExitCode.OK
