"""The first-run wizard fills the server fields from what the address's domain publishes, says where they came
from, and lets the user keep their own: against a real DNS server and a real HTTPS server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from app.core.settings import Settings, effective
from app.discovery.autoconfig import CONFIG_PATH
from app.services.profile import unlock
from app.store import mail as store
from app.ui.bridge import Bridge
from app.ui.windows.first_run import FirstRunWizard
from tests.support.dns_server import DnsServer
from tests.support.https_server import HttpsServer, Route
from tests.support.pki import TestCA
from tests.ui.support import run

CONFIG = b"""<?xml version="1.0"?><clientConfig version="1.1"><emailProvider id="clinic">
<incomingServer type="imap"><hostname>mail.praxis.test</hostname><port>10993</port><socketType>SSL</socketType>
<username>%EMAILLOCALPART%</username></incomingServer>
<outgoingServer type="smtp"><hostname>out.praxis.test</hostname><port>587</port><socketType>STARTTLS</socketType>
<username>%EMAILLOCALPART%</username></outgoingServer></emailProvider></clientConfig>"""
ADDRESS = "dr.haddad@praxis.test"
SLOW_ADDRESS = "anna@slow.test"
PASSPHRASE = "a long enough passphrase"


@pytest.fixture(scope="module")
def published(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DnsServer, HttpsServer]]:
    hosts = ("autoconfig.praxis.test", "autoconfig.slow.test")
    cert = test_ca.issue_server_cert(tmp_path_factory.mktemp("wizard-certs"), dns_names=hosts)
    routes = {
        (host, f"{CONFIG_PATH}?emailaddress={quote(address, safe='')}"): Route(body=CONFIG)
        for host, address in zip(hosts, (ADDRESS, SLOW_ADDRESS), strict=True)
    }
    # The slow domain answers after a second, long enough for the user to type into a server field first.
    records = [(host, "A", "127.0.0.1") for host in hosts]
    with DnsServer(records, delays={"autoconfig.slow.test": 1.0}) as dns, HttpsServer(cert, routes) as web:
        yield dns, web


@pytest.fixture
def settings(published: tuple[DnsServer, HttpsServer], test_ca: TestCA) -> Settings:
    dns, web = published
    policy = {
        "dns_resolvers": [dns.address],
        "discovery_ca_file": str(test_ca.cert_file),
        "discovery_https_port": web.port,
    }
    return effective(policy, {})


def open_account_page(bridge: Bridge, qtbot: QtBot, settings: Settings, directory: Path) -> FirstRunWizard:
    wizard = FirstRunWizard(bridge, directory / "default", settings)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitExposed(wizard)
    wizard.profile_page.location.setText(str(directory / "mine"))
    wizard.profile_page.passphrase.setText(PASSPHRASE)
    wizard.profile_page.repeat.setText(PASSPHRASE)
    wizard.next()
    return wizard


def type_address_and_leave(qtbot: QtBot, wizard: FirstRunWizard, address: str) -> None:
    page = wizard.account_page
    wizard.activateWindow()
    page.email.setFocus()
    qtbot.waitUntil(page.email.hasFocus, timeout=5_000)
    qtbot.keyClicks(page.email, address)  # type: ignore[no-untyped-call]
    # Leaving the field is what starts the lookup.
    qtbot.keyClick(page.email, Qt.Key.Key_Tab)  # type: ignore[no-untyped-call]


def test_leaving_the_address_field_fills_the_servers_from_autoconfig_and_says_where_from(
    bridge: Bridge, qtbot: QtBot, settings: Settings, tmp_path: Path
) -> None:
    wizard = open_account_page(bridge, qtbot, settings, tmp_path)
    page = wizard.account_page
    type_address_and_leave(qtbot, wizard, ADDRESS)
    qtbot.waitUntil(lambda: page.imap_host.text() == "mail.praxis.test", timeout=10_000)
    assert (page.imap_port.value(), page.imap_security.currentData()) == (10993, "tls")
    assert (page.smtp_host.text(), page.smtp_port.value(), page.smtp_security.currentData()) == (
        "out.praxis.test", 587, "starttls"
    )  # fmt: skip
    assert page.username.text() == "dr.haddad"
    assert "https://autoconfig.praxis.test/mail/config-v1.1.xml" in page.servers_source.text()
    assert ADDRESS not in page.servers_source.text()
    page.password.setText("account password")
    with qtbot.waitSignal(wizard.created, timeout=15_000) as created:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    run(bridge, qtbot, created.args[0].reader.close())
    session = unlock(tmp_path / "mine", PASSPHRASE)
    try:
        (account,) = store.list_accounts(session.vault)
    finally:
        session.close()
    assert (account.imap.host, account.imap.port, account.smtp.host, account.username) == (
        "mail.praxis.test", 10993, "out.praxis.test", "dr.haddad"
    )  # fmt: skip


def test_a_server_name_typed_before_the_answer_arrives_is_kept(
    bridge: Bridge, qtbot: QtBot, settings: Settings, tmp_path: Path
) -> None:
    wizard = open_account_page(bridge, qtbot, settings, tmp_path)
    page = wizard.account_page
    type_address_and_leave(qtbot, wizard, SLOW_ADDRESS)
    assert "Looking up" in page.servers_source.text()
    page.imap_host.selectAll()
    qtbot.keyClicks(page.imap_host, "imap.my-own.test")  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: "you changed the fields" in page.servers_source.text(), timeout=10_000)
    assert page.imap_host.text() == "imap.my-own.test"
    assert page.smtp_host.text() == "smtp.slow.test"  # the guess from the address stays too


def test_a_domain_that_publishes_nothing_keeps_the_guess_and_says_so(
    bridge: Bridge, qtbot: QtBot, settings: Settings, tmp_path: Path
) -> None:
    wizard = open_account_page(bridge, qtbot, settings, tmp_path)
    page = wizard.account_page
    type_address_and_leave(qtbot, wizard, "anna@nothing.test")
    qtbot.waitUntil(lambda: "publishes no server settings" in page.servers_source.text(), timeout=10_000)
    assert (page.imap_host.text(), page.smtp_host.text()) == ("imap.nothing.test", "smtp.nothing.test")
