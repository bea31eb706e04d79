"""Escalation by subject tag: tags are found case-insensitively anywhere and removed (DESIGN §5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.policy import PolicyRules, strip_subject_tags

TAGS = PolicyRules().subject_tags


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        pytest.param("[secure] Lab results", ("Lab results", True), id="leading-tag"),
        pytest.param("Lab results [encrypt]", ("Lab results", True), id="trailing-tag"),
        pytest.param("Lab [SECURE] results", ("Lab results", True), id="tag-in-the-middle-any-case"),
        pytest.param("Re: [Secure] [ENCRYPT]  results", ("Re: results", True), id="several-tags-tidied"),
        pytest.param("Lab[secure]results", ("Lab results", True), id="tag-glued-to-words"),
        pytest.param("[secure]", ("", True), id="subject-is-only-a-tag"),
        pytest.param("Lab  results ", ("Lab  results ", False), id="untagged-subject-unchanged"),
        pytest.param("[secured] results", ("[secured] results", False), id="different-bracket-word"),
        pytest.param("secure results", ("secure results", False), id="word-without-brackets"),
        pytest.param("", ("", False), id="empty-subject"),
    ],
)
def test_strip_default_tags(subject: str, expected: tuple[str, bool]) -> None:
    assert strip_subject_tags(subject, TAGS) == expected


def test_tags_with_regex_characters_are_taken_literally() -> None:
    assert strip_subject_tags("(phi)* referral", ["(phi)*"]) == ("referral", True)
    assert strip_subject_tags("phi referral", ["(phi)*"]) == ("phi referral", False)


def test_longest_overlapping_tag_is_removed_whole() -> None:
    assert strip_subject_tags("[secure!] referral", ["[secure", "[secure!]"]) == ("referral", True)


def test_no_tags_or_blank_tags_never_escalate() -> None:
    assert strip_subject_tags("[secure] x", []) == ("[secure] x", False)
    assert strip_subject_tags("[secure] x", ["", "  "]) == ("[secure] x", False)


def test_non_ascii_tags_match_case_insensitively() -> None:
    assert strip_subject_tags("[VERTRAULICH] Befund", ["[vertraulich]"]) == ("Befund", True)


@given(st.text(max_size=40))
def test_stripped_subject_holds_no_tag_and_stripping_is_idempotent(subject: str) -> None:
    stripped, _ = strip_subject_tags(subject, TAGS)

    assert strip_subject_tags(stripped, TAGS) == (stripped, False)


@given(st.text(max_size=20), st.text(max_size=20), st.sampled_from(["[secure]", "[Encrypt]", "[SECURE]"]))
def test_a_tag_anywhere_escalates(before: str, after: str, tag: str) -> None:
    assert strip_subject_tags(f"{before}{tag}{after}", TAGS)[1]
