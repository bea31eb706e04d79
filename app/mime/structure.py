"""The MIME tree of a message (RFC 2045, RFC 2046 §5.1), walked without recursion.

Rules of this module:
- The walk keeps an explicit stack, so no message can exhaust the Python stack. Multiparts deeper
  than `max_depth` are not opened and at most `max_parts` entities are produced.
- Entities are spans of the original bytes; nothing is copied except header blocks, which are
  capped at `max_header_bytes`.
- Part numbers follow IMAP (RFC 3501 §6.4.5): the children of the top multipart are "1", "2", ...;
  a message that is not multipart has the single part "1". The top entity's own path is "".
- message/rfc822 parts are not opened: they are shown as attachments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from app.mime.headers import Fields, header_str, media_type, parse_content_field, split_fields

_FIELD_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:|From ")  # "From " opens an mbox copy
# RFC 2046 §5.1.1: after the boundary come an optional "--", transport padding, and the line end.
_DELIMITER_TAIL = re.compile(rb"(--)?[ \t]*\r?(?:\n|\Z)")


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on the work one message may cause; exceeding one is reported, never raised."""

    max_depth: int = 40
    max_parts: int = 500
    max_header_bytes: int = 256 * 1024
    max_text_chars: int = 2_000_000
    max_problems: int = 50


DEFAULT_LIMITS = ParseLimits()


@dataclass(frozen=True, slots=True)
class Entity:
    """One MIME entity: its headers, its type and where its body lies in the raw message."""

    path: str
    depth: int
    fields: Fields
    media: str  # lower-case "type/subtype", as the entity is read
    params: dict[str, str]
    body_start: int
    body_end: int
    alternative: tuple[str, str] | None  # (nearest multipart/alternative, the branch taken to here)
    declared: str  # the type the headers claim; differs from `media` for a multipart read as text

    @property
    def number(self) -> str:
        """The IMAP part number; the body of a message that is not multipart is part "1"."""
        return self.path or "1"

    @property
    def owner(self) -> str:
        """How problems name this entity."""
        return f"part {self.path}" if self.path else "the message"


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    path: str
    depth: int
    alternative: tuple[str, str] | None
    default_type: str


def walk(raw: bytes, limits: ParseLimits, problems: list[str]) -> Iterator[Entity]:
    """Every entity of the message in document order, the top entity first."""
    stack = [_Span(0, len(raw), "", 0, None, "text/plain")]
    produced = 0
    while stack:
        entity = _read_entity(raw, stack.pop(), limits, problems)
        produced += 1
        if entity.media.startswith("multipart/"):
            children = _children(raw, entity, limits, problems, limits.max_parts - produced - len(stack))
            if children is None:  # unusable structure: its body is still worth showing as text
                entity = replace(entity, media="text/plain", params={})
            else:
                stack.extend(reversed(children))
        yield entity


def _read_entity(raw: bytes, span: _Span, limits: ParseLimits, problems: list[str]) -> Entity:
    owner = f"part {span.path}" if span.path else "the message"
    where = f"the headers of {owner}"
    header_end, body_start = _header_bounds(raw, span, where, problems)
    if header_end - span.start > limits.max_header_bytes:
        problems.append(f"{where} are larger than {limits.max_header_bytes} bytes; the rest is ignored")
        header_end = span.start + limits.max_header_bytes
    fields, malformed = split_fields(raw[span.start : header_end])
    if malformed:
        problems.append(f"{malformed} malformed header line(s) in {where} ignored")
    media, params = _content_type(fields, span.default_type, f"the Content-Type of {owner}", problems)
    return Entity(span.path, span.depth, fields, media, params, body_start, span.end, span.alternative, media)


def _header_bounds(raw: bytes, span: _Span, where: str, problems: list[str]) -> tuple[int, int]:
    """Where the header block ends and the body starts (RFC 5322 §2.1, RFC 2046 §5.1.1)."""
    start, end = span.start, span.end
    for empty in (b"\n", b"\r\n"):  # a part may have no header fields at all
        if raw.startswith(empty, start, end):
            return start, start + len(empty)
    if not _FIELD_LINE.match(raw, start, end):
        if start < end:
            problems.append(f"{where} are missing; the content is shown as text")
        return start, start
    return _blank_line(raw, start, end)


def _blank_line(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """The end of the header block and the start of the body: around the first empty line, which
    ends in CRLF or, in mail stored by Unix tools, LF. Two `find`s are much faster than a regex."""
    crlf = raw.find(b"\n\r\n", start, end)
    lf = raw.find(b"\n\n", start, crlf + 2 if crlf >= 0 else end)
    if lf >= 0:
        return _without_cr(raw, lf, start), lf + 2
    if crlf >= 0:
        return _without_cr(raw, crlf, start), crlf + 3
    return end, end  # headers without a body


def _without_cr(raw: bytes, newline: int, start: int) -> int:
    return newline - 1 if newline > start and raw[newline - 1] == 0x0D else newline


def _content_type(fields: Fields, default: str, where: str, problems: list[str]) -> tuple[str, dict[str, str]]:
    """The media type and parameters; RFC 2045 §5.2 defaults for a missing or invalid field."""
    values = fields.get("content-type")
    if not values:
        return default, {}
    main, params = parse_content_field(header_str(values[0], where, problems), where, problems)
    valid = media_type(main)
    if valid is None:
        problems.append(f"{where} is invalid; treated as text/plain")
        return "text/plain", params
    return valid, params


def _children(raw: bytes, entity: Entity, limits: ParseLimits, problems: list[str], room: int) -> list[_Span] | None:
    """Spans of a multipart's children; [] if none may be shown, None if the structure is unusable."""
    if entity.depth >= limits.max_depth:
        problems.append(f"MIME nesting deeper than {limits.max_depth} levels; inner parts not shown")
        return []
    boundary = entity.params.get("boundary", "")
    if not boundary:
        problems.append(f"{entity.owner} is multipart but has no boundary; shown as plain text")
        return None
    found = _delimiters(raw, boundary.encode("utf-8"), entity.body_start, entity.body_end, room + 1)
    if not found:
        problems.append(f"the boundary of {entity.owner} never occurs; shown as plain text")
        return None
    spans = _spans_between(found, entity.body_end)
    if len(spans) > room:
        problems.append(f"more than {limits.max_parts} MIME parts; the rest are not shown")
        spans = spans[: max(room, 0)]
    elif not found[-1][2]:
        problems.append(f"{entity.owner} has no closing boundary; the message may be truncated")
    elif not spans:
        problems.append(f"{entity.owner} is multipart but has no parts")
    return [_child_span(entity, index, start, end) for index, (start, end) in enumerate(spans, 1)]


def _delimiters(raw: bytes, boundary: bytes, start: int, end: int, limit: int) -> list[tuple[int, int, bool]]:
    """(line start, content start, is closing) of each delimiter line, up to the closing one.

    The line break before "--boundary" belongs to the delimiter (RFC 2046 §5.1.1), so the line
    start is where the preceding part's content ends.
    """
    marker = b"--" + boundary
    found: list[tuple[int, int, bool]] = []
    pos = start
    while len(found) < limit and (at := raw.find(marker, pos, end)) >= 0:
        pos = at + len(marker)
        if at > start and raw[at - 1] != 0x0A:
            continue  # not at the start of a line
        tail = _DELIMITER_TAIL.match(raw, pos, end)
        closing = raw.startswith(b"--", pos, end)
        if tail is None and not closing:
            continue  # a longer boundary that merely starts with this one
        line_start = at if at == start else at - (2 if raw[at - 2 : at] == b"\r\n" else 1)
        found.append((line_start, tail.end() if tail else pos, closing))
        if closing:
            break
    return found


def _spans_between(found: list[tuple[int, int, bool]], end: int) -> list[tuple[int, int]]:
    spans = [(found[i][1], found[i + 1][0]) for i in range(len(found) - 1)]
    if not found[-1][2]:
        spans.append((found[-1][1], end))  # the last part runs to the end when the close is missing
    return spans


def _child_span(entity: Entity, index: int, start: int, end: int) -> _Span:
    path = f"{entity.path}.{index}" if entity.path else str(index)
    alternative = (entity.path, path) if entity.media == "multipart/alternative" else entity.alternative
    default = "message/rfc822" if entity.media == "multipart/digest" else "text/plain"  # RFC 2046 §5.1.5
    return _Span(start, end, path, entity.depth + 1, alternative, default)
