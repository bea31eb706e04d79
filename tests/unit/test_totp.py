"""RFC 6238 TOTP: the appendix B vectors, the ±1 step window, single use, and the enrolment URI."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from app.core.totp import CodeRejected, Digest, accept, code_at, hotp, otpauth_uri, to_base32

# RFC 6238 appendix B: the seeds are the ASCII digits repeated to the digest's key length.
SEEDS = {
    Digest.SHA1: b"12345678901234567890",
    Digest.SHA256: b"12345678901234567890123456789012",
    Digest.SHA512: b"1234567890123456789012345678901234567890123456789012345678901234",
}
VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
SECRET = SEEDS[Digest.SHA1]
T0 = 1_111_111_111.0


@pytest.mark.parametrize(("time", "sha1", "sha256", "sha512"), VECTORS)
def test_rfc6238_appendix_b_vectors(time: int, sha1: str, sha256: str, sha512: str) -> None:
    for digest, expected in ((Digest.SHA1, sha1), (Digest.SHA256, sha256), (Digest.SHA512, sha512)):
        assert code_at(SEEDS[digest], time, digits=8, digest=digest) == expected


def test_rfc4226_appendix_d_hotp_values() -> None:
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
    assert [hotp(SECRET, counter) for counter in range(10)] == expected


@pytest.mark.parametrize("offset_steps", [-1, 0, 1])
def test_code_of_the_step_before_now_or_after_is_accepted(offset_steps: int) -> None:
    code = code_at(SECRET, T0 + offset_steps * 30)
    assert accept(SECRET, code, T0, last_step=0).step == int(T0 // 30) + offset_steps


@pytest.mark.parametrize("offset_steps", [-2, 2])
def test_code_two_steps_away_is_rejected(offset_steps: int) -> None:
    with pytest.raises(CodeRejected, match="not right"):
        accept(SECRET, code_at(SECRET, T0 + offset_steps * 30), T0, last_step=0)


def test_a_code_is_single_use_even_within_its_window() -> None:
    code = code_at(SECRET, T0)
    used = accept(SECRET, code, T0, last_step=0)
    with pytest.raises(CodeRejected, match="used already"):
        accept(SECRET, code, T0 + 20, last_step=used.step)
    with pytest.raises(CodeRejected, match="used already"):  # an older code, still in the window, is no better
        accept(SECRET, code_at(SECRET, T0 - 30), T0, last_step=used.step)
    assert accept(SECRET, code_at(SECRET, T0 + 30), T0 + 30, last_step=used.step).step == used.step + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", "１２３４５６"])
def test_malformed_codes_are_rejected_before_any_comparison(code: str) -> None:
    with pytest.raises(CodeRejected, match="6 digits"):
        accept(SECRET, code, T0, last_step=0)


def test_spaces_inside_a_typed_code_are_ignored() -> None:
    code = code_at(SECRET, T0)
    assert accept(SECRET, f"{code[:3]} {code[3:]}", T0, last_step=0)


def test_otpauth_uri_carries_the_secret_and_parameters() -> None:
    uri = otpauth_uri(SECRET, "front-desk")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp" and parts.path == "/Salus:front-desk"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {"secret": to_base32(SECRET), "issuer": "Salus", "algorithm": "SHA1", "digits": "6", "period": "30"}
    assert base64.b32decode(query["secret"] + "=" * (-len(query["secret"]) % 8)) == SECRET
