"""Finding and reading the managed policy file (DESIGN.md §10). The schema and precedence live in
`app.core.settings`; this module only knows where IT puts the file on each platform."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from app.core.errors import PolicyError
from app.core.settings import Settings, effective, validate


def policy_path() -> Path | None:
    """`SALUS_POLICY_FILE` for tests and scripted deployments, else the platform's managed location."""
    override = os.environ.get("SALUS_POLICY_FILE")
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Salus" / "policy.json"
    if sys.platform == "darwin":
        return Path("/Library/Application Support/Salus/policy.json")
    return Path("/etc/salus/policy.json")


def load_policy() -> tuple[Path | None, dict[str, Any]]:
    path = policy_path()
    if path is None or not path.exists():
        if os.environ.get("SALUS_POLICY_FILE"):
            raise PolicyError(f"The policy file {path} named by SALUS_POLICY_FILE does not exist.")
        return None, {}
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"The policy file {path} cannot be read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise PolicyError(f"The policy file {path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from exc
    return path, validate(document, origin=f"policy {path}")


def read_policy_file(path: str, what: str) -> str:
    """The text of a file a policy key names (a CA bundle, the portal's upload key); empty when unset."""
    if not path:
        return ""
    try:
        return Path(path).read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"The {what} {path} named by the policy cannot be read: {exc}") from exc


def current_settings(user: dict[str, Any] | None = None) -> tuple[Path | None, Settings]:
    path, policy = load_policy()
    return path, effective(policy, user or {})
