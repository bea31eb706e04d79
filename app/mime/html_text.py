"""Readable text from HTML mail, for search indexing and previews (never for display as HTML).

Rules of this module:
- The work is a few linear passes of C-speed regular expressions and `str.find`. The standard
  `html.parser` is not used: on CPython 3.11 it needs minutes for 200 KB of "<a <a <a" (it rescans
  incomplete tags) and about 1.5 ms for an ordinary 6 KB newsletter.
- Tag-matching patterns may only run where they cannot fail after a long scan: everything after
  the last ">" that starts a tag is cut off first, so each "<...>" pattern finds its ">".
- Content the reader never sees (script, style, title, template, noscript, comments) is dropped; an
  unclosed one hides the rest of the document, as it does in a browser.
"""

from __future__ import annotations

import html
import re

# Patterns are ASCII-only and their alternations factored by first letter: this keeps each "<"
# to a few comparisons, which makes the passes about three times faster than a plain list of names.
_FLAGS = re.IGNORECASE | re.ASCII
_HIDDEN_NAMES = ("script", "style", "title", "template", "noscript")
_HIDDEN_START = re.compile(r"<!--|<(s(?:cript|tyle)|t(?:itle|emplate)|noscript)(?=[\s/>])", _FLAGS)
_HIDDEN_END = {name: re.compile(f"</{name}", _FLAGS) for name in _HIDDEN_NAMES}
_TAG_START = re.compile(r"<[a-zA-Z/!?]")
# Paragraph-like elements are set apart by a blank line; the start of a line-like element (a row,
# a list item, a division, a break) only starts a new line.
_PARAGRAPH_NAMES = (
    r"a(?:ddress|rticle|side)|blockquote|center|d(?:etails|l)|f(?:ieldset|igcaption|igure|ooter|orm)"
    r"|h(?:[1-6r]|eader)|main|nav|ol|p(?:re)?|section|table|ul"
)
_PARAGRAPH_TAG = re.compile(rf"</?(?:{_PARAGRAPH_NAMES})(?=[\s/>])[^>]*>", _FLAGS)
_LINE_TAG = re.compile(r"<(?:br|d[dt]|div|li|tr)(?=[\s/>])[^>]*>", _FLAGS)
_CELL_TAG = re.compile(r"</?t[dh](?=[\s/>])[^>]*>", _FLAGS)
_ANY_TAG = re.compile(r"<[a-zA-Z/!?][^>]*>")
_SPACE_RUN = re.compile(" {2,}")
_BLANK_LINES = re.compile(r"\n *\n[ \n]*")


def html_to_text(markup: str) -> str:
    """Text of an HTML document: hidden parts dropped, blocks on their own lines, entities decoded."""
    markup = _cut_unclosed_tag(_drop_hidden(markup))
    markup = " ".join(markup.split())  # source line breaks and runs of spaces are one space in HTML
    markup = _LINE_TAG.sub("\n", _PARAGRAPH_TAG.sub("\n\n", markup))
    markup = _CELL_TAG.sub(" ", markup)
    text = html.unescape(_ANY_TAG.sub("", markup)).replace("\xa0", " ").replace("\t", " ")
    text = _SPACE_RUN.sub(" ", text).replace(" \n", "\n")
    return _BLANK_LINES.sub("\n\n", text).replace("\n ", "\n").strip()


def _drop_hidden(markup: str) -> str:
    kept: list[str] = []
    pos = 0
    while (start := _HIDDEN_START.search(markup, pos)) is not None:
        kept.append(markup[pos : start.start()])
        pos = _hidden_end(markup, start)
        if pos < 0:
            return "".join(kept)
    kept.append(markup[pos:])
    return "".join(kept)


def _hidden_end(markup: str, start: re.Match[str]) -> int:
    """Where hidden content opened by `start` ends, or -1 if it never does."""
    name = start.group(1)
    if name is None:  # a comment; "<!-->" and "<!--->" are complete, empty comments (HTML5 §13.2.5)
        for empty in (">", "->"):
            if markup.startswith(empty, start.end()):
                return start.end() + len(empty)
        end = markup.find("-->", start.end())
        return end + 3 if end >= 0 else -1
    close = _HIDDEN_END[name.lower()].search(markup, start.end())
    if close is None:
        return -1
    end = markup.find(">", close.end())
    return end + 1 if end >= 0 else -1


def _cut_unclosed_tag(markup: str) -> str:
    unclosed = _TAG_START.search(markup, markup.rfind(">") + 1)
    return markup if unclosed is None else markup[: unclosed.start()]
