"""The printed form: layout from a real document Bundle, HTML, PDF with Vietnamese text, the marking of a
printed copy on every page, the QR code, look-up codes.

Spec: https://hl7.org/fhir/R4/documents.html#presentation (the narrative is what is printed),
e-Transactions Law Art. 12 / Decree 137/2024 (the conversion marking), ISO/IEC 18004 (QR).
"""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pypdf
import pytest
import zxingcpp
from PIL import Image
from printing_support import CLINICAL_TEXT, COMPOSITION, PATIENT_NAME, run_store, seed

from senhealth.emr.documents.document import build_document_bundle
from senhealth.emr.printing.layout import SignatureMark, document_view
from senhealth.emr.printing.lookup_code import ALPHABET, display_code, new_code, normalise_code
from senhealth.emr.printing.narrative import narrative_plain_text, safe_narrative
from senhealth.emr.printing.print_log import initials
from senhealth.emr.printing.qr_code import qr_png, verification_url
from senhealth.emr.printing.render import CONVERSION_MARKING, PrintMark, render_html, render_pdf
from senhealth.fhir.store import FhirStore


def _text(pdf: bytes) -> list[str]:
    return [unicodedata.normalize("NFC", p.extract_text()) for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def _bundle(url: str, **kw: Any) -> dict[str, Any]:
    async def scenario(store: FhirStore) -> dict[str, Any]:
        await seed(store, **kw)
        return await build_document_bundle(store, COMPOSITION, base_url="http://benhvien.example.vn/fhir")

    return run_store(url, scenario)


def _mark(code: str = "7KQ2M9XD4TAR") -> PrintMark:
    return PrintMark(
        code, verification_url("https://sen.example.vn", code), datetime(2026, 3, 9, 3, 5, tzinfo=UTC),
        "Điều dưỡng Trần Thị Mận", "Bệnh viện Đa khoa tỉnh Quảng Ninh",
    )  # fmt: skip


def test_view_of_a_discharge_paper(emr_url: str) -> None:
    """The form's head (facility under its Department of Health, country and motto, form number, title),
    the sections numbered in Roman numerals, the signature blocks of a discharge paper."""
    view = document_view(
        _bundle(emr_url),
        signatures=[SignatureMark("author", "BS. Lê Văn Lân", datetime(2015, 6, 3, 4, tzinfo=UTC), True)],
    )
    assert view.doc_type == "discharge-paper" and view.title_vi == "Giấy ra viện"
    assert view.authority == "Sở Y tế tỉnh Quảng Ninh"
    assert view.facility == "Bệnh viện Đa khoa tỉnh Quảng Ninh" and view.facility_code == "22001"
    assert view.form_number == "01/BV-01"
    assert (
        view.country == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and view.motto == "Độc lập - Tự do - Hạnh phúc"
    )
    assert [s.number for s in view.sections] == ["I", "II", "III", "IV"]
    assert view.sections[1].title == "Chẩn đoán khi ra viện" and CLINICAL_TEXT in view.sections[1].html
    # a section without narrative prints its entries
    assert view.sections[3].html == "" and view.sections[3].lines == ("CRP (1988-5): 12.50 mg/L",)
    # discharge paper: head of department and head of facility blocks; the author's signature has none
    titles = [b.title_vi for b in view.signatures]
    assert titles[:2] == ["Trưởng khoa", "Thủ trưởng đơn vị"] and "Người lập" in titles
    assert next(b for b in view.signatures if b.title_vi == "Người lập").mark is not None


def test_narrative_is_sanitised() -> None:
    """Only the narrative's structure reaches the page: scripts, handlers, links and styles are gone."""
    dirty = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">Ổn <b>định</b></p>'
        "<script>alert(1)</script><a href='javascript:x'>liên kết</a><img src='http://x/y.png'/>"
        '<table><tr><td colspan="2" style="color:red">Ô</td></tr></table><style>p{}</style></div>'
    )
    clean = safe_narrative(dirty)
    assert clean == (
        '<div><p>Ổn <b>định</b></p>liên kết<table><tbody><tr><td colspan="2">Ô</td></tr></tbody></table></div>'
    )
    assert narrative_plain_text(dirty).splitlines() == ["Ổn định", "liên kết", "Ô"]
    assert safe_narrative("a < b & c") == "a &lt; b &amp; c"


def test_pdf_keeps_vietnamese_text_and_embeds_its_fonts(emr_url: str) -> None:
    bundle = _bundle(emr_url)
    pdf, pages = render_pdf(document_view(bundle))
    assert pdf.startswith(b"%PDF-") and pages == 1
    text = _text(pdf)[0]
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "GIẤY RA VIỆN",
                     PATIENT_NAME, CLINICAL_TEXT, "Sở Y tế tỉnh Quảng Ninh".upper(), "MS: 01/BV-01",
                     "Quảng Ninh, ngày 03 tháng 06 năm 2015", "Trang 1/1"):  # fmt: skip
        assert expected in text, expected
    assert CONVERSION_MARKING not in text  # the electronic copy carries no paper marking
    # A4 and every font embedded
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    box = reader.pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)) == (210, 297)
    resources: Any = reader.pages[0]["/Resources"]
    fonts = resources["/Font"]
    assert fonts
    for ref in fonts.values():
        descriptor = ref.get_object().get("/DescendantFonts", [ref])[0].get_object().get("/FontDescriptor")
        if descriptor is None:
            descriptor = ref.get_object()["/FontDescriptor"]
        assert any(k in descriptor.get_object() for k in ("/FontFile", "/FontFile2", "/FontFile3"))


def test_printed_copy_carries_the_marking_on_every_page(emr_url: str) -> None:
    """A document of several pages: each page has the conversion marking (Vietnamese and English), the
    system and its owner, the look-up code, the verification URL, the time and the person who printed."""
    pdf, pages = render_pdf(document_view(_bundle(emr_url, long=True)), mark=_mark())
    assert pages >= 2
    texts = _text(pdf)
    assert len(texts) == pages
    for i, text in enumerate(texts, 1):
        flat = re.sub(r"\s+", " ", text)
        assert CONVERSION_MARKING in flat
        assert "Paper copy converted from an electronic medical record" in flat
        assert "Sen Health" in flat and "Bệnh viện Đa khoa tỉnh Quảng Ninh" in flat
        assert "7KQ2-M9XD-4TAR" in flat
        assert "https://sen.example.vn/verify/7KQ2M9XD4TAR" in flat.replace("/ 7KQ2", "/7KQ2")
        assert "09/03/2026 10:05" in flat  # printed at, in Vietnam's time
        assert "Điều dưỡng Trần Thị Mận" in flat
        assert f"Trang {i}/{pages}" in flat


def test_qr_code_in_the_pdf_decodes_to_the_verification_url(emr_url: str) -> None:
    """The QR image embedded in the printed PDF (every page) decodes to the copy's verification page."""
    pdf, pages = render_pdf(document_view(_bundle(emr_url, long=True)), mark=_mark())
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == pages >= 2
    for page in reader.pages:
        images = list(page.images)
        assert images, "no QR image on the page"
        pictures = [img.image for img in images if img.image is not None]
        decoded = {r.text for picture in pictures for r in zxingcpp.read_barcodes(picture.convert("L"))}
        assert decoded == {"https://sen.example.vn/verify/7KQ2M9XD4TAR"}


def test_qr_png_round_trip() -> None:
    url = verification_url("https://sen.example.vn/", "ABCDEFGH2345")
    assert url == "https://sen.example.vn/verify/ABCDEFGH2345"
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(url))).convert("L"))
    assert [r.text for r in found] == [url] and found[0].format == zxingcpp.BarcodeFormat.QRCode


def test_html_escapes_data() -> None:
    """Values from the record are text, never markup."""
    bundle = {"resourceType": "Bundle", "type": "document", "entry": [{"fullUrl": "urn:uuid:1", "resource": {
        "resourceType": "Composition", "id": "x", "status": "final", "title": "<b>Tiêu đề</b>",
        "type": {"text": "?"}, "section": [{"title": "<i>Mục</i>", "entry": []}]}}]}  # fmt: skip
    html = render_html(document_view(bundle))
    assert "&lt;b&gt;Tiêu đề&lt;/b&gt;" in html and "&lt;i&gt;Mục&lt;/i&gt;" in html


def test_lookup_codes() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 12 and set(c) <= set(ALPHABET) for c in codes)
    assert display_code("7KQ2M9XD4TAR") == "7KQ2-M9XD-4TAR"
    assert normalise_code(" 7kq2-m9xd-4tar ") == "7KQ2M9XD4TAR"
    assert normalise_code("OIL0-0000-0000") == "0110" + "0" * 8  # O read as 0, I and L as 1
    for bad in ("", "7KQ2M9XD4TA", "7KQ2M9XD4TARX", "7KQ2M9XD4TAU", "../etc/passwd"):
        assert normalise_code(bad) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Nguyễn Thị Hồng Đào", "N.T.H.Đ."), ("Ông Ích Khiêm", "O.I.K."), ("", ""), ("Lê  Văn", "L.V.")],
)
def test_initials(name: str, expected: str) -> None:
    assert initials(name) == expected
