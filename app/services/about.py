"""What `salus --version` and the About box say: the version, and where this installation keeps things.

Rules:
- The version has one home, `[project] version` in pyproject.toml. It is read from the installed distribution's
  metadata (`importlib.metadata`), which PyInstaller bundles too (`copy_metadata` in packaging/salus.spec); a
  source checkout that was never installed reads pyproject.toml itself.
- Nothing here opens a profile; the About box shows paths, never their contents.
"""

from __future__ import annotations

import platform
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from app.core.errors import AppError
from app.services.policy import current_settings

DISTRIBUTION = "salus"
LICENCE = "MIT"
_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# Where IT puts managed policy (DESIGN.md §10), as a person reads it out on the phone. Display text only: which
# places are read, and in which order, is app.services.policy's business.
_POLICY_PLACES = {
    "win32": r"HKLM\SOFTWARE\Policies\Salus (Group Policy) or %ProgramData%\Salus\policy.json",
    "darwin": "managed preferences org.salus.client or /Library/Application Support/Salus/policy.json",
}
_POLICY_PLACES_ELSEWHERE = "/etc/salus/policy.json"


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
    policy_in_force: str  # the managed policy place that applies, or why none does
    policy_places: str  # where IT may put managed policy on this platform


def about_facts(profile: Path | None) -> AboutFacts:
    return AboutFacts(
        version=version(),
        licence=LICENCE,
        python=platform.python_version(),
        profile=profile,
        policy_in_force=_policy_in_force(),
        policy_places=_POLICY_PLACES.get(sys.platform, _POLICY_PLACES_ELSEWHERE),
    )


def _policy_in_force() -> str:
    try:
        primary = current_settings()[0]
    except AppError as exc:  # the window started, so this is a policy changed or removed since
        return str(exc)
    return str(primary) if primary is not None else "none: defaults and your own settings apply"
