"""Replies to portal messages come back into the vault: a patient replies with a file in a real browser
(Chromium), and `salus portal fetch` decrypts and stores the reply, which `salus search` finds and `salus show`
opens with its attachment. Real Dovecot, SMTP server, portal server and SQLCipher vault throughout."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, expect

from app.crypto.portal_keys import reply_key_of, seal_reply
from tests.support.chromium import CHROMIUM, PHONE, chromium
from tests.support.dovecot import DovecotServer
from tests.support.pki import TestCA
from tests.support.portal_world import World, portal_world

pytestmark = pytest.mark.integration

REPLIES = "Portal replies"


@pytest.fixture(scope="module")
def world(dovecot: DovecotServer, test_ca: TestCA) -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="ptr", dir="/tmp"))
    try:
        with portal_world(base, dovecot, test_ca, "replies") as built:
            yield built
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/bootstrap installs it)")
    with chromium(tmp_path_factory.mktemp("chromium-home"), test_ca) as launched:
        yield launched


def _seal(world: World, portal_id: str, word: str) -> bytes:
    """A reply as the page builds it, sealed to the reply key the message's envelope carries."""
    message = EmailMessage()
    message["From"] = "patient.three@example.org"
    message["To"] = "doctor@clinic.test"
    message["Subject"] = f"Re: Results {word}"
    message.set_content(f"Reply word {word}.")
    return seal_reply(message.as_bytes(), reply_key_of(world.portal.storage.envelope(portal_id)))


def test_a_reply_sent_from_the_browser_is_fetched_decrypted_searchable_and_shown_with_its_file(
    world: World, browser: Browser
) -> None:
    recipient = "patient.one@example.org"
    portal_id = world.send(recipient, "gallbladderheron")
    context = browser.new_context(**PHONE)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        page.goto(world.link(recipient))
        page.get_by_role("button", name="Email me a code").click()
        expect(page.get_by_label("One-time code (6 digits)")).to_be_focused()
        page.get_by_label("One-time code (6 digits)").fill(world.portal.codes(recipient)[-1])
        page.get_by_role("button", name="Open the message").click()
        expect(page.locator("#body")).to_contain_text("gallbladderheron")
        page.get_by_label("Your reply").fill("Thank you, doctor. Reply word saffronquill.")
        diary: FilePayload = {"name": "symptoms diary.txt", "mimeType": "text/plain", "buffer": b"obsidianheron\n"}
        page.set_input_files("#reply-files", files=[diary])
        page.get_by_role("button", name="Send reply").click()
        expect(page.locator("#reply-status")).to_contain_text("encrypted and sent")
    finally:
        context.close()

    assert world.salus.json("portal", "fetch") == {"replies": 1, "problems": {}}
    (hit,) = world.salus.json("search", "saffronquill")["results"]
    assert hit["folder"] == REPLIES and hit["from"] == recipient
    assert hit["subject"] == "Re: Results gallbladderheron"
    shown = world.salus.json("show", "--folder", REPLIES, "--uid", str(hit["uid"]))
    assert "saffronquill" in shown["text"]
    assert [(a["filename"], a["size"]) for a in shown["attachments"]] == [("symptoms diary.txt", 14)]
    assert shown["problems"] == []
    assert world.salus.json("search", "symptoms")["results"] == [hit], "attachment names are indexed too"

    assert world.salus.json("portal", "fetch")["replies"] == 0, "a reply is stored once"
    assert len(world.salus.json("search", "saffronquill")["results"]) == 1
    assert world.status(portal_id)["status"] == "replied"
    events = world.salus.json("audit", "export", "--format", "json")["entries"]
    assert [e for e in events if e["event"] == "portal.reply" and e["detail"]["ok"]]


def test_an_altered_reply_is_refused_and_the_others_are_still_stored(world: World) -> None:
    portal_id = world.send("patient.three@example.org", "tamperfirst")
    altered = bytearray(_seal(world, portal_id, "cormorantglyph"))
    altered[-20] ^= 0x01
    world.portal.storage.add_reply(portal_id, world.portal.clock.now(), bytes(altered))
    world.portal.storage.add_reply(portal_id, world.portal.clock.now(), _seal(world, portal_id, "pelicanrune"))

    fetched = world.salus.run("portal", "fetch", "--json")
    assert fetched.code == 1
    document = fetched.json()
    assert document["replies"] == 1
    assert list(document["problems"]) == [f"{portal_id}#1"]
    assert "could not be decrypted" in document["problems"][f"{portal_id}#1"]
    assert "could not be decrypted" in fetched.stderr
    assert len(world.salus.json("search", "pelicanrune")["results"]) == 1
    assert world.salus.json("search", "cormorantglyph")["results"] == []
    failures = [
        e for e in world.salus.json("audit", "export", "--format", "json")["entries"]
        if e["event"] == "portal.reply" and e["target"] == portal_id and not e["detail"]["ok"]
    ]  # fmt: skip
    assert failures


def test_sync_fetches_replies_and_keeps_the_vault_only_folder(world: World) -> None:
    portal_id = world.send("patient.four@example.org", "syncfetch")
    world.portal.storage.add_reply(portal_id, world.portal.clock.now(), _seal(world, portal_id, "ibisquartz"))
    first = world.salus.json("sync")
    assert first["portal"]["replies"] == 1
    second = world.salus.json("sync")
    assert second["portal"]["replies"] == 0
    assert len(world.salus.json("search", "ibisquartz")["results"]) == 1, "sync must not drop the replies folder"
    stats = world.salus.json("stats")
    assert stats["folders"][REPLIES]["messages"] >= 1
