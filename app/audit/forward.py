"""Copies of new audit entries for the organisation's log collector: syslog (RFC 5424) or the Windows event log.

What a forwarded entry carries, and why nothing more (DESIGN.md §8, CONVENTIONS "never log ... of patients"):
- the entry's sequence number, time and event name, the OS account that acted (`actor`), the profile's random
  id (to tell the profiles of one workstation apart), and the first 16 hex digits of the entry's chain MAC, so
  IT can match a forwarded copy to the entry in the vault without being able to forge one;
- from `detail`, only the fields listed in `_SAFE_DETAIL`, whose values come from closed sets (a lock's reason,
  an unlock's method, an export's format, a check's result), and only when they look like such a value.
- Never the entry's `target` (an account, folder and UID, a portal id, a file name: a folder or file can be
  named after a patient), nor any other detail (search text, recipients, paths).

Transport rules:
- `udp://host:port`: one message per datagram (RFC 5426 §3.1). `tcp://host:port`: octet-counting framing
  (RFC 6587 §3.4.1). `unix:/path`: one message per datagram on a local socket (`/dev/log` by default).
- Forwarding is a copy: the entry is already committed in the vault, the chain is the record. A collector that
  is down must not stop anyone working: the outage is reported once to the `salus.audit` logger (address and
  error only), the collector is left alone for `RETRY_SECONDS`, and the entries wait in the audit log's queue
  (bounded) to be sent, in order, with the first entry after that; what is still queued when the profile
  closes is reported as not forwarded.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from app.audit.chain import AuditEntry
from app.audit.events import AuditEvent
from app.audit.log import ForwardingFailed
from app.core.errors import PolicyError

log = logging.getLogger("salus.audit")

Forward = Callable[[AuditEntry, bytes], None]

# RFC 5424 §6.2.1: facility 10 is "security/authorization messages" (authpriv), which collectors keep apart.
FACILITY_AUTHPRIV = 10
SEVERITY_NOTICE = 5
SEVERITY_WARNING = 4
# RFC 5424 §7.2.2 asks for an enterprise number in private SD-IDs; Salus has none yet, so this uses 32473, the
# number RFC 5612 reserves for documentation. A deployment that registers one changes only this constant.
SD_ID = "salus-audit@32473"
MAC_PREFIX_HEX = 16
RETRY_SECONDS = 30.0
CONNECT_TIMEOUT = 2.0
DEFAULT_UNIX_SOCKET = "/var/run/syslog" if sys.platform == "darwin" else "/dev/log"

_SAFE_DETAIL: dict[str, tuple[str, ...]] = {
    AuditEvent.LOCKED: ("reason",),
    AuditEvent.UNLOCK_SUCCEEDED: ("method", "factor"),
    AuditEvent.UNLOCK_FAILED: ("factor", "problem"),
    AuditEvent.AUDIT_VERIFIED: ("ok", "entries"),
    AuditEvent.AUDIT_EXPORTED: ("format",),
    AuditEvent.SYNC: ("ok",),
    AuditEvent.SETTINGS_CHANGED: ("key", "source"),
    AuditEvent.SECOND_FACTOR_CHANGED: ("action",),
    AuditEvent.POLICY_CHANGED: ("digest",),
}
_TOKEN = re.compile(r"[a-z0-9_.-]{1,40}")


class Transport(StrEnum):
    UDP = "udp"
    TCP = "tcp"
    UNIX = "unix"


@dataclass(frozen=True, slots=True)
class SyslogAddress:
    transport: Transport
    host: str  # the socket path for UNIX
    port: int = 0


def parse_address(text: str) -> SyslogAddress:
    """`udp://host:port`, `tcp://host:port`, `unix:/path`; empty means the local syslog socket."""
    text = text.strip()
    if not text:
        return SyslogAddress(Transport.UNIX, DEFAULT_UNIX_SOCKET)
    if text.startswith("unix:"):
        path = text.removeprefix("unix:")
        if not path.startswith("/"):
            raise PolicyError(f"audit_syslog_address {text!r}: a unix socket needs an absolute path (unix:/dev/log).")
        return SyslogAddress(Transport.UNIX, path)
    match = re.fullmatch(r"(udp|tcp)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})", text)
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise PolicyError(f"audit_syslog_address {text!r} is not udp://HOST:PORT, tcp://HOST:PORT or unix:/PATH.")
    return SyslogAddress(Transport(match.group(1)), match.group(2).strip("[]"), int(match.group(3)))


def syslog_message(entry: AuditEntry, mac: bytes, profile_id: str, hostname: str, procid: int) -> bytes:
    """One RFC 5424 message (§6) for one entry: header, one SD-ELEMENT, and a short ASCII MSG."""
    severity = SEVERITY_WARNING if entry.event == AuditEvent.UNLOCK_FAILED else SEVERITY_NOTICE
    params = {
        "seq": str(entry.seq),
        "actor": entry.actor,
        "profile": profile_id,
        "mac": mac.hex()[:MAC_PREFIX_HEX],
        **safe_detail(entry),
    }
    structured = "[" + SD_ID + "".join(f' {k}="{_sd_escape(v)}"' for k, v in params.items()) + "]"
    header = f"<{FACILITY_AUTHPRIV * 8 + severity}>1 {entry.at} {_field(hostname, 255)} salus {procid}"
    message = f"{header} {_field(entry.event, 32)} {structured} Salus audit entry {entry.seq}: {entry.event}"
    return message.encode("utf-8")


def safe_detail(entry: AuditEntry) -> dict[str, str]:
    try:
        detail = json.loads(entry.detail)
    except ValueError:
        return {}
    if not isinstance(detail, dict):
        return {}
    found: dict[str, str] = {}
    for key in _SAFE_DETAIL.get(entry.event, ()):
        value = detail.get(key)
        text = str(value).lower() if isinstance(value, bool | int) else value
        if isinstance(text, str) and _TOKEN.fullmatch(text):
            found[key] = text
    return found


def _sd_escape(value: str) -> str:
    # RFC 5424 §6.3.3: '"', '\' and ']' inside PARAM-VALUE must be escaped with a backslash.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _field(value: str, limit: int) -> str:
    # Header fields are PRINTUSASCII without spaces (RFC 5424 §6); "-" is the NILVALUE.
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return cleaned or "-"


class SyslogForwarder:
    """Sends on the vault's thread, so a collector that is down is not asked again for `retry_seconds`: entries
    meanwhile wait in the audit log's queue instead of each costing a connection timeout."""

    def __init__(self, address: SyslogAddress, profile_id: str, retry_seconds: float = RETRY_SECONDS) -> None:
        self.address = address
        self.retry_seconds = retry_seconds
        self._profile_id = profile_id
        self._hostname = socket.gethostname()
        self._sock: socket.socket | None = None
        self._failed_at: float | None = None  # set while the collector is considered down

    def __call__(self, entry: AuditEntry, mac: bytes) -> None:
        if self._failed_at is not None and time.monotonic() - self._failed_at < self.retry_seconds:
            raise ForwardingFailed(f"the syslog collector {self._where()} is down")
        data = syslog_message(entry, mac, self._profile_id, self._hostname, os.getpid())
        try:
            self._send(data)
        except OSError as exc:
            self.close()
            if self._failed_at is None:  # once per outage, with the address and the error only
                log.warning("Audit entries cannot be forwarded to syslog %s now: %s", self._where(), exc)
            self._failed_at = time.monotonic()
            raise ForwardingFailed(f"the syslog collector {self._where()} is down") from exc
        if self._failed_at is not None:
            log.warning("Audit entries reach syslog %s again.", self._where())
            self._failed_at = None

    def _send(self, data: bytes) -> None:
        sock = self._socket()
        if self.address.transport is Transport.TCP:
            sock.sendall(f"{len(data)} ".encode("ascii") + data)
        elif self.address.transport is Transport.UDP:
            sock.sendto(data, (self.address.host, self.address.port))
        else:
            sock.sendto(data, self.address.host)

    def _socket(self) -> socket.socket:
        if self._sock is None:
            if self.address.transport is Transport.TCP:
                self._sock = socket.create_connection((self.address.host, self.address.port), timeout=CONNECT_TIMEOUT)
            elif self.address.transport is Transport.UDP:
                family = socket.AF_INET6 if ":" in self.address.host else socket.AF_INET
                self._sock = socket.socket(family, socket.SOCK_DGRAM)
            else:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        return self._sock

    def _where(self) -> str:
        a = self.address
        return f"unix:{a.host}" if a.transport is Transport.UNIX else f"{a.transport.value}://{a.host}:{a.port}"

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
