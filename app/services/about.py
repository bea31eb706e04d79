"""What `salus --version` and the About box say: the version, and where this installation keeps things.

Rules:
- The version has one home, `[project] version` in pyproject.toml. It is read from the installed distribution's
  metadata (`importlib.metadata`), which PyInstaller bundles too (`copy_metadata` in packaging/salus.spec); a
  source checkout that was never installed reads pyproject.toml itself.
- Nothing here opens a profile; the About box shows paths, never their contents.
"""

from __future__ import annotations

import platform
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from app.services.policy import policy_path

DISTRIBUTION = "salus"
LICENCE = "MIT"
_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return _version_from_pyproject()


def _version_from_pyproject() -> str:
    try:
        project = tomllib.loads(_PYPROJECT.read_text("utf-8"))["project"]
    except (OSError, tomllib.TOMLDecodeError, KeyError):
        return "unknown"
    return str(project.get("version", "unknown"))


@dataclass(frozen=True, slots=True)
class AboutFacts:
    version: str
    licence: str
    python: str
    profile: Path | None  # the open profile, when there is one
    policy: Path | None  # where managed policy is read from on this platform
    policy_present: bool


def about_facts(profile: Path | None) -> AboutFacts:
    path = policy_path()
    return AboutFacts(
        version=version(),
        licence=LICENCE,
        python=platform.python_version(),
        profile=profile,
        policy=path,
        policy_present=path is not None and path.is_file(),
    )
