"""`salus` and `salus --demo` open the window; without a display they fall back to text, and the headless
commands never load Qt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import cli

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    drop = ("SALUS_", "QT_QPA", "DISPLAY", "WAYLAND_DISPLAY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path), **extra}


def test_headless_commands_never_import_qt(tmp_path: Path) -> None:
    code = "import sys, app.cli; app.cli.main(['--version']); print('PySide6' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(tmp_path), capture_output=True, text=True)
    assert done.stdout.strip().endswith("False"), done.stderr


def test_without_a_display_salus_says_so_and_prints_its_usage(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app"], cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "no display is available" in done.stderr
    assert "usage: salus" in done.stdout


def test_without_a_display_the_demo_falls_back_to_text(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "--demo"], cwd=REPO, env=_env(tmp_path), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Demo profile:" in done.stdout and "300 messages" in done.stdout


def test_an_offscreen_qt_platform_counts_as_no_display(tmp_path: Path) -> None:
    env = _env(tmp_path, QT_QPA_PLATFORM="offscreen", DISPLAY=":0")
    done = subprocess.run([sys.executable, "-m", "app"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "'offscreen', which shows nothing" in done.stderr


def test_with_a_display_salus_opens_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[object, bool]] = []
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("SALUS_PROFILE", "/nowhere/profile")
    from app.ui import app as gui

    def fake_run(*, profile: Path | None, demo: bool, settings: object, exit_when_ready: bool = False) -> int:
        opened.append((profile, demo))
        return 0

    monkeypatch.setattr(gui, "run", fake_run)
    assert cli.main([]) == 0
    assert cli.main(["--demo"]) == 0
    assert opened == [(Path("/nowhere/profile"), False), (Path("/nowhere/profile"), True)]
