"""Look-alike domains (issue 5): confusable skeletons and one-edit typos of known contact domains flag; other
real domains, the known domain itself and its relatives do not."""

from __future__ import annotations

import pytest

from app.policy.lookalike import decode_idna, lookalike_of, skeleton

KNOWN = ("clinic.example", "stmarys-hospital.org", "apple.com", "ibm.com", "gmail.com", "labcorp.com")


@pytest.mark.parametrize(
    ("domain", "imitated"),
    [
        ("xn--80ak6aa92e.com", "apple.com"),  # Punycode of Cyrillic "аррӏе"
        ("аpple.com", "apple.com"),  # Cyrillic а, typed as Unicode
        ("c1inic.example", "clinic.example"),  # digit one for l
        ("cl1nic.example", "clinic.example"),  # 1 for i: one substitution away once 1 reads as l
        ("stmarys-hospita1.org", "stmarys-hospital.org"),
        ("stmarys-hospltal.org", "stmarys-hospital.org"),  # one substitution in a long name
        ("stmarys-hosiptal.org", "stmarys-hospital.org"),  # two neighbours swapped
        ("stmarys-hospitall.org", "stmarys-hospital.org"),  # one letter added
        ("stmarys-hospital.og", "stmarys-hospital.org"),  # one letter dropped from the top-level domain
        ("labcrop.com", "labcorp.com"),
        ("iabcorp.com", "labcorp.com"),
        ("ibrn.com", "ibm.com"),  # rn renders as m
        ("gmai1.com", "gmail.com"),
        ("g0ogle-labcorp.com", None),
        ("clínic.example", "clinic.example"),  # an accent is easy to miss
    ],
)
def test_lookalike_domains_name_the_domain_they_imitate(domain: str, imitated: str | None) -> None:
    assert lookalike_of(domain, KNOWN) == imitated


@pytest.mark.parametrize(
    "domain",
    [
        "clinic.example",  # known itself
        "CLINIC.example.",  # known, written differently
        "mail.clinic.example",  # a subdomain of a known domain is the same organisation
        "ibn.com",  # one edit from a short name is another plausible name, not a typo
        "gmx.com",
        "hotmail.com",
        "mayoclinic.org",
        "nhs.uk",
        "example.org",
        "partner-clinic.example",
        "labcorp.de",
        "stmarys-hospital.net",  # three edits
    ],
)
def test_known_related_and_unrelated_real_domains_are_not_lookalikes(domain: str) -> None:
    assert lookalike_of(domain, KNOWN) is None


def test_nothing_is_a_lookalike_when_no_contact_is_known() -> None:
    assert lookalike_of("c1inic.example", ()) is None


def test_invalid_punycode_is_compared_as_written() -> None:
    assert decode_idna("xn--!!.com") == "xn--!!.com"


def test_skeleton_maps_cyrillic_greek_and_digit_homoglyphs_to_latin() -> None:
    assert skeleton("раураl.com") == skeleton("paypal.com") == "paypal.com"
    assert skeleton("αpple.com") == "apple.com"
    assert skeleton("g00gle.com") == "google.com"


def test_an_exact_skeleton_match_is_preferred_to_a_one_edit_match() -> None:
    assert lookalike_of("d0main17.example", ("domain1.example", "domain17.example")) == "domain17.example"
