"""The profile's OpenPGP public keys, kept by GnuPG through python-gnupg (DESIGN.md §3, §5).

Rules this module keeps:
- Every call names its GnuPG home (`--homedir`): the profile's own, or a throwaway one. The user's global
  keyring (~/.gnupg, $GNUPGHOME) is never read or written.
- GnuPG never reaches the network: no keyserver, no automatic key location or retrieval, and no dirmngr.
  Keys come only from what the caller hands in (an import, WKD, Autocrypt).
- No gpg-agent is started (`--no-autostart`), so no pinentry ever appears and no secret key can be stored:
  importing a secret key stores its public part only.
- `gpg.conf` in the home is ignored (`--no-options`), so a file dropped there cannot switch a keyserver on.
- python-gnupg results are checked here and failures raised as CryptoError; nothing above this module sees
  a python-gnupg object. Error messages never quote a user ID or an address.
- Calls block; the engine runs them in an executor (DESIGN.md §2 rule 5).
- Which gpg runs is decided in one place, `app.crypto.gpg_locate` (SALUS_GPG, a bundled GnuPG, PATH, the
  platform's install locations).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import gnupg

from app.core.errors import CryptoError
from app.crypto.gpg_locate import gpg_path

# Options added to every gpg call. See the module rules for why each is here.
_SAFE_OPTIONS = (
    "--no-options",
    "--no-autostart",
    "--disable-dirmngr",
    "--no-auto-key-locate",
    "--no-auto-key-retrieve",
    "--no-auto-key-import",
    "--no-permission-warning",
)
# A v4 fingerprint is 40 hex digits (RFC 4880 §12.2), a v5/v6 one 64 (RFC 9580 §5.5.4).
_FINGERPRINT = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")
_COLON_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


class Validity(StrEnum):
    """How far GnuPG's trust model believes a key belongs to its user IDs (GnuPG doc/DETAILS, field 2)."""

    UNKNOWN = "unknown"
    UNDEFINED = "undefined"
    NEVER = "never"
    MARGINAL = "marginal"
    FULL = "full"
    ULTIMATE = "ultimate"
    REVOKED = "revoked"
    EXPIRED = "expired"
    INVALID = "invalid"


_VALIDITY = {
    "o": Validity.UNKNOWN,
    "-": Validity.UNKNOWN,
    "": Validity.UNKNOWN,
    "q": Validity.UNDEFINED,
    "n": Validity.NEVER,
    "m": Validity.MARGINAL,
    "f": Validity.FULL,
    "u": Validity.ULTIMATE,
    "r": Validity.REVOKED,
    "e": Validity.EXPIRED,
    "i": Validity.INVALID,
    "d": Validity.INVALID,
}


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One public key as GnuPG sees it now.

    `user_ids` lists every user ID; `emails` only the addresses of user IDs that were not revoked or
    expired on their own. `can_encrypt` means GnuPG has a usable (valid, unexpired, unrevoked)
    encryption-capable key or subkey (doc/DETAILS field 12, upper-case "E").
    """

    fingerprint: str
    user_ids: tuple[str, ...]
    emails: tuple[str, ...]
    created: datetime
    expires: datetime | None
    revoked: bool
    expired: bool
    can_encrypt: bool
    validity: Validity

    def matches(self, address: str) -> bool:
        """Whether a usable user ID carries `address`: the local part exactly, the domain in any case."""
        return any(same_address(email, address) for email in self.emails)


class OpenPgpStore:
    """The OpenPGP public keys of one profile, in one GnuPG home directory."""

    def __init__(self, home: Path, *, gpg_binary: str | None = None) -> None:
        self.home = home
        self._gpg_binary = gpg_binary or gpg_path()
        _make_private_dir(home)
        self._gpg = _open_gpg(home, self._gpg_binary)

    def import_keys(self, data: bytes) -> tuple[str, ...]:
        """Import public keys (armored or binary); returns the fingerprints GnuPG accepted or already had."""
        return _import(self._gpg, data)

    def keys(self) -> tuple[KeyInfo, ...]:
        return _list_keys(self._gpg)

    def keys_for(self, address: str) -> tuple[KeyInfo, ...]:
        """Keys with a usable user ID for `address`, whatever their state: a caller shows a revoked or
        expired key as such rather than not at all."""
        return tuple(key for key in self.keys() if key.matches(address))

    def export(self, fingerprint: str, *, armor: bool = True) -> bytes:
        fpr = _checked_fingerprint(fingerprint)
        data = _export(self._gpg, [fpr], armor=armor)
        if not data:
            raise CryptoError("Cannot export the key: it is not in this profile's keyring.")
        return data

    def delete(self, fingerprint: str) -> None:
        fpr = _checked_fingerprint(fingerprint)
        result = self._gpg.delete_keys(fpr)
        if str(result) != "ok" or result.returncode != 0:
            raise CryptoError(f"Cannot delete the key: {_delete_problem(result)}.")

    def filter_key_for_address(self, data: bytes, address: str) -> bytes | None:
        """`filter_key_for_address`, with its scratch home inside the profile directory."""
        return filter_key_for_address(data, address, work_dir=self.home.parent, gpg_binary=self._gpg_binary)


def filter_key_for_address(
    data: bytes, address: str, *, work_dir: Path | None = None, gpg_binary: str | None = None
) -> bytes | None:
    """Only the keys in `data` that belong to `address`, cut down to that address, as binary OpenPGP.

    Used on key material from WKD (draft-koch-openpgp-webkey-service §3.1: "only user IDs that match") and
    Autocrypt, before anything reaches the profile's keyring. A key is kept when it is neither revoked nor
    expired and has a user ID for the address that is neither revoked nor expired itself; of that key only
    such user IDs are kept (GnuPG compares their address in any case), its unrevoked subkeys, and only
    self-signatures (`export-minimal`), so third-party signatures cannot bloat it. Returns None when no key
    qualifies; raises CryptoError when `data` holds no OpenPGP key at all.

    The work happens in a temporary GnuPG home (under `work_dir` if given) that is deleted afterwards.
    """
    expression = _uid_filter(address)
    gpg_binary = gpg_binary or gpg_path()
    with _scratch_home(work_dir) as home:
        gpg = _open_gpg(home, gpg_binary)
        _import(gpg, data)
        wanted = [key.fingerprint for key in _list_keys(gpg) if _qualifies(key, address)]
        if not wanted:
            return None
        exporter = _open_gpg(home, gpg_binary, ("--export-filter", expression, *_DROP_BAD_SUBKEYS))
        filtered = _export(exporter, wanted, armor=False, minimal=True)
    return filtered or None


def same_address(email: str, address: str) -> bool:
    """Local parts compare exactly (RFC 5321 §2.4 leaves their case to the receiving host); domains
    compare in any case, and a trailing root dot changes nothing."""
    local_a, at_a, domain_a = email.strip().rpartition("@")
    local_b, at_b, domain_b = address.strip().rpartition("@")
    if not (at_a and at_b and local_a and domain_a):
        return False
    return local_a == local_b and domain_a.rstrip(".").lower() == domain_b.rstrip(".").lower()


# GnuPG export filter (gpg(1) --export-filter; the expression grammar is in common/recsel.c). A revoked or
# expired subkey helps nobody and only tempts a careless encryptor.
_DROP_BAD_SUBKEYS = ("--export-filter", "drop-subkey=revoked -t || expired -t")


def _uid_filter(address: str) -> str:
    """Keep only the user IDs for `address` that are valid on their own. The "--" flag makes the address
    run to the end of the expression, so "&&" or "||" inside an address cannot add a condition."""
    if not address or re.search(r"[\x00-\x20\x7f]", address) or address.count("@") < 1:
        raise CryptoError("Cannot look for a key: the address is not a valid email address.")
    return f"keep-uid=revoked -f && expired -f && -- mbox = {address}"


def _qualifies(key: KeyInfo, address: str) -> bool:
    return not key.revoked and not key.expired and key.matches(address)


def _open_gpg(home: Path, gpg_binary: str, extra: tuple[str, ...] = ()) -> Any:
    try:
        return gnupg.GPG(gpgbinary=gpg_binary, gnupghome=str(home), options=[*_SAFE_OPTIONS, *extra])
    except (OSError, ValueError) as exc:
        raise CryptoError("Cannot use OpenPGP: GnuPG (gpg) is not installed or could not be started.") from exc


def _import(gpg: Any, data: bytes) -> tuple[str, ...]:
    result = gpg.import_keys(data)
    fingerprints = tuple(dict.fromkeys(fpr.upper() for fpr in result.fingerprints))
    if fingerprints:
        return fingerprints
    if not result.count:
        raise CryptoError("Cannot import the key: the data holds no OpenPGP key.")
    raise CryptoError("Cannot import the key: GnuPG rejected every key in it (damaged, or without a valid user ID).")


def _export(gpg: Any, fingerprints: list[str], *, armor: bool, minimal: bool = False) -> bytes:
    exported = gpg.export_keys(fingerprints, armor=armor, minimal=minimal)
    # python-gnupg returns text for armored output and bytes otherwise (its issue #49).
    return exported.encode("ascii") if isinstance(exported, str) else bytes(exported)


def _list_keys(gpg: Any) -> tuple[KeyInfo, ...]:
    result = gpg.list_keys()
    if result.returncode not in (0, None):
        raise CryptoError("Cannot list the profile's OpenPGP keys: GnuPG failed to read its keyring.")
    # python-gnupg's own parse keys user-ID details by the user ID's text across all keys; reading the
    # colon listing (GnuPG doc/DETAILS) directly keeps each user ID with its own key.
    return _parse_colon_listing(result.data)


def _parse_colon_listing(listing: bytes) -> tuple[KeyInfo, ...]:
    """KeyInfo for every `pub` record of `gpg --with-colons --fixed-list-mode --list-keys` output. Revocation
    and expiry are GnuPG's verdict at listing time."""
    keys: list[KeyInfo] = []
    current: _KeyBuilder | None = None
    for raw in listing.splitlines():
        fields = raw.split(b":")
        kind = fields[0]
        if kind == b"pub":
            if current is not None:
                keys.append(current.build())
            current = _KeyBuilder(fields)
        elif current is not None:
            current.add(kind, fields)
    if current is not None:
        keys.append(current.build())
    return tuple(keys)


class _KeyBuilder:
    """Collects one key's records: its `pub` line, the first `fpr` line after it, and its `uid` lines."""

    def __init__(self, pub: list[bytes]) -> None:
        self.validity = _field(pub, 1)
        self.created = _timestamp(_field(pub, 5))
        self.expires = _timestamp(_field(pub, 6))
        self.capabilities = _field(pub, 11)
        self.fingerprint = ""
        self.in_subkey = False
        self.uids: list[tuple[str, str]] = []

    def add(self, kind: bytes, fields: list[bytes]) -> None:
        if kind in (b"sub", b"ssb"):
            self.in_subkey = True
        elif kind == b"fpr" and not self.in_subkey and not self.fingerprint:
            self.fingerprint = _field(fields, 9).upper()
        elif kind == b"uid":
            self.uids.append((_field(fields, 1), _unescape(fields[9] if len(fields) > 9 else b"")))

    def build(self) -> KeyInfo:
        if self.created is None or not self.fingerprint:
            raise CryptoError("Cannot read GnuPG's key listing: a key lacks its fingerprint or creation date.")
        return KeyInfo(
            fingerprint=self.fingerprint,
            user_ids=tuple(text for _, text in self.uids),
            emails=self._usable_emails(),
            created=self.created,
            expires=self.expires,
            revoked=self.validity == "r",
            expired=self.validity == "e",
            can_encrypt="E" in self.capabilities and "D" not in self.capabilities,
            validity=_VALIDITY.get(self.validity, Validity.UNKNOWN),
        )

    def _usable_emails(self) -> tuple[str, ...]:
        emails = (_email(text) for validity, text in self.uids if self._uid_usable(validity))
        return tuple(dict.fromkeys(email for email in emails if email))

    def _uid_usable(self, uid_validity: str) -> bool:
        # GnuPG marks every user ID of a revoked or expired key "r" or "e" too; only a mark the key itself
        # does not carry says the user ID was revoked (or expired) on its own.
        return uid_validity not in ("r", "e") or uid_validity == self.validity


def _field(fields: list[bytes], index: int) -> str:
    return fields[index].decode("ascii", "replace") if index < len(fields) else ""


def _timestamp(value: str) -> datetime | None:
    """Seconds since the epoch (--fixed-list-mode), or an ISO 8601 basic timestamp; empty means none."""
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise CryptoError("Cannot read GnuPG's key listing: a date is malformed.") from exc


def _unescape(value: bytes) -> str:
    """User IDs are UTF-8 with ":" and control bytes written as \\xHH (doc/DETAILS, field 10)."""
    return _COLON_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), value).decode("utf-8", "replace")


def _email(user_id: str) -> str:
    """The address of a user ID: the last <...> part, or the whole user ID if it is a bare address."""
    text = user_id.strip()
    if "<" in text:
        inner = text[text.rfind("<") + 1 :]
        candidate = inner.partition(">")[0].strip() if ">" in inner else ""
    else:
        candidate = text
    if candidate.count("@") != 1 or any(ch.isspace() for ch in candidate):
        return ""
    local, _, domain = candidate.partition("@")
    return candidate if local and domain else ""


def _checked_fingerprint(fingerprint: str) -> str:
    """A full fingerprint only: a short ID or a name could select several keys or the wrong one."""
    cleaned = "".join(fingerprint.split()).upper()
    if not _FINGERPRINT.fullmatch(cleaned):
        raise CryptoError("Not a full OpenPGP fingerprint (40 or 64 hexadecimal digits).")
    return cleaned


def _delete_problem(result: Any) -> str:
    status = str(result)
    if status == "No such key":
        return "it is not in this profile's keyring"
    if status == "Must delete secret key first":
        return "the profile also holds its secret key"
    return "GnuPG refused"


def _make_private_dir(path: Path) -> None:
    """Create the home 0700; tighten an existing one, since GnuPG warns about (and we do not want) a
    home that other users can read."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)
    except OSError as exc:
        raise CryptoError("Cannot create the profile's OpenPGP directory.") from exc


@contextmanager
def _scratch_home(work_dir: Path | None) -> Iterator[Path]:
    """A temporary GnuPG home (mkdtemp makes it 0700), deleted on exit even if the work inside failed."""
    with tempfile.TemporaryDirectory(prefix="salus-gpg-", dir=work_dir, ignore_cleanup_errors=True) as name:
        yield Path(name)
