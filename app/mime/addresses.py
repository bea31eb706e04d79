"""Address lists (RFC 5322 §3.4) read leniently and safely.

Rules of this module:
- The structure (quotes, comments, angle brackets, groups) is read before any RFC 2047 word is
  decoded (RFC 2047 §5 allows words only in phrases and comments), so an encoded "<" or "," in a
  display name cannot invent an address.
- A display name that looks like an address ("boss@clinic.org" <evil@x.com>) stays a name; the
  address is always what sits in the angle brackets.
- The scan is linear: every token is matched at the current position and consumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.mime.charset import escape_control_chars
from app.mime.headers import decode_words


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: the decoded, escaped display name ("" if none) and the addr-spec."""

    name: str
    addr: str


# Atoms are taken generously ("." and "@" included) because real display names are not RFC atoms.
# An encoded word is one atom even if it holds specials such as ":" that RFC 2047 §5 forbids there.
_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<word>=\?[^?\s]{1,64}\?[bBqQ]\?[^?\s]*\?=)|(?P<atom>[^\s"(),:;<>\[\]]+)"""
    r"""|(?P<quoted>"(?:[^"\\]|\\.)*"?)"""
    r"""|(?P<literal>\[[^\[\]]*\]?)|(?P<special>[(),:;<>\[\]])""",
    re.DOTALL,
)
_COMMENT_STOP = re.compile(r"[()\\]")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


@dataclass(slots=True)
class _Mailbox:
    """The mailbox being read: (display text, source text) words, angle-bracket parts, a comment."""

    words: list[tuple[str, str]] = field(default_factory=list)
    angle: list[str] | None = None
    in_angle: bool = False
    comment: str = ""


def parse_addresses(text: str, where: str, problems: list[str]) -> tuple[Address, ...]:
    """All mailboxes of an address list; group names are dropped, group members kept (§3.4)."""
    found: list[Address] = []
    box = _Mailbox()
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        assert match is not None  # the alternatives cover every character
        pos = match.end()
        kind, value = match.lastgroup, match.group()
        if kind == "special":
            if value == "(":
                comment, pos = _read_comment(text, pos)
                box.comment = box.comment or comment
            elif _ends_mailbox(box, value):
                _finish(box, found, where, problems)
                box = _Mailbox()
        elif kind != "space":
            _add_word(box, kind or "", value)
    _finish(box, found, where, problems)
    return tuple(found)


def _ends_mailbox(box: _Mailbox, special: str) -> bool:
    """Apply one special character to the mailbox; True when it ends the mailbox."""
    if special == "<" and not box.in_angle and box.angle is None:
        box.angle, box.in_angle = [], True
    elif special == ">":
        box.in_angle = False
    elif box.in_angle and box.angle and box.angle[0].startswith("@") and special in ",:":
        box.angle.append(special)  # an obsolete source route, "<@relay,@relay2:user@host>" (§4.4)
    elif special == ":" and not box.in_angle:
        box.words.clear()  # "group-name:" starts a group; the name is not a mailbox
    elif special in ",;":
        return True  # ";" ends a group; lone ";" separators come from people typing lists
    return False


def _add_word(box: _Mailbox, kind: str, value: str) -> None:
    if box.in_angle and box.angle is not None:
        box.angle.append(value)
    elif kind == "quoted":
        inner = value[1:-1] if len(value) > 1 and value.endswith('"') else value[1:]
        box.words.append((_QUOTED_PAIR.sub(r"\1", inner), value))
    else:
        box.words.append((value, value))


def _read_comment(text: str, pos: int) -> tuple[str, int]:
    """Read a (possibly nested, RFC 5322 §3.2.2) comment whose "(" ends before `pos`."""
    depth, start = 1, pos
    while depth:
        stop = _COMMENT_STOP.search(text, pos)
        if stop is None:
            return text[start:], len(text)
        pos = stop.end() + (1 if stop.group() == "\\" else 0)
        depth += {"(": 1, ")": -1}.get(stop.group(), 0)
    return text[start : pos - 1], pos


def _finish(box: _Mailbox, found: list[Address], where: str, problems: list[str]) -> None:
    display = " ".join(text for text, _ in box.words)
    if box.angle is not None:
        addr = "".join(box.angle).rpartition(":")[2]
        name = display or box.comment
    elif any("@" in source for _, source in box.words):
        addr, name = "".join(source for _, source in box.words), box.comment
    else:
        addr, name = "", display
    if addr or name:
        name = escape_control_chars(decode_words(name, where, problems)).strip()
        found.append(Address(name=name, addr=escape_control_chars(addr)))
