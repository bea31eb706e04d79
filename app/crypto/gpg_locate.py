"""Which `gpg` executable Salus drives (python-gnupg needs a path, and finds nothing by itself).

Order, first hit wins:
1. `SALUS_GPG`, a path IT sets machine-wide. If it names no executable file that is an error, never a silent
   fall-back to some other gpg.
2. A GnuPG shipped inside the Salus installation: `<install dir>/gnupg/bin/gpg[.exe]` beside the frozen
   executable (docs/it-guide.md says how to bundle one).
3. `gpg` on PATH.
4. Where the platform's installers put it, because a program started from the macOS Finder or the Windows
   Start menu does not see the PATH a shell would: on Windows the install directory GnuPG records in the
   registry (Gpg4win writes `HKLM\\SOFTWARE\\GnuPG` "Install Directory"), then Program Files; on macOS Homebrew
   (Apple silicon, Intel), GPG Suite's MacGPG2 and the GnuPG for OS X installer.
When none exists the bare name `gpg` is returned, and the first use fails with the usual "GnuPG is not installed".
gpgconf is taken from the same directory as gpg (see openpgp_ops._sibling).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path, PureWindowsPath

from app.core.errors import CryptoError

ENV_VAR = "SALUS_GPG"

_MACOS_DIRS = (
    "/opt/homebrew/bin",  # Homebrew on Apple silicon
    "/usr/local/bin",  # Homebrew on Intel; the GnuPG for OS X installer links here too
    "/usr/local/MacGPG2/bin",  # GPG Suite
    "/usr/local/gnupg-2.4/bin",  # GnuPG for OS X (gnupg.org's macOS installer)
    "/usr/local/gnupg-2.2/bin",
)


def gpg_path(
    environ: Mapping[str, str] | None = None, *, platform: str | None = None, install_dir: Path | None = None
) -> str:
    """The gpg to use. `install_dir` is where Salus is installed (default: the frozen executable's directory,
    none when running from source)."""
    environ = os.environ if environ is None else environ
    platform = platform or sys.platform
    explicit = environ.get(ENV_VAR, "")
    if explicit:
        if not _is_executable(explicit):
            raise CryptoError(f"Cannot use OpenPGP: {ENV_VAR} names {explicit}, which is not an executable file.")
        return explicit
    name = "gpg.exe" if platform == "win32" else "gpg"
    install_dir = install_dir or _install_dir()
    if install_dir is not None and _is_executable(str(install_dir / "gnupg" / "bin" / name)):
        return str(install_dir / "gnupg" / "bin" / name)
    on_path = shutil.which(name, path=environ.get("PATH", os.defpath))
    if on_path:
        return on_path
    for candidate in well_known(platform, environ, _registry_install_dir() if platform == "win32" else None):
        if _is_executable(candidate):
            return candidate
    return name


def well_known(platform: str, environ: Mapping[str, str], registry_dir: str | None) -> list[str]:
    """Where each platform's GnuPG installers put gpg, most specific first (not checked for existence)."""
    if platform == "win32":
        roots = [registry_dir] if registry_dir else []
        for variable, default in (
            ("ProgramFiles(x86)", r"C:\Program Files (x86)"),
            ("ProgramFiles", r"C:\Program Files"),
        ):
            roots.append(str(PureWindowsPath(environ.get(variable, default)) / "GnuPG"))
        return [str(PureWindowsPath(root) / "bin" / "gpg.exe") for root in roots]
    if platform == "darwin":
        return [f"{directory}/gpg" for directory in _MACOS_DIRS]
    return ["/usr/bin/gpg", "/usr/local/bin/gpg"]


def _install_dir() -> Path | None:
    return Path(sys.executable).resolve().parent if getattr(sys, "frozen", False) else None


def _is_executable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


if sys.platform == "win32":  # pragma: no cover - Windows only; exercised by the Windows installer job
    import winreg

    def _registry_install_dir() -> str | None:
        """Gpg4win (and GnuPG's own Windows installer) record where they installed under HKLM\\SOFTWARE\\GnuPG,
        in the 32-bit registry view because they are 32-bit installers; the 64-bit view is checked too."""
        for view in (winreg.KEY_WOW64_32KEY, winreg.KEY_WOW64_64KEY):
            try:
                with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\GnuPG", 0, winreg.KEY_READ | view) as key:
                    value, _kind = winreg.QueryValueEx(key, "Install Directory")
            except OSError:
                continue
            if isinstance(value, str) and value:
                return value
        return None

else:

    def _registry_install_dir() -> str | None:
        return None
