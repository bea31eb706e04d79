"""A logged-in IMAP session with the few typed operations sync needs.

Blocking: the engine calls it from an executor thread, never from the Qt thread or the event loop itself.
Every imapclient/imaplib/ssl exception is translated here; callers see only `MailError` and its subclasses.
"""

from __future__ import annotations

import contextlib
import imaplib
import ssl
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from app.core.errors import AuthenticationFailed, CommandRefused, MailError, TransportSecurityRefused
from app.core.models import Endpoint
from app.mail.imap.planner import ServerFolderState
from app.mail.imap.transport import DEFAULT_TIMEOUT, SafeIMAPClient, open_connection, protocol_error


@dataclass(frozen=True, slots=True)
class ServerFolder:
    name: str  # as the server spells it, modified UTF-7 already decoded
    delimiter: str
    flags: tuple[str, ...]

    @property
    def selectable(self) -> bool:
        lowered = {f.lower() for f in self.flags}
        return not ({"\\noselect", "\\nonexistent"} & lowered)


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    uid: int
    flags: tuple[str, ...]
    modseq: int
    internal_date: datetime | None
    size: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class FlagUpdate:
    uid: int
    flags: tuple[str, ...]
    modseq: int


_FETCH_ITEMS = ["UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[]"]


class ImapSession:
    def __init__(self, client: SafeIMAPClient) -> None:
        self._client = client
        self.capabilities: frozenset[str] = frozenset()

    @classmethod
    def login(
        cls,
        endpoint: Endpoint,
        username: str,
        password: str,
        *,
        ca_pem: str = "",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ImapSession:
        client = open_connection(endpoint, ca_pem, timeout)
        session = cls(client)
        try:
            with _translated():
                client.normalise_times = False  # keep INTERNALDATE's zone instead of local naive times
                client.login(username, password)
                session.capabilities = frozenset(_text(c).upper() for c in client.capabilities())
                if {"QRESYNC", "ENABLE"} <= session.capabilities:
                    # RFC 7162 §3.2.3: QRESYNC must be enabled before it (and VANISHED) can be used.
                    client.enable("QRESYNC")
        except BaseException:
            session.close()
            raise
        return session

    @property
    def condstore(self) -> bool:
        return "CONDSTORE" in self.capabilities or "QRESYNC" in self.capabilities

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.capabilities

    def list_folders(self) -> list[ServerFolder]:
        with _translated():
            listing = self._client.list_folders()
        folders = []
        for flags, delimiter, name in listing:
            folders.append(ServerFolder(_text(name), _text(delimiter or b""), tuple(_text(f) for f in flags)))
        return folders

    def select(self, folder: str) -> ServerFolderState:
        with _translated():
            # imaplib keeps untagged responses across commands and imapclient reads the *first* EXISTS it
            # finds, so stale values of the previous folder must go before SELECT.
            self._client._imap.untagged_responses = {}
            response = self._client.select_folder(folder, readonly=True)
        modseq = response.get(b"HIGHESTMODSEQ")
        return ServerFolderState(
            uidvalidity=int(response.get(b"UIDVALIDITY", 0)),
            uidnext=int(response.get(b"UIDNEXT", 0)),
            exists=int(response.get(b"EXISTS", 0)),
            highestmodseq=int(modseq) if modseq is not None and self.condstore else None,
        )

    def search_uids(self, first: int = 1) -> list[int]:
        with _translated():
            uids = self._client.search(["UID", f"{first}:*"]) if first > 1 else self._client.search(["ALL"])
        # `n:*` always matches the highest UID even when it is below n (RFC 9051 §6.4.8), so filter.
        return sorted(int(u) for u in uids if int(u) >= first)

    def fetch_sizes(self, first_uid: int) -> list[tuple[int, int]]:
        """(UID, size) of every message from `first_uid` up, in UID order."""
        with _translated():
            response = self._client.uid_fetch(f"{first_uid}:*", ["UID", "RFC822.SIZE"])
        # `n:*` always includes the highest UID even when it is below n (RFC 9051 §6.4.8), so filter.
        return sorted(
            (int(uid), int(data.get(b"RFC822.SIZE", 0))) for uid, data in response.items() if int(uid) >= first_uid
        )

    def fetch_messages(self, uids: Sequence[int]) -> list[FetchedMessage]:
        if not uids:
            return []
        wanted = set(uids)
        items = [*_FETCH_ITEMS, "MODSEQ"] if self.condstore else _FETCH_ITEMS
        with _translated():
            response = self._client.uid_fetch(_uid_set(uids), items)
        return [_fetched(uid, data) for uid, data in sorted(response.items()) if uid in wanted and b"BODY[]" in data]

    def fetch_flags(
        self, uids: Sequence[int] | str, changed_since: int | None = None
    ) -> tuple[list[FlagUpdate], list[int]]:
        """Flags of the given UIDs (all of them, or only those changed since a mod-sequence with CONDSTORE),
        plus the UIDs the server reports as expunged (VANISHED, QRESYNC only)."""
        modifiers = None
        if changed_since is not None:
            modifiers = [f"CHANGEDSINCE {changed_since}" + (" VANISHED" if self.qresync else "")]
        items = ["UID", "FLAGS", "MODSEQ"] if self.condstore else ["UID", "FLAGS"]
        with _translated():
            self._client._imap.untagged_responses.pop("VANISHED", None)
            response = self._client.uid_fetch(uids if isinstance(uids, str) else _uid_set(uids), items, modifiers)
            vanished = self._client._imap.untagged_responses.pop("VANISHED", [])
        updates = [FlagUpdate(uid, _flags(data), _modseq(data)) for uid, data in sorted(response.items())]
        return updates, sorted(_parse_vanished(vanished))

    def close(self) -> None:
        try:
            self._client.logout()
        except (imaplib.IMAP4.error, IMAPClient.Error, OSError):
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                self._client.shutdown()

    # --- writing back what the user did in the window (issue: the main window) -----------------------------

    def store_flags(self, folder: str, uids: Sequence[int], flags: Sequence[str], *, add: bool) -> None:
        """Adds or removes flags on messages of `folder` (UID STORE, RFC 9051 §6.4.6)."""
        if not uids:
            return
        with _translated():
            self._select_writable(folder)
            if add:
                self._client.add_flags(_uid_set(uids), list(flags), silent=True)
            else:
                self._client.remove_flags(_uid_set(uids), list(flags), silent=True)

    def move_messages(self, folder: str, uids: Sequence[int], target: str) -> None:
        """UID MOVE (RFC 6851) where the server offers it; otherwise UID COPY, then the originals expunged."""
        if not uids:
            return
        with _translated():
            self._select_writable(folder)
            if "MOVE" in self.capabilities:
                self._client.move(_uid_set(uids), target)
                return
            self._client.copy(_uid_set(uids), target)
        self.expunge_uids(folder, uids)

    def expunge_uids(self, folder: str, uids: Sequence[int]) -> None:
        """Marks the messages \\Deleted and expunges them. With UIDPLUS only these go (RFC 4315 §2.1); without
        it EXPUNGE also removes whatever else this user had marked \\Deleted in the folder, which every
        client of such a server does."""
        if not uids:
            return
        with _translated():
            self._select_writable(folder)
            self._client.delete_messages(_uid_set(uids), silent=True)
            if "UIDPLUS" in self.capabilities:
                self._client.uid_expunge(_uid_set(uids))
            else:
                self._client.expunge()

    def special_folder(self, use: str) -> str | None:
        """The folder the server marks with a special use such as "\\Trash" (RFC 6154 §2), if any."""
        wanted = use.lower()
        for folder in self.list_folders():
            if wanted in {f.lower() for f in folder.flags}:
                return folder.name
        return None

    def append_sent(self, raw: bytes, when: datetime) -> str:
        """Stores a copy of a sent message, already read, in the folder the server marks \\Sent (RFC 6154),
        creating a "Sent" folder where the server has none; returns the folder used."""
        folder = self.special_folder("\\Sent") or "Sent"
        with _translated():
            if not self._client.folder_exists(folder):
                self._client.create_folder(folder)
            self._client.append(folder, raw, flags=("\\Seen",), msg_time=when)
        return folder

    def _select_writable(self, folder: str) -> None:
        # As in `select`: stale untagged responses of the previous folder must not be read as this one's.
        self._client._imap.untagged_responses = {}
        self._client.select_folder(folder, readonly=False)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except LoginError as exc:
        raise AuthenticationFailed("The server rejected the user name or password.") from exc
    except ssl.SSLError as exc:
        raise TransportSecurityRefused(f"The TLS connection failed: {exc.reason or exc}.") from exc
    except (TimeoutError, ConnectionError) as exc:
        raise MailError(f"The connection to the IMAP server was lost: {exc}.") from exc
    except (imaplib.IMAP4.abort, RecursionError, ValueError, IndexError) as exc:
        raise protocol_error(exc) from exc
    except (imaplib.IMAP4.error, IMAPClient.Error) as exc:
        raise CommandRefused(f"The IMAP server refused a command: {_text(exc.args[0]) if exc.args else exc}") from exc
    except OSError as exc:
        raise MailError(f"The connection to the IMAP server failed: {exc}.") from exc


def _uid_set(uids: Iterable[int]) -> str:
    """Compresses sorted UIDs into IMAP ranges ("1:5,7,9:12") so a batch stays one short command line."""
    ordered = sorted(set(uids))
    ranges: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid != prev + 1:
            ranges.append(f"{start}:{prev}" if prev > start else str(start))
            start = uid
        prev = uid
    ranges.append(f"{start}:{prev}" if prev > start else str(start))
    return ",".join(ranges)


def _parse_vanished(lines: Sequence[Any]) -> set[int]:
    """`* VANISHED (EARLIER) 41,43:116` (RFC 7162 §3.2.10) into a set of UIDs."""
    uids: set[int] = set()
    for line in lines:
        text = _text(line).upper().replace("(EARLIER)", "").strip()
        for part in filter(None, text.split(",")):
            low, _, high = part.partition(":")
            first, last = int(low), int(high or low)
            uids.update(range(min(first, last), max(first, last) + 1))
    return uids


def _fetched(uid: int, data: dict[bytes, Any]) -> FetchedMessage:
    internal = data.get(b"INTERNALDATE")
    if isinstance(internal, datetime) and internal.tzinfo is None:
        internal = internal.replace(tzinfo=UTC)
    raw = data.get(b"BODY[]") or b""
    return FetchedMessage(
        uid=int(uid),
        flags=_flags(data),
        modseq=_modseq(data),
        internal_date=internal.astimezone(UTC) if isinstance(internal, datetime) else None,
        size=int(data.get(b"RFC822.SIZE", len(raw))),
        raw=bytes(raw),
    )


def _modseq(data: dict[bytes, Any]) -> int:
    value = data.get(b"MODSEQ")
    if isinstance(value, tuple | list) and value:
        return int(value[0])
    return int(value) if isinstance(value, int) else 0


def _flags(data: dict[bytes, Any]) -> tuple[str, ...]:
    # \Recent belongs to one session, not to the message (RFC 3501 §2.3.2; gone in RFC 9051): storing it would
    # make every message look changed the next time another session reads its flags.
    return tuple(f for f in (_text(f) for f in data.get(b"FLAGS", ())) if f.lower() != "\\recent")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
