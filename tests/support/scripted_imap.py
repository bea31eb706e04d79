"""A scripted, deliberately misbehaving IMAP server for tests of the client's transport-security rules.

Each `Scenario` is one way a server, or an attacker on the path, can try to make a client talk in the clear
(DESIGN §4; the STARTTLS cases follow Poddebniak et al., "Why TLS is better without STARTTLS", USENIX
Security 2021). The client under test must refuse every misbehaving scenario before it sends a credential;
the server records what it received so a test can assert that from the server's side too.

Rules this module keeps:
- Every line the client sends is recorded in `commands` before it is answered, over plaintext or TLS,
  including plaintext sent where a TLS ClientHello was due (a stripped or pipelined STARTTLS).
- `credentials_received` turns True on any LOGIN or AUTHENTICATE, or any line containing the password,
  whether or not the server accepts it: a credential sent in the clear is lost even if refused.
- One connection at a time. Every socket wait polls a stop flag, so neither a silent nor a vanished client
  holds up `__exit__`; a client silent for `_IDLE_SECONDS` is dropped.
- The mailbox is fixed: INBOX only, one message with UID 1, UIDVALIDITY 1234. Nothing a client does changes
  it (a non-PEEK fetch does not set \\Seen), so every session sees the same state.
- A bug in this server (an unexpected exception on its thread) is raised again from `__exit__`.
- The server presents whatever certificate it is given; checking its name and chain is the client's duty
  (RFC 7817 §3), so a test may hand NORMAL_TLS a wrong-name or untrusted certificate to exercise that.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self, TypeAlias, TypeVar

__all__ = [
    "FORGED_EXISTS",
    "FORGED_FOLDER",
    "INTERNALDATE",
    "MESSAGE",
    "MESSAGE_UID",
    "UIDVALIDITY",
    "Scenario",
    "ScriptedImapServer",
]


class Scenario(enum.Enum):
    """How the server behaves; only the NORMAL ones should ever carry a client to LOGIN.

    - NORMAL_TLS: implicit TLS (TLS 1.2 or later) from the first byte, then the minimal session.
    - NORMAL_STARTTLS: plaintext greeting with STARTTLS and LOGINDISABLED; STARTTLS works.
    - STARTTLS_NOT_OFFERED: no STARTTLS in the capabilities, BAD if tried anyway; plaintext LOGIN succeeds
      (the trap for a client that falls back).
    - STARTTLS_REFUSED: STARTTLS offered but answered NO; plaintext LOGIN succeeds (the same trap).
    - PREAUTH: a plaintext `* PREAUTH` greeting (RFC 9051 §7.1.4), which leaves no moment for STARTTLS.
    - STARTTLS_INJECTION: forged plaintext responses ride in the same segment as the STARTTLS OK; after the
      handshake the session is the normal one (INBOX only, one message).
    - TLS10_ONLY: implicit TLS with TLS 1.0 as both minimum and maximum, which a client must refuse.
    - ALERT_GREETING: a plaintext `* BYE [ALERT] ...` greeting carrying ALERT_TEXT (RFC 9051 §7.1), the UI
      spoofing of "Why TLS is better without STARTTLS" (Poddebniak et al. 2021); then the server hangs up.
    """

    NORMAL_TLS = enum.auto()
    NORMAL_STARTTLS = enum.auto()
    STARTTLS_NOT_OFFERED = enum.auto()
    STARTTLS_REFUSED = enum.auto()
    PREAUTH = enum.auto()
    STARTTLS_INJECTION = enum.auto()
    TLS10_ONLY = enum.auto()
    ALERT_GREETING = enum.auto()


ALERT_TEXT = b"Your mailbox is locked: call +1 555 0100 or visit http://attacker.test/unlock"


MESSAGE = (
    b"From: Scripted Sender <sender@example.test>\r\n"
    b"To: Alice <alice@example.test>\r\n"
    b"Subject: Scripted message\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <scripted-1@example.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"The only message in the scripted mailbox.\r\n"
)
MESSAGE_UID = 1
UIDVALIDITY = 1234
INTERNALDATE = "01-Jan-2024 10:00:00 +0000"
# The injected lines differ from the real mailbox (7 messages, a second folder), so any of them reaching a
# client's view is visible in a test.
FORGED_EXISTS = 7
FORGED_FOLDER = "Forged"

_POLL_SECONDS = 0.05
_IDLE_SECONDS = 5.0
_JOIN_SECONDS = 5.0
_MAX_LINE = 64 * 1024
_MAX_LITERAL = 1024 * 1024
_TLS_HANDSHAKE_RECORD = 0x16  # RFC 8446 §5.1 ContentType.handshake: the first byte of every ClientHello.
_CAPABILITIES_AFTER_TLS = b"IMAP4rev1 ID NAMESPACE"
_MAILBOX_FLAGS = b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"

_LITERAL_AT_END = re.compile(rb"\{(?P<size>\d+)(?P<plus>\+?)\}\r?\n\Z")
_LITERAL_AT = re.compile(rb"\{(\d+)\+?\}\r?\n")
_CREDENTIAL_COMMAND = re.compile(rb"\A\S+ +(?:LOGIN|AUTHENTICATE)(?: |\Z)", re.IGNORECASE)

_T = TypeVar("_T")
Token: TypeAlias = "bytes | list[Token]"


class _StartTls(enum.Enum):
    """What a scenario does with STARTTLS."""

    ACCEPT = enum.auto()
    REFUSE_NO = enum.auto()
    REFUSE_BAD = enum.auto()
    ACCEPT_WITH_INJECTION = enum.auto()


class _State(enum.IntEnum):
    """RFC 9051 §3 connection states (LOGOUT is the end of `_Session.run`)."""

    NOT_AUTHENTICATED = 1
    AUTHENTICATED = 2
    SELECTED = 3


@dataclass(frozen=True, slots=True)
class _Script:
    """One scenario as data: what the server says before TLS and what it does with STARTTLS."""

    implicit_tls: bool = False
    tls10_only: bool = False
    preauth: bool = False
    bye_alert: bool = False
    plaintext_capabilities: bytes = b""
    starttls: _StartTls = _StartTls.REFUSE_BAD


_STARTTLS_REQUIRED = b"IMAP4rev1 STARTTLS LOGINDISABLED"
_NO_STARTTLS = b"IMAP4rev1 ID NAMESPACE"
# The trap scenarios accept LOGIN in plaintext (no LOGINDISABLED), so a client that falls back to the clear
# succeeds and the test sees it; RFC 9051 §6.2.3 makes LOGINDISABLED the server's promise to refuse LOGIN.
_SCRIPTS: dict[Scenario, _Script] = {
    Scenario.NORMAL_TLS: _Script(implicit_tls=True),
    Scenario.TLS10_ONLY: _Script(implicit_tls=True, tls10_only=True),
    Scenario.NORMAL_STARTTLS: _Script(plaintext_capabilities=_STARTTLS_REQUIRED, starttls=_StartTls.ACCEPT),
    Scenario.STARTTLS_NOT_OFFERED: _Script(plaintext_capabilities=_NO_STARTTLS),
    Scenario.STARTTLS_REFUSED: _Script(
        plaintext_capabilities=b"IMAP4rev1 STARTTLS ID NAMESPACE", starttls=_StartTls.REFUSE_NO
    ),
    Scenario.PREAUTH: _Script(preauth=True, plaintext_capabilities=_NO_STARTTLS),
    Scenario.ALERT_GREETING: _Script(bye_alert=True),
    Scenario.STARTTLS_INJECTION: _Script(
        plaintext_capabilities=_STARTTLS_REQUIRED, starttls=_StartTls.ACCEPT_WITH_INJECTION
    ),
}

_ANY_STATE = frozenset(_State)
_NOT_AUTHENTICATED = frozenset({_State.NOT_AUTHENTICATED})
_AUTHENTICATED = frozenset({_State.AUTHENTICATED, _State.SELECTED})
_SELECTED = frozenset({_State.SELECTED})
# RFC 9051 §6: which commands each state admits; anything else is answered BAD.
_COMMAND_STATES: dict[bytes, frozenset[_State]] = {
    b"CAPABILITY": _ANY_STATE,
    b"NOOP": _ANY_STATE,
    b"LOGOUT": _ANY_STATE,
    b"ID": _ANY_STATE,
    b"STARTTLS": _NOT_AUTHENTICATED,
    b"LOGIN": _NOT_AUTHENTICATED,
    b"AUTHENTICATE": _NOT_AUTHENTICATED,
    b"ENABLE": _AUTHENTICATED,
    b"NAMESPACE": _AUTHENTICATED,
    b"LIST": _AUTHENTICATED,
    b"LSUB": _AUTHENTICATED,
    b"SELECT": _AUTHENTICATED,
    b"EXAMINE": _AUTHENTICATED,
    b"STATUS": _AUTHENTICATED,
    b"CLOSE": _SELECTED,
    b"UNSELECT": _SELECTED,
    b"SEARCH": _SELECTED,
    b"FETCH": _SELECTED,
    b"UID": _SELECTED,
}


def _literal(data: bytes) -> bytes:
    return b"{%d}\r\n%s" % (len(data), data)


def _fetch_items() -> dict[bytes, bytes]:
    """RFC 9051 §7.5.2 FETCH response items for the one message, keyed by the item a client asks for."""
    header_end = MESSAGE.index(b"\r\n\r\n") + 4
    header, text = MESSAGE[:header_end], MESSAGE[header_end:]
    items = {
        b"UID": b"UID %d" % MESSAGE_UID,
        b"FLAGS": b"FLAGS ()",
        b"INTERNALDATE": b'INTERNALDATE "%s"' % INTERNALDATE.encode(),
        b"RFC822.SIZE": b"RFC822.SIZE %d" % len(MESSAGE),
        b"RFC822": b"RFC822 " + _literal(MESSAGE),
        b"RFC822.HEADER": b"RFC822.HEADER " + _literal(header),
        b"RFC822.TEXT": b"RFC822.TEXT " + _literal(text),
    }
    # BODY.PEEK[...] is answered as BODY[...] (RFC 9051 §6.4.5).
    for section, content in ((b"", MESSAGE), (b"HEADER", header), (b"TEXT", text)):
        answer = b"BODY[%s] %s" % (section, _literal(content))
        items[b"BODY[%s]" % section] = items[b"BODY.PEEK[%s]" % section] = answer
    return items


_FETCH_ITEMS = _fetch_items()
_FETCH_MACROS = {b"FAST": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"]}
_STATUS_ITEMS = {
    b"MESSAGES": 1,
    b"RECENT": 0,
    b"UIDNEXT": MESSAGE_UID + 1,
    b"UIDVALIDITY": UIDVALIDITY,
    b"UNSEEN": 1,
    b"DELETED": 0,
    b"SIZE": len(MESSAGE),
}


def _tokenize(data: bytes) -> list[Token]:
    """Split a command into atoms, strings and parenthesised lists (RFC 9051 §4); raise ValueError if bad.

    An atom keeps a bracketed section whole, spaces included, so `BODY.PEEK[HEADER.FIELDS (FROM)]` is one
    fetch item.
    """
    tokens, _ = _parse_items(data, 0, nested=False)
    return tokens


def _parse_items(data: bytes, pos: int, *, nested: bool) -> tuple[list[Token], int]:
    items: list[Token] = []
    while pos < len(data):
        char = data[pos : pos + 1]
        if char == b" ":
            pos += 1
            continue
        if char == b")":
            if not nested:
                raise ValueError("unbalanced ')'")
            return items, pos + 1
        item: Token
        if char == b"(":
            item, pos = _parse_items(data, pos + 1, nested=True)
        elif char == b'"':
            item, pos = _parse_quoted(data, pos + 1)
        elif (literal := _LITERAL_AT.match(data, pos)) is not None:
            start = literal.end()
            item, pos = data[start : start + int(literal[1])], start + int(literal[1])
        else:
            item, pos = _parse_atom(data, pos)
        items.append(item)
    if nested:
        raise ValueError("unclosed '('")
    return items, pos


def _parse_quoted(data: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    while pos < len(data):
        char = data[pos : pos + 1]
        if char == b'"':
            return bytes(out), pos + 1
        if char == b"\\":
            pos += 1
            char = data[pos : pos + 1]
        out += char
        pos += 1
    raise ValueError("unterminated quoted string")


def _parse_atom(data: bytes, pos: int) -> tuple[bytes, int]:
    start, depth = pos, 0
    while pos < len(data):
        char = data[pos : pos + 1]
        if depth == 0 and char in (b" ", b"(", b")"):
            break
        depth += {b"[": 1, b"]": -1}.get(char, 0)
        pos += 1
    return data[start:pos], pos


def _in_sequence_set(spec: bytes, number: int, largest: int) -> bool:
    """Whether `number` is in an RFC 9051 §9 sequence-set.

    "*" is the largest number in use, so "5:*" includes it even when 5 is beyond it (RFC 9051 §6.4.9): a
    real server does this and a sync client must cope.
    """
    for part in spec.split(b","):
        low, _, high = part.partition(b":")
        ends = sorted(largest if end == b"*" else int(end) for end in (low, high or low))
        if ends[0] <= number <= ends[1]:
            return True
    return False


def _next_tag(tag: bytes) -> bytes:
    """Guess the client's next tag: imaplib (and so imapclient) counts up a numeric suffix."""
    match = re.fullmatch(rb"(.*?)(\d+)", tag)
    if match is None:
        return tag + b"1"
    return match[1] + str(int(match[2]) + 1).encode()


def _forged_injection(starttls_tag: bytes) -> bytes:
    """Plaintext a man in the middle appends to the STARTTLS answer, hoping the client reads it after TLS.

    A client must discard whatever it buffered before the handshake: RFC 2595 §3.1 and RFC 9051 §6.2.1 make
    it forget what it learnt before TLS, and CVE-2011-0411 showed the same flaw in SMTP servers.
    """
    return (
        b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
        b"* %d EXISTS\r\n"
        b'* LIST () "/" "%s"\r\n'
        b"%s OK Forged completion of a command not yet sent\r\n"
    ) % (FORGED_EXISTS, FORGED_FOLDER.encode(), _next_tag(starttls_tag))


def _server_context(cert_file: Path, key_file: Path, *, tls10_only: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tls10_only:
        # Python deprecates TLS 1.0 itself, which is the point of this scenario; keep the warning quiet.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1
        # OpenSSL 3 rates the SHA-1 and MD5-SHA1 handshake signatures of TLS 1.0 below security level 1, so at
        # the default level it offers no cipher ("no ciphers available"); level 0 restores them.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class _Disconnected(Exception):
    """The client went away or stayed silent too long, or the server is stopping."""


class _Wire:
    """A client socket with a read buffer, readable before and after the switch to TLS."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        sock.settimeout(_POLL_SECONDS)
        # Answers go out as several small writes; without this, Nagle's algorithm meeting the client's
        # delayed ACK stalls each exchange by tens of milliseconds.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._stopping = stopping
        self._buffer = bytearray()

    @property
    def is_tls(self) -> bool:
        return isinstance(self._sock, ssl.SSLSocket)

    def send(self, data: bytes) -> None:
        """Send in one call, so a short answer leaves in one TCP segment (what the injection relies on)."""
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise _Disconnected(str(exc)) from exc

    def read_line(self) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > _MAX_LINE:
                raise _Disconnected("line too long")
            self._fill()
        return self._take(end + 1)

    def read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        return self._take(size)

    def next_byte_opens_tls(self) -> bool | None:
        """Whether the next byte starts a TLS handshake record; None if the client closed instead."""
        if self._buffer:
            return False
        try:
            first = self._wait(lambda: self._sock.recv(1, socket.MSG_PEEK))
        except OSError:  # A reset counts as closing.
            return None
        return None if not first else first[0] == _TLS_HANDSHAKE_RECORD

    def start_tls(self, context: ssl.SSLContext) -> None:
        """Run the server side of the handshake; ssl.SSLError or OSError tells why it failed."""
        tls = context.wrap_socket(self._sock, server_side=True, do_handshake_on_connect=False)
        self._sock = tls
        self._wait(tls.do_handshake)

    def close(self) -> None:
        self._sock.close()

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _fill(self) -> None:
        try:
            data = self._wait(lambda: self._sock.recv(4096))
        except OSError as exc:
            raise _Disconnected(str(exc)) from exc
        if not data:
            raise _Disconnected("client closed the connection")
        self._buffer += data

    def _wait(self, operation: Callable[[], _T]) -> _T:
        """Retry a socket operation that timed out, until the server stops or the client idles too long."""
        deadline = time.monotonic() + _IDLE_SECONDS
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                return operation()
            except TimeoutError:
                continue
        raise _Disconnected("stopping, or the client was idle too long")


class _Session:
    """One client connection, from greeting (or TLS handshake) to LOGOUT or disconnection."""

    def __init__(self, server: ScriptedImapServer, wire: _Wire) -> None:
        self._server = server
        self._wire = wire
        self._script = _SCRIPTS[server.scenario]
        self._state = _State.AUTHENTICATED if self._script.preauth else _State.NOT_AUTHENTICATED
        self._done = False
        self._handlers: dict[bytes, Callable[[bytes, list[Token]], None]] = {
            b"CAPABILITY": self._capability,
            b"NOOP": self._noop,
            b"LOGOUT": self._logout,
            b"ID": self._id,
            b"STARTTLS": self._starttls,
            b"LOGIN": self._login,
            b"AUTHENTICATE": self._authenticate,
            b"ENABLE": self._enable,
            b"NAMESPACE": self._namespace,
            b"LIST": self._list,
            b"LSUB": lambda tag, args: self._list(tag, args, response=b"LSUB"),
            b"SELECT": self._select,
            b"EXAMINE": lambda tag, args: self._select(tag, args, read_only=True),
            b"STATUS": self._status,
            b"CLOSE": self._close,
            b"UNSELECT": self._close,
            b"SEARCH": self._search,
            b"FETCH": self._fetch,
            b"UID": self._uid,
        }

    def run(self) -> None:
        # Implicit TLS (RFC 8314 §3.3): the handshake comes first, before any IMAP byte.
        if self._script.implicit_tls and not self._begin_tls():
            return
        if self._script.bye_alert:
            self._untagged(b"BYE [ALERT] " + ALERT_TEXT)
            return
        status = b"PREAUTH" if self._script.preauth else b"OK"
        self._untagged(b"%s [CAPABILITY %s] Scripted IMAP ready" % (status, self._capabilities()))
        while not self._done:
            self._handle(self._read_command())

    # Transport.

    def _read_command(self) -> bytes:
        """Read one command, literals included (RFC 9051 §4.3; `{n+}` is LITERAL+, RFC 7888)."""
        raw = bytearray()
        while True:
            line = self._wire.read_line()
            raw += line
            literal = _LITERAL_AT_END.search(line)
            if literal is None:
                break
            size = int(literal["size"])
            if size > _MAX_LITERAL:
                raise _Disconnected("literal too large")
            if not literal["plus"]:
                self._wire.send(b"+ Ready for literal data\r\n")
            raw += self._wire.read_exact(size)
        command = bytes(raw).rstrip(b"\r\n")
        self._server._record(command)
        return command

    def _begin_tls(self) -> bool:
        """Handshake now; on failure record why and return False, and the connection is dropped."""
        opens_tls = self._wire.next_byte_opens_tls()
        if opens_tls is None:
            self._server.handshake_errors.append("client closed the connection before the TLS handshake")
            return False
        if not opens_tls:
            # Plaintext where a ClientHello was due: record it too, as it may carry a credential.
            self._server.handshake_errors.append("client sent plaintext where a TLS ClientHello was due")
            self._read_command()
            return False
        try:
            self._wire.start_tls(self._server._require_tls_context())
        except OSError as exc:
            self._server.handshake_errors.append(f"{type(exc).__name__}: {exc}")
            return False
        self._server.tls_established = True
        return True

    def _capabilities(self) -> bytes:
        return _CAPABILITIES_AFTER_TLS if self._wire.is_tls else self._script.plaintext_capabilities

    def _untagged(self, text: bytes) -> None:
        self._wire.send(b"* " + text + b"\r\n")

    def _reply(self, tag: bytes, status: bytes, text: bytes) -> None:
        self._wire.send(b"%s %s %s\r\n" % (tag, status, text))

    def _handle(self, command: bytes) -> None:
        try:
            tokens = _tokenize(command)
        except ValueError:
            tokens = []
        if len(tokens) < 2 or not isinstance(tokens[0], bytes) or not isinstance(tokens[1], bytes):
            self._untagged(b"BAD Missing tag or command")
            return
        tag, name, args = tokens[0], tokens[1].upper(), tokens[2:]
        handler = self._handlers.get(name)
        if handler is None:
            self._reply(tag, b"BAD", b"Unknown command")
        elif self._state not in _COMMAND_STATES[name]:
            self._reply(tag, b"BAD", b"Command not valid in this state")
        else:
            try:
                handler(tag, args)
            except ValueError as exc:
                self._reply(tag, b"BAD", b"Malformed arguments: " + str(exc).encode())

    # Any state (RFC 9051 §6.1) and ID (RFC 2971).

    def _capability(self, tag: bytes, args: list[Token]) -> None:
        self._untagged(b"CAPABILITY " + self._capabilities())
        self._reply(tag, b"OK", b"CAPABILITY completed")

    def _noop(self, tag: bytes, args: list[Token]) -> None:
        self._reply(tag, b"OK", b"NOOP completed")

    def _logout(self, tag: bytes, args: list[Token]) -> None:
        self._untagged(b"BYE Logging out")
        self._reply(tag, b"OK", b"LOGOUT completed")
        self._done = True

    def _id(self, tag: bytes, args: list[Token]) -> None:
        self._untagged(b'ID ("name" "salus-scripted-imap")')
        self._reply(tag, b"OK", b"ID completed")

    # Not authenticated (RFC 9051 §6.2).

    def _starttls(self, tag: bytes, args: list[Token]) -> None:
        action = self._script.starttls
        if self._wire.is_tls or action is _StartTls.REFUSE_BAD:
            self._reply(tag, b"BAD", b"STARTTLS is not available")
        elif action is _StartTls.REFUSE_NO:
            self._reply(tag, b"NO", b"TLS is unavailable at the moment")
        else:
            answer = b"%s OK Begin TLS negotiation now\r\n" % tag
            if action is _StartTls.ACCEPT_WITH_INJECTION:
                answer += _forged_injection(tag)
            self._wire.send(answer)
            # RFC 9051 §6.2.1: no new greeting; the client re-issues CAPABILITY, still not authenticated.
            if not self._begin_tls():
                self._done = True

    def _login_disabled(self, tag: bytes) -> bool:
        if b"LOGINDISABLED" not in self._capabilities().split():
            return False
        self._reply(tag, b"NO", b"[PRIVACYREQUIRED] Use STARTTLS first")
        return True

    def _login(self, tag: bytes, args: list[Token]) -> None:
        if self._login_disabled(tag):
            return
        user, password = _strings(args, 2)
        self._authenticated(tag, user, password)

    def _authenticate(self, tag: bytes, args: list[Token]) -> None:
        """AUTHENTICATE PLAIN (RFC 9051 §6.2.2, RFC 4616), with or without an initial response."""
        if self._login_disabled(tag):
            return
        mechanism, *initial = _strings(args, len(args))
        if mechanism.upper() != b"PLAIN" or len(initial) > 1:
            self._reply(tag, b"NO", b"Only AUTHENTICATE PLAIN is supported")
            return
        if not initial:
            self._wire.send(b"+ \r\n")
            initial = [self._wire.read_line().rstrip(b"\r\n")]
            self._server._record(initial[0])
        try:
            _authzid, user, password = base64.b64decode(initial[0], validate=True).split(b"\0")
        except (binascii.Error, ValueError):
            self._reply(tag, b"BAD", b"Malformed PLAIN response")
            return
        self._authenticated(tag, user, password)

    def _authenticated(self, tag: bytes, user: bytes, password: bytes) -> None:
        if (user, password) != (self._server.user.encode(), self._server.password.encode()):
            self._reply(tag, b"NO", b"[AUTHENTICATIONFAILED] Invalid credentials")
            return
        self._state = _State.AUTHENTICATED
        self._reply(tag, b"OK", b"[CAPABILITY %s] Logged in" % self._capabilities())

    # Authenticated (RFC 9051 §6.3).

    def _enable(self, tag: bytes, args: list[Token]) -> None:
        # RFC 5161 §3.1: ENABLED names only what was enabled, which here is nothing (no CONDSTORE).
        self._untagged(b"ENABLED")
        self._reply(tag, b"OK", b"Nothing enabled")

    def _namespace(self, tag: bytes, args: list[Token]) -> None:
        self._untagged(b'NAMESPACE (("" "/")) NIL NIL')
        self._reply(tag, b"OK", b"NAMESPACE completed")

    def _list(self, tag: bytes, args: list[Token], *, response: bytes = b"LIST") -> None:
        _reference, pattern = _strings(args, 2)
        if not pattern:
            # RFC 9051 §6.3.9: an empty pattern asks only for the hierarchy delimiter.
            self._untagged(b'%s (\\Noselect) "/" ""' % response)
        elif _pattern_matches(pattern, b"INBOX"):
            self._untagged(b'%s (\\HasNoChildren) "/" INBOX' % response)
        self._reply(tag, b"OK", b"%s completed" % response)

    def _select(self, tag: bytes, args: list[Token], *, read_only: bool = False) -> None:
        (mailbox,) = _strings(args, 1)
        if mailbox.upper() != b"INBOX":
            self._reply(tag, b"NO", b"[NONEXISTENT] No such mailbox")
            return
        # IMAP4rev1 still requires RECENT (RFC 3501 §6.3.1); UIDVALIDITY per RFC 9051 §2.3.1.1.
        for line in (
            b"FLAGS " + _MAILBOX_FLAGS,
            b"1 EXISTS",
            b"0 RECENT",
            b"OK [UIDVALIDITY %d] UIDs valid" % UIDVALIDITY,
            b"OK [UIDNEXT %d] Predicted next UID" % (MESSAGE_UID + 1),
            b"OK [PERMANENTFLAGS ()] Flags are not stored",
        ):
            self._untagged(line)
        self._state = _State.SELECTED
        self._reply(tag, b"OK", b"[READ-ONLY] EXAMINE completed" if read_only else b"[READ-WRITE] SELECT completed")

    def _status(self, tag: bytes, args: list[Token]) -> None:
        if len(args) != 2 or not isinstance(args[0], bytes) or not isinstance(args[1], list):
            raise ValueError("expected a mailbox and a list of items")
        if args[0].upper() != b"INBOX":
            self._reply(tag, b"NO", b"[NONEXISTENT] No such mailbox")
            return
        items = [item.upper() for item in _strings(args[1], len(args[1]))]
        if unknown := [item for item in items if item not in _STATUS_ITEMS]:
            raise ValueError(f"unsupported STATUS items {unknown!r}")
        values = b" ".join(b"%s %d" % (item, _STATUS_ITEMS[item]) for item in items)
        self._untagged(b"STATUS INBOX (%s)" % values)
        self._reply(tag, b"OK", b"STATUS completed")

    # Selected (RFC 9051 §6.4).

    def _close(self, tag: bytes, args: list[Token]) -> None:
        self._state = _State.AUTHENTICATED
        self._reply(tag, b"OK", b"Mailbox closed")

    def _uid(self, tag: bytes, args: list[Token]) -> None:
        """RFC 9051 §6.4.9: UID SEARCH and UID FETCH, where message and UID are both 1."""
        if not args or not isinstance(args[0], bytes) or args[0].upper() not in (b"SEARCH", b"FETCH"):
            raise ValueError("only UID SEARCH and UID FETCH are scripted")
        if args[0].upper() == b"SEARCH":
            self._search(tag, args[1:])
        else:
            self._fetch(tag, args[1:], by_uid=True)

    def _search(self, tag: bytes, args: list[Token]) -> None:
        # Only a UID criterion narrows the result; every other criterion matches the unflagged message.
        matches = True
        for index, token in enumerate(args[:-1]):
            following = args[index + 1]
            if isinstance(token, bytes) and token.upper() == b"UID" and isinstance(following, bytes):
                matches = _in_sequence_set(following, MESSAGE_UID, MESSAGE_UID)
        self._untagged(b"SEARCH 1" if matches else b"SEARCH")
        self._reply(tag, b"OK", b"SEARCH completed")

    def _fetch(self, tag: bytes, args: list[Token], *, by_uid: bool = False) -> None:
        if len(args) < 2 or not isinstance(args[0], bytes):
            raise ValueError("expected a sequence set and fetch items")
        names = _fetch_names(args[1])
        if by_uid and b"UID" not in names:
            names.insert(0, b"UID")  # RFC 9051 §6.4.9: UID FETCH always returns the UID.
        if unknown := [name for name in names if name not in _FETCH_ITEMS]:
            raise ValueError(f"unsupported fetch items {unknown!r}")
        if _in_sequence_set(args[0], MESSAGE_UID, MESSAGE_UID):
            self._untagged(b"1 FETCH (%s)" % b" ".join(_FETCH_ITEMS[name] for name in names))
        self._reply(tag, b"OK", b"FETCH completed")


def _strings(args: list[Token], count: int) -> list[bytes]:
    """The arguments as exactly `count` atoms or strings; ValueError otherwise."""
    strings = [arg for arg in args if isinstance(arg, bytes)]
    if len(args) != count or len(strings) != count:
        raise ValueError(f"expected {count} string arguments")
    return strings


def _fetch_names(items: Token) -> list[bytes]:
    names = _strings(items, len(items)) if isinstance(items, list) else [items]
    expanded: list[bytes] = []
    for name in (name.upper() for name in names):
        expanded.extend(_FETCH_MACROS.get(name, [name]))
    return expanded


def _pattern_matches(pattern: bytes, mailbox: bytes) -> bool:
    """RFC 9051 §6.3.9 wildcards: "*" matches anything, "%" anything but the delimiter."""
    regex = re.escape(pattern).replace(rb"\*", rb".*").replace(rb"%", rb"[^/]*")
    return re.fullmatch(regex, mailbox, re.IGNORECASE) is not None


class ScriptedImapServer:
    """A one-connection-at-a-time IMAP server on 127.0.0.1 that follows a `Scenario`.

    Use it as a context manager; `port` is set on entry. Recorded state is written only by the server
    thread (list appends and flag sets are atomic under the GIL); call `wait_for_connections` before
    asserting on what a connection the client has already dropped left behind.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        cert_file: Path | None,
        key_file: Path | None,
        user: str = "alice",
        password: str = "secret",  # noqa: S107 - a test account on a loopback test server.
    ) -> None:
        if not password:
            raise ValueError("an empty password would match every line")
        self.scenario = scenario
        self.user = user
        self.password = password
        self.port = 0
        self.commands: list[bytes] = []
        self.credentials_received = False
        self.tls_established = False
        self.handshake_errors: list[str] = []
        self.connections_handled = 0
        self._tls_context = self._make_tls_context(cert_file, key_file)
        self._stopping = threading.Event()
        self._connection_done = threading.Condition()
        self._failures: list[Exception] = []
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(_POLL_SECONDS)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._serve, args=(listener,), name=f"scripted-imap-{self.scenario.name}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(_JOIN_SECONDS)
        if self._listener is not None:
            self._listener.close()
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("scripted IMAP server thread did not stop")
        if self._failures and exc_type is None:
            raise RuntimeError("scripted IMAP server failed") from self._failures[0]

    def wait_for_connections(self, count: int = 1, timeout: float = 2.0) -> None:
        """Block until `count` connections in all have been closed by the server; TimeoutError if not."""
        with self._connection_done:
            if not self._connection_done.wait_for(lambda: self.connections_handled >= count, timeout):
                raise TimeoutError(f"{self.connections_handled} of {count} connections finished")

    def _make_tls_context(self, cert_file: Path | None, key_file: Path | None) -> ssl.SSLContext | None:
        script = _SCRIPTS[self.scenario]
        needs_tls = script.implicit_tls or script.starttls in (
            _StartTls.ACCEPT,
            _StartTls.ACCEPT_WITH_INJECTION,
        )
        if cert_file is None or key_file is None:
            if needs_tls:
                raise ValueError(f"{self.scenario.name} needs cert_file and key_file")
            return None
        return _server_context(cert_file, key_file, tls10_only=script.tls10_only)

    def _require_tls_context(self) -> ssl.SSLContext:
        if self._tls_context is None:
            raise RuntimeError("no TLS context for a scenario that needs one")
        return self._tls_context

    def _record(self, line: bytes) -> None:
        self.commands.append(line)
        if _CREDENTIAL_COMMAND.match(line) or self.password.encode() in line:
            self.credentials_received = True

    def _serve(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _address = listener.accept()
            except TimeoutError:
                continue
            try:
                self._handle_connection(conn)
            except Exception as exc:  # A bug here must fail the test, not vanish with the thread.
                self._failures.append(exc)
            finally:
                conn.close()
                with self._connection_done:
                    self.connections_handled += 1
                    self._connection_done.notify_all()

    def _handle_connection(self, conn: socket.socket) -> None:
        wire = _Wire(conn, self._stopping)
        try:
            _Session(self, wire).run()
        except _Disconnected:
            pass
        finally:
            wire.close()
