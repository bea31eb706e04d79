"""Debian's Chromium, driven by Playwright, trusting the test CA through its own NSS database.

The browser verifies the portal's certificate for real (no --ignore-certificate-errors), so the page runs in a
secure context, as WebCrypto requires.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tests.support.pki import TestCA

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def home_trusting(home: Path, ca: TestCA) -> Path:
    """A home directory whose NSS database trusts the test CA."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "Salus Test CA", "-t", "C,,", "-i", str(ca.cert_file)],
        check=True,
    )
    return home


@contextmanager
def chromium(home: Path, ca: TestCA) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, env={**os.environ, "HOME": str(home_trusting(home, ca))}
        )
        try:
            yield launched
        finally:
            launched.close()
