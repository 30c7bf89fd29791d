"""Pieces of the clinical-document pages without a server: the narrative shown safely, the editor's
fields and free text, the language of bilingual server messages, the signature panel's reading of
``$verify``, the page images of a PDF, and the Vietnamese catalogue of the pages' messages."""

from __future__ import annotations

import io
from datetime import datetime

import pypdfium2 as pdfium  # type: ignore[import-untyped]
from PIL import Image

from senhealth.emr.documents.narrative import EMPTY_TEXT, section_div
from senhealth.emr.documents.types import DOCUMENT_TYPES
from senhealth.web.i18n import catalogue
from senhealth.web.views.emr_fhir import Answer, in_language, issues_of
from senhealth.web.views.emr_narrative import (
    editor_sections,
    field_parameters,
    free_text,
    safe_narrative,
    submitted_fields,
)
from senhealth.web.views.emr_printing import render_pages
from senhealth.web.views.emr_records import STATUS_LABELS, document_title, replaced_target
from senhealth.web.views.emr_signing import parse_verify


def test_narrative_keeps_formatting_and_drops_every_attribute_and_script() -> None:
    div = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()"><b>Chẩn đoán:</b> I10 &amp; E11</p>'
        '<script>alert(1)</script><img src="http://evil/x.png"/><a href="javascript:x()">liên kết</a>'
        "<table><tr><th>Thuốc</th></tr><tr><td>Amlodipin &lt;5 mg&gt;</td></tr></table>"
        "<style>p{}</style><p>Dặn dò<br/>tái khám</p><ul><li>một</li></div>"
    )
    html = str(safe_narrative(div))
    assert "<p><b>Chẩn đoán:</b> I10 &amp; E11</p>" in html
    assert (
        "<table><tbody><tr><th>Thuốc</th></tr><tr><td>Amlodipin &lt;5 mg&gt;</td></tr></tbody></table>"
        in html
    )
    assert "<p>Dặn dò<br>tái khám</p>" in html and "<ul><li>một</li></ul>" in html  # closed
    for bad in ("script", "alert", "onclick", "<img", "evil", "href", "javascript", "style", "xmlns"):
        assert bad not in html, bad
    assert "liên kết" in html  # the link's text is kept, the link is not
    assert str(safe_narrative(None)) == "" and str(safe_narrative("")) == ""


def test_free_text_is_what_the_narrative_holds_besides_fields_table_and_placeholder() -> None:
    section_type = DOCUMENT_TYPES["discharge-paper"].sections[0]
    fields = section_type.fields
    values = {fields[0].key: "Nguyễn Văn An"}
    div = section_div(fields, values, [("drug", "Thuốc")], [{"drug": "Amlodipin"}], "Dòng một\nDòng hai")
    section = {"id": section_type.key, "text": {"div": div}}
    assert free_text(section) == "Dòng một\nDòng hai"
    assert free_text({"text": {"div": section_div(fields, {}, [], [], None)}}) == ""
    assert EMPTY_TEXT not in free_text({"text": {"div": section_div(fields, {}, [], [], None)}})
    assert free_text({}) == ""


def _composition() -> dict[str, object]:
    doc_type = DOCUMENT_TYPES["discharge-paper"]
    sections = []
    for st in doc_type.sections:
        values = {f.key: f"giá trị {f.key}" for f in st.fields[:1]}
        sections.append(
            {
                "id": st.key,
                "title": st.title_vi,
                "extension": [
                    {
                        "url": "https://senhealth.vn/fhir/StructureDefinition/form-field",
                        "extension": [{"url": "key", "valueCode": k}, {"url": "value", "valueString": v}],
                    }
                    for k, v in values.items()
                ],
                "text": {"status": "generated", "div": section_div(st.fields, values, [], [], "ghi chú")},
            }
        )
    return {
        "resourceType": "Composition",
        "status": "preliminary",
        "type": {"coding": [doc_type.local_coding()], "text": doc_type.title_vi},
        "title": doc_type.title_vi,
        "section": sections,
        "relatesTo": [{"code": "replaces", "targetReference": {"reference": "Composition/goc"}}],
    }


def test_editor_fields_follow_the_form_and_only_its_names_are_taken() -> None:
    comp = _composition()
    doc_type, sections = editor_sections(comp)
    assert doc_type is DOCUMENT_TYPES["discharge-paper"]
    assert [s.key for s in sections] == [st.key for st in doc_type.sections]
    first = sections[0]
    assert first.fields[0].value == f"giá trị {doc_type.sections[0].fields[0].key}"
    assert len(first.fields) == len(doc_type.sections[0].fields)  # empty ones offered too
    assert first.free_text == "ghi chú"
    name = first.fields[1].name if len(first.fields) > 1 else first.fields[0].name
    form = {
        f"f:{name}": "  mới  ",
        f"t:{first.key}": "ghi chú mới",
        "f:khong-co.truong": "bỏ qua",
        f"f:{first.fields[0].name}": "",
    }
    fields = submitted_fields(sections, form)
    assert fields == {name: "mới", first.key: "ghi chú mới"}
    params = field_parameters(fields)
    assert params[0] == {
        "name": "field",
        "part": [{"name": "name", "valueString": name}, {"name": "value", "valueString": "mới"}],
    }


def test_titles_status_and_correction_link() -> None:
    comp = _composition()
    assert document_title(comp, "vi") == "Giấy ra viện"
    assert document_title(comp, "en") == DOCUMENT_TYPES["discharge-paper"].title_en
    assert replaced_target(comp) == "goc"
    assert replaced_target({"relatesTo": [{"code": "transforms"}]}) is None
    assert set(STATUS_LABELS) == {"preliminary", "final", "amended", "entered-in-error"}


def test_bilingual_messages_and_outcome_issues() -> None:
    text = "Chứng thư số đã bị thu hồi / the certificate was revoked"
    assert in_language(text, "vi") == "Chứng thư số đã bị thu hồi"
    assert in_language(text, "en") == "the certificate was revoked"
    assert in_language("Composition/x is not known", "vi") == "Composition/x is not known"
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "value",
                "diagnostics": "sai / wrong",
                "expression": ["XML1[1].GIOI_TINH"],
            },
            {"severity": "error", "code": "invalid", "details": {"text": "chỉ tiếng Việt"}},
        ],
    }
    issues = issues_of(outcome)
    assert [(i.expression, i.text) for i in issues] == [
        ("XML1[1].GIOI_TINH", "sai / wrong"),
        ("", "chỉ tiếng Việt"),
    ]
    assert issues_of({"resourceType": "Bundle"}) == []
    plain = Answer(502, b"Bad gateway", "text/plain")
    assert [i.text for i in plain.issues] == ["Bad gateway"] and not plain.ok and plain.json is None


def test_signature_panel_reads_verify() -> None:
    def sig(role: str, valid: bool, reason_vi: str, reason_en: str) -> dict[str, object]:
        return {
            "name": "signature",
            "part": [
                {"name": "signer", "valueString": "BS. Trần Thị Bình"},
                {"name": "role", "valueCode": role},
                {"name": "kind", "valueCode": "digital-signature"},
                {"name": "time", "valueInstant": "2026-11-20T01:02:03.000Z"},
                {"name": "valid", "valueBoolean": valid},
                {"name": "reason", "valueString": f"{reason_vi} / {reason_en}"},
                {"name": "reason-vi", "valueString": reason_vi},
                {"name": "reason-en", "valueString": reason_en},
                {"name": "composition", "valueReference": {"reference": "Composition/b/_history/1"}},
                {"name": "revokedAt", "valueInstant": "2026-11-21T00:00:00.000Z"},
            ],
        }

    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "valid", "valueBoolean": False},
            {"name": "signed", "valueBoolean": True},
            sig("author", True, "Hợp lệ", "valid"),
            sig("verifier", False, "Không hợp lệ", "not valid"),
            {
                "name": "chain",
                "part": [
                    {
                        "name": "link",
                        "part": [
                            {"name": "composition", "valueReference": {"reference": "Composition/a"}},
                            {"name": "status", "valueCode": "preliminary"},
                            {"name": "signed", "valueBoolean": True},
                            {"name": "valid", "valueBoolean": True},
                            {"name": "replacedBy", "valueReference": {"reference": "Composition/b"}},
                            sig("author", True, "Hợp lệ", "valid"),
                        ],
                    },
                    {
                        "name": "link",
                        "part": [
                            {"name": "composition", "valueReference": {"reference": "Composition/b"}},
                            {"name": "status", "valueCode": "amended"},
                            {"name": "signed", "valueBoolean": True},
                            {"name": "valid", "valueBoolean": False},
                            {"name": "replaces", "valueReference": {"reference": "Composition/a"}},
                        ],
                    },
                ],
            },
        ],
    }
    panel = parse_verify(body, "vi")
    assert panel["signed"] and not panel["valid"]
    author, verifier = panel["signatures"]
    assert author["role_title"] == "Người lập" and author["valid"] and author["reason"] == "Hợp lệ"
    assert verifier["role_title"] == "Trưởng khoa duyệt" and not verifier["valid"]
    assert isinstance(author["time"], datetime) and author["composition"] == "b"
    assert isinstance(author["revoked_at"], datetime)
    assert [link["id"] for link in panel["chain"]] == ["a", "b"]
    assert panel["chain"][0]["replaced_by"] == ["b"] and panel["chain"][1]["replaces"] == "a"
    assert panel["chain"][0]["signatures"][0]["signer"] == "BS. Trần Thị Bình"
    assert parse_verify(body, "en")["signatures"][1]["reason"] == "not valid"


def test_pdf_pages_become_png_images() -> None:
    document = pdfium.PdfDocument.new()
    for _ in range(2):
        document.new_page(595, 842)  # A4 in points
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    pages = render_pages(buffer.getvalue())
    assert len(pages) == 2
    image = Image.open(io.BytesIO(pages[0]))
    assert (
        image.format == "PNG" and abs(image.size[0] - 595 * 1.5) <= 1 and abs(image.size[1] - 842 * 1.5) <= 1
    )


def test_every_message_of_the_pages_has_a_vietnamese_translation() -> None:
    vi = catalogue("vi")
    for message in (*STATUS_LABELS.values(), "Every signature on this document is valid.", "Print preview"):
        assert message in vi, message
