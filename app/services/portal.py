"""Escalating recipients to the secure portal, and following what happened to those messages (DESIGN.md §6).

Per recipient: the whole message (real subject, attachments) is sealed under a fresh key K = K1 xor K2 with a
fresh reply key; the ciphertext, K2 and the reply public key are uploaded; the notice carrying K1 in the link's
fragment is queued in the durable outbox like any message. The upload happens before the notice is queued: a
crash between the two leaves an orphan on the portal that nobody can open (K1 existed only in memory) and that
expires, never a notice without a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.errors import BlockedByPolicy
from app.core.settings import Settings
from app.crypto.portal_keys import ReplyKey, seal_message
from app.mime.addresses import Address
from app.portal.client import PortalClient, PortalEndpoint, PortalReceipt
from app.portal.notice import NoticeFacts, notice_bytes
from app.portal.protocol import UploadMeta
from app.services.policy import read_policy_file
from app.services.profile import Session
from app.store import portal as store
from app.store.portal import PortalRecord


def portal_configured(settings: Settings) -> bool:
    return bool(settings["portal_url"] and settings["portal_upload_key_file"])


def client(settings: Settings) -> PortalClient:
    if not portal_configured(settings):
        raise BlockedByPolicy("No secure portal is configured (policy keys portal_url and portal_upload_key_file).")
    upload_key = read_policy_file(settings["portal_upload_key_file"], "portal upload key file").strip()
    ca_pem = read_policy_file(settings["portal_ca_file"], "CA file")
    return PortalClient(PortalEndpoint(settings["portal_url"], upload_key, ca_pem))


@dataclass(frozen=True, slots=True)
class EscalatedMessage:
    record: PortalRecord
    notice: bytes  # the notice email to queue


async def escalate(
    session: Session, settings: Settings, mime: bytes, recipient: str, sender: Address, send_id: str, now: datetime,
    content_id: str = "",
) -> EscalatedMessage:  # fmt: skip
    reply_key = ReplyKey.generate()
    sealed = seal_message(mime, reply_key.public_point)
    expires = now + timedelta(days=settings["portal_link_expiry_days"])
    meta = UploadMeta(recipient, sealed.k2, expires, reply_key.public_point, None)
    receipt = await client(settings).upload(meta, sealed.envelope)
    domain = sender.addr.rpartition("@")[2] or "salus.invalid"
    notice_id = f"{send_id}.notice.{receipt.message_id}@{domain}"
    facts = NoticeFacts(
        sender=sender, recipient=recipient, portal_url=settings["portal_url"], message_id=receipt.message_id,
        k1=sealed.k1, expires_at=receipt.expires_at, method=meta.method, mail_message_id=notice_id, now=now,
    )  # fmt: skip
    record = PortalRecord(receipt.message_id, send_id, notice_id, recipient, receipt.sender_token,
                          reply_key.private_pkcs8, receipt.expires_at, "uploaded", content_id)  # fmt: skip
    return EscalatedMessage(record, notice_bytes(facts))


async def notice_delivered(session: Session, settings: Settings, notice_message_id: str) -> None:
    record = store.by_notice(session.vault, notice_message_id)
    if record is None:
        return
    await client(settings).notice_delivered(PortalReceipt(record.portal_id, record.sender_token, "", record.expires_at))
    store.set_state(session.vault, record.portal_id, "delivered")
