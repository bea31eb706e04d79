"""The profile's OpenPGP store against real GnuPG: keys are generated here, once per module.

The generating home lives in a short /tmp path (gpg-agent's socket path is limited to about 100 bytes) and
its agent is stopped afterwards. Every store test points HOME and GNUPGHOME at empty directories, so a key
that leaked into a global keyring would show up there.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import gnupg
import pytest

from app.core.errors import CryptoError
from app.crypto.openpgp import KeyInfo, OpenPgpStore, filter_key_for_address

pytestmark = pytest.mark.integration

ALICE = "alice@example.org"
ALICE_HOME = "alice@home.example"
ALICE_OLD = "old-alice@example.org"
BOB = "Bob@Example.ORG"
CAROL = "carol@example.org"
DAVE = "dave@example.org"
ERIN = "erin@example.org"


@dataclass(frozen=True)
class GeneratedKey:
    fingerprint: str
    public: bytes


@dataclass(frozen=True)
class Keys:
    alice: GeneratedKey  # three user IDs: ALICE (primary), ALICE_HOME, and ALICE_OLD revoked
    bob: GeneratedKey  # a mixed-case address
    carol: GeneratedKey  # expired on 2020-12-31
    dave: GeneratedKey  # revoked
    erin: GeneratedKey  # signing only: no encryption subkey
    alice_secret: bytes


def _generate(gpg: gnupg.GPG, email: str, name: str, **params: str) -> str:
    defaults = {"key_type": "EDDSA", "key_curve": "ed25519", "subkey_type": "ECDH", "subkey_curve": "cv25519"}
    spec = gpg.gen_key_input(name_real=name, name_email=email, no_protection=True, **(defaults | params))
    result = gpg.gen_key(spec)
    assert result.fingerprint, result.stderr
    return str(result.fingerprint)


def _gpg_cli(home: Path, *args: str) -> None:
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes", *args], check=True, capture_output=True)


def _revoke(gpg: gnupg.GPG, home: Path, fingerprint: str) -> None:
    """Import the revocation certificate GnuPG wrote at generation; it starts with ':' so that it is not
    imported by accident."""
    certificate = (home / "openpgp-revocs.d" / f"{fingerprint}.rev").read_text()
    assert gpg.import_keys(certificate.replace(":-----BEGIN", "-----BEGIN")).n_revoc == 1


def _export(gpg: gnupg.GPG, fingerprint: str) -> GeneratedKey:
    return GeneratedKey(fingerprint, gpg.export_keys(fingerprint).encode("ascii"))


_NAMES = ("alice", "bob", "carol", "dave", "erin")


@pytest.fixture(scope="module")
def keys() -> Iterator[Keys]:
    home = Path(tempfile.mkdtemp(prefix="salus-kg-", dir="/tmp"))
    try:
        gpg = gnupg.GPG(gnupghome=str(home))
        alice = _generate(gpg, ALICE, "Alice Example")
        _gpg_cli(home, "--quick-add-uid", alice, f"Alice Home <{ALICE_HOME}>")
        _gpg_cli(home, "--quick-add-uid", alice, ALICE_OLD)
        _gpg_cli(home, "--quick-revoke-uid", alice, ALICE_OLD)
        bob = _generate(gpg, BOB, "Bob")
        carol = _generate(gpg, CAROL, "Carol", creation_date="20200101T000000", expire_date="365d")
        dave = _generate(gpg, DAVE, "Dave")
        _revoke(gpg, home, dave)
        erin = _generate(gpg, ERIN, "Erin", subkey_type="", subkey_curve="", key_usage="sign")
        secret = gpg.export_keys(alice, secret=True, armor=False, expect_passphrase=False)
        exported = {name: _export(gpg, fpr) for name, fpr in zip(_NAMES, (alice, bob, carol, dave, erin), strict=True)}
        yield Keys(**exported, alice_secret=bytes(secret))
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and GNUPGHOME point at empty directories for the test; returns the fake HOME."""
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    monkeypatch.setenv("HOME", str(fake_home))
    monkeypatch.setenv("GNUPGHOME", str(fake_home / "global-gnupghome"))
    return fake_home


@pytest.fixture
def store(tmp_path: Path, isolated_home: Path) -> OpenPgpStore:
    return OpenPgpStore(tmp_path / "profile" / "gnupg")


def _only(keys: tuple[KeyInfo, ...]) -> KeyInfo:
    assert len(keys) == 1, keys
    return keys[0]


def _listed(data: bytes, tmp_path: Path) -> tuple[KeyInfo, ...]:
    """What a fresh store makes of `data`."""
    fresh = OpenPgpStore(tmp_path / "check-store")
    fresh.import_keys(data)
    return fresh.keys()


def test_import_returns_fingerprint_and_lists_every_user_id(store: OpenPgpStore, keys: Keys) -> None:
    assert store.import_keys(keys.alice.public) == (keys.alice.fingerprint,)
    key = _only(store.keys())
    assert key.fingerprint == keys.alice.fingerprint
    assert len(key.user_ids) == 3
    assert set(key.emails) == {ALICE, ALICE_HOME}, "the revoked user ID's address is not usable"
    assert key.can_encrypt and not key.revoked and not key.expired
    assert key.expires is None and key.created.tzinfo is not None


def test_importing_again_reports_the_unchanged_key(store: OpenPgpStore, keys: Keys) -> None:
    store.import_keys(keys.alice.public)
    assert store.import_keys(keys.alice.public) == (keys.alice.fingerprint,)


def test_keys_for_finds_a_key_by_any_usable_user_id(store: OpenPgpStore, keys: Keys) -> None:
    store.import_keys(keys.alice.public + keys.bob.public)
    assert _only(store.keys_for(ALICE)).fingerprint == keys.alice.fingerprint
    assert _only(store.keys_for(ALICE_HOME)).fingerprint == keys.alice.fingerprint
    assert store.keys_for(ALICE_OLD) == (), "a revoked user ID no longer names its address"
    assert store.keys_for("nobody@example.org") == ()


def test_keys_for_compares_the_domain_in_any_case_and_the_local_part_exactly(store: OpenPgpStore, keys: Keys) -> None:
    store.import_keys(keys.bob.public)
    assert _only(store.keys_for("Bob@example.org")).fingerprint == keys.bob.fingerprint
    assert _only(store.keys_for("Bob@EXAMPLE.org.")).fingerprint == keys.bob.fingerprint
    assert store.keys_for("bob@example.org") == ()


def test_expired_key_is_listed_as_expired_and_not_usable(store: OpenPgpStore, keys: Keys) -> None:
    store.import_keys(keys.carol.public)
    key = _only(store.keys_for(CAROL))
    assert key.expired and not key.revoked and not key.can_encrypt
    assert key.expires == datetime(2020, 12, 31, tzinfo=UTC)
    assert key.created == datetime(2020, 1, 1, tzinfo=UTC)


def test_revoked_key_is_listed_as_revoked_and_not_usable(store: OpenPgpStore, keys: Keys) -> None:
    store.import_keys(keys.dave.public)
    key = _only(store.keys_for(DAVE))
    assert key.revoked and not key.can_encrypt


def test_signing_only_key_cannot_encrypt(store: OpenPgpStore, keys: Keys) -> None:
    store.import_keys(keys.erin.public)
    key = _only(store.keys_for(ERIN))
    assert not key.can_encrypt and not key.revoked and not key.expired


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n"])
def test_data_without_a_key_raises(store: OpenPgpStore, data: bytes) -> None:
    with pytest.raises(CryptoError, match="no OpenPGP key"):
        store.import_keys(data)
    assert store.keys() == ()


def test_secret_key_import_keeps_only_the_public_part(store: OpenPgpStore, keys: Keys) -> None:
    assert store.import_keys(keys.alice_secret) == (keys.alice.fingerprint,)
    # GnuPG 2.1 and later keep secret keys only in private-keys-v1.d, written by gpg-agent.
    secret_dir = store.home / "private-keys-v1.d"
    assert not secret_dir.exists() or list(secret_dir.iterdir()) == []


def test_export_then_import_elsewhere_gives_the_same_key(store: OpenPgpStore, keys: Keys, tmp_path: Path) -> None:
    store.import_keys(keys.alice.public)
    armored = store.export(keys.alice.fingerprint)
    assert armored.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert _listed(armored, tmp_path) == store.keys()
    assert _listed(store.export(keys.alice.fingerprint, armor=False), tmp_path) == store.keys()


def test_export_of_an_unknown_key_raises(store: OpenPgpStore, keys: Keys) -> None:
    with pytest.raises(CryptoError, match="not in this profile"):
        store.export(keys.alice.fingerprint)


@pytest.mark.parametrize("selector", ["alice@example.org", "Alice", "0x1234ABCD", "1234567890ABCDEF"])
def test_only_a_full_fingerprint_selects_a_key(store: OpenPgpStore, keys: Keys, selector: str) -> None:
    store.import_keys(keys.alice.public)
    with pytest.raises(CryptoError, match="fingerprint"):
        store.export(selector)
    with pytest.raises(CryptoError, match="fingerprint"):
        store.delete(selector)


def test_fingerprint_may_be_lower_case_and_spaced(store: OpenPgpStore, keys: Keys) -> None:
    store.import_keys(keys.alice.public)
    spaced = " ".join(keys.alice.fingerprint[i : i + 4] for i in range(0, 40, 4)).lower()
    assert store.export(spaced) == store.export(keys.alice.fingerprint)


def test_delete_removes_the_key(store: OpenPgpStore, keys: Keys) -> None:
    store.import_keys(keys.alice.public + keys.bob.public)
    store.delete(keys.alice.fingerprint)
    remaining = store.keys()
    assert [key.fingerprint for key in remaining] == [keys.bob.fingerprint]
    with pytest.raises(CryptoError, match="not in this profile"):
        store.delete(keys.alice.fingerprint)


def test_filter_keeps_only_the_matching_user_id(store: OpenPgpStore, keys: Keys, tmp_path: Path) -> None:
    filtered = store.filter_key_for_address(keys.alice.public, ALICE_HOME)
    assert filtered is not None
    key = _only(_listed(filtered, tmp_path))
    assert key.fingerprint == keys.alice.fingerprint
    assert key.user_ids == (f"Alice Home <{ALICE_HOME}>",)
    assert key.can_encrypt
    assert store.keys() == (), "filtering never touches the profile's keyring"


def test_filter_picks_the_addressed_key_out_of_several(keys: Keys, tmp_path: Path, isolated_home: Path) -> None:
    bundle = keys.alice.public + keys.bob.public + keys.erin.public
    filtered = filter_key_for_address(bundle, "Bob@example.org", work_dir=tmp_path)
    assert filtered is not None
    assert [key.fingerprint for key in _listed(filtered, tmp_path)] == [keys.bob.fingerprint]


@pytest.mark.parametrize(
    ("key_name", "address"),
    [
        ("carol", CAROL),  # the key expired
        ("dave", DAVE),  # the key was revoked
        ("alice", ALICE_OLD),  # the user ID was revoked
        ("alice", "mallory@example.org"),  # no user ID for the address
        ("bob", "bob@example.org"),  # the local part differs in case
    ],
)
def test_filter_returns_none_when_no_key_qualifies(keys: Keys, tmp_path: Path, key_name: str, address: str) -> None:
    data: GeneratedKey = getattr(keys, key_name)
    assert filter_key_for_address(data.public, address, work_dir=tmp_path) is None


def test_filter_of_garbage_raises(tmp_path: Path) -> None:
    with pytest.raises(CryptoError, match="no OpenPGP key"):
        filter_key_for_address(b"<html>not found</html>", ALICE, work_dir=tmp_path)


@pytest.mark.parametrize("address", ["", "alice example.org", "alice@example.org && uid =~ a", "a\n@example.org"])
def test_filter_refuses_an_address_that_is_not_one(keys: Keys, tmp_path: Path, address: str) -> None:
    with pytest.raises(CryptoError, match="not a valid email address"):
        filter_key_for_address(keys.alice.public, address, work_dir=tmp_path)


def test_filter_leaves_no_scratch_home_behind(keys: Keys, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    filter_key_for_address(keys.alice.public, ALICE, work_dir=work)
    with pytest.raises(CryptoError):
        filter_key_for_address(b"garbage", ALICE, work_dir=work)
    assert list(work.iterdir()) == []


def test_store_home_is_private_and_no_global_keyring_is_touched(
    store: OpenPgpStore, keys: Keys, isolated_home: Path
) -> None:
    store.import_keys(keys.alice.public + keys.bob.public)
    store.keys_for(ALICE)
    store.filter_key_for_address(keys.bob.public, BOB)
    assert store.home.stat().st_mode & 0o777 == 0o700
    assert list(isolated_home.iterdir()) == [], "nothing may appear in ~/.gnupg or $GNUPGHOME"


def test_existing_home_is_tightened_to_owner_only(tmp_path: Path, isolated_home: Path) -> None:
    home = tmp_path / "loose"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    OpenPgpStore(home)
    assert home.stat().st_mode & 0o777 == 0o700
