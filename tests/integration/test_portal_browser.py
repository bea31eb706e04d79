"""The portal page in a real browser (Debian's Chromium, driven by Playwright) against the real portal server,
with codes emailed through a real SMTP server: what a patient does, on a phone-sized screen."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, FilePayload, Page, expect

from app.crypto.portal_keys import open_reply
from app.mime.addresses import Address
from app.mime.compose import Draft, build_message
from app.mime.parse import parse_message
from app.portal.protocol import EventKind, b64
from tests.support.chromium import CHROMIUM, PHONE, chromium
from tests.support.pki import TestCA
from tests.support.portal_server import SENDER as PORTAL_SENDER
from tests.support.portal_server import PortalServer, deliver_notice, run, sample, send_escalated
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[PortalServer]:
    base = tmp_path_factory.mktemp("portal-browser")
    with (
        SmtpServer(test_ca.issue_server_cert(base / "smtp", name="smtp")) as smtp,
        PortalServer(base / "portal", test_ca, smtp) as server,
    ):
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/bootstrap installs it)")
    with chromium(tmp_path_factory.mktemp("chromium-home"), test_ca) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(**PHONE)  # type: ignore[arg-type]
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda m: _note(problems, m))
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield opened
    context.close()
    assert problems == [], "the page reported errors (a CSP violation would show here)"


def _note(problems: list[str], message: ConsoleMessage) -> None:
    # A 4xx answer the page expects (a wrong code, an expired link) is logged by Chromium as a failed resource;
    # anything else on the error console, CSP violations first, is a failure.
    if message.type == "error" and "Failed to load resource" not in message.text:
        problems.append(message.text)


def _ask_for_code(page: Page, portal: PortalServer, recipient: str) -> str:
    page.get_by_role("button", name="Email me a code").click()
    # The page moves focus to the code field once the portal has answered, i.e. after the email was accepted.
    expect(page.get_by_label("One-time code (6 digits)")).to_be_focused()
    return portal.codes(recipient)[-1]


def _open_with_code(page: Page, portal: PortalServer, link: str, recipient: str) -> None:
    page.goto(link)
    code = _ask_for_code(page, portal, recipient)
    page.get_by_label("One-time code (6 digits)").fill(code)
    page.get_by_role("button", name="Open the message").click()


def test_recipient_reads_downloads_and_replies_and_the_sender_decrypts_the_reply(
    page: Page, portal: PortalServer, tmp_path: Path
) -> None:
    item = sample("e2e", "patient.one@example.org")
    escalated = send_escalated(portal, item)
    link = deliver_notice(portal, escalated, item.recipient)

    _open_with_code(page, portal, link, item.recipient)
    expect(page.locator("#subject")).to_have_text(item.subject)
    expect(page.locator("#body")).to_contain_text("zephyrlanterne2e")
    expect(page.locator("#from")).to_contain_text("ada@clinic.test")
    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile(r"Download results\.pdf")).click()
    assert Path(download_info.value.path()).read_bytes() == item.attachment
    assert download_info.value.suggested_filename == "results.pdf"
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), "it must fit a phone"
    page.screenshot(path=str(tmp_path / "portal-message.png"), full_page=True)

    page.get_by_label("Your reply").fill("Thank you, doctor. Reply word saffronquill.")
    diary: FilePayload = {
        "name": "symptoms diary.txt",
        "mimeType": "text/plain",
        "buffer": b"diary word obsidianheron\n",
    }
    page.set_input_files("#reply-files", files=[diary])
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("#reply-status")).to_contain_text("encrypted and sent")

    client = portal.client()
    receipt = escalated.receipt
    status = run(client.status(receipt.message_id, receipt.sender_token))
    assert all(status.has(kind) for kind in (EventKind.NOTICE_DELIVERED, EventKind.OPENED, EventKind.REPLIED))
    envelope = run(client.fetch_reply(receipt.message_id, receipt.sender_token, status.replies[0].n))
    reply = open_reply(envelope, escalated.reply_key.private_pkcs8)
    parsed = parse_message(reply)
    assert "saffronquill" in parsed.text
    assert parsed.subject == f"Re: {item.subject}"
    assert parsed.in_reply_to == "e2e.portal@clinic.test"
    assert [a.addr for a in parsed.sender] == [item.recipient]
    assert [a.filename for a in parsed.attachments] == ["symptoms diary.txt"]
    attached = email.message_from_bytes(reply, policy=email.policy.default)
    assert isinstance(attached, EmailMessage)
    files = [part.get_content() for part in attached.iter_attachments()]
    assert files == ["diary word obsidianheron\n"]

    stored = portal.stored_bytes()
    secrets = [b"quasarnimbuse2e", b"zephyrlanterne2e", b"marmaladeorbite2e", b"saffronquill", b"obsidianheron"]
    secrets += [escalated.k1, b64(escalated.k1).encode()]
    assert [s for s in secrets if s in stored] == []


def test_link_without_its_fragment_reveals_nothing_and_asks_nothing(page: Page, portal: PortalServer) -> None:
    item = sample("nofrag", "patient.two@example.org")
    escalated = send_escalated(portal, item)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(escalated.link.partition("#")[0])
    expect(page.get_by_role("alert")).to_contain_text("This link is incomplete")
    assert not [url for url in requests if "/api/" in url], "without K1 the page must not even ask the portal"
    assert "quasarnimbus" not in page.content()
    expect(page.get_by_role("button", name="Email me a code")).to_be_hidden()


def test_tampered_ciphertext_fails_with_a_clear_message(page: Page, portal: PortalServer) -> None:
    item = sample("tamper", "patient.three@example.org")
    escalated = send_escalated(portal, item)
    stored = portal.data_dir / "envelopes" / escalated.receipt.message_id
    data = bytearray(stored.read_bytes())
    data[-40] ^= 0x01
    stored.write_bytes(bytes(data))
    _open_with_code(page, portal, escalated.link, item.recipient)
    expect(page.get_by_role("alert")).to_contain_text("This message could not be decrypted")
    expect(page.locator("#message")).to_be_hidden()
    assert "zephyrlantern" not in page.content()


def test_wrong_codes_lock_the_page_out(page: Page, portal: PortalServer) -> None:
    item = sample("lock", "patient.four@example.org")
    escalated = send_escalated(portal, item)
    page.goto(escalated.link)
    real = _ask_for_code(page, portal, item.recipient)
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        page.get_by_label("One-time code (6 digits)").fill(wrong)
        page.get_by_role("button", name="Open the message").click()
        expect(page.get_by_role("alert")).to_contain_text(f"{left} attempt")
    page.get_by_label("One-time code (6 digits)").fill(wrong)
    page.get_by_role("button", name="Open the message").click()
    expect(page.get_by_role("alert")).to_contain_text("locked")
    page.get_by_label("One-time code (6 digits)").fill(real)
    page.get_by_role("button", name="Open the message").click()
    expect(page.get_by_role("alert")).to_contain_text("locked")
    expect(page.locator("#message")).to_be_hidden()


def test_revoked_and_expired_links_say_so_cleanly(page: Page, portal: PortalServer) -> None:
    revoked = send_escalated(portal, sample("revoked", "patient.five@example.org"))
    run(portal.client().revoke(revoked.receipt.message_id, revoked.receipt.sender_token))
    page.goto(revoked.link)
    expect(page.get_by_role("alert")).to_contain_text("The sender has withdrawn this message")

    expired = send_escalated(portal, sample("expired", "patient.six@example.org"), days=1)
    portal.clock.advance(timedelta(days=2))
    page.goto(expired.link)
    expect(page.get_by_role("alert")).to_contain_text("This link has expired")
    expect(page.get_by_role("button", name="Email me a code")).to_be_hidden()


def test_a_sender_chosen_passphrase_opens_the_message_and_no_code_is_offered(page: Page, portal: PortalServer) -> None:
    item = sample("phrase", "patient.seven@example.org")
    escalated = send_escalated(portal, item, passphrase="correct horse battery")
    page.goto(escalated.link)
    expect(page.get_by_role("button", name="Email me a code")).to_be_hidden()
    page.get_by_label("Passphrase", exact=True).fill("wrong horse battery")
    page.get_by_role("button", name="Open the message").click()
    expect(page.get_by_role("alert")).to_contain_text("4 attempts left")
    page.get_by_label("Passphrase", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Open the message").click()
    expect(page.locator("#body")).to_contain_text("zephyrlanternphrase")
    assert portal.codes(item.recipient) == []


def test_a_rich_text_message_shows_its_plain_text_alternative_and_no_markup(page: Page, portal: PortalServer) -> None:
    """The composer sends rich text as multipart/alternative; the page shows the text/plain part, as text."""
    markup = (
        '<p>Your <b>results</b> are clear.</p>\n<ul>\n<li><a href="https://clinic.example/next">next</a></li>\n</ul>'
    )
    text = "Your results are clear.\n- next <https://clinic.example/next>"
    recipient = "patient.eight@example.org"
    draft = Draft(
        sender=PORTAL_SENDER, to=(Address("", recipient),), cc=(), bcc=(), subject="Rich results", body_text=text,
        body_html=markup, attachments=(), message_id="rich.portal@clinic.test", date=datetime.now(UTC),
    )  # fmt: skip
    item = dataclasses.replace(sample("rich", recipient), subject="Rich results", body=text, mime=build_message(draft))
    escalated = send_escalated(portal, item, passphrase="correct horse battery")
    page.goto(escalated.link)
    page.get_by_label("Passphrase", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Open the message").click()
    expect(page.locator("#body")).to_have_text(text)
    assert page.locator("#body *").count() == 0  # text only: nothing of the HTML became an element
