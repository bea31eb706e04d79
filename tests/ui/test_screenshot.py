"""The main window on a real X server (Xvfb), saved as the picture the README shows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "screenshot-main-window.png"


@pytest.fixture
def xvfb() -> Iterator[str]:
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb is not installed (scripts/bootstrap installs it)")
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display itself and writes its number once it accepts connections.
    server = subprocess.Popen(
        [binary, "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write)
    with os.fdopen(read) as pipe:
        display = pipe.readline().strip()
    try:
        assert display, "Xvfb did not start"
        yield f":{display}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_main_window_screenshot_under_xvfb(xvfb: str, tmp_path: Path) -> None:
    out = tmp_path / "main-window.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALUS_", "QT_QPA", "WAYLAND"))}
    env.update(DISPLAY=xvfb, QT_QPA_PLATFORM="xcb", XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "tests.ui.screenshot", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1440, 860)
    colours = {image.pixel(x, y) for x in range(0, 1440, 37) for y in range(0, 860, 23)}
    assert len(colours) > 20, "the picture is blank"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(out, SCREENSHOT)
