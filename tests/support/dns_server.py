"""A small DNS server on 127.0.0.1 that plays the validating resolver discovery is configured to ask.

Rules this module keeps:
- It answers from data: records given as (name, type, rdata text), e.g. ("partner.test", "MX",
  "10 mx1.partner.test."). A name with records of another type answers NOERROR with no records (NODATA); a name
  with no records at or below it answers NXDOMAIN; an empty non-terminal (a name with records only below it)
  answers NODATA, as real servers do (RFC 8020).
- It does not sign anything. Instead, `authenticated` lists the names whose answers carry the AD flag: at the
  protocol level that is exactly what a validating resolver tells a stub (RFC 4035 §3.2.3), and the stub cannot
  tell the difference. Like a real validating resolver, it sets AD only when the query carried the DO or AD
  bit (RFC 6840 §5.7), so a client that forgets to ask is caught by the tests.
- Faults per name: `delays` answers late, `dropped` never answers (for timeout tests), `failing` answers
  SERVFAIL (a resolver whose validation failed says exactly that).
- UDP and TCP on the same port, served by one thread; answers too large for UDP are truncated (TC) so the
  client retries over TCP. `queries` records every question as (name, type, dnssec_ok).
- `stop()` (or leaving the `with` block) closes every socket and joins the thread.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["DnsServer", "Record"]

Record = tuple[str, str, str]

_TTL = 300
_POLL = 0.02


class DnsServer:
    """Serves a zone given as data; use as a context manager, then point the resolver at `address`."""

    def __init__(
        self,
        records: Iterable[Record],
        *,
        authenticated: Iterable[str] = (),
        delays: Mapping[str, float] | None = None,
        dropped: Iterable[str] = (),
        failing: Iterable[str] = (),
    ) -> None:
        self._rrsets = _build_rrsets(records)
        self._owners = frozenset(name for name, _ in self._rrsets)
        self._authenticated = _names(authenticated)
        self._delays = {dns.name.from_text(name): delay for name, delay in (delays or {}).items()}
        self._dropped = _names(dropped)
        self._failing = _names(failing)
        self._lock = threading.Lock()
        self._queries: list[tuple[str, str, bool]] = []
        self._pending: list[tuple[float, bytes, tuple[str, int]]] = []
        self._stop = threading.Event()
        self._udp, self._tcp = _bind_pair()
        self.port: int = self._udp.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"dns-server-{self.port}", daemon=True)

    @property
    def address(self) -> str:
        """The "IP:PORT" form DiscoveryConfig.resolvers takes."""
        return f"127.0.0.1:{self.port}"

    @property
    def queries(self) -> list[tuple[str, str, bool]]:
        with self._lock:
            return list(self._queries)

    def start(self) -> DnsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._udp.close()
        self._tcp.close()

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ)
            selector.register(self._tcp, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=_POLL):
                    if key.fileobj is self._udp:
                        self._on_udp()
                    else:
                        self._on_tcp()
                self._flush_pending()

    def _on_udp(self) -> None:
        try:
            wire, peer = self._udp.recvfrom(65535)
        except OSError:
            return
        reply = self._reply(wire, tcp=False)
        if reply is None:
            return
        delay, data = reply
        with self._lock:
            self._pending.append((time.monotonic() + delay, data, peer))

    def _flush_pending(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [item for item in self._pending if item[0] <= now]
            self._pending = [item for item in self._pending if item[0] > now]
        for _, data, peer in due:
            with contextlib.suppress(OSError):
                self._udp.sendto(data, peer)

    def _on_tcp(self) -> None:
        try:
            conn, _ = self._tcp.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(2.0)
            try:
                (length,) = struct.unpack("!H", _recv_exact(conn, 2))
                reply = self._reply(_recv_exact(conn, length), tcp=True)
                if reply is not None:
                    time.sleep(reply[0])
                    conn.sendall(struct.pack("!H", len(reply[1])) + reply[1])
            except (OSError, EOFError, struct.error):
                return

    def _reply(self, wire: bytes, *, tcp: bool) -> tuple[float, bytes] | None:
        """The delay and the answer's wire form, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        dnssec_ok = bool(query.ednsflags & dns.flags.DO)
        with self._lock:
            self._queries.append(
                (question.name.to_text(omit_final_dot=True).lower(), dns.rdatatype.to_text(question.rdtype), dnssec_ok)
            )
        if question.name in self._dropped:
            return None
        response = self._answer(query, question.name, question.rdtype)
        limit = 65535 if tcp else max(512, query.payload if query.edns >= 0 else 512)
        return self._delays.get(question.name, 0.0), _to_wire(response, query, limit)

    def _answer(
        self, query: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.message.Message:
        response = dns.message.make_response(query, recursion_available=True)
        if query.ednsflags & dns.flags.DO:
            response.want_dnssec(True)  # RFC 3225 §3: the DO bit is echoed
        if name in self._failing:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        rrset = self._rrsets.get((name, rdtype))
        if rrset is not None:
            response.answer.append(rrset)
        elif not any(owner.is_subdomain(name) for owner in self._owners):
            response.set_rcode(dns.rcode.NXDOMAIN)
        asked = bool(query.ednsflags & dns.flags.DO) or bool(query.flags & dns.flags.AD)
        if name in self._authenticated and asked:
            response.flags |= dns.flags.AD
        return response


def _build_rrsets(records: Iterable[Record]) -> dict[tuple[dns.name.Name, dns.rdatatype.RdataType], dns.rrset.RRset]:
    grouped: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], list[str]] = defaultdict(list)
    for name, rdtype, text in records:
        grouped[(dns.name.from_text(name), dns.rdatatype.from_text(rdtype))].append(text)
    return {
        key: dns.rrset.from_text_list(key[0], _TTL, dns.rdataclass.IN, key[1], texts) for key, texts in grouped.items()
    }


def _names(names: Iterable[str]) -> frozenset[dns.name.Name]:
    return frozenset(dns.name.from_text(name) for name in names)


def _to_wire(response: dns.message.Message, query: dns.message.Message, limit: int) -> bytes:
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        truncated = dns.message.make_response(query, recursion_available=True)
        truncated.flags |= dns.flags.TC
        return truncated.to_wire(max_size=limit)


def _recv_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise EOFError("peer closed")
        data += chunk
    return data


def _bind_pair() -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same free port of 127.0.0.1 (retrying if TCP finds it taken)."""
    for _ in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            tcp.listen(16)
        except OSError:
            udp.close()
            tcp.close()
            continue
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    raise RuntimeError("no free port for both UDP and TCP on 127.0.0.1")
