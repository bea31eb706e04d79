"""Look-alike domains: a recipient domain that is not a known contact's domain but reads like one.

Rules this module keeps:
- Pure: standard library only, no I/O. Punycode labels (`xn--`, RFC 3492) are decoded with the codec the
  standard library ships, so `xn--80ak6aa92e.com` is compared as the Cyrillic text it displays as.
- Two domains look alike when their *skeletons* are equal (Unicode TR #39 §4 idea, with a small table of the
  confusables that matter for Latin-script domains: Cyrillic and Greek homoglyphs, 0/o, 1/l, rn/m, vv/w), or
  when the skeletons differ by one edit (insert, delete, substitute, swap neighbours) and the name is long
  enough that one edit is a typo rather than another real name (`ibm.com` and `ibn.com` are both plausible).
- A domain is never a look-alike of itself, of its own subdomain, or of its parent: those are the same
  organisation.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

# Single characters that render like a Latin letter or digit in common fonts (subset of Unicode confusables.txt).
_CONFUSABLE_CHARS = {
    "а": "a", "с": "c", "е": "e", "о": "o", "р": "p", "х": "x", "у": "y", "і": "i", "ј": "j", "ѕ": "s",
    "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ı": "i", "ο": "o", "α": "a", "ν": "v",
    "τ": "t", "κ": "k", "ρ": "p", "ε": "e", "ι": "i",
    "0": "o", "1": "l", "|": "l",
}  # fmt: skip
# Letter groups that read as one letter at small sizes; applied after the single characters.
_CONFUSABLE_GROUPS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
# Below this many characters (without the top-level domain) one edit makes another plausible name.
MIN_LENGTH_FOR_EDITS = 6


def decode_idna(domain: str) -> str:
    """The domain as displayed: each `xn--` label decoded from Punycode; an invalid label stays as it is."""
    return ".".join(_decode_label(label) for label in domain.strip().rstrip(".").lower().split("."))


def _decode_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label


def skeleton(domain: str) -> str:
    """A form in which domains that look the same are equal."""
    text = unicodedata.normalize("NFKD", decode_idna(domain).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = "".join(_CONFUSABLE_CHARS.get(ch, ch) for ch in text)
    for group, letter in _CONFUSABLE_GROUPS:
        text = text.replace(group, letter)
    return text


def lookalike_of(domain: str, known: Iterable[str]) -> str | None:
    """The known domain `domain` imitates, or None (it is known itself, related, or unlike all of them)."""
    target = decode_idna(domain)
    candidates = sorted({decode_idna(k) for k in known if k})
    if target in candidates:
        return None
    mine = skeleton(target)
    others = [(other, skeleton(other)) for other in candidates if not _related(target, other)]
    # A domain that reads exactly like a known one is the stronger match; a one-edit typo comes second.
    for other, theirs in others:
        if mine == theirs:
            return other
    for other, theirs in others:
        if _long_enough(target, other) and _within_one_edit(mine, theirs):
            return other
    return None


def _related(first: str, second: str) -> bool:
    return first.endswith("." + second) or second.endswith("." + first)


def _long_enough(first: str, second: str) -> bool:
    return min(len(first.rpartition(".")[0]), len(second.rpartition(".")[0])) >= MIN_LENGTH_FOR_EDITS


def _within_one_edit(first: str, second: str) -> bool:
    """Optimal string alignment distance <= 1 (one insertion, deletion, substitution or adjacent swap)."""
    if abs(len(first) - len(second)) > 1:
        return False
    if len(first) == len(second):
        diffs = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
        if len(diffs) <= 1:
            return True
        i, j = diffs[0], diffs[-1]
        return len(diffs) == 2 and j == i + 1 and first[i] == second[j] and first[j] == second[i]
    shorter, longer = sorted((first, second), key=len)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))
