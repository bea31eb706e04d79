"""The facts the per-recipient decision engine reads, and the policy it applies (DESIGN §5, §10).

Rules this module keeps:
- Every value is a frozen, slotted dataclass or an enum; nothing here reads a clock, a file or a setting.
- Every datetime is timezone-aware, so no comparison mixes local time with UTC.
- Evidence says where it came from (`source`) and when (`learned_at`), so every reason can cite both.
- Invalid facts and an invalid policy raise ValueError when built, never fall back to a silent default
  (DESIGN §10). Error messages never quote an address: addresses may belong to patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum


class Method(StrEnum):
    """How one recipient receives the message, strongest first (DESIGN §5)."""

    PGP = "pgp"
    SMIME = "smime"
    PORTAL = "portal"
    TLS = "tls"
    PLAIN = "plain"
    BLOCKED = "blocked"

    @property
    def strength(self) -> int:
        """Protection rank: both end-to-end methods rank equal; `blocked` sends nothing and ranks lowest."""
        return _STRENGTH[self]

    @property
    def is_end_to_end(self) -> bool:
        return self in (Method.PGP, Method.SMIME)


_STRENGTH: dict[Method, int] = {
    Method.PGP: 4,
    Method.SMIME: 4,
    Method.PORTAL: 3,
    Method.TLS: 2,
    Method.PLAIN: 1,
    Method.BLOCKED: 0,
}


class EvidenceSource(StrEnum):
    """Where a fact was learned; the composer and the audit log cite it beside every reason."""

    LOCAL_KEYRING = "local_keyring"
    IMPORT = "import"
    WKD = "wkd"
    AUTOCRYPT = "autocrypt"
    SIGNED_MAIL = "signed_mail"
    MTA_STS = "mta_sts"
    DANE = "dane"
    ORG_LIST = "org_list"
    EHLO = "ehlo"
    POLICY = "policy"


class TrustLevel(IntEnum):
    """How far an OpenPGP key is believed to belong to its address; a higher value outranks a lower one."""

    AUTOCRYPT = 1
    WKD = 2
    IMPORTED = 3
    VERIFIED = 4


class MtaStsMode(StrEnum):
    """The MTA-STS policy mode (RFC 8461 §5), or the lookup failing."""

    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"
    LOOKUP_FAILED = "lookup_failed"


class DaneState(StrEnum):
    """What a validating resolver said about the MX hosts' TLSA records (RFC 7672 §2)."""

    VALIDATED = "validated"
    NOT_VALIDATED = "not_validated"
    ABSENT = "absent"
    LOOKUP_FAILED = "lookup_failed"


# A key's trust follows from how it was learned unless someone verified its fingerprint.
_PGP_TRUST: dict[EvidenceSource, TrustLevel] = {
    EvidenceSource.LOCAL_KEYRING: TrustLevel.IMPORTED,
    EvidenceSource.IMPORT: TrustLevel.IMPORTED,
    EvidenceSource.WKD: TrustLevel.WKD,
    EvidenceSource.AUTOCRYPT: TrustLevel.AUTOCRYPT,
}
_SMIME_SOURCES = frozenset({EvidenceSource.SIGNED_MAIL, EvidenceSource.IMPORT})


def require_aware(name: str, value: datetime | None) -> None:
    """Refuse naive datetimes: comparing one with an aware datetime raises, or worse, misleads."""
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def normalize_domain(domain: str) -> str:
    """Domains compare case-insensitively (RFC 5321 §2.4); a trailing root dot changes nothing."""
    cleaned = domain.strip().rstrip(".").lower()
    if not cleaned:
        raise ValueError("empty domain")
    return cleaned


def split_address(address: str) -> tuple[str, str]:
    """Split at the last '@' (a quoted local part may hold one); the domain is normalised."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain.strip():
        raise ValueError("not an email address (expected local-part@domain)")
    return local, normalize_domain(domain)


def normalize_address(address: str) -> str:
    """The identity of a mailbox: the local part as given (RFC 5321 §2.4 leaves its case to the
    receiving host, so Bob@ and bob@ may be different people) and the domain in lower case."""
    local, domain = split_address(address)
    return f"{local}@{domain}"


def normalize_fingerprint(fingerprint: str) -> str:
    cleaned = "".join(fingerprint.split()).upper()
    if not cleaned:
        raise ValueError("empty fingerprint")
    return cleaned


@dataclass(frozen=True, slots=True)
class PgpKeyEvidence:
    """One OpenPGP key for the recipient. `expires_at` is the key's own expiry (None: never)."""

    fingerprint: str
    source: EvidenceSource
    learned_at: datetime
    expires_at: datetime | None
    revoked: bool
    usable_for_encryption: bool
    verified: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", normalize_fingerprint(self.fingerprint))
        if self.source not in _PGP_TRUST:
            raise ValueError(f"an OpenPGP key cannot come from {self.source.value}")
        require_aware("learned_at", self.learned_at)
        require_aware("expires_at", self.expires_at)

    @property
    def trust(self) -> TrustLevel:
        return TrustLevel.VERIFIED if self.verified else _PGP_TRUST[self.source]


@dataclass(frozen=True, slots=True)
class SmimeCertEvidence:
    """One S/MIME certificate for the recipient, with the result of the chain check."""

    fingerprint: str
    source: EvidenceSource
    learned_at: datetime
    not_after: datetime
    chain_valid: bool
    revoked: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", normalize_fingerprint(self.fingerprint))
        if self.source not in _SMIME_SOURCES:
            raise ValueError(f"an S/MIME certificate cannot come from {self.source.value}")
        require_aware("learned_at", self.learned_at)
        require_aware("not_after", self.not_after)


@dataclass(frozen=True, slots=True)
class MtaStsEvidence:
    """The recipient domain's MTA-STS policy. `mx_matched`: the MX hosts match the policy's `mx`
    patterns (RFC 8461 §4.1). `expires_at`: end of the cached policy's max_age (RFC 8461 §3.2)."""

    mode: MtaStsMode
    mx_matched: bool
    learned_at: datetime
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware("learned_at", self.learned_at)
        require_aware("expires_at", self.expires_at)


@dataclass(frozen=True, slots=True)
class DaneEvidence:
    """DANE TLSA state of the domain's MX hosts; `expires_at` is the end of the cached answer's TTL."""

    state: DaneState
    learned_at: datetime
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware("learned_at", self.learned_at)
        require_aware("expires_at", self.expires_at)


@dataclass(frozen=True, slots=True)
class OrgListEvidence:
    """The domain is on the organisation's distributed list of TLS-enforced partner domains."""

    learned_at: datetime
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware("learned_at", self.learned_at)
        require_aware("expires_at", self.expires_at)


@dataclass(frozen=True, slots=True)
class DomainTransportEvidence:
    """Everything known about hop-by-hop TLS to one recipient domain; None means not looked up."""

    domain: str
    mta_sts: MtaStsEvidence | None = None
    dane: DaneEvidence | None = None
    org_list: OrgListEvidence | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", normalize_domain(self.domain))


@dataclass(frozen=True, slots=True)
class SubmissionFacts:
    """What the sender's own submission server offered in its EHLO reply (RFC 8689 §2)."""

    requiretls_offered: bool = False
    learned_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware("learned_at", self.learned_at)
        if self.requiretls_offered and self.learned_at is None:
            raise ValueError("requiretls_offered needs learned_at: evidence without a date cannot age")


@dataclass(frozen=True, slots=True)
class RecipientFacts:
    """One recipient and all evidence gathered for it. `transport` must describe the address's domain."""

    address: str
    pgp_keys: tuple[PgpKeyEvidence, ...] = ()
    smime_certs: tuple[SmimeCertEvidence, ...] = ()
    transport: DomainTransportEvidence | None = None
    previous_method: Method | None = None
    # Never sent to and never received from (False when unknown, so nothing is flagged without evidence).
    first_time: bool = False
    # The known contact domain this recipient's domain imitates (see app.policy.lookalike), if any.
    lookalike_of: str | None = None

    def __post_init__(self) -> None:
        _, domain = split_address(self.address)
        if self.transport is not None and self.transport.domain != domain:
            # Pairing one domain's evidence with another's recipient could downgrade it to tls.
            raise ValueError("transport evidence describes a different domain than the address")

    @property
    def domain(self) -> str:
        return split_address(self.address)[1]

    @property
    def key(self) -> str:
        """The mailbox identity used to merge duplicates (see normalize_address)."""
        return normalize_address(self.address)


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """Facts about the message as a whole. Escalation comes from the composer's button or a subject
    tag (DESIGN §5); a reply to an encrypted message is planned at least as strongly as the portal."""

    escalated_manually: bool = False
    escalated_by_subject_tag: bool = False
    is_reply_to_encrypted: bool = False
    submission: SubmissionFacts = SubmissionFacts()

    @property
    def escalated(self) -> bool:
        return self.escalated_manually or self.escalated_by_subject_tag


DEFAULT_LADDER: tuple[Method, ...] = (Method.PGP, Method.SMIME, Method.TLS, Method.PORTAL)
_LADDER_METHODS = frozenset({Method.PGP, Method.SMIME, Method.TLS, Method.PORTAL})


@dataclass(frozen=True, slots=True)
class PolicyRules:
    """The managed policy's delivery rules (DESIGN §10), strict by default.

    `ladder` lists the allowed methods in order of preference. `plain` is never on it: it is allowed
    only by `allow_plain`, and then only as the last resort. End-to-end methods must come first, so no
    policy can prefer a weaker method over a usable key.
    """

    ladder: tuple[Method, ...] = DEFAULT_LADDER
    allow_plain: bool = False
    trusted_tls_domains: frozenset[str] = frozenset()
    relay_enforces_tls: bool = False
    escalation_keeps_end_to_end: bool = False
    evidence_max_age: timedelta = timedelta(days=30)
    autocrypt_allowed: bool = False
    subject_tags: tuple[str, ...] = ("[secure]", "[encrypt]")

    def __post_init__(self) -> None:
        _check_ladder(self.ladder)
        if self.evidence_max_age <= timedelta(0):
            raise ValueError("evidence_max_age must be positive")
        if any(not tag.strip() for tag in self.subject_tags):
            raise ValueError("subject tags must not be blank")
        domains = frozenset(normalize_domain(d) for d in self.trusted_tls_domains)
        object.__setattr__(self, "trusted_tls_domains", domains)


def _check_ladder(ladder: tuple[Method, ...]) -> None:
    if not ladder:
        raise ValueError("the method ladder is empty")
    if len(set(ladder)) != len(ladder):
        raise ValueError("the method ladder lists a method twice")
    if not set(ladder) <= _LADDER_METHODS:
        raise ValueError("the method ladder may hold only pgp, smime, tls and portal (plain: allow_plain)")
    e2e_flags = [method.is_end_to_end for method in ladder]
    if e2e_flags != sorted(e2e_flags, reverse=True):
        raise ValueError("end-to-end methods must come before portal and tls in the method ladder")
