"""Showing hostile mail safely: HTML sanitizing, plain text linkifying, and response headers.

Two layers (SECURITY.md "Showing a message"): the body is served from its own URL inside a
sandboxed iframe with a strict Content-Security-Policy, so even unsanitized HTML could neither
run nor load anything; nh3 is the second layer. The nh3 pitfalls measured there are handled:
protocol-relative URLs (`url_relative="deny"`), CSS that loads or computes (`url(`,
`expression(`, `@import`, `var(` dropped by the attribute filter), and huge HTML (capped
before sanitizing, with a text fallback).

Inline (`cid:`) images are embedded in the body document as `data:` URLs. The sandboxed frame
has an opaque origin, so Chromium sends its image requests as cross-site, without the
SameSite=Lax session cookie (verified in a real Chromium): an image URL would need a token that
outlives logout and revoked grants. Embedded, an image reaches only whoever may read the body,
checked on every request.
"""

from __future__ import annotations

import base64
import html as html_lib
import re
from collections.abc import Callable
from urllib.parse import quote

import nh3
from django.http import HttpResponse
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString

from archive.mime import (
    MAX_HTML_CHARS,
    TooComplex,
    is_active_type,
    parse_email,
    payload_bytes,
    walk,
)
from archive.safenames import safe_component

BODY_CSP = (
    "default-src 'none'; img-src 'self' data:{remote}; style-src 'unsafe-inline'; "
    "font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)
DOWNLOAD_CSP = "default-src 'none'; sandbox"
# Decoded bytes of inline images embedded in one body document; past it, an image shows its
# alt text (the part is still listed and downloadable).
INLINE_IMAGES_MAX_BYTES = 8 * 1024 * 1024

TAGS = {
    "a", "abbr", "address", "b", "big", "blockquote", "br", "caption", "center", "cite", "code",
    "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "font", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s",
    "samp", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "tt", "u", "ul", "var",
}  # fmt: skip
CLEAN_CONTENT_TAGS = {"script", "style", "title", "head", "noscript", "template", "object"}
_CELL = {"align", "valign", "width", "height", "bgcolor", "colspan", "rowspan", "nowrap"}
ATTRIBUTES = {
    "*": {"style", "dir", "lang", "title", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "border"},
    "font": {"color", "face", "size"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor", "summary"},
    "td": _CELL,
    "th": _CELL,
    "tr": {"valign", "bgcolor"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type"},
    "ul": {"type"},
}
URL_SCHEMES = {"http", "https", "mailto", "cid"}
# Properties whose values cannot fetch anything once url()/image-set() are filtered out.
STYLE_PROPERTIES = {
    "background-color", "border", "border-bottom", "border-collapse", "border-color",
    "border-left", "border-radius", "border-right", "border-spacing", "border-style",
    "border-top", "border-width", "color", "direction", "display", "float", "font",
    "font-family", "font-size", "font-style", "font-variant", "font-weight", "height",
    "letter-spacing", "line-height", "list-style-type", "margin", "margin-bottom",
    "margin-left", "margin-right", "margin-top", "max-width", "min-width", "padding",
    "padding-bottom", "padding-left", "padding-right", "padding-top", "table-layout",
    "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align",
    "white-space", "width", "word-break", "word-spacing", "word-wrap",
}  # fmt: skip
_DANGEROUS_CSS = re.compile(r"url\s*\(|expression\s*\(|@import|var\s*\(|image-set|\\", re.I)
_REMOTE = re.compile(r"^\s*https?:", re.I)


class Sanitized:
    """The result of sanitizing: the HTML and what was blocked."""

    def __init__(self, html: str, blocked_remote: int, fallback_text: str | None = None):
        self.html = html
        self.blocked_remote = blocked_remote
        self.fallback_text = fallback_text


def sanitize_html(
    source: str, *, allow_remote: bool, cid_url: Callable[[str], str | None]
) -> Sanitized:
    """Sanitized HTML for the body iframe. `cid_url(content_id)` gives the absolute same-origin
    URL of an inline part, or None; remote images stay only when `allow_remote`."""
    if len(source) > MAX_HTML_CHARS:
        return Sanitized("", 0, fallback_text=html_to_text(source[:MAX_HTML_CHARS]))
    blocked = 0

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        nonlocal blocked
        if attr == "style":
            return None if _DANGEROUS_CSS.search(value) else value
        if tag == "img" and attr == "src":
            if value.lower().startswith("cid:"):
                return cid_url(_unquote_cid(value[4:]))
            if _REMOTE.match(value):
                if not allow_remote:
                    blocked += 1
                    return None
                return value if value.lower().lstrip().startswith("https:") else None
            return None  # data: and anything else
        return value

    cleaned = nh3.clean(
        source,
        tags=TAGS,
        clean_content_tags=CLEAN_CONTENT_TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes=URL_SCHEMES,
        url_relative="deny",
        filter_style_properties=STYLE_PROPERTIES,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    return Sanitized(cleaned, blocked)


def inline_images(raw: bytes, cids: dict[str, int]) -> Callable[[str], str | None]:
    """`cid_url` for sanitize_html: Content-ID -> a `data:` URL of that image part of `raw`
    (None for a part that is not an image, or past INLINE_IMAGES_MAX_BYTES)."""
    try:
        parts = walk(parse_email(raw))
    except TooComplex:
        return lambda cid: None
    budget = INLINE_IMAGES_MAX_BYTES

    def data_url(cid: str) -> str | None:
        nonlocal budget
        index = cids.get(cid, -1)
        if not 0 <= index < len(parts):
            return None
        ctype = download_content_type(parts[index].get_content_type())
        data = payload_bytes(parts[index]) if ctype.startswith("image/") else b""
        if not data or len(data) > budget:
            return None
        budget -= len(data)
        return f"data:{ctype};base64,{base64.b64encode(data).decode('ascii')}"

    return data_url


def _unquote_cid(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value).strip().strip("<>")


def html_to_text(source: str) -> str:
    """A rough text version of HTML (for HTML too large to sanitize): tags out, entities in."""
    source = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", source)
    source = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>", "\n", source)
    text = re.sub(r"<[^>]*>", "", source)
    return html_lib.unescape(text)


# -- plain text -------------------------------------------------------------------------------

# Strict: scheme, a host of letters/digits/dots/dashes, optional port and path without spaces,
# quotes or angle brackets; trailing punctuation stays text.
_URL = re.compile(r"\bhttps?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[^\s<>\"'`]*)?")
_TRAILING = ".,;:!?)]}'\""


def linkify(text: str) -> SafeString:
    """Escaped plain text with http(s) URLs as links that open in a new tab, no referrer."""
    pieces: list[tuple[str, str]] = []  # (text, url or "")
    pos = 0
    for m in _URL.finditer(text):
        url = m.group(0)
        while url and url[-1] in _TRAILING:
            url = url[:-1]
        pieces.append((text[pos : m.start()], ""))
        pieces.append((url, url))
        pos = m.start() + len(url)
    pieces.append((text[pos:], ""))
    return format_html_join("", "{}", ((_piece(t, u),) for t, u in pieces if t))


def _piece(text: str, url: str) -> SafeString | str:
    if not url:
        return escape(text)
    return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, text)


# -- responses --------------------------------------------------------------------------------


def body_response(content: str, *, allow_remote: bool) -> HttpResponse:
    """The iframe's document, with its own CSP and no referrer whatever the site default."""
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer"><base target="_blank"></head>'
        f"<body>{content}</body></html>"
    )
    response = HttpResponse(document, content_type="text/html; charset=utf-8")
    set_body_headers(response, allow_remote=allow_remote)
    return response


def set_body_headers(response: HttpResponse, *, allow_remote: bool) -> None:
    response["Content-Security-Policy"] = BODY_CSP.format(remote=" https:" if allow_remote else "")
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["X-Frame-Options"] = "SAMEORIGIN"


def content_disposition(filename: str, fallback: str = "download") -> str:
    """`attachment; filename="<ascii>"; filename*=UTF-8''<pct>` for any name a message gave."""
    name = safe_component(filename or fallback, max_bytes=180, fallback=fallback)
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name)
    ascii_name = ascii_name.strip() or fallback
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_content_type(content_type: str) -> str:
    """What a download is sent as: active types never go out as themselves."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if not re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", ctype) or is_active_type(ctype):
        return "application/octet-stream"
    return ctype


def set_download_headers(response: HttpResponse, filename: str) -> None:
    response["Content-Disposition"] = content_disposition(filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = DOWNLOAD_CSP
    response["Cache-Control"] = "private, no-store"
