"""Web Key Directory names (draft-koch-openpgp-webkey-service §3.1) and z-base-32 (RFC 6189 §5.1.6)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.discovery.wkd_names import WkdMethod, WkdUrl, idna_domain, wkd_hash, wkd_policy_urls, wkd_urls, zbase32

# The draft's own example, then hashes printed by GnuPG 2.2.40 (`gpg-wks-client --print-wkd-hash`).
HASHES = [
    ("Joe.Doe", "iy9q119eutrkn8s1mk4r39qejnbu3n5q"),
    ("joe.doe", "iy9q119eutrkn8s1mk4r39qejnbu3n5q"),
    ("alice", "kei1q4tipxxu1yj79k9kfukdhfy631xe"),
    ("ALICE+tag", "9ekj9x9d919itb5zf8ctegz9s6efz4xx"),
    ("x", "n85k5dsffewajk7k9i6dswmfyphfaed1"),
    # Only ASCII letters are lower-cased: "Ü" stays as it is.
    ("JÜrgen", "bbci4p578ntucorruusqkfa8todycfkg"),
    ("jÜrgen", "bbci4p578ntucorruusqkfa8todycfkg"),
]


@pytest.mark.parametrize(("local", "expected"), HASHES)
def test_hash_matches_the_draft_and_gnupg(local: str, expected: str) -> None:
    assert wkd_hash(local) == expected


def test_non_ascii_capitals_are_not_folded() -> None:
    assert wkd_hash("jürgen") != wkd_hash("jÜrgen")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", ""),
        (b"\x00", "yy"),  # 8 bits: two symbols, the second padded with zero bits
        (b"\xff", "9h"),
        # 11110 00010 11111 11100 0111(0): symbols 30, 2, 31, 28, 14 of the alphabet.
        (b"\xf0\xbf\xc7", "6n9hq"),
    ],
)
def test_zbase32_known_values(data: bytes, expected: str) -> None:
    assert zbase32(data) == expected


_RFC4648_TO_ZBASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "ybndrfg8ejkmcpqxot1uwisza345h769")


@given(st.binary(max_size=64))
def test_zbase32_groups_bits_like_base32(data: bytes) -> None:
    """z-base-32 cuts bits exactly as RFC 4648 base32 does, with another alphabet and no padding."""
    assert zbase32(data) == base64.b32encode(data).decode().rstrip("=").translate(_RFC4648_TO_ZBASE32)


def test_urls_follow_the_draft_example() -> None:
    advanced, direct = wkd_urls("Joe.Doe@Example.ORG")
    assert advanced == WkdUrl(
        "openpgpkey.example.org",
        "/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe",
        WkdMethod.ADVANCED,
    )
    assert direct.url == "https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"
    assert direct.method is WkdMethod.DIRECT


def test_local_part_is_percent_encoded_in_the_query() -> None:
    advanced, _ = wkd_urls("a+b/c?d&e=f%Ü@example.org")
    assert advanced.path.endswith("?l=a%2Bb%2Fc%3Fd%26e%3Df%25%C3%9C")


def test_international_domain_becomes_its_idna_form() -> None:
    advanced, direct = wkd_urls("jürgen@Bücher.example")
    assert direct.host == "xn--bcher-kva.example"
    assert advanced.host == "openpgpkey.xn--bcher-kva.example"
    assert "/openpgpkey/xn--bcher-kva.example/hu/" in advanced.path


def test_trailing_root_dot_is_dropped() -> None:
    assert wkd_urls("joe@example.org.") == wkd_urls("joe@example.org")


def test_policy_urls() -> None:
    advanced, direct = wkd_policy_urls("Example.ORG")
    assert advanced.url == "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/policy"
    assert direct.url == "https://example.org/.well-known/openpgpkey/policy"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "joe",
        "@example.org",
        "joe@",
        "joe@@example.org",
        "jo@e@example.org",
        "joe doe@example.org",
        "joe@example.org ",
        "joe\n@example.org",
        "joe@example.org:8443",
        "joe@example.org/evil",
        "joe@evil.example#example.org",
        "joe@user@evil.example",
        "joe@-example.org",
        "joe@example-.org",
        "joe@example..org",
        "joe@" + "a" * 64 + ".org",
        "joe@" + ".".join(["abcdefghij"] * 24),
    ],
)
def test_invalid_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match=r"address|domain") as caught:
        wkd_urls(address)
    if address:
        assert address not in str(caught.value), "error messages never quote the address"


def test_empty_local_part_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        wkd_hash("")


@given(st.text(max_size=40), st.text(max_size=40))
def test_urls_never_leave_the_domain(local: str, domain: str) -> None:
    """Whatever the input, either ValueError or URLs whose host is the IDNA domain and nothing else."""
    try:
        advanced, direct = wkd_urls(f"{local}@{domain}")
    except ValueError:
        return
    host = idna_domain(domain)
    assert direct.host == host and advanced.host == f"openpgpkey.{host}"
    for url in (advanced, direct):
        assert url.path.startswith("/.well-known/openpgpkey/")
        assert url.path.count("?") == 1 and "#" not in url.path
        assert url.path.split("?l=")[0].endswith(wkd_hash(local))
