"""FHIR narrative XHTML made safe to print: only the structure the narrative may carry, nothing active.

Spec: https://hl7.org/fhir/R4/narrative.html (the XHTML subset: no scripts, forms, base, link, event
attributes or external images; rules txt-1 and txt-2). The rendered document inserts a section's
narrative as markup, so that its paragraphs, lists and tables print as the author laid them out;
whatever reaches the template goes through :func:`safe_narrative` first, which rebuilds the markup from
an allow-list of elements (attributes dropped except numeric ``colspan`` / ``rowspan``; text escaped) with
nh3 (the Ammonia sanitiser, https://nh3.readthedocs.io/); the web pages use the same function. A narrative
that is not XHTML at all prints as escaped text.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Final

import nh3

__all__ = ["narrative_plain_text", "safe_narrative"]

#: Elements kept (the narrative's structure); every other tag is dropped, its text kept.
ALLOWED: Final = frozenset(
    {
        "p", "br", "div", "span", "b", "strong", "i", "em", "u", "sub", "sup", "small", "ul", "ol", "li",
        "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "h1", "h2",
        "h3", "h4", "h5", "h6", "pre", "code", "blockquote",
    }
)  # fmt: skip
_DROP_CONTENT: Final = frozenset(
    {"script", "style", "iframe", "object", "embed", "template", "head", "title"}
)
_KEPT_ATTRS: Final = frozenset({"colspan", "rowspan"})
_BLOCK: Final = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dt", "dd"}
)


def _numeric_span(tag: str, attribute: str, value: str) -> str | None:
    return value if attribute in _KEPT_ATTRS and value.isdigit() else None


def safe_narrative(div: str | None, *, tags: frozenset[str] = ALLOWED) -> str:
    """The narrative ``div`` as markup that is safe to insert (see the module docstring); ``tags``: the
    elements kept (default :data:`ALLOWED`)."""
    if not div:
        return ""
    kept = set(tags) - _DROP_CONTENT
    spans: dict[str, set[str]] = {t: set(_KEPT_ATTRS) for t in ("td", "th") if t in kept}
    return nh3.clean(
        div,
        tags=kept,
        attributes=spans,
        attribute_filter=_numeric_span,
        clean_content_tags=set(_DROP_CONTENT),
        link_rel=None,
        strip_comments=True,
    ).strip()


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_CONTENT:
            self.skipping += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_CONTENT:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def narrative_plain_text(div: str | None) -> str:
    """The narrative as plain text, one line per paragraph (empty lines dropped)."""
    if not div:
        return ""
    parser = _Text()
    parser.feed(div)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
