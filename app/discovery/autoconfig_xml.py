"""Parsing a Thunderbird autoconfig document (`clientConfig` version 1.1), without I/O.

Rules this module keeps:
- The document comes from a web server we do not control, so the parser is expat with every door that makes XML
  dangerous shut: a document type declaration (which is where entities, including the "billion laughs", are
  declared) is refused outright, parameter and external entities are never read, and the caller caps the size
  before parsing. Only the five predefined entities and character references are ever expanded.
- Only what a suggestion needs is read: each `incomingServer` / `outgoingServer` with its type, hostname, port,
  socketType and username, in document order (the order of preference, best first). Everything else (display
  names, documentation links, OAuth settings) is ignored.
- A malformed document raises ConfigInvalid with a reason a person can read; nothing from the document is
  trusted beyond being a suggestion the user confirms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from app.discovery.http import DiscoveryError

MAX_CONFIG_BYTES = 64 * 1024  # real configurations are 1-3 KB; anything near this is not one
_SERVER_ELEMENTS = {"incomingServer": "incoming", "outgoingServer": "outgoing"}
_FIELDS = frozenset({"hostname", "port", "socketType", "username"})
_MAX_FIELD = 255


class ConfigInvalid(DiscoveryError):
    """An autoconfig document that cannot be used, and why."""


@dataclass(frozen=True, slots=True)
class OfferedServer:
    """One server as the document offers it, unvalidated apart from its shape."""

    direction: str  # "incoming" or "outgoing"
    type: str  # "imap", "pop3", "smtp", ... lower case
    hostname: str
    port: int  # 0 when the document gave none that is a number in 1-65535
    socket_type: str  # "SSL", "STARTTLS", "plain", ... as written
    username: str


@dataclass(slots=True)
class _Reading:
    servers: list[OfferedServer] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    current: dict[str, str] | None = None
    text: list[str] = field(default_factory=list)


def parse_client_config(document: bytes) -> tuple[OfferedServer, ...]:
    """The servers a `clientConfig` document offers, best first; raises ConfigInvalid."""
    if len(document) > MAX_CONFIG_BYTES:
        raise ConfigInvalid(f"the configuration is larger than {MAX_CONFIG_BYTES} bytes")
    reading = _Reading()
    parser = _parser(reading)
    try:
        parser.Parse(document, True)
    except expat.ExpatError as exc:
        raise ConfigInvalid(f"the configuration is not well-formed XML ({expat.ErrorString(exc.code)})") from exc
    if not reading.servers:
        raise ConfigInvalid("the configuration offers no servers")
    return tuple(reading.servers)


def _parser(reading: _Reading) -> expat.XMLParserType:
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.StartElementHandler = lambda name, attributes: _start(reading, name, attributes)
    parser.EndElementHandler = lambda name: _end(reading, name)
    parser.CharacterDataHandler = lambda data: _text(reading, data)
    return parser


def _refuse_doctype(*_: object) -> None:
    raise ConfigInvalid("the configuration declares a document type; entity declarations are refused")


def _refuse_entity(*_: object) -> int:
    raise ConfigInvalid("the configuration declares or references an entity; entities are refused")


def _start(reading: _Reading, name: str, attributes: dict[str, str]) -> None:
    if not reading.stack and name != "clientConfig":
        raise ConfigInvalid(f"the document is not a clientConfig (it starts with <{name[:40]}>)")
    reading.stack.append(name)
    if name in _SERVER_ELEMENTS and len(reading.stack) == 3:  # clientConfig / emailProvider / server
        reading.current = {"type": attributes.get("type", "").strip().lower()}
    reading.text = []


def _text(reading: _Reading, data: str) -> None:
    if sum(map(len, reading.text)) + len(data) > _MAX_FIELD * 4:
        reading.text = [data[: _MAX_FIELD * 4]]  # long prose in ignored elements: keep the parse bounded
        return
    reading.text.append(data)


def _end(reading: _Reading, name: str) -> None:
    reading.stack.pop()
    current = reading.current
    if current is not None and name in _FIELDS and reading.stack and reading.stack[-1] in _SERVER_ELEMENTS:
        current.setdefault(name, "".join(reading.text).strip()[: _MAX_FIELD + 1])
    elif current is not None and name in _SERVER_ELEMENTS and len(reading.stack) == 2:
        reading.servers.append(_server(_SERVER_ELEMENTS[name], current))
        reading.current = None
    reading.text = []


def _server(direction: str, values: dict[str, str]) -> OfferedServer:
    port = values.get("port", "")
    number = int(port) if port.isascii() and port.isdigit() and len(port) <= 5 else 0
    return OfferedServer(
        direction,
        values.get("type", ""),
        values.get("hostname", ""),
        number if number <= 65535 else 0,
        values.get("socketType", ""),
        values.get("username", ""),
    )
