"""Autocrypt Level 1 headers and peer state (https://autocrypt.org/level1.html).

Rules this module keeps:
- Pure: standard library only, no clock; the caller passes every date, each timezone-aware.
- A header is valid only when it names the sender (`addr` equals the From address, compared after
  lower-casing, as Autocrypt canonicalises addresses), carries base64 `keydata`, and holds no critical
  attribute we do not know ("The Autocrypt Header"). Anything else makes the whole header invalid: the
  parser returns None and never raises, whatever the input.
- More than one valid header in one message is an error, and then none is used ("Updating Autocrypt Peer
  State"). Invalid headers do not count: future versions may add headers that Level 1 must skip.
- Peer state changes only as the spec's six update steps say, so an older message never replaces a key
  learned from a newer one.
- The key is carried as opaque bytes; reading it is the job of `app.crypto`.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

# "MUAs SHOULD treat such headers as invalid" above 10 KiB, counting the "Autocrypt: " prefix.
MAX_HEADER_BYTES = 10 * 1024
_HEADER_PREFIX = "Autocrypt: "
_WHITESPACE = re.compile(r"\s+")
_KNOWN_ATTRIBUTES = frozenset({"addr", "prefer-encrypt", "keydata"})


@dataclass(frozen=True, slots=True)
class AutocryptHeader:
    """One valid Autocrypt header. `addr` is canonical (lower case); `keydata` is the binary key, not yet
    checked as OpenPGP."""

    addr: str
    prefer_mutual: bool
    keydata: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "addr", canonical_address(self.addr))


@dataclass(frozen=True, slots=True)
class PeerState:
    """What Autocrypt remembers about one sender ("Communication Peers"), keyed by the canonical address.
    A peer seen only in messages without a header has no key yet: `autocrypt_timestamp` and `public_key`
    are then None. The spec's gossip fields are not kept: Salus does not act on Autocrypt-Gossip."""

    addr: str
    last_seen: datetime
    autocrypt_timestamp: datetime | None = None
    public_key: bytes | None = None
    prefer_mutual: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "addr", canonical_address(self.addr))
        _require_aware("last_seen", self.last_seen)
        _require_aware("autocrypt_timestamp", self.autocrypt_timestamp)
        if (self.autocrypt_timestamp is None) != (self.public_key is None):
            raise ValueError("a peer has a key exactly when it has an autocrypt_timestamp")


def canonical_address(address: str) -> str:
    """Autocrypt's form of an address: the whole address in lower case (spec: address canonicalization)."""
    return address.strip().lower()


def parse_autocrypt(header_value: str, from_addr: str) -> AutocryptHeader | None:
    """The header if it is valid for a message from `from_addr`, else None. Never raises."""
    if len((_HEADER_PREFIX + header_value).encode("utf-8", "surrogatepass")) > MAX_HEADER_BYTES:
        return None
    attributes = _attributes(header_value)
    if attributes is None or not _KNOWN_ATTRIBUTES.issuperset(attributes):
        return None
    addr = attributes.get("addr", "")
    if not addr or canonical_address(addr) != canonical_address(from_addr):
        return None
    keydata = _decode_keydata(attributes.get("keydata", ""))
    if keydata is None:
        return None
    # Any value but "mutual" means "nopreference" ("The Autocrypt Header", prefer-encrypt).
    mutual = attributes.get("prefer-encrypt") == "mutual"
    return AutocryptHeader(canonical_address(addr), mutual, keydata)


def select_autocrypt_header(header_values: Iterable[str], from_addr: str) -> AutocryptHeader | None:
    """The single valid header among all of a message's Autocrypt headers, or None when there is none or
    more than one ("Updating Autocrypt Peer State": examine all, and discard all if several are valid)."""
    valid = [header for value in header_values if (header := parse_autocrypt(value, from_addr)) is not None]
    return valid[0] if len(valid) == 1 else None


def message_is_eligible(from_count: int, content_type: str, auto_submitted: str | None) -> bool:
    """Whether a message may update peer state at all ("Updating Autocrypt Peer State"): not for
    auto-replies (RFC 3834), reports such as read receipts (multipart/report, RFC 3798), or a From
    with several addresses. Spam is the caller's judgement."""
    if from_count != 1:
        return False
    if content_type.strip().lower().startswith("multipart/report"):
        return False
    return auto_submitted is None or auto_submitted.strip().lower().split(";")[0].strip() != "auto-replied"


def effective_date(date_header: datetime | None, received_at: datetime) -> datetime:
    """The Date header, or the time of receipt when the date is missing or in the future (spec:
    "effective date"), so a forged future date cannot pin a key forever."""
    _require_aware("received_at", received_at)
    _require_aware("date_header", date_header)
    if date_header is None or date_header > received_at:
        return received_at
    return date_header


def update_peer(
    state: PeerState | None,
    header: AutocryptHeader | None,
    message_date: datetime,
    from_addr: str,
) -> PeerState:
    """The peer state after one eligible message from `from_addr` ("Updating Autocrypt Peer State").

    `message_date` is the message's effective date (see `effective_date`); `header` is the result of
    `select_autocrypt_header`. The state returned equals `state` when the message changes nothing.
    """
    _require_aware("message_date", message_date)
    addr = canonical_address(from_addr)
    if state is not None and state.addr != addr:
        raise ValueError("the peer state belongs to a different sender")
    if header is not None and header.addr != addr:
        raise ValueError("the Autocrypt header belongs to a different sender")
    if state is None:
        state = PeerState(addr=addr, last_seen=message_date)
    # Step 1: a message older than the newest header changes nothing.
    if state.autocrypt_timestamp is not None and message_date < state.autocrypt_timestamp:
        return state
    # Step 2: last_seen only moves forward.
    if message_date > state.last_seen:
        state = replace(state, last_seen=message_date)
    # Step 3: without a header nothing more changes.
    if header is None:
        return state
    # Steps 4 to 6: the newest header's key and preference win.
    return replace(
        state, autocrypt_timestamp=message_date, public_key=header.keydata, prefer_mutual=header.prefer_mutual
    )


def _attributes(header_value: str) -> dict[str, str] | None:
    """Attribute names (lower case) and values, with non-critical ("_") attributes dropped; None when an
    attribute is malformed or repeated. Values are split at the first "=": base64 ends in "=" padding."""
    found: dict[str, str] = {}
    for part in header_value.split(";"):
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if not equals or not name or name in found:
            return None
        if name.startswith("_"):
            continue
        found[name] = value.strip()
    return found


def _decode_keydata(value: str) -> bytes | None:
    """Base64 (RFC 4648 §4) with folding whitespace removed; None if it is empty or not canonical base64
    (stray characters, missing or surplus padding), so nothing can hide beside the key."""
    compact = _WHITESPACE.sub("", value)
    if not compact or not compact.isascii():
        return None
    try:
        decoded = binascii.a2b_base64(compact, strict_mode=True)
    except binascii.Error:
        return None
    return decoded if binascii.b2a_base64(decoded, newline=False).decode("ascii") == compact else None


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
