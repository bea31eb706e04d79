"""Who a send goes to, and which of them are hidden (Bcc only): RFC 5322 §3.6.3."""

from __future__ import annotations

from app.services.send import SendRequest


def test_bcc_recipients_are_planned_after_to_and_cc_once_each() -> None:
    request = SendRequest(to=("a@x.test",), cc=("b@x.test",), bcc=("c@x.test", "d@x.test", "c@x.test"), subject="",
                          body="")  # fmt: skip
    assert request.recipients == ("a@x.test", "b@x.test", "c@x.test", "d@x.test")
    assert request.hidden == {"c@x.test", "d@x.test"}


def test_a_bcc_address_also_in_to_or_cc_is_simply_visible_whatever_its_case() -> None:
    request = SendRequest(to=("A@x.test",), cc=("b@x.test",), bcc=("a@x.test", "B@X.test"), subject="", body="")
    assert request.hidden == frozenset()
    assert request.recipients == ("A@x.test", "b@x.test")
