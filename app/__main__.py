"""`python -m app`: the same entry point as the `salus` command, and the entry script of the frozen build
(packaging/salus.spec)."""

from __future__ import annotations

import multiprocessing
import sys

from app.cli import main

if __name__ == "__main__":
    # The engine parses big syncs in a "spawn" worker process. In a PyInstaller build that worker is this same
    # executable started again, and freeze_support() turns it into the worker instead of a second Salus.
    # Outside a frozen build it does nothing.
    multiprocessing.freeze_support()
    sys.exit(main())
