"""Sending a message: plan, build one message per method group, queue them durably, then submit.

Rules (DESIGN.md §5 "Sending", issue: compose and send):
- The plan decides; nothing here picks a weaker method. A recipient the plan blocks stops the whole send before
  anything is queued, and the sender is told why (BlockedByPolicy, exit 5).
- `pgp`: the protected body (RFC 9788 header protection, real Subject inside, "[...]" outside) is signed and
  encrypted to the recipients' chosen keys and to the sender's own key (so the Sent copy is readable).
- `smime`: the same body enveloped with AES-256-GCM to the recipients' certificates.
- `tls`: sent as is, with REQUIRETLS on MAIL FROM unless policy names the relay as enforcing TLS.
- `portal`: needs the secure portal (another issue); until one is configured such recipients block the send.
- Every message of a send is queued in one transaction before any network step; the Sent copy of anything not
  already encrypted to the sender is encrypted to the sender's own OpenPGP key.
- The send is audited with every recipient's method and reason codes.
- Bcc (RFC 5322 §3.6.3): a Bcc recipient is never named in any copy another recipient gets, nor made an
  encryption recipient of it. Each Bcc recipient gets a copy of their own (headers as their method group's,
  envelope and encryption theirs alone); Bcc is never written into a header.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import BlockedByPolicy, UsageError
from app.core.models import Account
from app.core.settings import Settings
from app.crypto import smime_ops
from app.crypto.openpgp_ops import OpenPgpOps
from app.mime.addresses import Address
from app.mime.compose import (
    Draft,
    Hp,
    OutgoingAttachment,
    build_message,
    outer_headers,
    pgp_encrypted,
    protected_body,
    smime_enveloped,
    smime_signed,
)
from app.policy import Decision, Method, Plan, ReasonCode
from app.services import portal
from app.services.engine import Engine
from app.services.keys import GNUPG_DIR
from app.services.mailbox import accounts_to_sync
from app.services.outbox import Delivery, work_outbox
from app.services.planning import PlanOutcome, plan_message_async
from app.services.portal import portal_configured
from app.services.profile import Session
from app.store import evidence, outbox
from app.store import portal as portal_store
from app.store.outbox import NewOutgoing

_PGP_KEY_REASONS = frozenset(
    {ReasonCode.PGP_KEY_VERIFIED, ReasonCode.PGP_KEY_IMPORTED, ReasonCode.PGP_KEY_FROM_WKD,
     ReasonCode.PGP_KEY_FROM_AUTOCRYPT}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SendRequest:
    to: tuple[str, ...]
    subject: str
    body: str
    attachments: tuple[OutgoingAttachment, ...] = ()
    escalate: bool = False
    account: str | None = None
    cc: tuple[str, ...] = ()
    in_reply_to: str | None = None  # Message-ID of the message answered, without angle brackets
    references: tuple[str, ...] = ()
    # A reply to an encrypted message is planned at least as strongly (never tls or plain).
    reply_to_encrypted: bool = False
    bcc: tuple[str, ...] = ()  # envelope only: each gets a copy of their own
    # Rich text: HTML the composer already cleaned to its allow-list; sent as multipart/alternative after `body`.
    body_html: str | None = None

    @property
    def recipients(self) -> tuple[str, ...]:
        visible = (*self.to, *(c for c in self.cc if c not in self.to))
        return (*visible, *sorted(self.hidden, key=self.bcc.index))

    @property
    def hidden(self) -> frozenset[str]:
        """The Bcc recipients not also addressed openly (who are then simply visible), compared case-blind."""
        open_ = {a.lower() for a in (*self.to, *self.cc)}
        return frozenset(b for b in self.bcc if b.lower() not in open_)


@dataclass(frozen=True, slots=True)
class SendReport:
    send_id: str
    outcome: PlanOutcome
    deliveries: list[Delivery]


async def send(session: Session, settings: Settings, request: SendRequest) -> SendReport:
    account = _account(session, request.account)
    outcome = await plan_message_async(
        session, settings, request.recipients, request.subject, escalate=request.escalate, account=account.name,
        reply_to_encrypted=request.reply_to_encrypted,
    )  # fmt: skip
    _refuse_blocked(outcome.plan, settings)
    send_id = secrets.token_hex(8)
    engine = Engine(parse_in_process=False)
    try:
        items = await engine.crypto(_build_all, session, settings, account, request, outcome, send_id)
        items += await _escalate_all(session, settings, engine, account, request, outcome, send_id)
        now = utc_now()
        await engine.db(outbox.enqueue, session.vault, items, now)
        await engine.db(_audit_send, session, outcome, items, now)
        deliveries = await work_outbox(session, engine, send_id=send_id, settings=settings)
    finally:
        engine.shutdown()
    return SendReport(send_id, outcome, deliveries)


def _account(session: Session, name: str | None) -> Account:
    accounts = accounts_to_sync(session, name)
    if len(accounts) != 1:
        raise UsageError("Name the account to send from with --account (this profile has none or several).")
    return accounts[0]


def _refuse_blocked(plan: Plan, settings: Settings) -> None:
    blocked = plan.blocked
    if blocked:
        codes = sorted({r.code.value for d in blocked for r in d.reasons if r.code is not ReasonCode.NO_ALLOWED_METHOD})
        raise BlockedByPolicy(
            f"Not sent: policy allows no method for {len(blocked)} recipient(s) ({', '.join(codes) or 'no evidence'})."
        )
    portal = plan.addresses(Method.PORTAL)
    if portal and not portal_configured(settings):
        raise BlockedByPolicy(
            f"Not sent: {len(portal)} recipient(s) can only be reached through the secure portal, and no portal is "
            "configured (policy keys portal_url and portal_upload_key_file)."
        )


def _build_all(
    session: Session, settings: Settings, account: Account, request: SendRequest, outcome: PlanOutcome, send_id: str
) -> list[NewOutgoing]:
    sender = account.sender_address
    with OpenPgpOps(session.profile_dir / GNUPG_DIR, session.openpgp_passphrase) as pgp:
        own_key = pgp.ensure_own_key(sender, account.name)
        items = []
        for method, addresses in outcome.plan.groups.items():
            if method is Method.PORTAL:
                continue  # one upload and one notice per recipient: see _escalate_all
            visible = tuple(a for a in addresses if a not in request.hidden)
            # One message for the openly addressed, then one per Bcc recipient: envelope and keys theirs alone.
            copies = [(visible, "")] if visible else []
            copies += [((a,), f".bcc{i}") for i, a in enumerate(a for a in addresses if a in request.hidden)]
            for envelope, suffix in copies:
                decisions = [d for d in outcome.plan.decisions if d.method is method and d.address in envelope]
                draft = _draft(sender, visible, outcome.subject, request, send_id, method, outcome.planned_at,
                               suffix=suffix, bcc=envelope if suffix else ())  # fmt: skip
                raw, sent_copy = _build(session, settings, pgp, own_key, method, draft, decisions)
                items.append(
                    NewOutgoing(
                        message_id=draft.message_id, send_id=send_id, account_id=account.id, method=method.value,
                        mail_from=sender, recipients=envelope, raw=raw, sent_copy=sent_copy,
                        requiretls=method is Method.TLS and not settings["relay_enforces_tls"],
                    )
                )  # fmt: skip
    return items


async def _escalate_all(
    session: Session, settings: Settings, engine: Engine, account: Account, request: SendRequest,
    outcome: PlanOutcome, send_id: str,
) -> list[NewOutgoing]:  # fmt: skip
    """Seals and uploads the whole message once per portal recipient, and prepares each one's notice."""
    items = []
    sender = Address("", account.sender_address)
    for address in outcome.plan.addresses(Method.PORTAL):
        hidden = address in request.hidden  # a Bcc recipient's own copy names nobody in To or Cc
        draft = _draft(
            sender.addr, () if hidden else (address,), outcome.subject, request, send_id, Method.PORTAL,
            outcome.planned_at, bcc=(address,) if hidden else (),
        )  # fmt: skip
        mime = build_message(draft)
        escalated = await portal.escalate(
            session, settings, mime, address, sender, send_id, outcome.planned_at, draft.message_id
        )
        # The sealed MIME is kept (in the vault only) so the message can be re-issued after revoke or expiry.
        await engine.db(portal_store.save, session.vault, escalated.record, utc_now(), mime)
        copy = await engine.crypto(_own_copy, session, account, draft)
        items.append(
            NewOutgoing(
                message_id=escalated.record.notice_message_id, send_id=send_id, account_id=account.id,
                method=Method.PORTAL.value, mail_from=sender.addr, recipients=(address,), raw=escalated.notice,
                sent_copy=copy, requiretls=False,
            )
        )  # fmt: skip
    return items


def _own_copy(session: Session, account: Account, draft: Draft) -> bytes:
    """What the sender keeps in Sent for a portal message: the real message, encrypted to their own key."""
    with OpenPgpOps(session.profile_dir / GNUPG_DIR, session.openpgp_passphrase) as pgp:
        own_key = pgp.ensure_own_key(account.sender_address, account.name)
        copy = pgp.encrypt(protected_body(draft, Hp.CIPHER), [own_key], sign_with=own_key)
    return pgp_encrypted(outer_headers(draft, encrypted=True), copy)


def _draft(
    sender: str, to: Sequence[str], subject: str, request: SendRequest, send_id: str, method: Method, now: datetime,
    *, suffix: str = "", bcc: Sequence[str] = (),
) -> Draft:  # fmt: skip
    domain = sender.rpartition("@")[2] or "salus.invalid"
    # Portal messages are one per recipient, so their ids carry a per-recipient part; so do Bcc copies.
    suffix = f".{secrets.token_hex(4)}" if method is Method.PORTAL else suffix
    # Each method group is its own message: its headers name the group's recipients, as they were addressed.
    cc = tuple(Address("", a) for a in to if a in request.cc and a not in request.to)
    direct = tuple(Address("", a) for a in to if a not in request.cc or a in request.to)
    return Draft(
        sender=Address("", sender), to=direct, cc=cc, bcc=tuple(Address("", a) for a in bcc), subject=subject,
        body_text=request.body, body_html=request.body_html, attachments=request.attachments,
        message_id=f"{send_id}.{method.value}{suffix}@{domain}", date=now, in_reply_to=request.in_reply_to,
        references=request.references,
    )  # fmt: skip  # fmt: skip


def _build(
    session: Session, settings: Settings, pgp: OpenPgpOps, own_key: str, method: Method, draft: Draft,
    decisions: list[Decision],
) -> tuple[bytes, bytes]:  # fmt: skip
    """(what is submitted, what is stored in Sent)."""
    if method is Method.PGP:
        keys = [_chosen(d, _PGP_KEY_REASONS) for d in decisions]
        ciphertext = pgp.encrypt(protected_body(draft, Hp.CIPHER), keys, sign_with=own_key)
        message = pgp_encrypted(outer_headers(draft, encrypted=True), ciphertext)
        return message, message
    if method is Method.SMIME:
        certificates = [_certificate(session, _chosen(d, {ReasonCode.SMIME_CERT_VALID})) for d in decisions]
        entity = protected_body(draft, Hp.CIPHER)
        own = evidence.identities(session.vault, draft.sender.addr)
        if own:
            # Sign, then encrypt (RFC 8551 §3.7), and encrypt to the sender too so the Sent copy stays readable.
            signature, micalg = smime_ops.sign_detached(
                entity, own[0].certificate, own[0].private_key, chain=own[0].chain
            )
            entity = smime_signed(entity, signature, micalg)
            certificates.append(own[0].certificate)
        der = smime_ops.encrypt(entity, certificates, authenticated=True)
        message = smime_enveloped(outer_headers(draft, encrypted=True), der, authenticated=True)
        if own:
            return message, message
    else:
        message = build_message(draft)
    # The Sent copy of what the sender cannot decrypt themselves is encrypted to the sender's own key.
    copy = pgp.encrypt(protected_body(draft, Hp.CIPHER), [own_key], sign_with=own_key)
    return message, pgp_encrypted(outer_headers(draft, encrypted=True), copy)


def _chosen(decision: Decision, codes: frozenset[ReasonCode] | set[ReasonCode]) -> str:
    for reason in decision.reasons:
        if reason.code in codes and reason.detail:
            return reason.detail
    raise UsageError("The plan chose a key but did not say which; nothing was sent.")


def _certificate(session: Session, fingerprint: str) -> bytes:
    der = session.vault.scalar("SELECT der FROM smime_certs WHERE fingerprint = ?", (fingerprint,))
    if der is None:
        raise UsageError("A recipient's certificate disappeared from the vault; nothing was sent.")
    return bytes(der)


def _audit_send(session: Session, outcome: PlanOutcome, items: list[NewOutgoing], now: datetime) -> None:
    recipients = [
        {"address": d.address, "method": d.method.value, "reasons": [r.code.value for r in d.reasons]}
        for d in outcome.plan.decisions
    ]
    with session.vault.transaction():
        if outcome.escalated:
            session.audit.record_in_transaction(AuditEvent.ESCALATED, now, detail={"recipients": len(recipients)})
        session.audit.record_in_transaction(
            AuditEvent.SENT, now, target=items[0].send_id if items else "",
            detail={"recipients": recipients, "messages": [i.message_id for i in items]},
        )  # fmt: skip
