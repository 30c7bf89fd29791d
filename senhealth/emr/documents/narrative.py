"""The narrative of a document section: XHTML in Vietnamese, made from its form fields and table.

Spec: https://hl7.org/fhir/R4/narrative.html (``Narrative.div``: an XHTML ``div`` in the XHTML namespace,
only basic formatting elements, no scripts or forms, every text escaped) and
https://hl7.org/fhir/R4/composition.html#Composition.section.text (the section's attested content).

Fields print as ``<p><b>Label:</b> value</p>`` in the form's order, then the table (drugs, results...),
then the author's free text, each paragraph of it a ``<p>``. A section with nothing to show says
"Không có dữ liệu" (no data), as cmp-1 needs a text where there are no entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Final

from senhealth.emr.documents.types import FormField

__all__ = ["EMPTY_TEXT", "XHTML_NS", "div", "section_div"]

XHTML_NS: Final = "http://www.w3.org/1999/xhtml"
EMPTY_TEXT: Final = "Không có dữ liệu"


def div(inner: str) -> str:
    return f'<div xmlns="{XHTML_NS}">{inner}</div>'


def section_div(
    fields: Sequence[FormField],
    values: Mapping[str, str],
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Mapping[str, str]],
    free_text: str | None = None,
) -> str:
    """The section's ``Narrative.div`` (see the module docstring)."""
    parts: list[str] = []
    for f in fields:
        value = values.get(f.key)
        if value:
            parts.append(f"<p><b>{escape(f.title_vi)}:</b> {escape(value)}</p>")
    if rows:
        used = [(k, h) for k, h in columns if any(r.get(k) for r in rows)]
        head = "".join(f"<th>{escape(h)}</th>" for _, h in [("", "STT"), *used])
        body = "".join(
            "<tr>" + f"<td>{i}</td>" + "".join(f"<td>{escape(r.get(k, ''))}</td>" for k, _ in used) + "</tr>"
            for i, r in enumerate(rows, 1)
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    if free_text:
        parts += [f"<p>{escape(p.strip())}</p>" for p in free_text.split("\n") if p.strip()]
    if not parts:
        parts.append(f"<p>{EMPTY_TEXT}</p>")
    return div("".join(parts))
