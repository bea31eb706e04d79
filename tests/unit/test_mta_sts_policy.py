"""The pure half of MTA-STS (RFC 8461): the TXT record, the policy file, and MX pattern matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.discovery.mta_sts import (
    MAX_AGE_LIMIT,
    MtaStsPolicy,
    PolicyInvalid,
    StsMode,
    all_mx_match,
    mx_matches,
    parse_policy,
    parse_sts_record,
    sts_record_id,
)

ENFORCE = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n"

# ---- the _mta-sts TXT record (RFC 8461 §3.1) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "policy_id"),
    [
        pytest.param("v=STSv1; id=20160831085700Z;", "20160831085700Z", id="rfc-example"),
        pytest.param("v=STSv1;id=abc", "abc", id="no-spaces-no-trailing-delimiter"),
        pytest.param("v=STSv1 ;\tid=abc ; ", "abc", id="whitespace-around-delimiters"),
        pytest.param("v=STSv1; id=abc; ext-1=value", "abc", id="extension-ignored"),
        pytest.param("v=STSv1; ext.a=b; id=" + "A" * 32, "A" * 32, id="id-of-32-characters"),
    ],
)
def test_valid_sts_record_yields_its_id(record: str, policy_id: str) -> None:
    assert parse_sts_record(record) == policy_id


@pytest.mark.parametrize(
    "record",
    [
        pytest.param("v=STSv1", id="no-id"),
        pytest.param("v=STSv1;", id="delimiter-but-no-id"),
        pytest.param("v=STSv1; id=", id="empty-id"),
        pytest.param("v=STSv1; id=" + "a" * 33, id="id-too-long"),
        pytest.param("v=STSv1; id=abc-def", id="id-with-hyphen"),
        pytest.param("v=STSv1; id=a; id=b", id="two-ids"),
        pytest.param("v=STSv10; id=abc", id="other-version"),
        pytest.param("v=STSv1; id=abc; bad field", id="malformed-extension"),
        pytest.param("v=STSv1 id=abc", id="missing-delimiter"),
    ],
)
def test_malformed_sts_record_is_invalid(record: str) -> None:
    assert isinstance(parse_sts_record(record), PolicyInvalid)


def test_records_not_starting_with_the_version_are_discarded() -> None:
    assert sts_record_id(["v=spf1 -all", "v=STSv1; id=one;", "some other text"]) == "one"


def test_no_sts_record_means_no_policy() -> None:
    assert sts_record_id([]) is None
    assert sts_record_id(["v=spf1 -all", " v=STSv1; id=lead-space"]) is None


def test_two_sts_records_are_invalid_not_a_choice() -> None:
    result = sts_record_id(["v=STSv1; id=one;", "v=STSv1; id=two;"])
    assert isinstance(result, PolicyInvalid)
    assert "exactly one" in result.reason


# ---- the policy file (RFC 8461 §3.2) ---------------------------------------------------------------------------


def test_rfc_style_policy_is_parsed() -> None:
    assert parse_policy(ENFORCE) == MtaStsPolicy(StsMode.ENFORCE, 604800, ("mail.example.com", "*.example.net"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(ENFORCE.replace("\n", "\r\n"), ("enforce", 604800), id="crlf-line-ends"),
        pytest.param(ENFORCE.rstrip("\n"), ("enforce", 604800), id="no-final-line-end"),
        pytest.param(ENFORCE.replace(": ", ":"), ("enforce", 604800), id="no-space-after-colon"),
        pytest.param(ENFORCE.replace("\n", " \t\n"), ("enforce", 604800), id="trailing-whitespace"),
        pytest.param(ENFORCE.replace("mode: enforce", "mode: testing"), ("testing", 604800), id="testing"),
        pytest.param("version: STSv1\nmode: none\nmax_age: 0\n", ("none", 0), id="none-without-mx"),
        pytest.param(ENFORCE + "future_key: anything at all\n", ("enforce", 604800), id="unknown-field-ignored"),
        pytest.param(ENFORCE + "\n\n", ("enforce", 604800), id="blank-lines-ignored"),
        pytest.param(ENFORCE.replace("604800", str(MAX_AGE_LIMIT)), ("enforce", MAX_AGE_LIMIT), id="max-age-at-limit"),
        pytest.param("mx: a.example\nmax_age: 5\nmode: enforce\nversion: STSv1", ("enforce", 5), id="any-order"),
    ],
)
def test_valid_policy_variants_are_accepted(text: str, expected: tuple[str, int]) -> None:
    policy = parse_policy(text)
    assert isinstance(policy, MtaStsPolicy), policy
    assert (policy.mode, policy.max_age) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(ENFORCE.replace("STSv1", "STSv2"), id="unknown-version"),
        pytest.param(ENFORCE.replace("version: STSv1\n", ""), id="missing-version"),
        pytest.param(ENFORCE.replace("mode: enforce\n", ""), id="missing-mode"),
        pytest.param(ENFORCE.replace("enforce", "reject"), id="unknown-mode"),
        pytest.param(ENFORCE.replace("enforce", "Enforce"), id="mode-is-case-sensitive"),
        pytest.param(ENFORCE.replace("mode:", "Mode:"), id="field-names-are-case-sensitive"),
        pytest.param(ENFORCE.replace("max_age: 604800\n", ""), id="missing-max-age"),
        pytest.param(ENFORCE.replace("604800", str(MAX_AGE_LIMIT + 1)), id="max-age-over-a-year"),
        pytest.param(ENFORCE.replace("604800", "-1"), id="negative-max-age"),
        pytest.param(ENFORCE.replace("604800", "1e5"), id="max-age-not-an-integer"),
        pytest.param(ENFORCE.replace("604800", "12345678901"), id="max-age-over-ten-digits"),
        pytest.param(ENFORCE.replace("604800", "٦٠٤٨٠٠"), id="max-age-non-ascii-digits"),
        pytest.param("version: STSv1\nmode: enforce\nmax_age: 10\n", id="enforce-without-mx"),
        pytest.param("version: STSv1\nmode: testing\nmax_age: 10\n", id="testing-without-mx"),
        pytest.param(ENFORCE + "mode: testing\n", id="mode-twice"),
        pytest.param(ENFORCE + "max_age: 10\n", id="max-age-twice"),
        pytest.param(ENFORCE + "this line has no colon\n", id="line-without-field"),
        pytest.param(ENFORCE + "mx: mail.*.example.com\n", id="wildcard-not-leftmost"),
        pytest.param(ENFORCE + "mx: *example.com\n", id="wildcard-without-dot"),
        pytest.param(ENFORCE + "mx: *\n", id="bare-wildcard"),
        pytest.param(ENFORCE + "mx: mail_host.example.com\n", id="underscore-in-mx"),
        pytest.param(ENFORCE + "mx:\n", id="empty-mx"),
        pytest.param(ENFORCE.replace("\n", "\r"), id="cr-only-line-ends"),
        pytest.param("", id="empty-file"),
        pytest.param("<html><body>Not found</body></html>", id="html-error-page"),
    ],
)
def test_invalid_policy_is_rejected_with_a_reason(text: str) -> None:
    result = parse_policy(text)
    assert isinstance(result, PolicyInvalid), result
    assert result.reason


def test_mx_patterns_are_lower_cased_and_deduplicated_in_order() -> None:
    text = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: B.example.\nmx: a.example\nmx: b.example\n"
    policy = parse_policy(text)
    assert isinstance(policy, MtaStsPolicy)
    assert policy.mx_patterns == ("b.example", "a.example")


# ---- MX matching (RFC 8461 §4.1) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "pattern", "matches"),
    [
        pytest.param("mail.example.com", "mail.example.com", True, id="exact"),
        pytest.param("MAIL.Example.COM", "mail.example.com", True, id="case-insensitive"),
        pytest.param("mail.example.com.", "mail.example.com", True, id="trailing-dot"),
        pytest.param("mail.example.com", "*.example.com", True, id="wildcard-one-label"),
        pytest.param("example.com", "*.example.com", False, id="wildcard-needs-a-label"),
        pytest.param("foo.bar.example.com", "*.example.com", False, id="wildcard-only-one-label"),
        pytest.param("mail.notexample.com", "*.example.com", False, id="wildcard-label-boundary"),
        pytest.param("mailexample.com", "*.example.com", False, id="wildcard-not-a-suffix-match"),
        pytest.param("mail.example.com", "example.com", False, id="exact-is-not-suffix"),
        pytest.param("mail.example.com", "*.com", False, id="wildcard-does-not-span"),
        pytest.param("a.com", "*.com", True, id="wildcard-on-short-name"),
        pytest.param("*.example.com", "*.example.com", False, id="host-literal-star"),
        pytest.param("", "*.example.com", False, id="empty-host"),
        pytest.param("mail.example.com", "", False, id="empty-pattern"),
    ],
)
def test_mx_pattern_matching(host: str, pattern: str, matches: bool) -> None:
    assert mx_matches(host, pattern) is matches


@pytest.mark.parametrize(
    ("hosts", "matched"),
    [
        pytest.param(("mx1.example.com", "mx2.example.com"), True, id="every-host-covered"),
        pytest.param(("mx1.example.com", "backup.other.net"), False, id="one-host-outside"),
        pytest.param((), False, id="no-mx-hosts"),
    ],
)
def test_all_mx_hosts_must_match(hosts: tuple[str, ...], matched: bool) -> None:
    assert all_mx_match(hosts, ("*.example.com",)) is matched


# ---- properties ------------------------------------------------------------------------------------------------

_POLICY_ALPHABET = st.sampled_from(["version", "mode", "mx", "max_age", ":", " ", "\t", "\r", "\n", "*.", "."])


@given(st.text())
def test_policy_parser_never_raises_on_arbitrary_text(text: str) -> None:
    assert isinstance(parse_policy(text), MtaStsPolicy | PolicyInvalid)


@given(st.lists(st.one_of(_POLICY_ALPHABET, st.text(max_size=8))).map("".join))
def test_policy_parser_never_raises_on_near_miss_policies(text: str) -> None:
    assert isinstance(parse_policy(text), MtaStsPolicy | PolicyInvalid)


@given(st.lists(st.text(max_size=60), max_size=4))
def test_txt_selection_never_raises(records: list[str]) -> None:
    assert isinstance(sts_record_id(records), str | PolicyInvalid | None)


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_HOST = st.lists(_LABEL, min_size=2, max_size=4).map(".".join)


@given(
    st.sampled_from(["enforce", "testing"]),
    st.integers(min_value=0, max_value=MAX_AGE_LIMIT),
    st.lists(st.tuples(st.booleans(), _HOST), min_size=1, max_size=4),
    st.sampled_from(["\n", "\r\n"]),
)
def test_rendered_policy_parses_back(mode: str, max_age: int, mx: list[tuple[bool, str]], newline: str) -> None:
    patterns = tuple(dict.fromkeys(("*." if wild else "") + host for wild, host in mx))
    lines = ["version: STSv1", f"mode: {mode}", f"max_age: {max_age}", *(f"mx: {p}" for p in patterns)]
    assert parse_policy(newline.join(lines) + newline) == MtaStsPolicy(StsMode(mode), max_age, patterns)


@given(_LABEL, _HOST)
def test_wildcard_matches_exactly_one_extra_label(label: str, domain: str) -> None:
    assert mx_matches(f"{label}.{domain}", f"*.{domain}")
    assert not mx_matches(domain, f"*.{domain}")
    assert not mx_matches(f"{label}.{label}.{domain}", f"*.{domain}")
