"""What the composer does, apart from its window: the start of a message (new, reply, forward, saved draft)
and the use cases the window runs on the engine thread (plan, send, drafts, resend). Nothing here imports Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.core.settings import Settings
from app.mime.compose import OutgoingAttachment
from app.mime.parse import ParsedMessage
from app.services import drafts
from app.services.drafts import AttachmentSource, DraftContent
from app.services.engine import Engine
from app.services.planning import PlanOutcome, plan_message_async
from app.services.profile import Session
from app.services.reader import Reader
from app.services.resend import RefusedSend, ResendReport, refused_sends, resend_escalated
from app.services.send import SendReport, SendRequest, send
from app.store import contacts
from app.store.drafts import DraftSummary, StoredDraft
from app.ui.models.recipients import split_addresses


@dataclass(frozen=True, slots=True)
class DraftStart:
    """What a new composer starts with (a reply or forward fills these in)."""

    to: tuple[str, ...] = ()
    subject: str = ""
    body: str = ""
    # A reply keeps the thread (RFC 5322 §3.6.4) and is never planned weaker than an encrypted original.
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to_encrypted: bool = False
    escalate: bool = False
    attachments: tuple[OutgoingAttachment, ...] = ()  # a forward's or a saved draft's, already in memory
    draft_id: str | None = None  # a saved draft this window continues
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    body_html: str | None = None  # a rich text draft's cleaned HTML (replies and forwards start plain)
    notice: str = ""  # shown above the text when the composer opens (why the original is not quoted)


@dataclass(frozen=True, slots=True)
class ComposedMessage:
    """What the user asked to send; attachments are paths (read on the engine thread) or bytes in memory."""

    to: tuple[str, ...]
    subject: str
    body: str
    attachments: tuple[AttachmentSource, ...]
    escalate: bool
    thread: DraftStart = DraftStart()  # the reply headers and the reply-to-encrypted fact, from the start
    draft_id: str | None = None  # deleted once the message is queued
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()  # each gets a copy of their own, naming none of them (app/services/send.py)
    body_html: str | None = None  # rich text, cleaned in app/ui/compose_html.py; `body` is its plain text

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone the message goes to, once each, in the order typed (To, then Cc, then Bcc)."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bcc)))


class ComposerService:
    """The composer's use cases as coroutines, to be run on the engine thread by the bridge.

    The session is asked for when a coroutine runs, not when the composer opens: a lock closes it, and a plan or
    send started while locked fails with the reader's "Salus is locked" error instead of using a closed vault.
    """

    def __init__(
        self, session: Callable[[], Session], settings: Settings, account: str | None = None, *, engine: Engine
    ) -> None:
        self._session = session
        self._settings = settings
        self._account = account
        self._engine = engine

    @property
    def rich_text_default(self) -> bool:
        """Whether a new message starts in rich text (the `compose_rich_text` setting; plain by default)."""
        return bool(self._settings["compose_rich_text"])

    async def plan(
        self, to: tuple[str, ...], subject: str, escalate: bool, *, reply_to_encrypted: bool = False
    ) -> PlanOutcome:
        return await plan_message_async(
            self._session(), self._settings, to, subject, escalate=escalate, account=self._account,
            reply_to_encrypted=reply_to_encrypted,
        )  # fmt: skip

    async def send(self, message: ComposedMessage) -> SendReport:
        session = self._session()
        attachments = await self._engine.crypto(drafts.read_attachments, message.attachments)
        request = SendRequest(
            message.to, message.subject, message.body, attachments, message.escalate, self._account, cc=message.cc,
            in_reply_to=message.thread.in_reply_to, references=message.thread.references,
            reply_to_encrypted=message.thread.reply_to_encrypted, bcc=message.bcc, body_html=message.body_html,
        )  # fmt: skip
        report = await send(session, self._settings, request)
        if message.draft_id is not None:
            await drafts.delete_draft(session, self._engine, message.draft_id)
        return report

    async def resend(self, message_ids: tuple[str, ...]) -> list[ResendReport]:
        """Sends each failed message again through the secure portal (see app/services/resend.py)."""
        return [await resend_escalated(self._session(), self._settings, m) for m in message_ids]

    async def refused(self) -> tuple[RefusedSend, ...]:
        """Messages refused for good and not resent yet (the main window's failed-sends bar)."""
        return await self._engine.db(refused_sends, self._session())

    async def save_draft(self, content: DraftContent) -> None:
        await drafts.save_draft(self._session(), self._engine, content)

    async def load_draft(self, draft_id: str) -> DraftStart:
        return start_from_draft(await drafts.load_draft(self._session(), self._engine, draft_id))

    async def delete_draft(self, draft_id: str) -> None:
        await drafts.delete_draft(self._session(), self._engine, draft_id)

    async def completions(self) -> tuple[tuple[str, str], ...]:
        """(shown text, address) of every known contact, most used first, read on the vault's thread."""
        found = await self._engine.db(contacts.contacts, self._session().vault)
        return tuple((c.display, c.address) for c in found)

    async def list_drafts(self) -> list[DraftSummary]:
        return await self._engine.db(drafts.list_drafts, self._session())


def composer_service(reader: Reader) -> ComposerService:
    """The composer's service for an open profile.

    `Reader` has no public accessor for its session, settings and engine yet (it is being reworked for the lock
    screen), so this one place reaches in; replace it with a public accessor when the reader offers one.
    """
    return ComposerService(lambda: reader._session, reader._settings, engine=reader._engine)


def start_from_draft(draft: StoredDraft) -> DraftStart:
    return DraftStart(
        draft.to, draft.subject, draft.body, in_reply_to=draft.in_reply_to, references=draft.references,
        reply_to_encrypted=draft.reply_to_encrypted, escalate=draft.escalate, attachments=drafts.outgoing(draft),
        draft_id=draft.draft_id, cc=draft.cc, bcc=draft.bcc, body_html=draft.body_html,
    )  # fmt: skip


def _prefixed(prefix: str, subject: str) -> str:
    return subject if subject.lower().startswith(prefix.lower()) else f"{prefix} {subject}".strip()


def _quoted(message: ParsedMessage) -> str:
    sender = ", ".join(a.addr for a in message.sender) or "the sender"
    quoted = "\n".join(f"> {line}" for line in message.text.splitlines())
    return f"\n\n{sender} wrote:\n{quoted}\n"


UNQUOTED_NOTICE = (
    "The original was encrypted but not signed by its sender, so its text is not quoted: a forged message can "
    "resend someone else's encrypted mail to make your reply carry it to the forger."
)


def quotes_decrypted_text(encrypted: bool, signed_by_sender: bool) -> bool:
    """Whether a reply may quote the original's text.

    "Re: What's up Johnny?" (Müller et al., 2019): an attacker resends a ciphertext meant for you under their own
    From; you decrypt it, reply, and the quote carries the plaintext to them, however strongly the reply itself
    is protected (it is protected *for the attacker*). Only a valid signature by the From address ties the
    decrypted text to the person who will read the reply, so only then is it quoted.
    """
    return not encrypted or signed_by_sender


def reply_start(
    message: ParsedMessage, *, to_all: bool, encrypted: bool = False, signed_by_sender: bool = False
) -> DraftStart:
    """A reply's recipients, subject, quoted text and thread headers; a reply to an encrypted message is never
    planned weaker (DESIGN.md §5) and quotes it only when its sender signed it (`quotes_decrypted_text`).
    Reply-all puts the original's To and Cc (less those already in To) in Cc."""
    to = split_addresses(", ".join(a.addr for a in (message.reply_to or message.sender)))
    others = [a.addr for a in (*message.to, *message.cc)] if to_all else []
    answered = {a.lower() for a in to}
    cc = tuple(a for a in split_addresses(", ".join(others)) if a.lower() not in answered)
    # RFC 5322 §3.6.4: References is the parent's References followed by the parent's Message-ID.
    references = (*message.references, message.message_id) if message.message_id else message.references
    quote = quotes_decrypted_text(encrypted, signed_by_sender)
    return DraftStart(
        to, _prefixed("Re:", message.subject), _quoted(message) if quote else "", in_reply_to=message.message_id,
        references=tuple(references), reply_to_encrypted=encrypted, cc=cc, notice="" if quote else UNQUOTED_NOTICE,
    )  # fmt: skip


def forward_start(
    message: ParsedMessage, attachments: tuple[OutgoingAttachment, ...] = (), *, encrypted: bool = False
) -> DraftStart:
    """A forward's subject, text and the original's attachments (bytes in memory, never a temporary file). A
    forward of an encrypted message carries its content, so it is planned at least as strongly as a reply."""
    sender = ", ".join(a.addr for a in message.sender)
    header = f"\n\n-------- Forwarded message --------\nFrom: {sender}\nSubject: {message.subject}\n\n"
    return DraftStart(
        (), _prefixed("Fwd:", message.subject), header + message.text, attachments=attachments,
        reply_to_encrypted=encrypted,
    )  # fmt: skip
