"""Planning a message: gather every recipient's evidence, then let the decision engine decide (DESIGN.md §5).

Rules:
- Evidence is gathered concurrently (one task per recipient and one per domain), every network lookup bounded
  by the discovery timeout, and cached in the vault with an expiry so a warm plan needs no network at all.
- A failed lookup is evidence too ("MTA-STS: lookup failed") and is cached only briefly.
- Keys found by WKD are filtered to the address and imported into the profile's GnuPG home with their source;
  Autocrypt keys arrive the same way during sync (see `harvest.py`).
- Nothing here decides: `app.policy.plan` does, from the facts gathered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.core.clock import utc_now
from app.core.errors import UsageError
from app.core.settings import Settings
from app.crypto.certificates import judge
from app.crypto.openpgp import KeyInfo, OpenPgpStore
from app.discovery import DiscoveryConfig, DnsResolver, lookup_dane, lookup_mta_sts, lookup_wkd
from app.mail.smtp.probe import probe_submission
from app.policy import (
    DaneEvidence,
    DaneState,
    DomainTransportEvidence,
    EvidenceSource,
    MessageFacts,
    Method,
    MtaStsEvidence,
    MtaStsMode,
    OrgListEvidence,
    PgpKeyEvidence,
    Plan,
    RecipientFacts,
    SmimeCertEvidence,
    SubmissionFacts,
    normalize_address,
    plan,
    strip_subject_tags,
)
from app.policy.lookalike import lookalike_of
from app.policy.model import split_address
from app.services.engine import Engine
from app.services.keys import openpgp_store, smime_trust
from app.services.mailbox import accounts_to_sync
from app.services.policy import read_policy_file
from app.services.profile import Session
from app.services.rules import policy_rules
from app.store import contacts, evidence
from app.store import mail as store

_Lookup = Callable[[], Awaitable[tuple[dict[str, object], timedelta]]]

FAILURE_TTL = timedelta(minutes=5)
ABSENT_TTL = timedelta(hours=1)
FOUND_TTL = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    plan: Plan
    subject: str  # with the subject tags removed
    escalated: bool
    planned_at: datetime


def plan_message(
    session: Session,
    settings: Settings,
    recipients: tuple[str, ...],
    subject: str,
    *,
    escalate: bool,
    account: str | None,
) -> PlanOutcome:
    return asyncio.run(plan_message_async(session, settings, recipients, subject, escalate=escalate, account=account))


async def plan_message_async(
    session: Session,
    settings: Settings,
    recipients: tuple[str, ...],
    subject: str,
    *,
    escalate: bool,
    account: str | None,
    reply_to_encrypted: bool = False,
) -> PlanOutcome:
    now = utc_now()
    rules = policy_rules(settings)
    stripped, tagged = strip_subject_tags(subject, rules.subject_tags)
    engine = Engine(parse_in_process=False)
    try:
        gatherer = Gatherer(session, settings, engine, now)
        submission, facts, history = await asyncio.gather(
            gatherer.submission(account),
            asyncio.gather(*(gatherer.recipient(a) for a in _checked(recipients))),
            engine.db(contact_history, session, recipients),
        )
    finally:
        engine.shutdown()
    facts = [with_history(f, history) for f in facts]
    message = MessageFacts(
        escalated_manually=escalate,
        escalated_by_subject_tag=tagged,
        is_reply_to_encrypted=reply_to_encrypted,
        submission=submission,
    )
    return PlanOutcome(plan(facts, message, rules, now), stripped, escalate or tagged, now)


@dataclass(frozen=True, slots=True)
class ContactHistory:
    """What the vault knows about whom this profile corresponds with (for the recipient flags)."""

    last_methods: dict[str, str]  # normalised address -> method of the last message accepted for it
    known_addresses: frozenset[str]
    known_domains: frozenset[str]  # of known addresses and of the profile's own accounts


def contact_history(session: Session, recipients: tuple[str, ...]) -> ContactHistory:
    known = contacts.known_addresses(session.vault)
    own = {a.sender_address.rpartition("@")[2].lower() for a in store.list_accounts(session.vault)}
    domains = frozenset({a.rpartition("@")[2] for a in known} | own) - {""}
    return ContactHistory(contacts.last_methods(session.vault, recipients), known, domains)


def with_history(facts: RecipientFacts, history: ContactHistory) -> RecipientFacts:
    """The recipient's facts with the previous method, the first-time flag and any look-alike domain filled in."""
    previous = history.last_methods.get(facts.key)
    return replace(
        facts,
        previous_method=Method(previous) if previous is not None else None,
        first_time=facts.key not in history.known_addresses,
        lookalike_of=lookalike_of(facts.domain, history.known_domains),
    )


def _checked(recipients: tuple[str, ...]) -> tuple[str, ...]:
    if not recipients:
        raise UsageError("Name at least one recipient.")
    for address in recipients:
        try:
            split_address(address)
        except ValueError as exc:
            raise UsageError(f"Not an email address: {address!r}.") from exc
    return recipients


@dataclass(frozen=True, slots=True)
class DomainStatus:
    domain: str
    mta_sts: str
    mx_matched: bool
    dane: str
    trusted: bool  # on the organisation's list


def refresh_domains(session: Session, settings: Settings, domains: tuple[str, ...] = ()) -> list[DomainStatus]:
    """Looks the domains up again, ignoring the cache: the organisation's partner list by default, plus any
    domain named. This is the "domain monitoring" of DESIGN.md §5: a partner whose MTA-STS or DANE lapsed is
    noticed before the next message to it, not after."""
    return asyncio.run(_refresh(session, settings, domains))


async def _refresh(session: Session, settings: Settings, domains: tuple[str, ...]) -> list[DomainStatus]:
    now = utc_now()
    wanted = sorted({d.lower().rstrip(".") for d in (*settings["trusted_tls_domains"], *domains)})
    engine = Engine(parse_in_process=False)
    try:
        gatherer = Gatherer(session, settings, engine, now, use_cache=False)
        found = await asyncio.gather(*(gatherer.domain(d) for d in wanted))
    finally:
        engine.shutdown()
    return [
        DomainStatus(
            e.domain,
            e.mta_sts.mode.value if e.mta_sts else "absent",
            bool(e.mta_sts and e.mta_sts.mx_matched),
            e.dane.state.value if e.dane else "absent",
            e.org_list is not None,
        )
        for e in found
    ]


def discovery_config(settings: Settings) -> DiscoveryConfig:
    return DiscoveryConfig(
        resolvers=tuple(settings["dns_resolvers"]),
        ca_pem=read_policy_file(settings["discovery_ca_file"], "CA file"),
        timeout=float(settings["discovery_timeout_seconds"]),
        https_port=settings["discovery_https_port"],
    )


class Gatherer:
    """Collects the facts of one plan; domain lookups are shared between recipients of the same domain."""

    def __init__(
        self, session: Session, settings: Settings, engine: Engine, now: datetime, *, use_cache: bool = True
    ) -> None:
        self._use_cache = use_cache
        self._session = session
        self._settings = settings
        self._engine = engine
        self._now = now
        self._resolver = DnsResolver(discovery_config(settings))
        self._domains: dict[str, asyncio.Task[DomainTransportEvidence]] = {}
        self._store: OpenPgpStore = openpgp_store(session)
        self._trust = smime_trust(settings)
        self._keyring: asyncio.Task[tuple[KeyInfo, ...]] | None = None

    async def recipient(self, address: str) -> RecipientFacts:
        _, domain = split_address(address)
        keys, certificates, transport = await asyncio.gather(
            self._pgp_keys(address), self._certificates(address), self.domain(domain)
        )
        return RecipientFacts(address=address, pgp_keys=keys, smime_certs=certificates, transport=transport)

    async def domain(self, domain: str) -> DomainTransportEvidence:
        """The domain's transport evidence; recipients of one domain share one lookup."""
        if domain not in self._domains:
            self._domains[domain] = asyncio.create_task(self._domain(domain))
        return await self._domains[domain]

    # --- OpenPGP ---------------------------------------------------------------------------------------------

    async def _pgp_keys(self, address: str) -> tuple[PgpKeyEvidence, ...]:
        found = await self._local_keys(address)
        if not any(k.usable_for_encryption and not k.revoked for k in found) and await self._wkd(address):
            found = await self._local_keys(address)
        return found

    async def _local_keys(self, address: str) -> tuple[PgpKeyEvidence, ...]:
        normalized = normalize_address(address)
        sources = await self._engine.db(evidence.key_sources, self._session.vault, normalized)
        keys = await self._keys()
        return tuple(
            _pgp_evidence(key, sources.get(key.fingerprint), self._now)
            for key in keys
            if key.matches(address) or key.fingerprint in sources
        )

    async def _keys(self) -> tuple[KeyInfo, ...]:
        # One listing of the keyring serves every recipient; a WKD import starts a fresh one.
        if self._keyring is None:
            self._keyring = asyncio.create_task(self._engine.crypto(self._store.keys))
        return await self._keyring

    async def _wkd(self, address: str) -> bool:
        """Looks the address up in its domain's key directory; True when a usable key was imported."""
        normalized = normalize_address(address)
        cached = await self._engine.db(evidence.cached, self._session.vault, "wkd", normalized, self._now)
        if cached is not None:
            return False  # a key found earlier is already in the keyring; a miss or failure is not retried yet
        result = await lookup_wkd(address, self._resolver)
        imported: tuple[str, ...] = ()
        if result.key is not None:
            material = await self._engine.crypto(self._store.filter_key_for_address, result.key, address)
            if material is not None:
                imported = await self._engine.crypto(self._store.import_keys, material)
        if imported:
            self._keyring = None
        for fingerprint in imported:
            await self._engine.db(
                evidence.record_key_source, self._session.vault, fingerprint, (normalized,), EvidenceSource.WKD.value,
                self._now, verified=False,
            )  # fmt: skip
        ttl = FOUND_TTL if imported else FAILURE_TTL if result.error else ABSENT_TTL
        data = {"found": bool(imported), "method": result.method, "error": result.error}
        await self._engine.db(
            evidence.remember, self._session.vault, "wkd", normalized, data, self._now, self._now + ttl
        )
        return bool(imported)

    # --- S/MIME ----------------------------------------------------------------------------------------------

    async def _certificates(self, address: str) -> tuple[SmimeCertEvidence, ...]:
        normalized = normalize_address(address)
        stored = await self._engine.db(evidence.certificates_for, self._session.vault, normalized)
        if not stored:
            return ()
        pool = tuple(c.der for c, _ in await self._engine.db(evidence.all_certificates, self._session.vault))
        result = []
        for certificate in stored:
            verdict = await self._engine.crypto(
                lambda der=certificate.der: judge(der, others=pool, trust=self._trust, now=self._now, address=address)
            )
            result.append(
                SmimeCertEvidence(
                    fingerprint=verdict.fingerprint,
                    source=EvidenceSource(certificate.source),
                    learned_at=certificate.learned_at,
                    not_after=verdict.not_after,
                    # Purpose, key usage and address must hold too, not only the path (RFC 8550 §4.4).
                    chain_valid=verdict.trusted_for_encryption or (verdict.expired and verdict.chain_valid),
                    revoked=False,
                )
            )
        return tuple(result)

    # --- domains ---------------------------------------------------------------------------------------------

    async def _domain(self, domain: str) -> DomainTransportEvidence:
        mta_sts, dane = await asyncio.gather(self._mta_sts(domain), self._dane(domain))
        org = (
            OrgListEvidence(self._now) if domain in {d.lower() for d in self._settings["trusted_tls_domains"]} else None
        )
        return DomainTransportEvidence(domain, mta_sts=mta_sts, dane=dane, org_list=org)

    async def _mta_sts(self, domain: str) -> MtaStsEvidence | None:
        entry = await self._cached_or_lookup("mta_sts", domain, lambda: _mta_sts_lookup(domain, self._resolver))
        mode = entry.data["mode"]
        if mode == "absent":
            return None
        return MtaStsEvidence(MtaStsMode(mode), bool(entry.data["mx_matched"]), entry.learned_at, entry.expires_at)

    async def _dane(self, domain: str) -> DaneEvidence:
        entry = await self._cached_or_lookup("dane", domain, lambda: _dane_lookup(domain, self._resolver))
        return DaneEvidence(DaneState(entry.data["state"]), entry.learned_at, entry.expires_at)

    async def _cached_or_lookup(self, kind: str, subject: str, lookup: _Lookup) -> evidence.CachedLookup:
        if self._use_cache:
            hit = await self._engine.db(evidence.cached, self._session.vault, kind, subject, self._now)
            if hit is not None:
                return hit
        data, ttl = await lookup()
        await self._engine.db(evidence.remember, self._session.vault, kind, subject, data, self._now, self._now + ttl)
        return evidence.CachedLookup(data, self._now, self._now + ttl)

    # --- the first hop ---------------------------------------------------------------------------------------

    async def submission(self, account_name: str | None) -> SubmissionFacts:
        accounts = accounts_to_sync(self._session, account_name)
        if len(accounts) != 1:
            return SubmissionFacts()  # no single sending account: nothing is known about the first hop
        account = accounts[0]
        subject = f"{account.smtp.host}:{account.smtp.port}"

        async def probe() -> tuple[dict[str, object], timedelta]:
            try:
                found = await probe_submission(account.smtp, account.ca_pem, timeout=self._resolver.config.timeout)
            except Exception as exc:  # noqa: BLE001 - an unreachable server is evidence, not a crash
                return {"requiretls": False, "error": str(exc)}, FAILURE_TTL
            return {"requiretls": found.requiretls, "error": None}, FOUND_TTL

        entry = await self._cached_or_lookup("ehlo", subject, probe)
        return SubmissionFacts(requiretls_offered=bool(entry.data["requiretls"]), learned_at=entry.learned_at)


async def _mta_sts_lookup(domain: str, resolver: DnsResolver) -> tuple[dict[str, object], timedelta]:
    result = await lookup_mta_sts(domain, resolver)
    mode = str(result.mode.value)
    if mode == "lookup_failed":
        ttl = FAILURE_TTL
    elif mode == "absent":
        ttl = ABSENT_TTL
    else:
        # RFC 8461 §3.2 lets a policy be cached for max_age; a day keeps the evidence fresh enough to show.
        ttl = min(timedelta(seconds=result.max_age or 0), FOUND_TTL) or FAILURE_TTL
    return {"mode": mode, "mx_matched": result.mx_matched, "error": result.error}, ttl


async def _dane_lookup(domain: str, resolver: DnsResolver) -> tuple[dict[str, object], timedelta]:
    result = await lookup_dane(domain, resolver)
    state = str(result.state.value)
    ttl = FAILURE_TTL if state == "lookup_failed" else ABSENT_TTL
    return {"state": state, "records": list(result.records), "error": result.error}, ttl


def _pgp_evidence(key: KeyInfo, source: evidence.KeySource | None, now: datetime) -> PgpKeyEvidence:
    return PgpKeyEvidence(
        fingerprint=key.fingerprint,
        source=EvidenceSource(source.source) if source else EvidenceSource.LOCAL_KEYRING,
        learned_at=source.learned_at if source else min(key.created, now),
        expires_at=key.expires,
        revoked=key.revoked,
        usable_for_encryption=key.can_encrypt and not key.expired,
        verified=source.verified if source else False,
    )
