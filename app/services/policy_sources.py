"""The places IT puts managed policy on each platform, and the order in which they count (DESIGN.md §10).

Precedence, highest first; keys are merged one by one, so a lower place may still set what a higher one leaves out:
- `SALUS_POLICY_FILE` set: that file alone, and it must exist. It stands in for the platform places, so that tests
  and scripted deployments never depend on the host, but only where IT has installed no managed policy: any user
  can set an environment variable, so where a platform place holds policy, naming another file stops start-up
  instead of quietly replacing what IT enforces.
- Windows: the registry key `HKLM\\SOFTWARE\\Policies\\Salus` (Group Policy, written by the ADMX template), then
  `%ProgramData%\\Salus\\policy.json`. Group Policy wins because it is what the domain enforces and re-applies.
- macOS: the computer's managed preferences `/Library/Managed Preferences/org.salus.client.plist` (a device
  configuration profile), then `/Library/Application Support/Salus/policy.json`, then this user's managed
  preferences `/Library/Managed Preferences/<user>/org.salus.client.plist`. A user may install a user profile
  without an administrator, so it only fills keys that no machine-wide place sets: it can lock a value, never
  overrule IT.
- Linux and others: `/etc/salus/policy.json`.
A place that does not exist is skipped; one that exists but cannot be read or is invalid stops start-up. On macOS
and Linux so does a policy file that someone other than root owns or that group or others may write.
"""

from __future__ import annotations

import json
import os
import plistlib
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from app.core.errors import PolicyError
from app.core.managed_policy import PolicyLayer, RegistryValue, registry_document
from app.core.settings import validate

POLICY_FILE_VARIABLE = "SALUS_POLICY_FILE"
REGISTRY_KEY = r"SOFTWARE\Policies\Salus"
PREFERENCES_DOMAIN = "org.salus.client"

Reader = Callable[[], PolicyLayer | None]


@dataclass(frozen=True, slots=True)
class Places:
    """Where the platforms keep policy; tests pass directories of their own so they never read the host's."""

    managed_preferences: Path = Path("/Library/Managed Preferences")
    macos_file: Path = Path("/Library/Application Support/Salus/policy.json")
    linux_file: Path = Path("/etc/salus/policy.json")
    registry_key: str = REGISTRY_KEY
    admin_uid: int = 0  # who alone may own a policy file on macOS and Linux (root)


PLATFORM_PLACES = Places()


def read_json_file(path: Path) -> PolicyLayer | None:
    """A JSON policy file, or None when there is none."""
    try:
        # utf-8-sig: Windows Notepad may start the file with a byte-order mark, which is not a mistake in the policy.
        text = path.read_text("utf-8-sig")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"The policy file {path} cannot be read: {exc}") from exc
    origin = f"policy {path}"
    try:
        document = json.loads(text, object_pairs_hook=lambda pairs: _no_repeated_keys(pairs, origin))
    except json.JSONDecodeError as exc:
        raise PolicyError(f"The policy file {path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from exc
    return PolicyLayer(str(path), validate(document, origin=origin))


def _no_repeated_keys(pairs: list[tuple[str, Any]], origin: str) -> dict[str, Any]:
    # JSON parsers keep the last of two equal keys without a word; in a policy that is a value IT believes is in
    # force but is not, so it is refused like any other mistake.
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise PolicyError(f"{origin}: {key} is set twice.")
        document[key] = value
    return document


def read_plist(path: Path) -> PolicyLayer | None:
    """A managed-preferences plist (binary or XML; plistlib tells them apart), or None when there is none."""
    try:
        with path.open("rb") as stream:
            document: Any = plistlib.load(stream)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PolicyError(f"The managed preferences {path} cannot be read: {exc}") from exc
    except (plistlib.InvalidFileException, ValueError, ExpatError) as exc:
        raise PolicyError(f"The managed preferences {path} are not a valid property list ({exc}).") from exc
    return PolicyLayer(str(path), validate(document, origin=f"policy {path}"))


def managed_preferences_paths(base: Path, domain: str, user: str) -> tuple[Path, Path]:
    """The computer's and then the user's plist for `domain` under `base` (injectable for tests)."""
    return base / f"{domain}.plist", base / user / f"{domain}.plist"


def read_registry(key_path: str = REGISTRY_KEY) -> PolicyLayer | None:
    """The values under HKLM\\`key_path`, or None when the key does not exist (always None off Windows)."""
    if sys.platform == "win32":
        return _read_windows_registry(key_path)
    else:  # noqa: RET505  (the else keeps mypy's platform check from calling either branch unreachable)
        return None


if sys.platform == "win32":
    import winreg  # only exists on Windows

    def _read_windows_registry(key_path: str) -> PolicyLayer | None:
        origin = f"HKLM\\{key_path}"
        access = winreg.KEY_READ | winreg.KEY_WOW64_64KEY  # the 64-bit view, also from a 32-bit Python
        try:
            key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key_path, 0, access)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PolicyError(f"The policy registry key {origin} cannot be read: {exc}") from exc
        with key:
            count = winreg.QueryInfoKey(key)[1]
            values = [RegistryValue(*winreg.EnumValue(key, index)) for index in range(count)]
        return PolicyLayer(origin, registry_document(values, origin=f"policy {origin}"))


def platform_readers(
    platform: str, env: Mapping[str, str], user: str, places: Places = PLATFORM_PLACES
) -> list[Reader]:
    """The places to read on `platform`, highest precedence first."""
    managed = _managed_readers(platform, env, user, places)
    override = env.get(POLICY_FILE_VARIABLE)
    if override:
        return [lambda: _override(Path(override), managed)]
    return managed


def _managed_readers(platform: str, env: Mapping[str, str], user: str, places: Places) -> list[Reader]:
    if platform == "win32":
        program_data = Path(env.get("PROGRAMDATA", r"C:\ProgramData"))
        return [
            lambda: read_registry(places.registry_key),
            lambda: read_json_file(program_data / "Salus" / "policy.json"),
        ]
    if platform == "darwin":
        computer, per_user = managed_preferences_paths(places.managed_preferences, PREFERENCES_DOMAIN, user)
        return [
            lambda: read_plist(_protected(computer, places.admin_uid)),
            lambda: read_json_file(_protected(places.macos_file, places.admin_uid)),
            lambda: read_plist(_protected(per_user, places.admin_uid)),
        ]
    return [lambda: read_json_file(_protected(places.linux_file, places.admin_uid))]


def _protected(path: Path, admin_uid: int) -> Path:
    """`path`, once it is clear that only the administrator can change it (POSIX places only).

    A policy file that a user can rewrite is a policy that user can loosen; obeying it would look like enforcement
    and not be. So it stops start-up instead, saying how to fix it.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise PolicyError(f"The policy file {path} cannot be read: {exc}") from exc
    if info.st_uid != admin_uid:
        raise PolicyError(f"The policy file {path} must belong to root, not to user id {info.st_uid}.")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = stat.filemode(info.st_mode)
        raise PolicyError(f"The policy file {path} can be changed by other users ({mode}): run chmod go-w on it.")
    return path


def _override(path: Path, managed: list[Reader]) -> PolicyLayer:
    for read in managed:
        if (layer := read()) is not None:
            raise PolicyError(
                f"{POLICY_FILE_VARIABLE} names {path}, but your organisation's policy at {layer.origin} is in force "
                f"and cannot be replaced; unset {POLICY_FILE_VARIABLE}."
            )
    return _required(path)


def _required(path: Path) -> PolicyLayer:
    layer = read_json_file(path)
    if layer is None:
        raise PolicyError(f"The policy file {path} named by {POLICY_FILE_VARIABLE} does not exist.")
    return layer


def os_user() -> str:
    """The account name from the OS, not from $USER, which the user could point at someone else's preferences."""
    if sys.platform == "win32":
        return os.environ.get("USERNAME", "")
    else:  # noqa: RET505  (as in read_registry)
        import pwd  # POSIX only

        return pwd.getpwuid(os.getuid()).pw_name
