"""Decrypted-size cap (issue 5): an OpenPGP message GnuPG compressed from highly repetitive data (a
decompression bomb: kilobytes on the wire, megabytes once opened) stops with a clear error at the limit set by
`max_decrypted_mib`; a message under the limit opens as before. Real GnuPG on both ends, real SQLCipher."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.core.settings import effective
from app.crypto.limits import MIB, PlaintextTooLarge
from app.crypto.openpgp import OpenPgpStore
from app.crypto.openpgp_ops import OpenPgpOps
from app.mime.addresses import Address
from app.mime.compose import Draft, outer_headers, pgp_encrypted
from app.services.keys import GNUPG_DIR
from app.services.opening import Encryption, open_message
from app.services.profile import Session, create_profile

ME = "doctor@clinic.test"
PASSPHRASE = "correct horse battery staple"


@dataclass
class Profile:
    session: Session
    fingerprint: str
    sender_home: Path  # a correspondent's GnuPG home holding only our public key


@pytest.fixture(scope="module")
def profile() -> Iterator[Profile]:
    base = Path(tempfile.mkdtemp(prefix="bomb", dir="/tmp"))  # GnuPG's socket path must stay short
    session = create_profile(base / "p", PASSPHRASE)
    try:
        with OpenPgpOps(session.profile_dir / GNUPG_DIR, session.openpgp_passphrase) as ops:
            fingerprint = ops.ensure_own_key(ME, "Doctor")
        sender_home = base / "s"
        sender_home.mkdir(mode=0o700)
        _gpg(sender_home, "--import", data=OpenPgpStore(session.profile_dir / GNUPG_DIR).export(fingerprint))
        yield Profile(session, fingerprint, sender_home)
    finally:
        session.close()
        for home in (base / "s", base / "p" / GNUPG_DIR):
            subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _gpg(home: Path, *args: str, data: bytes) -> bytes:
    done = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--no-tty", *args], input=data, capture_output=True, check=True
    )
    return done.stdout


def _compressed_message(profile: Profile, size: int) -> bytes:
    """A PGP/MIME message whose body is `size` bytes of one repeated line, ZLIB level 9 (RFC 4880 §9.3)."""
    line = b"Lorem ipsum dolor sit amet, potassium normal.\r\n"
    body = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + line * (size // len(line))
    armored = _gpg(
        profile.sender_home, "--trust-model", "always", "--armor", "--compress-algo", "zlib", "-z", "9",
        "--encrypt", "--recipient", profile.fingerprint, data=body,
    )  # fmt: skip
    draft = Draft(
        sender=Address("", "lab@lab.test"), to=(Address("", ME),), cc=(), bcc=(), subject="Results", body_text="",
        attachments=(), message_id="bomb@lab.test", date=datetime(2026, 11, 28, tzinfo=UTC),
    )  # fmt: skip
    return pgp_encrypted(outer_headers(draft, encrypted=True), armored)


def test_compressed_bomb_stops_at_the_limit_with_a_clear_error(profile: Profile) -> None:
    raw = _compressed_message(profile, 8 * MIB)
    assert len(raw) < 100_000  # the point of a bomb: small on the wire
    armored = raw[raw.index(b"-----BEGIN PGP MESSAGE") :]
    with (
        OpenPgpOps(profile.session.profile_dir / GNUPG_DIR, profile.session.openpgp_passphrase) as ops,
        pytest.raises(PlaintextTooLarge, match="larger than 1 MiB"),
    ):
        ops.decrypt(armored, max_plaintext=1 * MIB)


def test_reader_shows_the_limit_as_the_reason_it_cannot_open_the_message(profile: Profile) -> None:
    settings = effective({"max_decrypted_mib": 1}, {})
    opened = open_message(profile.session, settings, _compressed_message(profile, 4 * MIB))
    assert opened.encryption is Encryption.FAILED
    (problem,) = opened.problems
    assert "larger than 1 MiB" in problem and "max_decrypted_mib" in problem
    assert "Lorem ipsum" not in opened.message.text


def test_message_under_the_limit_opens(profile: Profile) -> None:
    settings = effective({"max_decrypted_mib": 1}, {})
    opened = open_message(profile.session, settings, _compressed_message(profile, 512 * 1024))
    assert opened.encryption is Encryption.PGP
    assert opened.message.text.count("potassium normal") > 10_000
