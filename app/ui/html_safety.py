"""Making a message's HTML safe to show (DESIGN.md §5, Reading).

nh3 (Ammonia) is configured from allow-lists here, never with its defaults, which keep `<img src="http://...">`.

Rules:
- Only the formatting tags and attributes listed below survive. Scripts, styles, frames, objects, forms,
  `<link>`, `<base>`, `<meta>`, SVG and MathML go, with their content where it is code rather than text.
- Nothing in the result can make the reader fetch anything: every `<img>` loses its source and becomes a
  visible placeholder, no `background` attribute is allowed, and a `style` that mentions `url(`, `image(`,
  `expression(` or a CSS escape is dropped whole.
- Links keep only http, https and mailto targets; `javascript:`, `data:`, `vbscript:`, `file:` and relative
  targets are removed, leaving the link text inert. Each remaining link shows its real target beside its text,
  so "Your bank" cannot hide where it leads.
- Counting: `blocked` is the number of image sources and loading styles removed, for the reader's banner.
- Remote images on request: the http(s) address of each `<img>` is kept aside (`remote_images`), never in the
  markup. `showing(loaded)` puts back, for the images whose bytes the user asked to load, an `<img>` whose source
  is `salus-image:N`, which only `SafeTextBrowser` answers, from memory. Styles, frames and scripts stay out
  whatever the user chooses.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import nh3

_TAGS = frozenset(
    {
        "a", "abbr", "address", "b", "bdi", "big", "blockquote", "br", "caption", "center", "cite", "code", "col",
        "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
        "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike",
        "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var",
    }
)  # fmt: skip
# Removed together with everything inside them: their content is code, or text no reader should see.
_DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "title", "head", "noscript", "template", "iframe", "frame", "frameset", "noframes",
        "object", "embed", "applet", "svg", "math", "textarea", "select", "option", "button", "audio", "video",
    }
)  # fmt: skip
_CELL = {"align", "valign", "width", "height", "colspan", "rowspan", "bgcolor", "nowrap"}
_ATTRIBUTES = {
    "*": {"style", "align", "dir", "lang"},
    "a": {"href"},
    "img": {"alt", "width", "height", "src"},  # src only so that the filter can count it; it never survives
    "font": {"color", "face", "size"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor"},
    "td": _CELL,
    "th": _CELL,
    "tr": {"valign", "bgcolor"},
    "col": {"width", "span"},
    "colgroup": {"width", "span"},
    "ol": {"start", "type"},
    "li": {"value"},
}
_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font-family", "font-size", "font-style", "font-weight", "font-variant",
        "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align", "white-space",
        "line-height", "margin", "margin-top", "margin-bottom", "margin-left", "margin-right", "padding",
        "padding-top", "padding-bottom", "padding-left", "padding-right", "border", "border-collapse", "width",
        "height",
    }
)  # fmt: skip
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
# After removing whitespace and comments: anything that could name a resource, or hide such a name in escapes.
_DANGEROUS_STYLE = re.compile(r"url\(|image\(|image-set\(|expression\(|@import|\\|behavio(u)?r", re.IGNORECASE)
_CSS_NOISE = re.compile(r"\s+|/\*.*?\*/", re.DOTALL)
_IMG = re.compile(r"<img\b([^>]*)>", re.IGNORECASE)
_ALT = re.compile(r'\balt="([^"]*)"')
_LINK = re.compile(r'<a\b[^>]*?\bhref="([^"]*)"[^>]*>(.*?)</a>', re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_TARGET_STYLE = "color:#6b7280; font-size:small"
MAX_TARGET_CHARS = 80


IMAGE_SCHEME = "salus-image"
# Inside `template` only: where the remote image number N stood. The host is reserved (RFC 6761 §6.4), so even a
# bug that let it through could fetch nothing; `showing` replaces every one of them.
_SLOT = "https://slot.salus.invalid/"
_SLOT_SRC = re.compile(r'\bsrc="https://slot\.salus\.invalid/(\d+)"')


@dataclass(frozen=True, slots=True)
class SafeHtml:
    markup: str
    blocked: int  # image sources and styles that would load something, removed
    remote_images: tuple[str, ...] = ()  # http(s) image addresses, in document order
    template: str = ""  # the sanitised markup with a slot for each remote image, before placeholders

    def showing(self, loaded: frozenset[int]) -> str:
        """The markup with the remote images numbered in `loaded` shown (as `salus-image:N`)."""
        if not loaded:
            return self.markup
        return _render(self.template, loaded)


def sanitise_html(markup: str) -> SafeHtml:
    blocked = [0]
    remote: list[str] = []

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src" and _link_scheme(value) in ("http", "https"):
            remote.append(value.strip())
            blocked[0] += 1
            return f"{_SLOT}{len(remote) - 1}"
        kept = _filter_attribute(tag, attribute, value)
        if kept is None and ((tag == "img" and attribute == "src") or attribute == "style"):
            blocked[0] += 1
        return kept

    clean = nh3.clean(
        markup,
        tags=set(_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=attribute_filter,
        strip_comments=True,
        link_rel=None,
        url_schemes=set(_LINK_SCHEMES),
        filter_style_properties=set(_STYLE_PROPERTIES),
        url_relative="deny",
    )
    return SafeHtml(_render(clean, frozenset()), blocked[0], tuple(remote), clean)


def _render(template: str, loaded: frozenset[int]) -> str:
    return _show_link_targets(_IMG.sub(lambda match: _image(match, loaded), template))


def _image(match: re.Match[str], loaded: frozenset[int]) -> str:
    slot = _SLOT_SRC.search(match.group(1))
    if slot is None or int(slot.group(1)) not in loaded:
        return _image_placeholder(match)
    # Only alt, width and height survived the sanitiser besides the slot; they are kept as nh3 escaped them.
    kept = _SLOT_SRC.sub("", match.group(1))
    return f'<img src="{IMAGE_SCHEME}:{slot.group(1)}"{kept}>'


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "src":
        return None  # no image is ever loaded; the placeholder below says one was there
    if attribute == "style":
        return None if _DANGEROUS_STYLE.search(_CSS_NOISE.sub("", value)) else value
    if attribute == "href":
        return value if _link_scheme(value) in _LINK_SCHEMES else None
    return value


def _link_scheme(url: str) -> str:
    try:
        return urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""


def _image_placeholder(match: re.Match[str]) -> str:
    alt = _ALT.search(match.group(1))
    # nh3 escapes `&` and `"` in attribute values but not `<`: unescape fully, then escape for text.
    label = html.escape(html.unescape(alt.group(1)).strip()) if alt else ""
    text = f"[image: {label}]" if label else "[image]"
    return f'<span style="{_TARGET_STYLE}">{text}</span>'


def _show_link_targets(markup: str) -> str:
    return _LINK.sub(_with_target, markup)


def _with_target(match: re.Match[str]) -> str:
    target = html.unescape(match.group(1))
    text = html.unescape(_TAG.sub("", match.group(2))).strip()
    shown = target.removeprefix("mailto:")
    if _same_target(text, shown):
        return match.group(0)
    if len(shown) > MAX_TARGET_CHARS:
        shown = shown[: MAX_TARGET_CHARS - 1] + "…"
    return f'{match.group(0)} <span style="{_TARGET_STYLE}">&lt;{html.escape(shown)}&gt;</span>'


def _same_target(text: str, target: str) -> bool:
    def norm(value: str) -> str:
        return value.strip().rstrip("/").lower()

    return norm(text) == norm(target)
