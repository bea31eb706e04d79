"""OpenPGP operations with the profile's own secret key (DESIGN.md §3, §5 "Sending" and "Reading").

Rules this module keeps:
- It works only in the profile's GnuPG home, with the isolation of `app.crypto.openpgp` (no dirmngr, no key
  retrieval, `gpg.conf` ignored), except that gpg-agent may start: GnuPG 2.1 and later hold secret keys only
  through the agent. The agent reads a `gpg-agent.conf` written here before it starts (no passphrase cache,
  loopback pinentry, no smartcard daemon); `close()` stops it.
- The key passphrase reaches gpg on its standard input only (`--passphrase-fd 0`), never in argv or the
  environment. Every call runs with `--pinentry-mode loopback`, so no pinentry window can ever appear.
- Keys are named by full fingerprint. A message is encrypted to exactly the keys asked for (plus the sender's
  own key when signing, for the Sent copy); if GnuPG refuses any of them, nothing is encrypted.
- Plaintext is returned only when GnuPG reports a finished decryption with a good integrity check (MDC,
  RFC 4880 §5.13). Otherwise the partial output python-gnupg keeps in `.data` is dropped (EFAIL).
- Signature state comes from GnuPG's status lines only, never from message content. A detached signature
  that does not verify raises.
- Error messages never quote a user ID, an address, a passphrase or message content.
- Calls block; the engine runs them in an executor (DESIGN.md §2 rule 5). One instance per open profile.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

import gnupg

from app.core.errors import CryptoError
from app.crypto.gpg_locate import gpg_path
from app.crypto.limits import DEFAULT_MAX_PLAINTEXT, PlaintextTooLarge
from app.crypto.openpgp import _SAFE_OPTIONS, KeyInfo, OpenPgpStore, Validity, _checked_fingerprint, same_address

# The isolation options of the public-key store, minus `--no-autostart`: secret-key operations need the agent.
# `--pinentry-mode loopback` makes the agent ask gpg (which reads our fd) instead of a pinentry.
_AGENT_OPTIONS = (*(opt for opt in _SAFE_OPTIONS if opt != "--no-autostart"), "--pinentry-mode", "loopback")
# The agent caches nothing, so a wrong passphrase fails even right after a right one and locking the profile
# leaves no unlocked key behind. The passphrase is derived from the 256-bit data key, so S2K stretching
# (RFC 4880 §3.7.1.3) adds no strength, only a second or more to every operation: the minimum count is used.
_AGENT_CONF = """\
# Written by Salus before gpg-agent starts; any change here is overwritten.
default-cache-ttl 0
max-cache-ttl 0
allow-loopback-pinentry
no-allow-external-cache
disable-scdaemon
s2k-count 65536
"""
# Ed25519 signing primary, Cv25519 encryption subkey, no expiry. The passphrase travels on stdin in this file.
_KEY_SPEC = (
    "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\n"
    "Subkey-Usage: encrypt\n{name}Name-Email: {address}\nExpire-Date: 0\nPassphrase: {passphrase}\n%commit\n"
)
# Derived passphrases are long printable ASCII; the rule also keeps the batch key-generation file unambiguous.
_PASSPHRASE = re.compile(r"[\x21-\x7e]{32,1024}")
# RFC 3156 §5: micalg is "pgp-" and the RFC 4880 §9.4 hash name in lower case. Only SHA-256 or better.
_MICALG = {"8": "pgp-sha256", "9": "pgp-sha384", "10": "pgp-sha512"}
_ENCRYPT_OPTIONS = ["--no-encrypt-to", "--cipher-algo", "AES256", "--digest-algo", "SHA256"]
_GPG_ERR_BAD_PASSPHRASE = 11  # libgpg-error code; status lines carry source << 24 | code
# INV_RECP reason codes (doc/DETAILS); GnuPG 2.2 often sends 0 ("no specific reason") for expired and revoked keys.
_INV_RECP = {
    "1": "is not in this profile's keyring",
    "3": "cannot be used for encryption",
    "4": "has been revoked",
    "5": "has expired",
}
_SOCKET_LIMIT = 100  # sun_path holds 104 bytes on macOS, 108 on Linux, minus room for the longest socket name

_Status = tuple[tuple[str, tuple[str, ...]], ...]


class SignatureStatus(StrEnum):
    """GnuPG's verdict on one signature (doc/DETAILS, "Status codes")."""

    GOOD = "good"
    BAD = "bad"  # BADSIG: data or signature altered
    EXPIRED_SIGNATURE = "expired-signature"
    EXPIRED_KEY = "expired-key"  # made by a key that has expired since
    REVOKED_KEY = "revoked-key"
    NO_PUBLIC_KEY = "no-public-key"  # the signer's key is not in this profile's keyring
    ERROR = "error"  # not checkable (unknown algorithm, malformed)


@dataclass(frozen=True, slots=True)
class Verification:
    """What GnuPG established about a signature. `issuer` is the fingerprint or long key ID the signature
    names; `fingerprint` the signer's primary key, known only when the signature was checked (also for
    EXPIRED_KEY and REVOKED_KEY); `emails` the usable addresses of that key in the profile's keyring;
    `trust` the key's validity under GnuPG's trust model (the profile's own key is ULTIMATE)."""

    status: SignatureStatus
    issuer: str
    fingerprint: str | None
    emails: tuple[str, ...]
    signed_at: datetime | None
    trust: Validity

    @property
    def valid(self) -> bool:
        return self.status is SignatureStatus.GOOD

    def signed_by(self, address: str) -> bool:
        """Whether the signature is good and its key carries `address` (the message's From)."""
        return self.valid and any(same_address(email, address) for email in self.emails)


@dataclass(frozen=True, slots=True)
class Decrypted:
    plaintext: bytes
    signature: Verification | None  # None: the encrypted message carried no signature


class BadSignature(CryptoError):
    """A detached signature did not verify; `verification` says why, for the reader to show."""

    def __init__(self, message: str, verification: Verification) -> None:
        super().__init__(message)
        self.verification = verification


class OpenPgpOps:
    """Secret-key operations in one profile's GnuPG home. `key_passphrase` protects the profile's secret key;
    Salus derives it from the vault's data key (it is not the person's passphrase). Use as a context manager,
    or call `close()`, which stops the profile's gpg-agent."""

    def __init__(self, home: Path, key_passphrase: str, *, gpg_binary: str | None = None) -> None:
        if not _PASSPHRASE.fullmatch(key_passphrase):
            raise CryptoError("Cannot use the profile's OpenPGP key: the key passphrase is malformed.")
        self.home = home
        gpg_binary = gpg_binary or gpg_path()
        self._store = OpenPgpStore(home, gpg_binary=gpg_binary)  # creates the home, private
        self._gpgconf = _sibling(gpg_binary, "gpgconf")
        self._socket = _agent_socket(self._gpgconf, home)
        # An agent left by a crash may run with another configuration or hold a cached key.
        _stop_agent(self._gpgconf, home, self._socket)
        _write_private(home / "gpg-agent.conf", _AGENT_CONF)
        self._passphrase = key_passphrase
        self._gpg = _open(home, gpg_binary, _AGENT_OPTIONS)
        # Verifying and listing need no secret key; this instance can never start an agent.
        self._offline = _open(home, gpg_binary, _SAFE_OPTIONS)
        self._lock = threading.RLock()
        self._closed = False

    def __enter__(self) -> OpenPgpOps:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Forget the passphrase and stop the agent; later calls raise. Safe to call twice."""
        with self._lock:
            self._closed = True
            self._passphrase = ""
            _stop_agent(self._gpgconf, self.home, self._socket)

    def own_key(self, address: str) -> str | None:
        """The newest usable key for `address` whose secret part this profile holds."""
        with self._session():
            # Secret keys are listed through the agent: without one, gpg lists none and still succeeds.
            listing = self._gpg.list_keys(secret=True)
        if listing.returncode not in (0, None):
            raise CryptoError("Cannot list the profile's own OpenPGP keys: GnuPG's agent did not answer.")
        secret = {str(key["fingerprint"]).upper() for key in listing}
        usable = [
            key
            for key in self._store.keys()
            if key.fingerprint in secret and key.matches(address) and _unusable(key) is None
        ]
        return max(usable, key=lambda key: key.created).fingerprint if usable else None

    def ensure_own_key(self, address: str, name: str) -> str:
        """The profile's key for `address`, generated (Ed25519 signing, Cv25519 encryption, no expiry) if the
        profile has none."""
        for attempt in range(2):
            with self._session():
                existing = self.own_key(address)
                if existing is not None:
                    return existing
                result = self._gpg.gen_key(_key_spec(address, name, self._passphrase))
            if result.returncode == 0 and result.fingerprint:
                return str(result.fingerprint).upper()
            if attempt == 0:
                # Seen on a loaded machine: the freshly started agent was not ready for the key generation.
                # A restarted agent is; a second refusal is real.
                _stop_agent(self._gpgconf, self.home, self._socket)
        raise CryptoError("Cannot create the profile's OpenPGP key: GnuPG refused to generate it.")

    def encrypt(self, data: bytes, recipients: Sequence[str], *, sign_with: str | None = None) -> bytes:
        """`data` encrypted (ASCII armored) to every key in `recipients`, and signed by and encrypted to
        `sign_with` if given. The caller has decided to trust these keys, so GnuPG's trust model is not
        consulted (`--trust-model always`), but expired, revoked or unusable keys are still refused."""
        keys = _unique([*recipients, *([sign_with] if sign_with else [])])
        if not keys:
            raise CryptoError("Cannot encrypt: no recipient key was given.")
        self._require_usable(keys)
        signer = _checked_fingerprint(sign_with) if sign_with else None
        with self._session():
            result = self._gpg.encrypt(
                data,
                list(keys),
                sign=signer,
                passphrase=self._passphrase if signer else None,
                armor=True,
                extra_args=[*_ENCRYPT_OPTIONS, "--trust-model", "always"],
            )
        _check_encrypted(result, _status_lines(result.stderr))
        armored = bytes(result.data)
        self._require_recipient_count(armored, len(keys))
        return armored

    def sign_detached(self, data: bytes, fingerprint: str) -> tuple[bytes, str]:
        """An armored detached signature over `data` and its RFC 3156 micalg (for example "pgp-sha256")."""
        signer = _checked_fingerprint(fingerprint)
        with self._session():
            result = self._gpg.sign(
                data,
                detach=True,
                clearsign=False,
                passphrase=self._passphrase,
                extra_args=["--local-user", signer, "--digest-algo", "SHA256"],
            )
        status = _status_lines(result.stderr)
        _raise_if_bad_passphrase(status, "Cannot sign")
        if result.returncode != 0 or result.type != "D" or not result.fingerprint:
            raise CryptoError("Cannot sign: the key is missing, expired or revoked, or GnuPG refused to sign.")
        micalg = _MICALG.get(str(result.hash_algo))
        if micalg is None:
            raise CryptoError("Cannot sign: GnuPG used a hash weaker than SHA-256.")
        return bytes(result.data), micalg

    def decrypt(self, data: bytes, *, max_plaintext: int = DEFAULT_MAX_PLAINTEXT) -> Decrypted:
        """The plaintext of an OpenPGP message encrypted to this profile's key, and its signature if any.

        GnuPG stops writing after `max_plaintext` bytes (`--max-output`), so a compressed message cannot expand
        without bound in memory; reaching the limit raises PlaintextTooLarge and the partial output is dropped.
        """
        options = ["--no-symkey-cache", "--max-output", str(max_plaintext)]
        with self._session():
            result = self._gpg.decrypt(data, passphrase=self._passphrase, extra_args=options)
        if _hit_max_output(result, max_plaintext):
            raise PlaintextTooLarge(max_plaintext)
        status = _status_lines(result.stderr)
        _check_decrypted(result, status)
        return Decrypted(bytes(result.data), self._summarize(_signatures(status)))

    def verify_detached(self, data: bytes, signature: bytes) -> Verification:
        """The good signature `signature` makes over `data`; raises BadSignature (a CryptoError) otherwise."""
        # python-gnupg reads a detached signature only from a file; the data itself goes over stdin.
        with self._session(), tempfile.TemporaryDirectory(dir=self.home, prefix="verify-") as work:
            sig_path = Path(work) / "signature"
            sig_path.write_bytes(signature)
            result = self._offline.verify_data(str(sig_path), data)
        verification = self._summarize(_signatures(_status_lines(result.stderr)))
        if verification is None:
            raise CryptoError("Cannot verify the signature: the data holds no OpenPGP signature.")
        if not verification.valid or not result.valid:
            raise BadSignature(f"The signature is not valid ({verification.status}).", verification)
        return verification

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Serialises calls with close(), so the agent is never stopped under a running operation."""
        with self._lock:
            if self._closed:
                raise CryptoError("Cannot use the profile's OpenPGP key: the profile is locked.")
            yield

    def _require_usable(self, fingerprints: tuple[str, ...]) -> None:
        """Names the first key GnuPG would refuse; gpg itself says only "unusable public key"."""
        known = {key.fingerprint: key for key in self._store.keys()}
        for fpr in fingerprints:
            problem = _unusable(known.get(fpr))
            if problem:
                raise CryptoError(f"Cannot encrypt: the recipient key {fpr} {problem}.")

    def _require_recipient_count(self, armored: bytes, expected: int) -> None:
        """Counts the message's public-key encrypted session keys (RFC 4880 §5.1), one per recipient key."""
        listing = self._offline.decrypt(armored, extra_args=["--list-only"])
        key_ids = {args[0] for keyword, args in _status_lines(listing.stderr) if keyword == "ENC_TO" and args}
        if len(key_ids) != expected:
            raise CryptoError("Cannot encrypt: GnuPG did not encrypt to every recipient key.")

    def _summarize(self, signatures: list[_Signature]) -> Verification | None:
        """One verdict for the reader: with several signatures, the first one that is not good decides."""
        verdicts = [sig.verdict() for sig in signatures]
        chosen = next((sig for sig in verdicts if not sig.valid), verdicts[0] if verdicts else None)
        if chosen is None or chosen.fingerprint is None:
            return chosen
        emails = next((key.emails for key in self._store.keys() if key.fingerprint == chosen.fingerprint), ())
        return replace(chosen, emails=emails)


_OUTCOMES = {
    "GOODSIG": SignatureStatus.GOOD,
    "BADSIG": SignatureStatus.BAD,
    "EXPSIG": SignatureStatus.EXPIRED_SIGNATURE,
    "EXPKEYSIG": SignatureStatus.EXPIRED_KEY,
    "REVKEYSIG": SignatureStatus.REVOKED_KEY,
    "ERRSIG": SignatureStatus.ERROR,
}
_TRUST = {
    "TRUST_UNDEFINED": Validity.UNDEFINED,
    "TRUST_NEVER": Validity.NEVER,
    "TRUST_MARGINAL": Validity.MARGINAL,
    "TRUST_FULLY": Validity.FULL,
    "TRUST_ULTIMATE": Validity.ULTIMATE,
}


@dataclass(slots=True)
class _Signature:
    """One signature's status lines, from NEWSIG to the next (doc/DETAILS)."""

    status: SignatureStatus = SignatureStatus.ERROR
    issuer: str = ""
    fingerprint: str | None = None
    signed_at: datetime | None = None
    trust: Validity = Validity.UNKNOWN

    def add(self, keyword: str, args: tuple[str, ...]) -> None:
        if keyword in _OUTCOMES and args:
            self.status, self.issuer = _OUTCOMES[keyword], args[0]
        if keyword == "ERRSIG" and len(args) > 6:
            # ERRSIG <keyid> <algo> <hash> <class> <time> <rc> <fpr>; the fingerprint came with GnuPG 2.2.7.
            self.issuer, self.signed_at = (args[6] if args[6] != "-" else args[0]), _timestamp(args[4])
        elif keyword == "NO_PUBKEY":
            self.status = SignatureStatus.NO_PUBLIC_KEY
        elif keyword == "VALIDSIG" and len(args) > 2:
            # VALIDSIG <fpr> <date> <time> ... <primary-key-fpr>: the last field names the primary key.
            self.fingerprint = (args[9] if len(args) > 9 else args[0]).upper()
            self.signed_at = _timestamp(args[2])
        elif keyword in _TRUST:
            self.trust = _TRUST[keyword]

    def verdict(self) -> Verification:
        # GnuPG sends VALIDSIG with every GOODSIG; without it the signer would be unknown, so it is not good.
        unproven = self.status is SignatureStatus.GOOD and self.fingerprint is None
        status = SignatureStatus.ERROR if unproven else self.status
        return Verification(status, self.issuer, self.fingerprint, (), self.signed_at, self.trust)


def _signatures(status: _Status) -> list[_Signature]:
    signatures: list[_Signature] = []
    for keyword, args in status:
        if keyword == "NEWSIG":
            signatures.append(_Signature())
        elif keyword in _OUTCOMES or keyword in _TRUST or keyword in ("VALIDSIG", "NO_PUBKEY"):
            if not signatures:
                signatures.append(_Signature())
            signatures[-1].add(keyword, args)
    return signatures


def _status_lines(stderr: str) -> _Status:
    """GnuPG's machine-readable lines (`--status-fd 2`, prefixed "[GNUPG:] "). Its human messages share the
    stream, but GnuPG escapes control characters in the message and key data it prints there."""
    lines = []
    for line in stderr.splitlines():
        if line.startswith("[GNUPG:] "):
            keyword, *args = line[9:].split() or [""]
            lines.append((keyword, tuple(args)))
    return tuple(lines)


def _hit_max_output(result: Any, limit: int) -> bool:
    """gpg still reports DECRYPTION_OKAY when it stopped writing at --max-output; it says so on stderr (the
    option name is not translated) and exits non-zero with the output cut within a buffer of the limit."""
    if "--max-output" in (result.stderr or "") or len(result.data) > limit:
        return True
    return getattr(result, "returncode", 0) not in (0, None) and len(result.data) >= limit - _GPG_BUFFER


_GPG_BUFFER = 256 * 1024  # more than gpg's output buffering, so a stop at the limit is recognised in any locale


def _check_decrypted(result: Any, status: _Status) -> None:
    keywords = {keyword for keyword, _ in status}
    _raise_if_bad_passphrase(status, "Cannot decrypt the message")
    if "NO_SECKEY" in keywords and "DECRYPTION_KEY" not in keywords:
        raise CryptoError("Cannot decrypt the message: it is not encrypted to this profile's key.")
    if "BADMDC" in keywords or not _integrity_protected(status):
        raise CryptoError("Cannot decrypt the message: it is not integrity protected, or it was altered.")
    done = {"DECRYPTION_OKAY", "GOODMDC", "DECRYPTION_KEY"} <= keywords and "DECRYPTION_FAILED" not in keywords
    if not (done and result.ok):
        raise CryptoError("Cannot decrypt the message: it is damaged or not an encrypted OpenPGP message.")


def _integrity_protected(status: _Status) -> bool:
    """DECRYPTION_INFO <mdc_method> <sym_algo> [<aead_algo>]: either an MDC or AEAD protects the data. Data
    without the line was never decrypted, which the caller reports as damaged."""
    for keyword, args in status:
        if keyword == "DECRYPTION_INFO" and args:
            return args[0] != "0" or (len(args) > 2 and args[2] != "0")
    return True


def _check_encrypted(result: Any, status: _Status) -> None:
    _raise_if_bad_passphrase(status, "Cannot sign the message")
    for keyword, args in status:
        if keyword == "INV_RECP":
            problem = _INV_RECP.get(args[0] if args else "", "was refused by GnuPG")
            raise CryptoError(f"Cannot encrypt: the recipient key {args[1] if len(args) > 1 else ''} {problem}.")
        if keyword == "INV_SGNR":
            raise CryptoError("Cannot sign the message: the profile's key is missing, expired or revoked.")
    if not result.ok or result.returncode != 0 or not bytes(result.data).startswith(b"-----BEGIN PGP MESSAGE-----"):
        raise CryptoError("Cannot encrypt: GnuPG failed.")


def _raise_if_bad_passphrase(status: _Status, what: str) -> None:
    """In loopback mode GnuPG 2.2 reports a wrong passphrase as an error code, not as BAD_PASSPHRASE."""
    for keyword, args in status:
        code = args[-1] if keyword in ("ERROR", "FAILURE") and args else ""
        if keyword == "BAD_PASSPHRASE" or (code.isdigit() and int(code) & 0xFFFF == _GPG_ERR_BAD_PASSPHRASE):
            raise CryptoError(f"{what}: the profile's key passphrase was not accepted.")


def _unusable(key: KeyInfo | None) -> str | None:
    if key is None:
        return "is not in this profile's keyring"
    if key.revoked:
        return "has been revoked"
    if key.expired:
        return "has expired"
    return None if key.can_encrypt else "cannot be used for encryption"


def _unique(fingerprints: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_checked_fingerprint(fpr) for fpr in fingerprints))


def _key_spec(address: str, name: str, passphrase: str) -> str:
    """A GnuPG unattended key generation file (doc/DETAILS, "Unattended key generation"). Values cannot
    contain line breaks, so a name cannot add a parameter."""
    if re.search(r"[\x00-\x1f\x7f]", name + address) or re.search(r"[\s<>]", address) or address.count("@") != 1:
        raise CryptoError("Cannot create the profile's OpenPGP key: the name or address is not valid.")
    real_name = f"Name-Real: {name.strip()}\n" if name.strip() else ""
    return _KEY_SPEC.format(name=real_name, address=address, passphrase=passphrase)


def _timestamp(value: str) -> datetime | None:
    """Seconds since the epoch, or ISO 8601 basic form; "0" or empty means none."""
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC) if int(value) else None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _open(home: Path, gpg_binary: str, options: tuple[str, ...]) -> Any:
    try:
        return gnupg.GPG(gpgbinary=gpg_binary, gnupghome=str(home), options=list(options))
    except (OSError, ValueError) as exc:
        raise CryptoError("Cannot use OpenPGP: GnuPG (gpg) is not installed or could not be started.") from exc


def _sibling(gpg_binary: str, tool: str) -> str:
    """gpgconf from the same installation as the gpg in use."""
    directory, name = os.path.split(gpg_binary)
    suffix = ".exe" if name.lower().endswith(".exe") else ""
    return str(Path(directory) / (tool + suffix)) if directory else tool + suffix


def _gpgconf(gpgconf: str, home: Path, *args: str) -> str:
    try:
        done = subprocess.run([gpgconf, "--homedir", str(home), *args], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CryptoError("Cannot manage GnuPG's agent: gpgconf is missing or did not answer.") from exc
    if done.returncode != 0:
        raise CryptoError("Cannot manage GnuPG's agent: gpgconf failed.")
    return done.stdout.decode("utf-8", "replace")


def _agent_socket(gpgconf: str, home: Path) -> Path:
    """Where this home's agent listens. A Unix socket path has a small size limit, and GnuPG 2.2 puts the
    socket in the home unless /run/user/UID/gnupg exists; fail early and clearly rather than deep in gpg."""
    raw = _gpgconf(gpgconf, home, "--list-dirs", "agent-socket").strip()
    socket = Path(re.sub(r"%([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), raw))
    if os.name != "nt" and len(os.fsencode(socket.parent / "S.gpg-agent.browser")) > _SOCKET_LIMIT:
        raise CryptoError("Cannot use the profile's OpenPGP key: the profile's path is too long for GnuPG.")
    return socket


def _stop_agent(gpgconf: str, home: Path, socket: Path) -> None:
    """Stops the home's agent (a no-op when none runs) and waits until its socket is gone."""
    _gpgconf(gpgconf, home, "--kill", "gpg-agent")
    deadline = time.monotonic() + 5
    while socket.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def _write_private(path: Path, text: str) -> None:
    """Atomically, 0600 from the start (mkstemp), synced before it replaces the old file."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp).replace(path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise CryptoError("Cannot write GnuPG's agent configuration in the profile.") from exc
