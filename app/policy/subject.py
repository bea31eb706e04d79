"""Escalation by subject tag (DESIGN §5): find the policy's tags and remove them before sending.

Rules this module keeps:
- Tags match case-insensitively, anywhere in the subject; the longest tag wins where tags overlap.
- Whitespace is tidied only when a tag was removed: an untagged subject comes back exactly as given.
- The subject is already decoded (RFC 2047 encoded-words are the MIME layer's job).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WHITESPACE = re.compile(r"\s+")


def _tag_pattern(tags: Iterable[str]) -> re.Pattern[str] | None:
    unique = sorted({tag for tag in tags if tag.strip()}, key=lambda tag: (-len(tag), tag))
    if not unique:
        return None
    return re.compile("|".join(re.escape(tag) for tag in unique), re.IGNORECASE)


def strip_subject_tags(subject: str, tags: Iterable[str]) -> tuple[str, bool]:
    """Return the subject without any of `tags`, and whether one was found (so escalation applies)."""
    pattern = _tag_pattern(tags)
    if pattern is None:
        return subject, False
    stripped, count = pattern.subn(" ", subject)
    if not count:
        return subject, False
    return _WHITESPACE.sub(" ", stripped).strip(), True
