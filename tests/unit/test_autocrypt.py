"""Autocrypt Level 1: header parsing ("The Autocrypt Header") and peer state ("Updating Autocrypt Peer State")."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mime.autocrypt import (
    MAX_HEADER_BYTES,
    AutocryptHeader,
    PeerState,
    effective_date,
    message_is_eligible,
    parse_autocrypt,
    select_autocrypt_header,
    update_peer,
)

FROM = "Alice@Example.org"
KEY = bytes(range(256)) * 2  # opaque to this module; only base64 matters
KEY_B64 = base64.b64encode(KEY).decode()
OTHER_KEY = b"\x99\x00\x01other"
FOLDED = "\r\n ".join(KEY_B64[i : i + 76] for i in range(0, len(KEY_B64), 76))


@dataclass(frozen=True)
class Case:
    name: str
    header: str
    expected: AutocryptHeader | None


VALID = AutocryptHeader("alice@example.org", prefer_mutual=False, keydata=KEY)
MUTUAL = AutocryptHeader("alice@example.org", prefer_mutual=True, keydata=KEY)

CASES = [
    Case("minimal", f"addr=alice@example.org; keydata={KEY_B64}", VALID),
    Case("mutual", f"addr=alice@example.org; prefer-encrypt=mutual; keydata={KEY_B64}", MUTUAL),
    Case("address in other case", f"addr=ALICE@example.ORG; keydata={KEY_B64}", VALID),
    Case("folded keydata", f"addr=alice@example.org; keydata=\r\n {FOLDED}", VALID),
    Case("tabs and spaces around", f"  addr = alice@example.org ;\tkeydata= {KEY_B64} ", VALID),
    Case("trailing semicolon", f"addr=alice@example.org; keydata={KEY_B64};", VALID),
    Case("attribute names in capitals", f"ADDR=alice@example.org; KEYDATA={KEY_B64}", VALID),
    Case("unknown preference is nopreference", f"addr=alice@example.org; prefer-encrypt=yes; keydata={KEY_B64}", VALID),
    Case("empty preference is nopreference", f"addr=alice@example.org; prefer-encrypt=; keydata={KEY_B64}", VALID),
    Case("non-critical attribute ignored", f"addr=alice@example.org; _version=2; keydata={KEY_B64}", VALID),
    Case("keydata not last is tolerated", f"keydata={KEY_B64}; addr=alice@example.org", VALID),
    Case("unknown critical attribute", f"addr=alice@example.org; version=2; keydata={KEY_B64}", None),
    Case("other sender", f"addr=mallory@example.org; keydata={KEY_B64}", None),
    Case("sender as a display form", f"addr=Alice <alice@example.org>; keydata={KEY_B64}", None),
    Case("missing addr", f"keydata={KEY_B64}", None),
    Case("empty addr", f"addr=; keydata={KEY_B64}", None),
    Case("missing keydata", "addr=alice@example.org", None),
    Case("empty keydata", "addr=alice@example.org; keydata=", None),
    Case("keydata not base64", "addr=alice@example.org; keydata=not*base64!", None),
    Case("keydata with bad padding", "addr=alice@example.org; keydata=QUJD=", None),
    Case("keydata not ASCII", "addr=alice@example.org; keydata=QUJDÜ", None),
    Case("keydata without padding", "addr=alice@example.org; keydata=QUI", None),
    Case("keydata with data after padding", "addr=alice@example.org; keydata=QUI=QUJD", None),
    Case("keydata with surplus padding", "addr=alice@example.org; keydata=QUJD====", None),
    Case("attribute without value", f"addr=alice@example.org; mutual; keydata={KEY_B64}", None),
    Case("attribute without name", f"addr=alice@example.org; =x; keydata={KEY_B64}", None),
    Case("repeated addr", f"addr=alice@example.org; addr=alice@example.org; keydata={KEY_B64}", None),
    Case("repeated keydata", f"addr=alice@example.org; keydata={KEY_B64}; keydata={KEY_B64}", None),
    Case("empty", "", None),
    Case("too large", f"addr=alice@example.org; keydata={base64.b64encode(bytes(8000)).decode()}", None),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_parse(case: Case) -> None:
    assert parse_autocrypt(case.header, FROM) == case.expected


def test_size_limit_counts_the_header_name() -> None:
    """10 KiB includes "Autocrypt: " ("The Autocrypt Header"); probe both sides of the limit."""
    prefix = "addr=alice@example.org; keydata="
    room = MAX_HEADER_BYTES - len("Autocrypt: ") - len(prefix)
    fits = prefix + "A" * (room - room % 4)
    assert len("Autocrypt: " + fits) <= MAX_HEADER_BYTES
    assert parse_autocrypt(fits, FROM) is not None
    assert parse_autocrypt(fits + " AAAA", FROM) is None


@given(st.text(max_size=300), st.text(max_size=40))
def test_parser_never_raises(header: str, from_addr: str) -> None:
    parse_autocrypt(header, from_addr)


@given(
    st.lists(
        st.sampled_from(["addr=alice@example.org", "keydata=QUJD", "prefer-encrypt=mutual", "_x=1", "x=1", "=", ""]),
        max_size=6,
    ),
    st.text(alphabet=" \t\r\n;=_", max_size=5),
)
def test_parser_never_raises_on_near_valid_headers(parts: list[str], junk: str) -> None:
    parse_autocrypt(junk.join(parts), FROM)


# Several headers in one message.


def test_one_valid_header_among_invalid_ones_is_used() -> None:
    future = f"addr=alice@example.org; version=2; keydata={KEY_B64}"
    assert select_autocrypt_header([future, f"addr=alice@example.org; keydata={KEY_B64}"], FROM) == VALID


def test_two_valid_headers_discard_both() -> None:
    header = f"addr=alice@example.org; keydata={KEY_B64}"
    assert select_autocrypt_header([header, header], FROM) is None


def test_no_headers_give_none() -> None:
    assert select_autocrypt_header([], FROM) is None


# Which messages count at all.


@pytest.mark.parametrize(
    ("from_count", "content_type", "auto_submitted", "eligible"),
    [
        (1, "text/plain", None, True),
        (1, "multipart/mixed; boundary=x", "no", True),
        (1, "text/plain", "auto-generated", True),
        (1, "text/plain", "auto-replied", False),
        (1, "text/plain", " Auto-Replied ; x=y", False),
        (1, "multipart/report; report-type=disposition-notification", None, False),
        (1, "Multipart/Report", None, False),
        (2, "text/plain", None, False),
        (0, "text/plain", None, False),
    ],
)
def test_message_eligibility(from_count: int, content_type: str, auto_submitted: str | None, eligible: bool) -> None:
    assert message_is_eligible(from_count, content_type, auto_submitted) is eligible


# Effective date.

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_effective_date_is_the_date_header() -> None:
    assert effective_date(NOW - timedelta(days=1), NOW) == NOW - timedelta(days=1)


@pytest.mark.parametrize("date_header", [None, NOW + timedelta(seconds=1), NOW + timedelta(days=3650)])
def test_missing_or_future_date_becomes_the_time_of_receipt(date_header: datetime | None) -> None:
    assert effective_date(date_header, NOW) == NOW


def test_naive_dates_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        effective_date(datetime(2026, 1, 1), NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        update_peer(None, None, datetime(2026, 1, 1), FROM)


# Peer state updates, one row per rule of "Updating Autocrypt Peer State".

T0 = datetime(2026, 1, 10, tzinfo=UTC)
EARLIER, LATER = T0 - timedelta(days=2), T0 + timedelta(days=2)
ADDR = "alice@example.org"
WITH_KEY = PeerState(ADDR, last_seen=T0, autocrypt_timestamp=T0, public_key=KEY, prefer_mutual=True)
NEWER_HEADER = AutocryptHeader(ADDR, prefer_mutual=False, keydata=OTHER_KEY)


@dataclass(frozen=True)
class Update:
    name: str
    state: PeerState | None
    header: AutocryptHeader | None
    date: datetime
    expected: PeerState


UPDATES = [
    Update("first message without header", None, None, T0, PeerState(ADDR, last_seen=T0)),
    Update("first message with header", None, MUTUAL, T0, PeerState(ADDR, T0, T0, KEY, prefer_mutual=True)),
    Update(
        "newer header replaces key and preference",
        WITH_KEY,
        NEWER_HEADER,
        LATER,
        PeerState(ADDR, LATER, LATER, OTHER_KEY),
    ),
    Update("older header changes nothing", WITH_KEY, NEWER_HEADER, EARLIER, WITH_KEY),
    Update("older message without header changes nothing", WITH_KEY, None, EARLIER, WITH_KEY),
    Update(
        "newer message without header moves only last_seen",
        WITH_KEY,
        None,
        LATER,
        PeerState(ADDR, LATER, T0, KEY, prefer_mutual=True),
    ),
    Update("header of the same date is taken", WITH_KEY, NEWER_HEADER, T0, PeerState(ADDR, T0, T0, OTHER_KEY)),
    Update(
        "keyless peer learns a key",
        PeerState(ADDR, last_seen=LATER),
        MUTUAL,
        T0,
        PeerState(ADDR, last_seen=LATER, autocrypt_timestamp=T0, public_key=KEY, prefer_mutual=True),
    ),
    Update(
        "older keyless message keeps last_seen",
        PeerState(ADDR, last_seen=LATER),
        None,
        T0,
        PeerState(ADDR, last_seen=LATER),
    ),
]


@pytest.mark.parametrize("row", UPDATES, ids=[row.name for row in UPDATES])
def test_update_peer(row: Update) -> None:
    assert update_peer(row.state, row.header, row.date, "Alice@Example.ORG") == row.expected


def test_update_refuses_another_senders_state_or_header() -> None:
    with pytest.raises(ValueError, match="different sender"):
        update_peer(WITH_KEY, None, LATER, "bob@example.org")
    with pytest.raises(ValueError, match="different sender"):
        update_peer(None, VALID, LATER, "bob@example.org")


def test_peer_state_has_a_key_exactly_when_it_has_a_timestamp() -> None:
    with pytest.raises(ValueError, match="exactly when"):
        PeerState(ADDR, last_seen=T0, autocrypt_timestamp=T0)
    with pytest.raises(ValueError, match="exactly when"):
        PeerState(ADDR, last_seen=T0, public_key=KEY)


_dates = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))
_headers = st.one_of(st.none(), st.builds(AutocryptHeader, st.just(ADDR), st.booleans(), st.binary(min_size=1)))


@given(st.lists(st.tuples(_headers, _dates), min_size=1, max_size=8))
def test_state_follows_the_newest_message_whatever_the_order(
    messages: list[tuple[AutocryptHeader | None, datetime]],
) -> None:
    """last_seen is the newest date seen, and the key comes from the newest header (ties: the last one
    processed), whatever order the messages arrive in."""
    state: PeerState | None = None
    for header, date in messages:
        state = update_peer(state, header, date, ADDR)
    assert state is not None
    assert state.last_seen == max(date for _, date in messages)
    with_header = [(date, index, header.keydata) for index, (header, date) in enumerate(messages) if header]
    if with_header:
        newest_date, _, newest_key = max(with_header)
        assert (state.autocrypt_timestamp, state.public_key) == (newest_date, newest_key)
    else:
        assert state.public_key is None
