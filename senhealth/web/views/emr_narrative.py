"""A clinical document's sections for the pages: the narrative shown safely, and the editor's fields.

Showing: a section's ``text.div`` is XHTML (https://hl7.org/fhir/R4/narrative.html: only basic
formatting, no scripts, no forms). It is re-written here through an allow-list (paragraphs, bold and
italic, line breaks, lists, tables, headings) with every attribute dropped (but a table cell's numeric
``colspan`` / ``rowspan``) and every text escaped, by the printing module's sanitiser (nh3), so
that a Composition from any source (an import, another system) can never put markup of its own into a
page; what is not on the list keeps only its text.

Editing: the author edits, per section, the form's fields (:class:`~senhealth.emr.documents.types.FormField`,
stored in the section's form-field extension, :func:`senhealth.emr.documents.builder.form_fields`) and
free text. The free text is what the narrative holds besides the field paragraphs (``<p><b>Label:</b>
value</p>``), the table of entries and the empty-section placeholder
(:mod:`senhealth.emr.documents.narrative`). A save becomes the ``field`` parameters of
``Encounter/$create-document`` (``section.field`` = value, ``section`` = free text): the document service
writes the narrative, never the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Final

from markupsafe import Markup

from senhealth.emr.documents.builder import form_fields
from senhealth.emr.documents.narrative import EMPTY_TEXT
from senhealth.emr.documents.types import DocumentType, document_type_for_code
from senhealth.emr.printing.narrative import safe_narrative as clean_narrative

__all__ = [
    "EditorField",
    "EditorSection",
    "editor_sections",
    "field_parameters",
    "free_text",
    "safe_narrative",
    "submitted_fields",
]

#: Elements kept (without attributes); void elements are written without a closing tag.
_KEPT: Final = frozenset(
    {"p", "b", "strong", "i", "em", "u", "br", "ul", "ol", "li", "table", "thead", "tbody", "tfoot",
     "tr", "th", "td", "h3", "h4", "h5", "h6", "span", "div", "caption", "sub", "sup", "pre", "code"}
)  # fmt: skip
#: Longest free text or field value the editor sends (the document service's own limit is 20,000).
MAX_TEXT: Final = 20_000


def safe_narrative(div: Any) -> Markup:
    """``div`` (a Narrative's XHTML) as markup safe to insert in a page (see the module docstring): the
    printing module's allow-list sanitiser, with this page's elements."""
    if not isinstance(div, str) or not div:
        return Markup("")
    return Markup(clean_narrative(div, tags=_KEPT))  # rebuilt from an allow-list, every text escaped


class _Paragraphs(HTMLParser):
    """The top-level paragraphs of a section narrative: (starts with bold, text), tables skipped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[tuple[bool, str]] = []
        self._in_p = False
        self._in_table = 0
        self._bold_first = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._in_table += 1
        elif tag == "p" and not self._in_table:
            self._in_p, self._bold_first, self._text = True, False, []
        elif tag in ("b", "strong") and self._in_p and not "".join(self._text).strip():
            self._bold_first = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = max(0, self._in_table - 1)
        elif tag == "p" and self._in_p:
            self.paragraphs.append((self._bold_first, "".join(self._text).strip()))
            self._in_p = False

    def handle_data(self, data: str) -> None:
        if self._in_p:
            self._text.append(data)


def free_text(section: Mapping[str, Any]) -> str:
    """The author's free text of a section: its narrative's paragraphs that are neither a field
    (``<p><b>Label:</b> value</p>``) nor the empty-section placeholder, one per line."""
    div = (section.get("text") or {}).get("div") if isinstance(section.get("text"), Mapping) else None
    if not isinstance(div, str):
        return ""
    parser = _Paragraphs()
    parser.feed(div)
    parser.close()
    return "\n".join(text for bold, text in parser.paragraphs if not bold and text and text != EMPTY_TEXT)


@dataclass(frozen=True, slots=True)
class EditorField:
    """One input of the editor: ``name`` is the ``section.field`` key the document service takes."""

    name: str
    title_vi: str
    title_en: str
    value: str
    required: bool

    @property
    def long(self) -> bool:
        return len(self.value) > 60 or "\n" in self.value


@dataclass(frozen=True, slots=True)
class EditorSection:
    """One section of a document, for the editor and the viewer."""

    key: str
    title_vi: str
    title_en: str
    narrative: Markup
    fields: tuple[EditorField, ...]
    free_text: str
    entries: int


def _title(section: Mapping[str, Any]) -> tuple[str, str]:
    code = section.get("code") if isinstance(section.get("code"), Mapping) else {}
    title = str(section.get("title") or "")
    return title, str((code or {}).get("text") or title)


def editor_sections(composition: Mapping[str, Any]) -> tuple[DocumentType | None, list[EditorSection]]:
    """The document type (None when not one of the national forms) and each section of ``composition``
    with its fields (in the form's order, empty ones included) and free text."""
    doc_type = document_type_for_code(composition.get("type"))
    values = form_fields(composition)
    out: list[EditorSection] = []
    for section in composition.get("section") or []:
        if not isinstance(section, Mapping):
            continue
        key = str(section.get("id") or "")
        title_vi, title_en = _title(section)
        fields: list[EditorField] = []
        spec = None
        if doc_type is not None and key:
            try:
                spec = doc_type.section(key)
            except KeyError:
                spec = None
        if spec is not None:
            title_vi, title_en = spec.title_vi, spec.title_en
            have = values.get(key, {})
            fields = [
                EditorField(f"{key}.{f.key}", f.title_vi, f.title_en, have.get(f.key, ""), f.required)
                for f in spec.fields
            ]
        div = (section.get("text") or {}).get("div") if isinstance(section.get("text"), Mapping) else None
        out.append(
            EditorSection(
                key=key,
                title_vi=title_vi,
                title_en=title_en,
                narrative=safe_narrative(div),
                fields=tuple(fields),
                free_text=free_text(section),
                entries=len(section.get("entry") or []),
            )
        )
    return doc_type, out


def submitted_fields(sections: list[EditorSection], form: Mapping[str, Any]) -> dict[str, str]:
    """The editor's posted values for ``sections``: ``section.field`` (non-empty values) and ``section``
    (free text); only names the document has (anything else posted is ignored)."""
    out: dict[str, str] = {}
    for section in sections:
        if not section.key:
            continue
        for f in section.fields:
            value = str(form.get(f"f:{f.name}") or "").strip()[:MAX_TEXT]
            if value:
                out[f.name] = value
        text = str(form.get(f"t:{section.key}") or "").strip()[:MAX_TEXT]
        if text:
            out[section.key] = text
    return out


def field_parameters(fields: Mapping[str, str]) -> list[dict[str, Any]]:
    """``fields`` as the repeating ``field`` parameter of ``$create-document``."""
    return [
        {"name": "field", "part": [{"name": "name", "valueString": k}, {"name": "value", "valueString": v}]}
        for k, v in fields.items()
    ]
