"""EFAIL's back channel (Poddebniak et al. 2018): a decrypted message never loads remote content.

A CBC/CFB gadget turns decrypted plaintext into an <img> address; loading that image is the exfiltration. The
message here is really encrypted to the profile's own key by GnuPG, its sender is one the user chose to "always"
load images from, and policy allows remote content: still nothing is requested, nothing is offered, and the
service refuses a direct request before any audit entry or network contact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.clock import utc_now
from app.core.models import MessageRowId
from app.crypto.openpgp import OpenPgpStore
from app.crypto.openpgp_ops import OpenPgpOps
from app.services.keys import GNUPG_DIR
from app.services.profile import unlock
from app.services.remote_content import RemoteScope
from app.services.sync import build_records
from app.store import mail as store
from app.store import remote_content as rules
from tests.support import attack_mail as am
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, fetched, make_profile, run
from tests.ui.test_hostile_html import Tracker
from tests.ui.test_remote_images import audit_entries, open_row

LAB = "lab@clinic.example"


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    server = Tracker()
    yield server
    server.close()


def encrypted_html(profile: Path, tmp_path: Path, base: str) -> bytes:
    session = unlock(profile, PASSPHRASE)
    try:
        with OpenPgpOps(profile / GNUPG_DIR, session.openpgp_passphrase) as ops:
            fingerprint = ops.ensure_own_key("me@clinic.example", "Me")
        public = OpenPgpStore(profile / GNUPG_DIR).export(fingerprint)
        with session.vault.transaction():
            rules.allow_sender(session.vault, LAB, utc_now())  # the user chose "always" for this sender earlier
    finally:
        session.close()
    home = tmp_path / "sender-gpg"
    home.mkdir(mode=0o700)
    am.gpg_run(home, "--import", data=public)
    entity = f'Content-Type: text/html\r\n\r\n<p>Results</p><img src="{base}/exfil?secret-plaintext">\r\n'.encode()
    armored = am.encrypt(home, fingerprint, entity)
    return am.pgp_mime_encrypted(am.headers(f"Lab <{LAB}>", "me@clinic.example", "[...]", "e@clinic.example"), armored)


def test_efail_decrypted_html_never_loads_remote_images_even_for_an_always_sender(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, tracker: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"remote_content_allowed": True, "remote_images_private_networks": True}))
    monkeypatch.setenv("SALUS_POLICY_FILE", str(policy))
    profile = make_profile(tmp_path / "p", {"INBOX": []})
    message = encrypted_html(profile, tmp_path, tracker.base)
    session = unlock(profile, PASSPHRASE)
    try:
        folder = store.folders(session.vault, store.list_accounts(session.vault)[0].id)["INBOX"]
        store.store_messages(session.vault, folder.id, build_records(fetched([message])))
    finally:
        session.close()
    window = make_window(profile, PASSPHRASE)
    open_row(window, qtbot, "[...]")
    shown = window.reader.shown
    assert shown is not None and shown.opened.verdict.encryption.value == "pgp" and shown.html is not None
    assert shown.html.remote_images  # the image was there to load
    qtbot.wait(500)
    bar = window.reader.remote
    assert not (bar.load_button.isVisible() or bar.always_button.isVisible())
    coroutine = window.controller.reader.load_remote_images(
        MessageRowId(shown.opened.id), LAB, shown.html.remote_images, RemoteScope.MESSAGE
    )
    with pytest.raises(AssertionError, match="never loaded in encrypted messages"):
        run(window.controller.bridge, qtbot, coroutine)
    qtbot.wait(200)
    assert tracker.requests == []
    assert not [e for e in audit_entries(profile) if e[0] == "remote_content.loaded"]
