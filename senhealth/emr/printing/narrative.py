"""FHIR narrative XHTML made safe to print: only the structure the narrative may carry, nothing active.

Spec: https://hl7.org/fhir/R4/narrative.html (the XHTML subset: no scripts, forms, base, link, event
attributes or external images; rules txt-1 and txt-2). The rendered document inserts a section's
narrative as markup, so that its paragraphs, lists and tables print as the author laid them out;
whatever reaches the template goes through :func:`safe_narrative` first, which rebuilds the markup from
a whitelist of elements (attributes dropped except ``colspan`` / ``rowspan``; text escaped). A
narrative that is not XHTML at all prints as escaped text. Hand-written because the standard library's
HTML parser is all this needs, and a sanitiser library would add a dependency for twenty lines.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from typing import Final

__all__ = ["narrative_plain_text", "safe_narrative"]

#: Elements kept (the narrative's structure); every other tag is dropped, its text kept.
ALLOWED: Final = frozenset(
    {
        "p", "br", "div", "span", "b", "strong", "i", "em", "u", "sub", "sup", "small", "ul", "ol", "li",
        "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "h1", "h2",
        "h3", "h4", "h5", "h6", "pre", "code", "blockquote",
    }
)  # fmt: skip
_VOID: Final = frozenset({"br"})
_DROP_CONTENT: Final = frozenset({"script", "style", "iframe", "object", "embed", "template"})
_KEPT_ATTRS: Final = frozenset({"colspan", "rowspan"})
_BLOCK: Final = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dt", "dd"}
)


class _Sanitiser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_CONTENT:
            self.skipping += 1
            return
        if self.skipping or tag not in ALLOWED:
            return
        kept = "".join(
            f' {k}="{int(v)}"' for k, v in attrs if k in _KEPT_ATTRS and v is not None and v.isdigit()
        )
        self.out.append(f"<{tag}{kept}>")
        if tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID and not self.skipping:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_CONTENT:
            self.skipping = max(0, self.skipping - 1)
            return
        if self.skipping or tag not in ALLOWED or tag in _VOID or tag not in self.open:
            return
        while self.open:  # close what was left open inside it
            last = self.open.pop()
            self.out.append(f"</{last}>")
            if last == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.out.extend(f"</{tag}>" for tag in reversed(self.open))
        self.open.clear()
        return "".join(self.out)


def safe_narrative(div: str | None) -> str:
    """The narrative ``div`` as markup that is safe to insert (see the module docstring)."""
    if not div:
        return ""
    parser = _Sanitiser()
    parser.feed(div)
    parser.close()
    return parser.result().strip()


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
