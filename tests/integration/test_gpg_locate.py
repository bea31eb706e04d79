"""Which gpg Salus runs: SALUS_GPG, a GnuPG shipped in the install directory, PATH, then where each platform's
installers put it. The end-to-end tests run the real command line with a gpg wrapper that logs its calls."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from app.core.errors import CryptoError
from app.crypto.gpg_locate import gpg_path, well_known
from tests.support.salus_cli import Salus

REAL_GPG = shutil.which("gpg") or "/usr/bin/gpg"


def logging_gpg(directory: Path) -> tuple[Path, Path]:
    """A gpg that appends "called" to a log (never its arguments or input) and runs the real one."""
    directory.mkdir(parents=True)
    log = directory / "calls.log"
    wrapper = directory / "gpg"
    wrapper.write_text(f'#!/bin/sh\necho called >> "{log}"\nexec "{REAL_GPG}" "$@"\n', "utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    os.symlink(Path(REAL_GPG).with_name("gpgconf"), directory / "gpgconf")
    return wrapper, log


@pytest.fixture(scope="module")
def public_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import gnupg

    home = tmp_path_factory.mktemp("keygen")
    gpg = gnupg.GPG(gnupghome=str(home))
    key = gpg.gen_key(gpg.gen_key_input(name_email="locate@example.org", key_type="EDDSA", key_curve="ed25519",
                                        no_protection=True))  # fmt: skip
    path = home / "key.asc"
    path.write_text(gpg.export_keys(key.fingerprint), "ascii")
    return path


def test_salus_gpg_is_the_gpg_the_command_line_runs(tmp_path: Path, public_key: Path) -> None:
    wrapper, log = logging_gpg(tmp_path / "tools")
    salus = Salus(tmp_path / "profile", env={"SALUS_GPG": str(wrapper), "PATH": str(tmp_path / "empty")})
    salus.ok("profile", "create")
    salus.ok("keys", "import", str(public_key))
    assert log.read_text("utf-8").count("called") >= 1
    listed = salus.json("keys", "list")["keys"]
    assert [k["addresses"] for k in listed] == [["locate@example.org"]]


def test_salus_gpg_naming_no_executable_is_a_clear_error_and_imports_nothing(tmp_path: Path, public_key: Path) -> None:
    salus = Salus(tmp_path / "profile")
    salus.ok("profile", "create")
    result = salus.run("keys", "import", str(public_key), extra_env={"SALUS_GPG": str(tmp_path / "no-gpg")})
    assert result.code == 1
    assert f"SALUS_GPG names {tmp_path / 'no-gpg'}, which is not an executable file" in result.stderr
    assert salus.json("keys", "list")["keys"] == []


def test_gpg_shipped_in_the_install_directory_comes_before_path(tmp_path: Path) -> None:
    wrapper, _ = logging_gpg(tmp_path / "Salus" / "gnupg" / "bin")
    assert gpg_path({"PATH": str(Path(REAL_GPG).parent)}, platform="linux", install_dir=tmp_path / "Salus") == str(
        wrapper
    )


def test_gpg_on_path_is_used_when_nothing_is_named(tmp_path: Path) -> None:
    wrapper, _ = logging_gpg(tmp_path / "bin")
    assert gpg_path({"PATH": f"{tmp_path / 'nothing'}{os.pathsep}{tmp_path / 'bin'}"}, platform="linux") == str(wrapper)


def test_without_gpg_on_path_the_install_locations_are_searched() -> None:
    found = gpg_path({"PATH": ""}, platform="linux")
    assert found in ("/usr/bin/gpg", "/usr/local/bin/gpg") and Path(found).is_file()


def test_no_gpg_anywhere_leaves_the_bare_name_for_a_clear_error_at_first_use(tmp_path: Path) -> None:
    # None of the macOS locations exists on this Linux machine; PATH is empty.
    assert not any(Path(p).exists() for p in well_known("darwin", {}, None))
    assert gpg_path({"PATH": str(tmp_path)}, platform="darwin") == "gpg"


def test_windows_prefers_the_registry_install_directory_then_program_files() -> None:
    environ = {"ProgramFiles(x86)": r"D:\Apps (x86)", "ProgramFiles": r"D:\Apps"}
    assert well_known("win32", environ, r"E:\Gpg4win\GnuPG") == [
        r"E:\Gpg4win\GnuPG\bin\gpg.exe",
        r"D:\Apps (x86)\GnuPG\bin\gpg.exe",
        r"D:\Apps\GnuPG\bin\gpg.exe",
    ]
    assert well_known("win32", {}, None) == [
        r"C:\Program Files (x86)\GnuPG\bin\gpg.exe",
        r"C:\Program Files\GnuPG\bin\gpg.exe",
    ]


def test_macos_looks_where_homebrew_gpg_suite_and_gnupg_for_os_x_install() -> None:
    assert well_known("darwin", {}, None) == [
        "/opt/homebrew/bin/gpg",
        "/usr/local/bin/gpg",
        "/usr/local/MacGPG2/bin/gpg",
        "/usr/local/gnupg-2.4/bin/gpg",
        "/usr/local/gnupg-2.2/bin/gpg",
    ]


def test_salus_gpg_beats_a_gpg_on_path(tmp_path: Path) -> None:
    named, _ = logging_gpg(tmp_path / "named")
    with pytest.raises(CryptoError):
        gpg_path({"SALUS_GPG": str(tmp_path / "named" / "calls.log"), "PATH": str(Path(REAL_GPG).parent)})
    assert gpg_path({"SALUS_GPG": str(named), "PATH": str(Path(REAL_GPG).parent)}) == str(named)
