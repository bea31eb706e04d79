"""Secret-key OpenPGP operations against real GnuPG: Salus's profile on one side, the gpg command line of a peer
(Bob) on the other.

Every GnuPG home lives in a short /tmp path (gpg-agent's socket path is limited to about 100 bytes), and every
agent is stopped afterwards. HOME and GNUPGHOME point at empty directories, so anything that leaked into a
global keyring would show up there.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gnupg
import pytest

from app.core.errors import CryptoError
from app.crypto.openpgp import OpenPgpStore, Validity
from app.crypto.openpgp_ops import BadSignature, OpenPgpOps, SignatureStatus

pytestmark = pytest.mark.integration

ALICE = "alice@example.org"
BOB = "bob@example.org"
PASSPHRASE = "k3y-pass-derived-from-the-data-key-0123456789abcdef"
WRONG = "k3y-pass-derived-from-another-data-key-0123456789ab"
BODY = b"Patient: Jane Roe\r\nResult: negative\r\n"


@dataclass(frozen=True)
class Peer:
    home: Path
    bob: str
    carol: str  # expired on 2020-12-31
    dave: str  # revoked
    public: bytes  # the three public keys


def _gpg(home: Path, *args: str, data: bytes = b"", check: bool = True) -> subprocess.CompletedProcess[bytes]:
    command = ["gpg", "--homedir", str(home), "--batch", "--yes", "--no-options", "--status-fd", "2", *args]
    return subprocess.run(command, input=data, capture_output=True, check=check)


def _generate(home: Path, email: str, *extra: str) -> str:
    spec = [
        "Key-Type: EDDSA",
        "Key-Curve: ed25519",
        "Subkey-Type: ECDH",
        "Subkey-Curve: cv25519",
        f"Name-Email: {email}",
        *extra,
        "%no-protection",
        "%commit",
    ]
    done = _gpg(home, "--gen-key", data="\n".join(spec).encode() + b"\n")
    return next(line.split()[-1] for line in done.stderr.decode().splitlines() if "KEY_CREATED" in line)


def _stop_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, capture_output=True)


def _short_home(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    home = _short_home("salus-peer-")
    try:
        bob = _generate(home, BOB, "Expire-Date: 0")
        carol = _generate(home, "carol@example.org", "Creation-Date: 20200101T000000", "Expire-Date: 365d")
        dave = _generate(home, "dave@example.org", "Expire-Date: 0")
        revocation = (home / "openpgp-revocs.d" / f"{dave}.rev").read_bytes()
        _gpg(home, "--import", data=revocation.replace(b":-----BEGIN", b"-----BEGIN"))
        public = _gpg(home, "--armor", "--export", bob, carol, dave).stdout
        yield Peer(home, bob, carol, dave, public)
    finally:
        _stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    monkeypatch.setenv("HOME", str(fake_home))
    monkeypatch.setenv("GNUPGHOME", str(fake_home / "global-gnupghome"))
    return fake_home


@pytest.fixture
def home(isolated_home: Path) -> Iterator[Path]:
    path = _short_home("salus-prof-")
    try:
        yield path / "gnupg"
    finally:
        _stop_agent(path / "gnupg")
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ops(home: Path) -> Iterator[OpenPgpOps]:
    with OpenPgpOps(home, PASSPHRASE) as opened:
        yield opened


@pytest.fixture
def alice(ops: OpenPgpOps, peer: Peer) -> str:
    """Alice's own key in the profile, Bob's keys imported there, and Alice's public key known to Bob."""
    fingerprint = ops.ensure_own_key(ALICE, "Alice Example")
    store = OpenPgpStore(ops.home)
    store.import_keys(peer.public)
    _gpg(peer.home, "--import", data=store.export(fingerprint))
    return fingerprint


def _statuses(done: subprocess.CompletedProcess[bytes], keyword: str) -> list[list[str]]:
    prefix = f"[GNUPG:] {keyword} "
    return [line[len(prefix) :].split() for line in done.stderr.decode().splitlines() if line.startswith(prefix)]


def _agents(home: Path) -> list[int]:
    done = subprocess.run(["pgrep", "-f", f"gpg-agent --homedir {home}"], capture_output=True, text=True, check=False)
    return [int(pid) for pid in done.stdout.split()]


def _raw_decrypt(home: Path, data: bytes, passphrase: str) -> Any:
    """What python-gnupg alone makes of `data`: the trap this module exists to avoid."""
    raw = gnupg.GPG(gnupghome=str(home), options=["--no-options", "--pinentry-mode", "loopback"])
    return raw.decrypt(data, passphrase=passphrase)


def test_own_key_is_generated_once_as_ed25519_cv25519_without_expiry(ops: OpenPgpOps) -> None:
    fingerprint = ops.ensure_own_key(ALICE, "Alice Example")
    assert ops.ensure_own_key(ALICE, "Alice Example") == fingerprint
    assert ops.own_key(ALICE) == fingerprint
    assert ops.own_key("someone-else@example.org") is None
    (key,) = OpenPgpStore(ops.home).keys()
    assert key.fingerprint == fingerprint and key.expires is None and key.can_encrypt
    listing = _gpg(ops.home, "--with-colons", "--list-keys", fingerprint).stdout.decode()
    algorithms = [line.split(":")[3] for line in listing.splitlines() if line.startswith(("pub:", "sub:"))]
    assert algorithms == ["22", "18"], "EdDSA primary (RFC 8032), ECDH subkey (RFC 6637)"
    secret_files = list((ops.home / "private-keys-v1.d").iterdir())
    assert secret_files and all(b"protected-private-key" in path.read_bytes() for path in secret_files)


def test_own_key_survives_closing_and_reopening_the_profile(home: Path) -> None:
    with OpenPgpOps(home, PASSPHRASE) as first:
        fingerprint = first.ensure_own_key(ALICE, "")
    with OpenPgpOps(home, PASSPHRASE) as second:
        assert second.own_key(ALICE) == fingerprint
        assert second.ensure_own_key(ALICE, "Alice") == fingerprint


def test_recipient_decrypts_with_gpg_and_sender_reads_the_sent_copy(ops: OpenPgpOps, alice: str, peer: Peer) -> None:
    armored = ops.encrypt(BODY, [peer.bob], sign_with=alice)
    assert armored.startswith(b"-----BEGIN PGP MESSAGE-----")
    assert BODY not in armored

    received = _gpg(peer.home, "--decrypt", data=armored)
    assert received.stdout == BODY
    assert _statuses(received, "VALIDSIG")[0][-1] == alice
    assert len(_statuses(received, "ENC_TO")) == 2, "one session key for Bob, one for the Sent copy"
    assert _statuses(received, "DECRYPTION_INFO")[0][1] == "9", "AES-256 (RFC 4880 §9.2)"

    sent_copy = ops.decrypt(armored)
    assert sent_copy.plaintext == BODY
    assert sent_copy.signature is not None and sent_copy.signature.valid
    assert sent_copy.signature.fingerprint == alice
    assert sent_copy.signature.trust is Validity.ULTIMATE
    assert sent_copy.signature.signed_by(ALICE) and not sent_copy.signature.signed_by(BOB)


def test_encryption_without_signing_needs_no_passphrase_and_carries_no_signature(
    ops: OpenPgpOps, alice: str, peer: Peer
) -> None:
    armored = ops.encrypt(BODY, [alice, peer.bob])
    decrypted = ops.decrypt(armored)
    assert decrypted.plaintext == BODY and decrypted.signature is None


def test_salus_decrypts_and_verifies_what_gpg_encrypted_and_signed(ops: OpenPgpOps, alice: str, peer: Peer) -> None:
    armored = _gpg(
        peer.home, "--trust-model", "always", "-u", peer.bob, "-r", alice, "-a", "-s", "-e", data=BODY
    ).stdout
    decrypted = ops.decrypt(armored)
    assert decrypted.plaintext == BODY
    signature = decrypted.signature
    assert signature is not None and signature.status is SignatureStatus.GOOD
    assert signature.fingerprint == peer.bob and signature.signed_by(BOB)
    assert signature.trust is Validity.UNDEFINED, "nobody certified Bob's key; policy decides, not GnuPG"
    assert signature.signed_at is not None and abs(signature.signed_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_signature_by_a_key_the_profile_lacks_is_reported_not_hidden(home: Path, peer: Peer) -> None:
    with OpenPgpOps(home, PASSPHRASE) as ops:
        alice = ops.ensure_own_key(ALICE, "Alice")
        _gpg(peer.home, "--import", data=OpenPgpStore(home).export(alice))
        armored = _gpg(peer.home, "--trust-model", "always", "-u", peer.bob, "-r", alice, "-s", "-e", data=BODY).stdout
        decrypted = ops.decrypt(armored)
    assert decrypted.plaintext == BODY
    assert decrypted.signature is not None and not decrypted.signature.valid
    assert decrypted.signature.status is SignatureStatus.NO_PUBLIC_KEY
    assert decrypted.signature.issuer == peer.bob and decrypted.signature.fingerprint is None


def test_detached_signature_is_sha256_and_verified_by_gpg(
    ops: OpenPgpOps, alice: str, peer: Peer, tmp_path: Path
) -> None:
    signature, micalg = ops.sign_detached(BODY, alice)
    assert micalg == "pgp-sha256"
    assert signature.startswith(b"-----BEGIN PGP SIGNATURE-----")
    (tmp_path / "body.sig").write_bytes(signature)
    checked = _gpg(peer.home, "--verify", str(tmp_path / "body.sig"), "-", data=BODY)
    valid = _statuses(checked, "VALIDSIG")[0]
    assert valid[0] == alice and valid[7] == "8", "hash algorithm 8 is SHA-256 (RFC 4880 §9.4)"


def test_salus_verifies_a_detached_signature_made_by_gpg(ops: OpenPgpOps, alice: str, peer: Peer) -> None:
    signature = _gpg(peer.home, "-u", peer.bob, "--armor", "--detach-sign", data=BODY).stdout
    verification = ops.verify_detached(BODY, signature)
    assert verification.valid and verification.fingerprint == peer.bob
    assert verification.signed_by(BOB) and not verification.signed_by(ALICE)


def test_altered_data_fails_verification_with_the_reason(ops: OpenPgpOps, alice: str, peer: Peer) -> None:
    signature = _gpg(peer.home, "-u", peer.bob, "--detach-sign", data=BODY).stdout
    with pytest.raises(BadSignature) as caught:
        ops.verify_detached(BODY.replace(b"negative", b"positive"), signature)
    assert caught.value.verification.status is SignatureStatus.BAD
    assert not caught.value.verification.valid


def test_signature_from_an_unknown_key_fails_verification(ops: OpenPgpOps, peer: Peer) -> None:
    signature = _gpg(peer.home, "-u", peer.bob, "--detach-sign", data=BODY).stdout
    with pytest.raises(BadSignature) as caught:
        ops.verify_detached(BODY, signature)
    assert caught.value.verification.status is SignatureStatus.NO_PUBLIC_KEY


def test_data_without_a_signature_fails_verification(ops: OpenPgpOps) -> None:
    with pytest.raises(CryptoError, match="no OpenPGP signature"):
        ops.verify_detached(BODY, b"not a signature")


def test_wrong_key_passphrase_is_an_error_and_yields_no_plaintext(home: Path, peer: Peer) -> None:
    with OpenPgpOps(home, PASSPHRASE) as ops:
        alice = ops.ensure_own_key(ALICE, "Alice")
        armored = ops.encrypt(BODY, [alice])
        assert ops.decrypt(armored).plaintext == BODY
    with OpenPgpOps(home, WRONG) as wrong:
        with pytest.raises(CryptoError, match="passphrase was not accepted"):
            wrong.decrypt(armored)
        with pytest.raises(CryptoError, match="passphrase was not accepted"):
            wrong.sign_detached(BODY, alice)
        with pytest.raises(CryptoError, match="passphrase was not accepted"):
            wrong.encrypt(BODY, [alice], sign_with=alice)


def test_right_passphrase_is_not_cached_for_a_wrong_one(home: Path) -> None:
    """The agent caches nothing: a wrong passphrase fails even while the agent has just used the right one."""
    with OpenPgpOps(home, PASSPHRASE) as ops:
        alice = ops.ensure_own_key(ALICE, "Alice")
        ops.sign_detached(BODY, alice)
        agent_before = _agents(home)
        raw = gnupg.GPG(gnupghome=str(home), options=["--no-options", "--pinentry-mode", "loopback"])
        result = raw.sign(BODY, keyid=alice, detach=True, passphrase=WRONG)
        assert not result.fingerprint and not result.data
        assert _agents(home) == agent_before, "the same agent answered"


def test_tampered_ciphertext_is_an_error_and_yields_no_plaintext(ops: OpenPgpOps, alice: str, peer: Peer) -> None:
    long_body = BODY * 200
    binary = _gpg(peer.home, "--trust-model", "always", "--compress-algo", "none", "-r", alice, "-e", data=long_body)
    tampered = bytearray(binary.stdout)
    tampered[len(tampered) // 2] ^= 0x01
    assert _raw_decrypt(ops.home, bytes(tampered), PASSPHRASE).data, "python-gnupg keeps the partial plaintext"
    with pytest.raises(CryptoError, match="altered"):
        ops.decrypt(bytes(tampered))


def test_message_without_integrity_protection_is_refused(ops: OpenPgpOps, alice: str, peer: Peer) -> None:
    # GnuPG 2.2 ignores --disable-mdc and --no-force-mdc, but --rfc2440 still writes a Symmetrically
    # Encrypted Data packet (tag 9, RFC 4880 §5.7), which has no MDC.
    legacy = _gpg(peer.home, "--rfc2440", "--trust-model", "always", "-r", alice, "-e", data=BODY).stdout
    assert _raw_decrypt(ops.home, legacy, PASSPHRASE).data == BODY, "python-gnupg hands out the plaintext"
    with pytest.raises(CryptoError, match="not integrity protected"):
        ops.decrypt(legacy)


def test_message_for_someone_else_is_refused(ops: OpenPgpOps, alice: str, peer: Peer) -> None:
    for_bob = _gpg(peer.home, "-r", peer.bob, "-e", data=BODY).stdout
    with pytest.raises(CryptoError, match="not encrypted to this profile's key"):
        ops.decrypt(for_bob)


def test_signed_but_unencrypted_message_is_not_decrypted(ops: OpenPgpOps, alice: str, peer: Peer) -> None:
    signed = _gpg(peer.home, "-u", peer.bob, "-s", data=BODY).stdout
    with pytest.raises(CryptoError, match="not an encrypted OpenPGP message"):
        ops.decrypt(signed)


@pytest.mark.parametrize(("name", "problem"), [("carol", "has expired"), ("dave", "has been revoked")])
def test_unusable_recipient_key_stops_the_whole_encryption(
    ops: OpenPgpOps, alice: str, peer: Peer, name: str, problem: str
) -> None:
    bad = getattr(peer, name)
    with pytest.raises(CryptoError, match=f"{bad} {problem}"):
        ops.encrypt(BODY, [peer.bob, bad], sign_with=alice)


def test_gnupg_refusing_a_recipient_is_an_error_even_without_the_pre_check(
    ops: OpenPgpOps, alice: str, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OpenPgpOps, "_require_usable", lambda self, fingerprints: None)
    with pytest.raises(CryptoError, match=peer.carol):
        ops.encrypt(BODY, [peer.bob, peer.carol])


def test_unknown_recipient_key_is_named(ops: OpenPgpOps, alice: str) -> None:
    missing = "0123456789ABCDEF0123456789ABCDEF01234567"
    with pytest.raises(CryptoError, match="not in this profile's keyring"):
        ops.encrypt(BODY, [missing], sign_with=alice)
    with pytest.raises(CryptoError, match="fingerprint"):
        ops.encrypt(BODY, [ALICE])


def test_signing_with_a_key_whose_secret_the_profile_lacks_fails(ops: OpenPgpOps, alice: str, peer: Peer) -> None:
    with pytest.raises(CryptoError, match="Cannot sign"):
        ops.sign_detached(BODY, peer.bob)


def test_close_stops_the_agent_and_refuses_further_work(home: Path) -> None:
    ops = OpenPgpOps(home, PASSPHRASE)
    alice = ops.ensure_own_key(ALICE, "Alice")
    ops.sign_detached(BODY, alice)
    assert _agents(home), "secret-key work runs through an agent in the profile's home"
    ops.close()
    assert _agents(home) == []
    with pytest.raises(CryptoError, match="locked"):
        ops.sign_detached(BODY, alice)
    ops.close()


def test_a_stale_agent_is_replaced_by_one_with_salus_settings(home: Path) -> None:
    home.mkdir(parents=True, mode=0o700)
    (home / "gpg-agent.conf").write_text("default-cache-ttl 86400\n")
    subprocess.run(["gpg-connect-agent", "--homedir", str(home), "/bye"], check=True, capture_output=True)
    (stale,) = _agents(home)
    with OpenPgpOps(home, PASSPHRASE):
        assert stale not in _agents(home)
        conf = home / "gpg-agent.conf"
        assert "default-cache-ttl 0" in conf.read_text() and conf.stat().st_mode & 0o777 == 0o600


def test_passphrase_never_appears_in_a_command_line_or_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launched: list[tuple[list[str], dict[str, str] | None]] = []
    real_popen = gnupg.Popen

    def recording_popen(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        launched.append((list(cmd), kwargs.get("env")))
        return real_popen(cmd, *args, **kwargs)

    monkeypatch.setattr(gnupg, "Popen", recording_popen)
    with OpenPgpOps(home, PASSPHRASE) as ops:
        alice = ops.ensure_own_key(ALICE, "Alice")
        ops.decrypt(ops.encrypt(BODY, [alice], sign_with=alice))
        agent_lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in _agents(home)]
    assert agent_lines and all(PASSPHRASE.encode() not in line for line in agent_lines)
    for command, env in launched:
        assert all(PASSPHRASE not in part for part in command)
        assert env is None, "gpg inherits the environment; nothing secret is added to it"
    secret_calls = [command for command, _ in launched if "--passphrase-fd" in command]
    assert secret_calls, "the passphrase went somewhere"
    for command in secret_calls:
        assert command[command.index("--passphrase-fd") + 1] == "0"
        assert command[command.index("--pinentry-mode") + 1] == "loopback"


def test_malformed_key_passphrase_is_refused_before_gpg_runs(home: Path) -> None:
    for passphrase in ("", "short", "x" * 40 + "\nPassphrase: other", "with spaces " * 4):
        with pytest.raises(CryptoError, match="malformed"):
            OpenPgpOps(home, passphrase)


def test_profile_work_leaves_the_global_keyring_alone(ops: OpenPgpOps, alice: str, isolated_home: Path) -> None:
    ops.decrypt(ops.encrypt(BODY, [alice], sign_with=alice))
    assert list(isolated_home.iterdir()) == []


def test_close_waits_for_the_agent_to_exit(home: Path) -> None:
    ops = OpenPgpOps(home, PASSPHRASE)
    ops.ensure_own_key(ALICE, "Alice")
    started = time.monotonic()
    ops.close()
    assert _agents(home) == [] and time.monotonic() - started < 5
