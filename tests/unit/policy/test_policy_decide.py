"""Every rule of the per-recipient decision (DESIGN §5), one named scenario per row."""

from __future__ import annotations

import pytest

from app.policy import (
    DaneState,
    EvidenceSource,
    MessageFacts,
    Method,
    MtaStsMode,
    PolicyRules,
    ReasonCode,
    RecipientFacts,
    decide,
)

from .policy_builders import (
    FP_A,
    FP_B,
    FP_C,
    NOW,
    dane,
    message,
    mta_sts,
    org_listed,
    pgp,
    recipient,
    smime,
    transport,
)

R = ReasonCode
S = EvidenceSource
WKD, AUTOCRYPT, LOCAL, IMPORT = S.WKD, S.AUTOCRYPT, S.LOCAL_KEYRING, S.IMPORT
DEFAULT = PolicyRules()
NO_PORTAL = PolicyRules(ladder=(Method.PGP, Method.SMIME, Method.TLS))
NO_PORTAL_PLAIN = PolicyRules(ladder=(Method.PGP, Method.SMIME, Method.TLS), allow_plain=True)
KEEP_E2E = PolicyRules(escalation_keeps_end_to_end=True)
RELAY = PolicyRules(relay_enforces_tls=True)
TLS_READY = transport(sts=mta_sts())


def case(
    name: str,
    facts: RecipientFacts,
    method: Method,
    codes: set[ReasonCode],
    *,
    msg: MessageFacts | None = None,
    rules: PolicyRules = DEFAULT,
) -> object:
    """One row: these facts under these rules give `method`, citing at least `codes`."""
    return pytest.param(facts, msg or message(), rules, method, codes, id=name)


SCENARIOS = [
    # --- OpenPGP ---------------------------------------------------------------------------------
    case(
        "verified-local-key-gives-pgp",
        recipient(keys=(pgp(verified=True),)),
        Method.PGP,
        {R.PGP_KEY_VERIFIED},
    ),
    case("unverified-keyring-key-gives-pgp", recipient(keys=(pgp(),)), Method.PGP, {R.PGP_KEY_IMPORTED}),
    case("fresh-wkd-key-gives-pgp", recipient(keys=(pgp(WKD),)), Method.PGP, {R.PGP_KEY_FROM_WKD}),
    case(
        "verified-key-outranks-wkd-key",
        recipient(keys=(pgp(WKD, fingerprint=FP_A), pgp(IMPORT, fingerprint=FP_B, verified=True))),
        Method.PGP,
        {R.PGP_KEY_VERIFIED},
    ),
    case(
        "wkd-key-outranks-autocrypt-key",
        recipient(keys=(pgp(AUTOCRYPT, fingerprint=FP_A), pgp(WKD, fingerprint=FP_B))),
        Method.PGP,
        {R.PGP_KEY_FROM_WKD},
        rules=PolicyRules(autocrypt_allowed=True),
    ),
    case(
        "autocrypt-key-when-autocrypt-disallowed-gives-portal",
        recipient(keys=(pgp(AUTOCRYPT),)),
        Method.PORTAL,
        {R.PGP_KEY_AUTOCRYPT_NOT_ALLOWED, R.PORTAL_AVAILABLE},
    ),
    case(
        "autocrypt-key-when-autocrypt-allowed-gives-pgp",
        recipient(keys=(pgp(AUTOCRYPT),)),
        Method.PGP,
        {R.PGP_KEY_FROM_AUTOCRYPT},
        rules=PolicyRules(autocrypt_allowed=True),
    ),
    case(
        "verified-autocrypt-key-counts-even-when-autocrypt-disallowed",
        recipient(keys=(pgp(AUTOCRYPT, verified=True),)),
        Method.PGP,
        {R.PGP_KEY_VERIFIED},
    ),
    case(
        "expired-pgp-key-falls-through-to-smime",
        recipient(keys=(pgp(expires_in_days=-1),), certs=(smime(),)),
        Method.SMIME,
        {R.PGP_KEY_EXPIRED, R.SMIME_CERT_VALID},
    ),
    case(
        "revoked-pgp-key-falls-through-to-portal",
        recipient(keys=(pgp(revoked=True),)),
        Method.PORTAL,
        {R.PGP_KEY_REVOKED},
    ),
    case(
        "revocation-from-any-source-revokes-the-fingerprint",
        recipient(keys=(pgp(LOCAL), pgp(WKD, revoked=True))),
        Method.PORTAL,
        {R.PGP_KEY_REVOKED},
    ),
    case(
        "signing-only-key-falls-through-to-portal",
        recipient(keys=(pgp(usable=False),)),
        Method.PORTAL,
        {R.PGP_KEY_NOT_FOR_ENCRYPTION},
    ),
    case(
        "stale-wkd-key-falls-through-to-portal",
        recipient(keys=(pgp(WKD, age_days=31),)),
        Method.PORTAL,
        {R.EVIDENCE_STALE},
    ),
    case(
        "old-keyring-key-does-not-go-stale",
        recipient(keys=(pgp(LOCAL, age_days=800),)),
        Method.PGP,
        {R.PGP_KEY_IMPORTED},
    ),
    case(
        "second-usable-key-used-when-first-revoked",
        recipient(keys=(pgp(revoked=True, fingerprint=FP_A), pgp(WKD, fingerprint=FP_C))),
        Method.PGP,
        {R.PGP_KEY_FROM_WKD},
    ),
    # --- S/MIME ----------------------------------------------------------------------------------
    case(
        "expired-smime-cert-falls-through-to-portal",
        recipient(certs=(smime(valid_for_days=-1),)),
        Method.PORTAL,
        {R.NO_PGP_KEY, R.SMIME_CERT_EXPIRED},
    ),
    case(
        "smime-cert-with-invalid-chain-falls-through",
        recipient(certs=(smime(chain_valid=False),)),
        Method.PORTAL,
        {R.SMIME_CHAIN_INVALID},
    ),
    case(
        "revoked-smime-cert-falls-through",
        recipient(certs=(smime(revoked=True),)),
        Method.PORTAL,
        {R.SMIME_CERT_REVOKED},
    ),
    case(
        "ladder-order-prefers-smime-over-pgp",
        recipient(keys=(pgp(),), certs=(smime(),)),
        Method.SMIME,
        {R.SMIME_CERT_VALID},
        rules=PolicyRules(ladder=(Method.SMIME, Method.PGP, Method.PORTAL)),
    ),
    case(
        "pgp-key-but-pgp-not-on-ladder-gives-portal",
        recipient(keys=(pgp(),)),
        Method.PORTAL,
        {R.METHOD_NOT_ALLOWED_BY_POLICY},
        rules=PolicyRules(ladder=(Method.SMIME, Method.PORTAL)),
    ),
    # --- Hop-by-hop TLS --------------------------------------------------------------------------
    case(
        "mta-sts-enforce-with-requiretls-gives-tls",
        recipient(domain=TLS_READY),
        Method.TLS,
        {R.MTA_STS_ENFORCE, R.REQUIRETLS_AVAILABLE},
        msg=message(requiretls=True),
    ),
    case(
        "partner-with-mta-sts-testing-gives-portal",
        recipient(domain=transport(sts=mta_sts(MtaStsMode.TESTING))),
        Method.PORTAL,
        {R.MTA_STS_TESTING_ONLY},
        msg=message(requiretls=True),
    ),
    case(
        "mta-sts-enforce-with-mx-mismatch-gives-portal",
        recipient(domain=transport(sts=mta_sts(mx_matched=False))),
        Method.PORTAL,
        {R.MTA_STS_MX_MISMATCH},
        msg=message(requiretls=True),
    ),
    case(
        "mta-sts-lookup-failed-gives-portal",
        recipient(domain=transport(sts=mta_sts(MtaStsMode.LOOKUP_FAILED))),
        Method.PORTAL,
        {R.MTA_STS_LOOKUP_FAILED},
        msg=message(requiretls=True),
    ),
    case(
        "mta-sts-mode-none-gives-portal",
        recipient(domain=transport(sts=mta_sts(MtaStsMode.NONE))),
        Method.PORTAL,
        {R.MTA_STS_NONE},
        msg=message(requiretls=True),
    ),
    case(
        "stale-mta-sts-policy-gives-portal",
        recipient(domain=transport(sts=mta_sts(age_days=40))),
        Method.PORTAL,
        {R.EVIDENCE_STALE},
        msg=message(requiretls=True),
    ),
    case(
        "dane-validated-with-requiretls-gives-tls",
        recipient(domain=transport(tlsa=dane())),
        Method.TLS,
        {R.DANE_VALIDATED, R.REQUIRETLS_AVAILABLE},
        msg=message(requiretls=True),
    ),
    case(
        "dane-validated-without-requiretls-gives-portal",
        recipient(domain=transport(tlsa=dane())),
        Method.PORTAL,
        {R.DANE_VALIDATED, R.REQUIRETLS_UNAVAILABLE, R.PORTAL_AVAILABLE},
    ),
    case(
        "dane-not-validated-gives-portal",
        recipient(domain=transport(tlsa=dane(DaneState.NOT_VALIDATED))),
        Method.PORTAL,
        {R.DANE_NOT_VALIDATED},
        msg=message(requiretls=True),
    ),
    case(
        "dane-lookup-failed-gives-portal",
        recipient(domain=transport(tlsa=dane(DaneState.LOOKUP_FAILED))),
        Method.PORTAL,
        {R.DANE_LOOKUP_FAILED},
        msg=message(requiretls=True),
    ),
    case(
        "dane-validated-outweighs-mta-sts-testing",
        recipient(domain=transport(sts=mta_sts(MtaStsMode.TESTING), tlsa=dane())),
        Method.TLS,
        {R.DANE_VALIDATED},
        msg=message(requiretls=True),
    ),
    case(
        "trusted-relay-stands-in-for-requiretls",
        recipient(domain=transport(tlsa=dane())),
        Method.TLS,
        {R.DANE_VALIDATED, R.RELAY_ENFORCES_TLS},
        rules=RELAY,
    ),
    case(
        "trusted-relay-without-domain-evidence-gives-portal",
        recipient(),
        Method.PORTAL,
        {R.NO_DOMAIN_EVIDENCE},
        rules=RELAY,
    ),
    case(
        "domain-on-org-list-with-requiretls-gives-tls",
        recipient(domain=transport(org=org_listed())),
        Method.TLS,
        {R.ORG_TRUSTED_DOMAIN},
        msg=message(requiretls=True),
    ),
    case(
        "policy-trusted-domain-matches-case-insensitively",
        recipient("nurse@Partner.Example"),
        Method.TLS,
        {R.ORG_TRUSTED_DOMAIN, R.RELAY_ENFORCES_TLS},
        rules=PolicyRules(trusted_tls_domains=frozenset({"partner.example"}), relay_enforces_tls=True),
    ),
    case(
        "stale-ehlo-requiretls-does-not-count",
        recipient(domain=TLS_READY),
        Method.PORTAL,
        {R.EVIDENCE_STALE, R.REQUIRETLS_UNAVAILABLE},
        msg=message(requiretls=True, ehlo_age_days=45),
    ),
    case(
        "tls-evidence-but-tls-not-on-ladder-gives-portal",
        recipient(domain=TLS_READY),
        Method.PORTAL,
        {R.METHOD_NOT_ALLOWED_BY_POLICY},
        msg=message(requiretls=True),
        rules=PolicyRules(ladder=(Method.PGP, Method.SMIME, Method.PORTAL)),
    ),
    case(
        "key-beats-tls-evidence",
        recipient(keys=(pgp(),), domain=TLS_READY),
        Method.PGP,
        {R.PGP_KEY_IMPORTED},
        msg=message(requiretls=True),
    ),
    # --- Escalation and replies ------------------------------------------------------------------
    case(
        "manual-escalation-forces-portal-over-key",
        recipient(keys=(pgp(),)),
        Method.PORTAL,
        {R.ESCALATED_MANUAL, R.PORTAL_AVAILABLE},
        msg=message(manual=True),
    ),
    case(
        "subject-tag-escalation-forces-portal-over-tls",
        recipient(domain=TLS_READY),
        Method.PORTAL,
        {R.ESCALATED_SUBJECT_TAG},
        msg=message(tag=True, requiretls=True),
    ),
    case(
        "escalation-keeps-end-to-end-when-policy-allows",
        recipient(keys=(pgp(WKD),)),
        Method.PGP,
        {R.ESCALATED_MANUAL, R.PGP_KEY_FROM_WKD, R.ESCALATION_KEPT_END_TO_END},
        msg=message(manual=True),
        rules=KEEP_E2E,
    ),
    case(
        "escalation-keeping-e2e-still-refuses-tls",
        recipient(domain=TLS_READY),
        Method.PORTAL,
        {R.ESCALATED_MANUAL},
        msg=message(manual=True, requiretls=True),
        rules=KEEP_E2E,
    ),
    case(
        "escalation-without-portal-keeps-usable-key",
        recipient(keys=(pgp(),)),
        Method.PGP,
        {R.ESCALATED_MANUAL, R.METHOD_NOT_ALLOWED_BY_POLICY},
        msg=message(manual=True),
        rules=PolicyRules(ladder=(Method.PGP, Method.SMIME, Method.TLS)),
    ),
    case(
        "escalation-without-portal-or-key-is-blocked-never-plain",
        recipient(domain=TLS_READY),
        Method.BLOCKED,
        {R.ESCALATED_SUBJECT_TAG, R.METHOD_NOT_ALLOWED_BY_POLICY, R.NO_ALLOWED_METHOD},
        msg=message(tag=True, requiretls=True),
        rules=NO_PORTAL_PLAIN,
    ),
    case(
        "reply-to-encrypted-never-goes-as-tls",
        recipient(domain=TLS_READY),
        Method.PORTAL,
        {R.REPLY_TO_ENCRYPTED},
        msg=message(reply=True, requiretls=True),
    ),
    case(
        "reply-to-encrypted-keeps-pgp",
        recipient(keys=(pgp(),)),
        Method.PGP,
        {R.REPLY_TO_ENCRYPTED},
        msg=message(reply=True),
    ),
    # --- Plain and blocked -----------------------------------------------------------------------
    case(
        "ladder-without-portal-and-no-evidence-is-blocked",
        recipient(),
        Method.BLOCKED,
        {R.NO_PGP_KEY, R.NO_SMIME_CERT, R.NO_DOMAIN_EVIDENCE, R.PLAIN_FORBIDDEN, R.NO_ALLOWED_METHOD},
        rules=NO_PORTAL,
    ),
    case(
        "policy-allowing-plain-for-domain-with-no-evidence",
        recipient(),
        Method.PLAIN,
        {R.PLAIN_ALLOWED_BY_POLICY},
        rules=NO_PORTAL_PLAIN,
    ),
    case(
        "plain-allowed-but-portal-possible-gives-portal",
        recipient(),
        Method.PORTAL,
        {R.PORTAL_AVAILABLE},
        rules=PolicyRules(allow_plain=True),
    ),
    case(
        "plain-allowed-but-tls-possible-gives-tls",
        recipient(domain=TLS_READY),
        Method.TLS,
        {R.MTA_STS_ENFORCE},
        msg=message(requiretls=True),
        rules=NO_PORTAL_PLAIN,
    ),
    case(
        "reply-to-encrypted-never-plain-even-when-allowed",
        recipient(),
        Method.BLOCKED,
        {R.REPLY_TO_ENCRYPTED, R.NO_ALLOWED_METHOD},
        msg=message(reply=True),
        rules=NO_PORTAL_PLAIN,
    ),
    # --- Weaker than previous --------------------------------------------------------------------
    case(
        "portal-after-pgp-is-flagged-weaker",
        recipient(previous=Method.PGP),
        Method.PORTAL,
        {R.WEAKER_THAN_PREVIOUS},
    ),
    case(
        "pgp-after-smime-is-not-weaker",
        recipient(keys=(pgp(),), previous=Method.SMIME),
        Method.PGP,
        {R.PGP_KEY_IMPORTED},
    ),
    case(
        "tls-after-portal-is-flagged-weaker",
        recipient(domain=TLS_READY, previous=Method.PORTAL),
        Method.TLS,
        {R.WEAKER_THAN_PREVIOUS},
        msg=message(requiretls=True),
    ),
]


@pytest.mark.parametrize(("facts", "msg", "rules", "method", "codes"), SCENARIOS)
def test_decision_scenario(
    facts: RecipientFacts, msg: MessageFacts, rules: PolicyRules, method: Method, codes: set[ReasonCode]
) -> None:
    decision = decide(facts, msg, rules, NOW)

    assert decision.method is method, decision.codes
    assert codes <= set(decision.codes), decision.codes
