"""mailto: links from received mail, reduced to what cannot hurt before another program sees them (RFC 6068).

"Mailto: Me Your Secrets" (Müller et al., 2020) showed mail programs that honour `attach=`/`attachment=` (and
similar) parameters of a mailto: link: a click in a hostile message opens a draft with the victim's own files
(even ~/.ssh/id_rsa or a mounted share) attached, and a busy user sends it. Salus hands mailto: links to the
system's mail program, which may be one of those, so it passes on only the fields RFC 6068 §2 names as safe
enough to prefill: the addresses, Cc, the subject and the body. Everything else (attach, attachment, Bcc,
in-reply-to, any X- field) is dropped, and the caller is told which names were dropped.

Pure: no I/O, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

__all__ = ["SafeMailto", "safe_mailto"]

# RFC 6068 §6 warns that other header fields can be used to send mail the user did not mean to; Bcc hides a
# recipient from the user's view in some programs, so it goes too.
_KEPT = ("to", "cc", "subject", "body")
_MAX_CHARS = 8000  # far beyond any honest link, and keeps a hostile one from flooding the confirmation dialog


@dataclass(frozen=True, slots=True)
class SafeMailto:
    url: str  # the mailto: URL to hand on, with only the kept fields, percent-encoded again
    dropped: tuple[str, ...]  # lower-case field names that were removed, in order of first appearance


def safe_mailto(url: str) -> SafeMailto | None:
    """The link with only To, Cc, Subject and Body, or None when `url` is not a usable mailto: URL."""
    scheme, colon, rest = url.partition(":")
    if not colon or scheme.lower() != "mailto" or len(url) > _MAX_CHARS:
        return None
    path, _, query = rest.partition("?")
    kept: list[tuple[str, str]] = []
    dropped: list[str] = []
    for pair in filter(None, query.split("#", 1)[0].split("&")):
        name, _, value = pair.partition("=")
        # RFC 6068 §5: "+" is not a space in mailto: URLs, so unquote (not unquote_plus); names may be
        # percent-encoded ("%61ttach"), so they are compared decoded.
        key, value = unquote(name).strip().lower(), unquote(value)
        if key in _KEPT:
            kept.append((key, value))
        elif key not in dropped:
            dropped.append(key)
    addresses = unquote(path)
    if not addresses and not any(key == "to" for key, _ in kept):
        return None
    fields = "&".join(f"{key}={quote(value, safe='@')}" for key, value in kept)
    target = "mailto:" + quote(addresses, safe="@,+") + (f"?{fields}" if fields else "")
    return SafeMailto(target, tuple(dropped))
