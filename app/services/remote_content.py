"""Remote images of a message, loaded only when the user asks (DESIGN.md §5, Reading; the issue: "no remote
resource is ever fetched unless the user asks for this message or this sender (the choice is audited)").

Rules:
- Nothing is fetched unless the policy `remote_content_allowed` is true; the reader's buttons say so, and this
  module refuses anyway (BlockedByPolicy), so no other caller can get around it.
- Only the image addresses the sanitiser kept aside are fetched, through `app.discovery.web_image` (http(s),
  raster images only, size cap, no cookies, redirects only to http(s), no private addresses unless allowed).
  Style sheets, CSS `url()`, frames and scripts are never fetched: the sanitiser removed them for good.
- Every load is audited *before* the first request leaves, so the log can never miss a contact with a server.
  The entry names the message (its vault id and account/folder/UID), the sender's address, the scope (this
  message, "always for this sender", or loaded because of that earlier choice), how many images and the host
  names contacted. It never holds paths or query strings: that is where tracking tokens live, often one per
  recipient and sometimes naming a patient (`pixel.gif?id=patient-42`); the hosts say where traffic went, which
  is what an audit needs. Audit exports leave the vault, so they get the minimum.
- Nothing is fetched for a message that arrived encrypted (EFAIL), whatever the policy or the sender rules say.
- "Always for this sender" is stored together with its audit entry in one transaction; forgetting it is
  audited the same way. The address is the From addr-spec, lower-cased; From can be forged, so a forged message
  "from" an allowed sender loads its images too. That only tells the forger the message was opened, which the
  user accepted for that sender; the policy switch turns the whole feature off.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import BlockedByPolicy, UsageError
from app.core.models import MessageRowId
from app.core.settings import Settings
from app.discovery import DnsResolver
from app.discovery.web_image import FetchedImage, ImageRefused, fetch_image
from app.mime.protected import encrypted_payload
from app.services.engine import Engine
from app.services.planning import discovery_config
from app.services.profile import Session
from app.store import browse
from app.store import remote_content as rules

MAX_IMAGES = 50
# EFAIL (Poddebniak et al. 2018): CBC/CFB gadgets let whoever holds a ciphertext rewrite S/MIME CBC plaintext
# (which has no integrity check) into an <img> whose address carries the rest of the plaintext; loading it is
# the exfiltration. A forged From can also make such a message look as if it came from an "always" sender. So
# nothing is ever fetched for a message that was encrypted, whoever asks.
_DECRYPTED = "Remote images are never loaded in encrypted messages: their addresses could carry the decrypted text."
_PARALLEL = 4


class RemoteScope(StrEnum):
    MESSAGE = "message"  # "Load for this message"
    SENDER = "sender"  # "Always for this sender": stored, then loaded
    SENDER_RULE = "sender-rule"  # loaded without asking, because of an earlier "always"


@dataclass(frozen=True, slots=True)
class LoadedImages:
    message_id: MessageRowId
    images: tuple[tuple[int, FetchedImage], ...]  # (number in the message's remote_images, the image)
    failures: tuple[str, ...]  # why the others were not shown; no addresses


def policy_allows(settings: Settings) -> bool:
    return bool(settings["remote_content_allowed"])


async def load_images(
    engine: Engine,
    session: Session,
    settings: Settings,
    message_id: MessageRowId,
    sender: str,
    urls: tuple[str, ...],
    scope: RemoteScope,
) -> LoadedImages:
    if not policy_allows(settings):
        raise BlockedByPolicy("Your organisation does not allow loading remote images.")
    wanted = urls[:MAX_IMAGES]
    await engine.db(_record, session, message_id, sender, wanted, scope)
    resolver = DnsResolver(discovery_config(settings))
    private = bool(settings["remote_images_private_networks"])
    gate = asyncio.Semaphore(_PARALLEL)

    async def one(url: str) -> FetchedImage | str:
        async with gate:
            try:
                return await fetch_image(url, resolver, allow_private=private)
            except ImageRefused as exc:
                return str(exc)

    results = await asyncio.gather(*(one(url) for url in wanted))
    images = tuple((n, r) for n, r in enumerate(results) if isinstance(r, FetchedImage))
    failures = tuple(r for r in results if isinstance(r, str))
    if len(urls) > MAX_IMAGES:
        failures += (f"only the first {MAX_IMAGES} images of a message are loaded",)
    return LoadedImages(message_id, images, failures)


def _record(session: Session, message_id: MessageRowId, sender: str, urls: tuple[str, ...], scope: RemoteScope) -> None:
    address = sender.strip().lower()
    if scope is not RemoteScope.MESSAGE and not address:
        raise UsageError("This message has no sender address to remember.")
    if scope is RemoteScope.SENDER_RULE and not rules.sender_allowed(session.vault, address):
        raise UsageError("Remote images are not allowed for this sender any more.")
    located = browse.locations(session.vault, [message_id])
    if not located:
        raise UsageError("This message is no longer in the vault.")
    if encrypted_payload(browse.raw_message(session.vault, message_id)) is not None:
        raise BlockedByPolicy(_DECRYPTED)
    where = located[0]
    detail: dict[str, object] = {
        "message": int(message_id), "sender": address, "scope": scope.value, "images": len(urls), "hosts": _hosts(urls),
    }  # fmt: skip
    now = utc_now()
    with session.vault.transaction():
        if scope is RemoteScope.SENDER:
            rules.allow_sender(session.vault, address, now)
            session.audit.record_in_transaction(AuditEvent.REMOTE_SENDER_ALLOWED, now, target=address)
        target = f"{where.account}/{where.folder_display}/{where.uid}"
        session.audit.record_in_transaction(AuditEvent.REMOTE_CONTENT_LOADED, now, target=target, detail=detail)


def _hosts(urls: tuple[str, ...]) -> list[str]:
    hosts: set[str] = set()
    for url in urls:
        try:
            hosts.add((urlsplit(url).hostname or "").lower())
        except ValueError:
            continue
    return sorted(h for h in hosts if h)


def sender_allowed(session: Session, settings: Settings, sender: str) -> bool:
    """Whether this sender's images load without asking (never while policy forbids remote content)."""
    return policy_allows(settings) and bool(sender) and rules.sender_allowed(session.vault, sender.strip())


def forget_sender(session: Session, sender: str) -> bool:
    """Revokes "always for this sender"; True when there was such a choice. Audited."""
    address = sender.strip().lower()
    with session.vault.transaction():
        forgotten = rules.forget_sender(session.vault, address)
        if forgotten:
            session.audit.record_in_transaction(AuditEvent.REMOTE_SENDER_FORGOTTEN, utc_now(), target=address)
    return forgotten
