"""The pure HTTP/1.1 response parser of app.discovery.http: framing, limits, malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.discovery.http import (
    Framing,
    Head,
    HttpFetchError,
    HttpResponse,
    ResponseParser,
    body_framing,
    parse_chunk_size,
    parse_head,
)

LIMIT = 1024


def parse_all(data: bytes, *, eof: bool = True, step: int | None = None, limit: int = LIMIT) -> HttpResponse | None:
    """Feed `data` in pieces of `step` bytes (all at once by default), then EOF if asked."""
    parser = ResponseParser(limit)
    pieces = [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]
    for piece in pieces:
        response = parser.feed(piece)
        if response is not None:
            return response
    return parser.feed_eof() if eof else None


def chunked(body: bytes, size: int) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


# ---- the head ----------------------------------------------------------------------------------------------


def test_status_line_and_fields_are_parsed_with_lower_case_names() -> None:
    head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Thing:   spaced value  ")
    assert head == Head(200, (("content-type", "text/plain"), ("x-thing", "spaced value")))


def test_status_line_without_reason_phrase_is_accepted() -> None:
    assert parse_head(b"HTTP/1.0 404").status == 404


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(b"HTTP/2 200 OK", id="http2-status-line"),
        pytest.param(b"ICY 200 OK", id="not-http"),
        pytest.param(b"HTTP/1.1 20 OK", id="two-digit-status"),
        pytest.param(b"HTTP/1.1 999 Odd", id="status-out-of-range"),
        pytest.param(b"HTTP/1.1 200 OK\r\nNo colon here", id="field-without-colon"),
        pytest.param(b"HTTP/1.1 200 OK\r\nName : value", id="space-before-colon"),
        pytest.param(b"HTTP/1.1 200 OK\r\nA: b\r\n folded", id="obsolete-line-folding"),
    ],
)
def test_malformed_head_is_refused(block: bytes) -> None:
    with pytest.raises(HttpFetchError):
        parse_head(block)


def test_header_lookup_is_case_insensitive_and_media_type_drops_parameters() -> None:
    response = HttpResponse(200, (("content-type", "Text/Plain; charset=utf-8"),), b"")
    assert response.header("Content-Type") == "Text/Plain; charset=utf-8"
    assert response.header("missing") is None
    assert response.media_type == "text/plain"
    assert HttpResponse(200, (), b"").media_type == ""


# ---- framing (RFC 9112 §6.3) --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        pytest.param(200, (("content-length", "12"),), (Framing.LENGTH, 12), id="content-length"),
        pytest.param(200, (("content-length", "5, 5"),), (Framing.LENGTH, 5), id="repeated-equal-lengths"),
        pytest.param(200, (("transfer-encoding", "chunked"),), (Framing.CHUNKED, 0), id="chunked"),
        pytest.param(200, (("transfer-encoding", "Chunked"),), (Framing.CHUNKED, 0), id="chunked-any-case"),
        pytest.param(
            200,
            (("transfer-encoding", "chunked"), ("content-length", "3")),
            (Framing.CHUNKED, 0),
            id="transfer-encoding-overrides-length",
        ),
        pytest.param(200, (("transfer-encoding", "gzip"),), (Framing.CLOSE, 0), id="not-chunked-reads-to-close"),
        pytest.param(200, (), (Framing.CLOSE, 0), id="no-framing-reads-to-close"),
        pytest.param(204, (("content-length", "7"),), (Framing.NONE, 0), id="no-content"),
        pytest.param(304, (), (Framing.NONE, 0), id="not-modified"),
    ],
)
def test_body_framing_follows_rfc_9112(
    status: int, headers: tuple[tuple[str, str], ...], expected: tuple[Framing, int]
) -> None:
    assert body_framing(Head(status, headers)) == expected


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        pytest.param(200, (("content-length", "5"), ("content-length", "6")), id="conflicting-lengths"),
        pytest.param(200, (("content-length", "-1"),), id="negative-length"),
        pytest.param(200, (("content-length", "0x10"),), id="hex-length"),
        pytest.param(200, (("content-length", "١٢"),), id="non-ascii-digits"),
        pytest.param(100, (), id="interim-response"),
    ],
)
def test_ambiguous_framing_is_refused(status: int, headers: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(HttpFetchError):
        body_framing(Head(status, headers))


@pytest.mark.parametrize(
    ("line", "size"),
    [(b"0", 0), (b"1a", 26), (b"FF", 255), (b"10;name=value", 16), (b"4 ; ext", 4)],
)
def test_chunk_size_is_hex_with_extensions_ignored(line: bytes, size: int) -> None:
    assert parse_chunk_size(line) == size


@pytest.mark.parametrize("line", [b"", b"g", b"-1", b"0x10", b"1" * 17, b"; ext"])
def test_malformed_chunk_size_is_refused(line: bytes) -> None:
    with pytest.raises(HttpFetchError):
        parse_chunk_size(line)


# ---- whole responses -----------------------------------------------------------------------------------------


def test_content_length_body_completes_without_waiting_for_close() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    response = parse_all(data, eof=False)
    assert response == HttpResponse(200, (("content-length", "5"),), b"hello")


def test_bytes_after_the_announced_length_are_ignored() -> None:
    response = parse_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi and more", eof=False)
    assert response is not None
    assert response.body == b"hi"


def test_chunked_body_is_reassembled_even_when_fed_one_byte_at_a_time() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"version: STSv1\n", 4)
    response = parse_all(data, eof=False, step=1)
    assert response is not None
    assert response.body == b"version: STSv1\n"


def test_chunked_trailers_are_skipped() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"
    response = parse_all(data, eof=False)
    assert response is not None
    assert response.body == b"abc"


def test_read_until_close_body_ends_at_eof() -> None:
    response = parse_all(b"HTTP/1.1 200 OK\r\n\r\nall of it", step=3)
    assert response is not None
    assert response.body == b"all of it"


def test_bare_lf_line_endings_are_tolerated_in_the_head() -> None:
    response = parse_all(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", eof=False)
    assert response is not None
    assert response.body == b"ok"


def test_no_content_response_completes_at_the_end_of_the_head() -> None:
    response = parse_all(b"HTTP/1.1 204 No Content\r\n\r\n", eof=False)
    assert response == HttpResponse(204, (), b"")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Le", id="head-cut-short"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", id="body-cut-short"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", id="chunk-cut-short"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", id="no-last-chunk"),
    ],
)
def test_connection_closed_early_is_an_error_not_a_short_body(data: bytes) -> None:
    with pytest.raises(HttpFetchError, match="closed before"):
        parse_all(data)


def test_chunk_longer_than_announced_is_refused() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"
    with pytest.raises(HttpFetchError, match="longer than announced"):
        parse_all(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", id="announced-length-too-big"),
        pytest.param(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 2000, id="read-to-close-too-big"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"y" * 2000, 100),
            id="chunked-too-big",
        ),
    ],
)
def test_body_over_the_limit_is_refused(data: bytes) -> None:
    with pytest.raises(HttpFetchError, match="larger than 1024 bytes"):
        parse_all(data, step=64)


def test_endless_head_is_refused() -> None:
    parser = ResponseParser(LIMIT)
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(HttpFetchError, match="header is larger"):
        for _ in range(100):
            parser.feed(b"X-Filler: " + b"a" * 500 + b"\r\n")


def test_endless_chunk_size_line_is_refused() -> None:
    parser = ResponseParser(LIMIT)
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(HttpFetchError, match="over-long line"):
        parser.feed(b"1;" + b"e" * 2000)


# ---- properties ------------------------------------------------------------------------------------------------


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_parser_raises_only_its_own_error_on_arbitrary_bytes(data: bytes, step: int) -> None:
    with contextlib.suppress(HttpFetchError):
        parse_all(data, step=step)


@given(st.binary(max_size=LIMIT), st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=64))
def test_chunked_body_round_trips_for_any_chunk_and_read_sizes(body: bytes, chunk: int, step: int) -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, chunk)
    response = parse_all(data, eof=False, step=step)
    assert response is not None
    assert response.body == body
