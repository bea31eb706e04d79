"""Creating, unlocking and closing a profile (DESIGN.md §3).

Rules:
- Creating a profile makes a fresh data key, wraps it under the passphrase, creates the vault and records the
  creation in the audit chain. The directory must be new or empty: Salus never mixes its files with others.
- Unlocking with a wrong passphrase changes nothing but the failure record in the header, which is moved into
  the audit chain (and cleared) at the next successful unlock.
- The data key lives in the `Session` only; closing the session drops every reference Salus holds to it.
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.audit.events import AuditEvent
from app.audit.log import AuditLog, Forwarder
from app.core.clock import utc_now
from app.core.errors import ProfileError, UnlockError
from app.crypto import keyring_store
from app.crypto.keys import WrappedKey, derive_subkey, new_data_key, unwrap_data_key, wrap_data_key
from app.services import policy_audit, second_factor
from app.services.audit_forward import policy_forwarder
from app.services.policy import current_settings
from app.store.files import ensure_private_dir
from app.store.header import ProfileHeader, read_header, vault_path, write_header
from app.store.vault import Vault


@dataclass
class Session:
    """An unlocked profile: the open vault and its audit log."""

    profile_dir: Path
    profile_id: str
    vault: Vault
    audit: AuditLog
    # Protects the profile's own OpenPGP secret key inside its GnuPG home; derived from the data key, so the
    # secret key is usable only while the vault is unlocked.
    openpgp_passphrase: str

    def close(self) -> None:
        try:
            self.audit.close()  # forwards entries committed in others' transactions before the vault goes
        finally:
            self.vault.close()


def create_profile(profile_dir: Path, passphrase: str, *, use_keyring: bool = False) -> Session:
    _check_new_directory(profile_dir)
    if not passphrase:
        raise ProfileError("A passphrase is required to protect the profile.")
    ensure_private_dir(profile_dir)
    now = utc_now()
    profile_id = str(uuid.uuid4())
    # Built before anything is written: a policy asking for a forwarding that cannot work stops here, cleanly.
    forward = policy_forwarder(profile_id, current_settings()[1])
    data_key = new_data_key()
    if use_keyring:
        keyring_store.store_data_key(profile_id, data_key)
    wrapped = wrap_data_key(data_key, passphrase, profile_id)
    header = ProfileHeader(profile_id, now.isoformat(), wrapped.to_json(), keyring=use_keyring)
    vault = Vault.open(vault_path(profile_dir), data_key, create=True)
    session = _session(profile_dir, profile_id, vault, data_key, forward)
    session.audit.record(AuditEvent.PROFILE_CREATED, now, detail={"keyring": use_keyring})
    # The header goes last: a crash before this point leaves a directory that is not yet a profile.
    write_header(profile_dir, header)
    return session


def unlock(
    profile_dir: Path, passphrase: str | None, *, totp_code: str | None = None, enrolling: bool = False
) -> Session:
    """Opens the profile. The managed policy is read here, the one gate every unlock passes (the window, the
    lock screen, the CLI), so its second factor and audit forwarding cannot be skipped by any of them.
    `enrolling` lets a profile without an authenticator open only to enrol one (`salus profile totp enrol`)."""
    header = read_header(profile_dir)
    settings = current_settings()[1]
    data_key = _data_key(profile_dir, header, passphrase)
    forward = policy_forwarder(header.profile_id, settings)
    vault = Vault.open(vault_path(profile_dir), data_key)
    session = _session(profile_dir, header.profile_id, vault, data_key, forward)
    now = utc_now()
    try:
        step = second_factor.check_code(vault, session.audit, settings, totp_code, now, enrolling=enrolling)
    except BaseException:
        session.close()
        raise
    detail: dict[str, object] = {"method": "passphrase" if passphrase else "keyring"}
    if step is not None:
        detail["factor"] = "totp"
    with vault.transaction():
        for failed_at in header.unlock_failures:
            session.audit.record_in_transaction(AuditEvent.UNLOCK_FAILED, now, detail={"failed_at": failed_at})
        if step is not None:
            second_factor.remember_step(vault, step)
        session.audit.record_in_transaction(AuditEvent.UNLOCK_SUCCEEDED, now, detail=detail)
        policy_audit.record_if_changed(vault, session.audit, policy_audit.policy_of(settings), now)
    session.audit.forward_committed()
    if header.unlock_failures:
        write_header(profile_dir, header.without_failures())
    return session


def _data_key(profile_dir: Path, header: ProfileHeader, passphrase: str | None) -> bytes:
    if passphrase is None:
        stored = keyring_store.load_data_key(header.profile_id) if header.keyring else None
        if stored is None:
            raise UnlockError("A passphrase is required to unlock this profile.")
        return stored
    try:
        return unwrap_data_key(WrappedKey.from_json(header.wrapped_key), passphrase, header.profile_id)
    except UnlockError:
        write_header(profile_dir, header.with_failure(utc_now().isoformat()))
        raise


def _session(profile_dir: Path, profile_id: str, vault: Vault, data_key: bytes, forward: Forwarder | None) -> Session:
    audit = AuditLog(vault, derive_subkey(data_key, "audit-chain"), actor=_actor(), forward=forward)
    return Session(profile_dir, profile_id, vault, audit, derive_subkey(data_key, "openpgp-secret-key").hex())


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _check_new_directory(profile_dir: Path) -> None:
    if profile_dir.exists() and not profile_dir.is_dir():
        raise ProfileError(f"{profile_dir} exists and is not a directory.")
    if profile_dir.is_dir() and any(profile_dir.iterdir()):
        raise ProfileError(f"{profile_dir} is not empty; a new profile needs a new or empty directory.")
