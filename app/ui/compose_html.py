"""Rich text in the composer: the HTML and the plain text Salus sends for a formatted document.

Rules:
- The HTML is written here from the document's structure (paragraphs, bulleted and numbered lists, bold,
  italic, underline, links), never from Qt's `toHtml()`, whose inline styles, fonts and margins would leave the
  window with it. It then goes through nh3 with an allow-list of just those tags and `href`, so whatever Qt or a
  paste put in the document, only that can leave: no style, class, image, script or remote reference.
- Links: only absolute http, https and mailto targets. Anything else (`javascript:`, `data:`, `file:`, relative)
  is refused in the link dialog and, should it reach the document another way (a paste), dropped here, leaving
  the link text as plain text.
- The text/plain alternative is the same document without formatting: list items keep a "- " or "1. " mark and
  a link's target follows its text in angle brackets, so nothing the reader needs is only in the HTML.
- Nested lists are sent flat (one level): the toolbar makes only one level.
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

import nh3
from PySide6.QtGui import QFont, QTextBlock, QTextCharFormat, QTextDocument, QTextListFormat

ALLOWED_TAGS = frozenset({"p", "br", "b", "i", "u", "ul", "ol", "li", "a"})
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_NUMBERED = frozenset(
    {QTextListFormat.Style.ListDecimal, QTextListFormat.Style.ListLowerAlpha, QTextListFormat.Style.ListUpperAlpha,
     QTextListFormat.Style.ListLowerRoman, QTextListFormat.Style.ListUpperRoman}
)  # fmt: skip
_LINE_SEPARATOR = "\u2028"  # Shift+Enter: a line break inside a paragraph
_OBJECT = "\ufffc"  # an image or other object pasted into the document: never sent
_BOLD = QFont.Weight.Bold.value


def link_allowed(url: str) -> bool:
    """Whether `url` may be a link target: absolute http(s) with a host, or mailto with an address."""
    if url != url.strip() or any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return bool(parts.hostname)
    return scheme == "mailto" and "@" in parts.path


def clean_html(markup: str) -> str:
    """`markup` reduced to the allow-list; used on what the composer writes and on what is pasted into it."""
    return nh3.clean(
        markup,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style", "title", "head", "template", "iframe", "object", "svg", "math"},
        attributes={"a": {"href"}},
        attribute_filter=_keep_attribute,
        strip_comments=True,
        link_rel=None,
        url_schemes=set(LINK_SCHEMES),
        url_relative="deny",
    )


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    return value if tag == "a" and attribute == "href" and link_allowed(value) else None


def document_html(document: QTextDocument) -> str:
    """The document as clean HTML: paragraphs and one level of lists, with bold, italic, underline and links."""
    out: list[str] = []
    open_list: tuple[int, str] | None = None  # (the list's object index, "ul" or "ol")
    block = document.begin()
    while block.isValid():
        text_list = block.textList()
        current = None
        if text_list is not None:
            tag = "ol" if text_list.format().style() in _NUMBERED else "ul"
            current = (text_list.objectIndex(), tag)
        if current != open_list:
            if open_list is not None:
                out.append(f"</{open_list[1]}>")
            if current is not None:
                out.append(f"<{current[1]}>")
            open_list = current
        inner = _block_html(block)
        out.append(f"<li>{inner}</li>" if current else f"<p>{inner or '<br>'}</p>")
        block = block.next()
    if open_list is not None:
        out.append(f"</{open_list[1]}>")
    return clean_html("\n".join(out))


def _block_html(block: QTextBlock) -> str:
    pieces = []
    iterator = block.begin()
    while not iterator.atEnd():
        fragment = iterator.fragment()
        pieces.append(_fragment_html(fragment.text(), fragment.charFormat()))
        iterator += 1
    return "".join(pieces)


def _fragment_html(text: str, char: QTextCharFormat) -> str:
    markup = html.escape(text.replace(_OBJECT, ""), quote=False).replace(_LINE_SEPARATOR, "<br>")
    if not markup:
        return ""
    if char.fontWeight() >= _BOLD:
        markup = f"<b>{markup}</b>"
    if char.fontItalic():
        markup = f"<i>{markup}</i>"
    href = char.anchorHref() if char.isAnchor() else ""
    if char.fontUnderline() and not href:  # Qt underlines links itself; that is not the writer's formatting
        markup = f"<u>{markup}</u>"
    if href and link_allowed(href):
        markup = f'<a href="{html.escape(href)}">{markup}</a>'
    return markup


def document_text(document: QTextDocument) -> str:
    """The text/plain alternative: the document's text, list marks and link targets kept, formatting dropped."""
    lines = []
    block = document.begin()
    while block.isValid():
        text_list = block.textList()
        mark = ""
        if text_list is not None:
            numbered = text_list.format().style() in _NUMBERED
            mark = f"{text_list.itemNumber(block) + 1}. " if numbered else "- "
        lines.append(mark + _block_text(block))
        block = block.next()
    return "\n".join(lines).replace(_LINE_SEPARATOR, "\n").replace("\u00a0", " ")


def _block_text(block: QTextBlock) -> str:
    if block.text() == _LINE_SEPARATOR:
        return ""  # an empty paragraph, as Qt reads back the "<p><br></p>" written for one
    pieces = []
    iterator = block.begin()
    while not iterator.atEnd():
        fragment = iterator.fragment()
        text = fragment.text().replace(_OBJECT, "")
        char = fragment.charFormat()
        href = char.anchorHref() if char.isAnchor() else ""
        if href and link_allowed(href) and href not in (text, f"mailto:{text}"):
            text = f"{text} <{href}>"
        pieces.append(text)
        iterator += 1
    return "".join(pieces)


def has_formatting(document: QTextDocument) -> bool:
    """Whether switching to plain text would lose anything beyond what `document_text` keeps in words."""
    block = document.begin()
    while block.isValid():
        if block.textList() is not None:
            return True
        iterator = block.begin()
        while not iterator.atEnd():
            char = iterator.fragment().charFormat()
            if char.fontWeight() >= _BOLD or char.fontItalic() or char.fontUnderline() or char.isAnchor():
                return True
            iterator += 1
        block = block.next()
    return False
