"""The window's use cases (`app.services.reader`) against a real Dovecot: paging, reading, and every change the
user makes written to the vault and back to the server."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from app.core.errors import CommandRefused
from app.core.models import AccountId, Endpoint, FolderId, Security
from app.services.accounts import AccountSettings, add_account
from app.services.engine import Engine
from app.services.policy import current_settings
from app.services.profile import create_profile, unlock
from app.services.reader import Reader, attachment_bytes, build_tree, unlock_reader, with_unread_changes
from app.store.browse import FolderCount, MessageSummary, Order, SortField
from tests.support.corpus import make_message
from tests.support.dovecot import DovecotServer, MailUser, capabilities_without, start_dovecot
from tests.support.pki import TestCA

T = TypeVar("T")
PASSPHRASE = "reader service passphrase"
PDF = b"%PDF-1.4 lab results"


def attachment_message() -> bytes:
    data = base64.b64encode(PDF).decode()
    return (
        "From: Lab <lab@labor.example>\r\nTo: me@salus.test\r\nSubject: Report with attachment\r\n"
        "Date: Wed, 08 Jan 2025 09:00:00 +0000\r\nMessage-ID: <att-1@labor.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n'
        '--x\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="labs.pdf"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{data}\r\n--x--\r\n"
    ).encode()


def inbox() -> list[bytes]:
    senders = ["Zoe <zoe@a.example>", "adam <adam@b.example>", "Mia <mia@c.example>", "Bob <bob@d.example>"]
    return [
        make_message(subject=f"{s} potassium {i}", body=f"Potassium result {i}.", sender=senders[i])
        for i, s in enumerate(["delta", "Alpha", "charlie", "bravo"])
    ] + [attachment_message()]


def profile_for(tmp_path: Path, server: DovecotServer, user: MailUser) -> Path:
    directory = tmp_path / "profile"
    session = create_profile(directory, PASSPHRASE)
    try:
        settings = AccountSettings(
            "work", Endpoint(server.host, server.imaps_port, Security.TLS), Endpoint(server.host, 1, Security.TLS),
            user.name, server.ca_file,
        )  # fmt: skip
        add_account(session, settings, user.password)
    finally:
        session.close()
    return directory


def with_reader(directory: Path, scenario: Callable[[Reader], Awaitable[T]]) -> T:
    async def main() -> T:
        reader = await unlock_reader(engine, directory, PASSPHRASE, current_settings()[1])
        try:
            await reader.sync(lambda *_: None, lambda _: None)
            return await scenario(reader)
        finally:
            await reader.close()

    engine = Engine(parse_in_process=False)
    try:
        return asyncio.run(main())
    finally:
        engine.shutdown()


async def all_rows(reader: Reader, order: Order | None = None) -> list[MessageSummary]:
    order = order or Order()
    tree = await reader.folder_tree()
    inbox_id = next(f.id for f in tree[0].folders if f.path == "INBOX")
    assert inbox_id is not None
    rows: list[MessageSummary] = []
    page = await reader.page(inbox_id, order, None, limit=2)
    rows += page.rows
    while page.cursor is not None:
        page = await reader.page(inbox_id, order, page.cursor, limit=2)
        rows += page.rows
    return rows


def server_flags(server: DovecotServer, user: MailUser, folder: str) -> dict[str, tuple[str, ...]]:
    client = server.client(user)
    try:
        client.select_folder(folder, readonly=True)
        fetched = client.fetch(client.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    finally:
        client.logout()
    result = {}
    for data in fetched.values():
        subject = data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
        result[subject] = tuple(f.decode() for f in data[b"FLAGS"])
    return result


@pytest.fixture
def seeded(tmp_path: Path, dovecot: DovecotServer, mail_user: MailUser) -> Path:
    dovecot.seed(mail_user, "INBOX", inbox())
    return profile_for(tmp_path, dovecot, mail_user)


def test_pages_follow_each_order_without_gaps_or_repeats(seeded: Path) -> None:
    async def scenario(reader: Reader) -> dict[SortField, list[str]]:
        orders = {}
        for field in SortField:
            rows = await all_rows(reader, Order(field, descending=False))
            assert len({r.id for r in rows}) == len(rows) == 5
            orders[field] = [r.subject if field is SortField.SUBJECT else r.sender for r in rows]
        return orders

    orders = with_reader(seeded, scenario)
    assert orders[SortField.SUBJECT] == sorted(orders[SortField.SUBJECT], key=str.lower)
    assert orders[SortField.SENDER][0].startswith("adam")  # case folded: "adam" before "Bob"


def test_mark_read_and_flag_are_written_back_to_the_server(
    seeded: Path, dovecot: DovecotServer, mail_user: MailUser
) -> None:
    async def scenario(reader: Reader) -> list[MessageSummary]:
        rows = await all_rows(reader)
        target = next(r for r in rows if r.subject.startswith("Alpha"))
        changed = await reader.set_seen([target.id], True)
        await reader.set_flagged([target.id], True)
        await reader.set_flagged([target.id], False)
        return changed

    changed = with_reader(seeded, scenario)
    assert [c.seen for c in changed] == [True]
    flags = server_flags(dovecot, mail_user, "INBOX")
    assert "\\Seen" in flags["Alpha potassium 1"]
    assert "\\Flagged" not in flags["Alpha potassium 1"]
    assert "\\Seen" not in flags["delta potassium 0"]


def test_delete_moves_to_the_trash_and_move_reaches_the_target_folder(
    seeded: Path, dovecot: DovecotServer, mail_user: MailUser
) -> None:
    async def scenario(reader: Reader) -> int:
        rows = await all_rows(reader)
        by_subject = {r.subject.split()[0]: r for r in rows}
        await reader.delete([by_subject["delta"].id])
        archive = next(f.id for f in (await reader.folder_tree())[0].folders if f.path == "Archive")
        assert archive is not None
        await reader.move([by_subject["bravo"].id, by_subject["charlie"].id], archive)
        await reader.sync(lambda *_: None, lambda _: None)
        return len(await all_rows(reader))

    assert with_reader(seeded, scenario) == 2
    assert set(server_flags(dovecot, mail_user, "Trash")) == {"delta potassium 0"}
    assert set(server_flags(dovecot, mail_user, "Archive")) == {"bravo potassium 3", "charlie potassium 2"}
    assert len(server_flags(dovecot, mail_user, "INBOX")) == 2


def test_move_without_the_move_extension_copies_then_expunges(
    tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA
) -> None:
    server = start_dovecot(tmp_path_factory.mktemp("nomove"), test_ca, capabilities=capabilities_without("MOVE"))
    try:
        user = server.new_user()
        server.seed(user, "INBOX", inbox()[:2])
        directory = profile_for(tmp_path_factory.mktemp("nomove-profile"), server, user)

        async def scenario(reader: Reader) -> None:
            rows = await all_rows(reader)
            archive = next(f.id for f in (await reader.folder_tree())[0].folders if f.path == "Archive")
            assert archive is not None
            await reader.move([rows[0].id], archive)

        with_reader(directory, scenario)
        assert len(server_flags(server, user, "INBOX")) == 1
        assert len(server_flags(server, user, "Archive")) == 1
    finally:
        server.stop()


def test_a_refused_change_leaves_the_vault_as_it_was(seeded: Path, dovecot: DovecotServer, mail_user: MailUser) -> None:
    dovecot.seed(mail_user, "Labs", inbox()[:1])

    async def scenario(reader: Reader) -> bool:
        labs = next(f.id for f in (await reader.folder_tree())[0].folders if f.path == "Labs")
        assert labs is not None
        message = (await reader.page(labs, Order(), None)).rows[0]
        client = dovecot.client(mail_user)
        try:
            client.delete_folder("Labs")  # another client removed the folder since the last sync
        finally:
            client.logout()
        with pytest.raises(CommandRefused):
            await reader.set_seen([message.id], True)
        return (await reader.page(labs, Order(), None)).rows[0].seen

    assert with_reader(seeded, scenario) is False


def test_reading_searching_and_exporting_are_audited(seeded: Path, tmp_path: Path) -> None:
    destination = tmp_path / "out" / "labs.pdf"
    destination.parent.mkdir()

    async def scenario(reader: Reader) -> tuple[str, int]:
        hits = await reader.search("potassium")
        target = next(r for r in await all_rows(reader) if r.has_attachments)
        opened = await reader.open_message(target.id)
        attachment = opened.message.attachments[0]
        size = await reader.export_attachment(target.id, attachment.part, destination, opened=False)
        return f"{len(hits)} {opened.message.subject}", size

    summary, size = with_reader(seeded, scenario)
    assert summary == "4 Report with attachment"
    assert size == len(PDF) and destination.read_bytes() == PDF
    assert destination.stat().st_mode & 0o077 == 0
    session = unlock(seeded, PASSPHRASE)
    try:
        events = [(e.entry.event, e.entry.target) for e in session.audit.entries()]
    finally:
        session.close()
    kinds = [event for event, _ in events]
    assert {"sync", "search", "message.read", "attachment.saved"} <= set(kinds)
    assert any(event == "message.read" and target.startswith("work/INBOX/") for event, target in events)


def test_attachment_bytes_come_from_the_part_named(seeded: Path) -> None:
    assert attachment_bytes(attachment_message(), "2") == (PDF, "application/pdf")
    with pytest.raises(Exception, match="no longer in the message"):
        attachment_bytes(attachment_message(), "7")


def folder_count(fid: int, name: str, unread: int = 0, total: int = 5) -> FolderCount:
    return FolderCount(AccountId(1), "work", FolderId(fid), name, name, "/", total, unread)


def test_the_folder_tree_nests_by_delimiter_with_the_inbox_first() -> None:
    tree = build_tree([folder_count(1, "Archive/2024", 2), folder_count(2, "INBOX", 3), folder_count(3, "INBOX/Labs"),
                       folder_count(4, "Sent")])  # fmt: skip
    (account,) = tree
    assert [f.name for f in account.folders] == ["INBOX", "Archive", "Sent"]
    archive = account.folders[1]
    assert archive.id is None and [c.path for c in archive.children] == ["Archive/2024"]
    assert account.folders[0].children[0].name == "Labs"
    shifted = with_unread_changes(tree, {FolderId(2): -1, FolderId(1): 9})
    assert shifted[0].folders[0].unread == 2
    assert shifted[0].folders[1].children[0].unread == 5  # never more unread than messages
