"""Help → About and `salus --version` show the one version in pyproject.toml; `--exit-when-ready` lets the
installers' smoke test start the real window offscreen and get an answer."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from PySide6.QtCore import qVersion
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from app.ui.windows.about import AboutDialog
from app.ui.windows.main_window import MainWindow

REPO = Path(__file__).resolve().parents[2]
PYPROJECT_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["version"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    drop = ("SALUS_", "QT_QPA", "DISPLAY", "WAYLAND_DISPLAY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path), **extra}


def _salus(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=REPO, env=_env(tmp_path, **extra), capture_output=True, text=True,
        timeout=180, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def _open_about(window: MainWindow, qtbot: QtBot) -> AboutDialog:
    window.about_action.trigger()
    qtbot.waitUntil(lambda: bool(window.findChildren(AboutDialog)), timeout=5_000)
    dialog = window.findChildren(AboutDialog)[0]
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    return dialog


def test_about_box_shows_the_pyproject_version_qt_and_the_open_profile(demo_window: MainWindow, qtbot: QtBot) -> None:
    dialog = _open_about(demo_window, qtbot)
    fields = {name: label.text() for name, label in dialog.fields.items()}
    assert fields["Version"] == PYPROJECT_VERSION
    assert fields["Licence"] == "MIT"
    assert fields["Qt"].startswith(qVersion())
    assert fields["Python"] == ".".join(map(str, sys.version_info[:3]))
    assert fields["Profile"] == str(demo_window.controller.reader.profile_dir)
    dialog.close()


def test_about_box_names_the_managed_policy_in_force_and_where_it_is_read(
    demo_window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text("{}", "utf-8")
    monkeypatch.setenv("SALUS_POLICY_FILE", str(policy))
    dialog = _open_about(demo_window, qtbot)
    assert dialog.fields["Managed policy"].text() == str(policy)
    assert dialog.fields["Policy places"].text() == "/etc/salus/policy.json"  # this test runs on Linux
    with qtbot.waitSignal(dialog.destroyed, timeout=5_000):  # closed About boxes are deleted, not hidden
        dialog.close()
    monkeypatch.delenv("SALUS_POLICY_FILE")
    dialog = _open_about(demo_window, qtbot)
    assert dialog.fields["Managed policy"].text() == "none: defaults and your own settings apply"
    dialog.close()


def test_about_action_is_in_the_help_menu_with_a_shortcut_and_a_description(demo_window: MainWindow) -> None:
    action = demo_window.about_action
    menus = {menu.title(): menu for menu in demo_window.menuBar().findChildren(QMenu)}
    assert action in menus["&Help"].actions()
    assert action.shortcut() == QKeySequence("F1")
    assert action.whatsThis() and action.toolTip().endswith("(F1)")


def test_version_command_prints_the_pyproject_version(tmp_path: Path) -> None:
    done = _salus(tmp_path, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"salus {PYPROJECT_VERSION}\n"


def test_exit_when_ready_prints_ready_once_the_demo_window_lists_its_folders(tmp_path: Path) -> None:
    done = _salus(tmp_path, "--demo", "--exit-when-ready", QT_QPA_PLATFORM="offscreen")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ready\n"
    assert (tmp_path / "data" / "salus" / "demo" / "vault.db").is_file()  # the window really opened the demo


def test_exit_when_ready_reports_a_demo_that_cannot_open_and_exits_1(tmp_path: Path) -> None:
    demo = tmp_path / "data" / "salus" / "demo"
    demo.mkdir(parents=True)
    (demo / "profile.json").write_text("not a profile header", "utf-8")
    done = _salus(tmp_path, "--demo", "--exit-when-ready", QT_QPA_PLATFORM="offscreen")
    assert done.returncode == 1
    assert "ready" not in done.stdout
    assert "Salus cannot start" in done.stderr


def test_exit_when_ready_without_the_demo_is_a_usage_error(tmp_path: Path) -> None:
    done = _salus(tmp_path, "--exit-when-ready", QT_QPA_PLATFORM="offscreen")
    assert done.returncode == 2
    assert "only with --demo" in done.stderr
