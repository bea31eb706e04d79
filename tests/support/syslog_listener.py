"""A syslog collector on loopback (UDP, TCP with octet counting, or a Unix datagram socket) for the audit
forwarding tests, and a parser for the RFC 5424 messages it receives. No threads: the kernel buffers what
arrives while the command under test runs, and `messages()` reads it afterwards."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

# RFC 5424 §6: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
_HEADER = re.compile(
    r"<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<proc>\S+) (?P<msgid>\S+) "
    r"\[(?P<sdid>[^ \]]+)(?P<params>(?: [a-z]+=\"(?:[^\"\\\]]|\\.)*\")*)\](?: (?P<msg>.*))?",
    re.DOTALL,
)
_PARAM = re.compile(r' ([a-z]+)="((?:[^"\\\]]|\\.)*)"')


@dataclass(frozen=True)
class SyslogMessage:
    raw: str
    pri: int
    timestamp: str
    app: str
    msgid: str
    sd_id: str
    params: dict[str, str]
    text: str


def parse(raw: bytes) -> SyslogMessage:
    text = raw.decode("utf-8")
    match = _HEADER.fullmatch(text)
    assert match is not None, f"not an RFC 5424 message: {text!r}"
    params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in _PARAM.findall(match.group("params"))}
    return SyslogMessage(
        text, int(match.group("pri")), match.group("ts"), match.group("app"), match.group("msgid"),
        match.group("sdid"), params, match.group("msg") or "",
    )  # fmt: skip


class Listener:
    def __init__(self, kind: str, socket_dir: Path | None = None, *, port: int = 0) -> None:
        self.kind = kind
        if kind == "unix":
            assert socket_dir is not None
            self.path = socket_dir / "log.sock"
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.bind(str(self.path))
            self.address = f"unix:{self.path}"
            return
        family_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
        self._sock = socket.socket(socket.AF_INET, family_type)
        if port:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))  # 0: a free port, since other tests run at the same time
        if kind == "tcp":
            self._sock.listen(8)
        self.address = f"{kind}://127.0.0.1:{self._sock.getsockname()[1]}"

    def messages(self) -> list[bytes]:
        return self._tcp_messages() if self.kind == "tcp" else self._datagrams()

    def _datagrams(self) -> list[bytes]:
        self._sock.setblocking(False)
        found: list[bytes] = []
        while True:
            try:
                found.append(self._sock.recv(65536))
            except BlockingIOError:
                return found

    def _tcp_messages(self) -> list[bytes]:
        self._sock.settimeout(0.5)
        stream = b""
        while True:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                break
            with conn:
                conn.settimeout(2)
                while chunk := conn.recv(65536):
                    stream += chunk
        return _unframe(stream)

    def close(self) -> None:
        self._sock.close()


def _unframe(stream: bytes) -> list[bytes]:
    """RFC 6587 §3.4.1 octet counting: MSG-LEN SP SYSLOG-MSG, repeated."""
    found: list[bytes] = []
    while stream:
        length, _, rest = stream.partition(b" ")
        size = int(length)
        found.append(rest[:size])
        stream = rest[size:]
    return found
