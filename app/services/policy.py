"""Loading the managed policy (DESIGN.md §10). The schema and default < user < policy live in `app.core.settings`;
the places IT uses on each platform, and their order, in `app.services.policy_sources`."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from os import environ
from pathlib import Path
from typing import Any

from app.core.errors import PolicyError
from app.core.managed_policy import ManagedPolicy, merge
from app.core.settings import Settings, effective
from app.services.policy_sources import PLATFORM_PLACES, Places, os_user, platform_readers


def load_policy(
    platform: str = sys.platform,
    env: Mapping[str, str] = environ,
    user: str | None = None,
    places: Places = PLATFORM_PLACES,
) -> ManagedPolicy:
    """Every managed place on this platform, merged key by key (see `app.services.policy_sources`)."""
    readers = platform_readers(platform, env, user if user is not None else os_user(), places)
    return merge([layer for read in readers if (layer := read()) is not None])


def read_policy_file(path: str, what: str) -> str:
    """The text of a file a policy key names (a CA bundle, the portal's upload key); empty when unset."""
    if not path:
        return ""
    try:
        return Path(path).read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"The {what} {path} named by the policy cannot be read: {exc}") from exc


def current_settings(user: dict[str, Any] | None = None) -> tuple[str | None, Settings]:
    """The highest-precedence policy place found (or None), and the effective settings with their origins."""
    policy = load_policy()
    return policy.primary, effective(policy.values, user or {}, policy_origins=policy.origins)
