"""Every reason code reads as a sentence; ages read as people say them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.policy import EvidenceSource, Method, Reason, ReasonCode
from app.services.reason_text import METHOD_NAMES, SENTENCES, reason_sentence

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def test_every_code_and_method_has_words() -> None:
    assert set(SENTENCES) == set(ReasonCode)
    assert set(METHOD_NAMES) == set(Method)


def test_evidence_age_is_spoken() -> None:
    reason = Reason(ReasonCode.PGP_KEY_FROM_WKD, EvidenceSource.WKD, NOW - timedelta(days=3))
    assert reason_sentence(reason, NOW) == "OpenPGP key from the recipient's domain (WKD) (3 days ago)"


def test_excluded_method_is_named() -> None:
    reason = Reason(ReasonCode.METHOD_NOT_ALLOWED_BY_POLICY, method=Method.TLS)
    assert reason_sentence(reason, NOW) == "verified TLS is not allowed by policy"
