"""Form 14/BCT as CSV, XLSX and PDF.

- CSV: RFC 4180, UTF-8 with a byte-order mark (spreadsheets then read the Vietnamese names right), header
  ``chapter, icd_range, name_vi, <the counts' keys>``, the 22 chapters, then ``TOTAL`` and
  ``UNCLASSIFIED``.
- XLSX (openpyxl, https://openpyxl.readthedocs.io/): one sheet "14-BCT": a title, the province and month,
  a header of the form's Vietnamese column names (English below), the chapters, the total.
- PDF (WeasyPrint, https://doc.courtbouillon.org/weasyprint/stable/): A4 landscape, the same table, the
  assumptions in a note; self-contained HTML (nothing fetched), fonts embedded.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

from jinja2 import Environment, select_autoescape

from .bct14 import COLUMNS, FORM, KEYS, Report14BCT

__all__ = ["FORMATS", "MEDIA_TYPES", "Format", "render", "to_csv", "to_pdf", "to_xlsx"]

Format = Literal["json", "csv", "xlsx", "pdf"]
FORMATS: Final[tuple[Format, ...]] = ("json", "csv", "xlsx", "pdf")
MEDIA_TYPES: Final[dict[str, str]] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _title(report: Report14BCT) -> str:
    where = report.province_name or report.province
    return f"Biểu {FORM}: Tình hình bệnh tật, tử vong theo ICD-10 – {where} – tháng {report.month:02d}/{report.year}"


def to_csv(report: Report14BCT) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["chapter", "icd_range", "name_vi", *KEYS])
    for row in report.rows:
        writer.writerow([row["chapter"], row["icd_range"], row["name_vi"], *(row[k] for k in KEYS)])
    writer.writerow(["TOTAL", "", "Tổng số", *(report.total[k] for k in KEYS)])
    writer.writerow(["UNCLASSIFIED", "", "Không có mã ICD-10", *(report.unclassified[k] for k in KEYS)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: Report14BCT) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "14-BCT"
    sheet.append([_title(report)])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append(
        [
            f"Tỉnh/thành phố: {report.province_name} ({report.province})",
            f"Năm {report.year}",
            f"Tháng {report.month}",
        ]
    )
    sheet.append(["Chương", "Mã ICD-10", "Tên chương bệnh", *(c.label_vi for c in COLUMNS)])
    sheet.append(["Chapter", "ICD-10 range", "Chapter name", *(c.label_en for c in COLUMNS)])
    for cell in (*sheet[3], *sheet[4]):
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in report.rows:
        sheet.append([row["chapter"], row["icd_range"], row["name_vi"], *(int(row[k]) for k in KEYS)])
    sheet.append(["", "", "Tổng số / Total", *(report.total[k] for k in KEYS)])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    sheet.append(["", "", "Không có mã ICD-10 / Unclassified", *(report.unclassified[k] for k in KEYS)])
    sheet.column_dimensions["C"].width = 48
    sheet.freeze_panes = "D5"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@cache
def _environment() -> Environment:
    return Environment(autoescape=select_autoescape(default=True, default_for_string=True))


@cache
def _template_text() -> str:
    return (resources.files(__package__) / "templates" / "bct14.html").read_text(encoding="utf-8")


def to_html(report: Report14BCT) -> str:
    template = _environment().from_string(_template_text())
    return template.render(title=_title(report), report=report.to_json(), columns=COLUMNS, keys=KEYS)


def to_pdf(report: Report14BCT) -> bytes:
    from weasyprint import HTML  # loading Pango costs ~0.3 s: only callers pay it
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    pdf: bytes = HTML(string=to_html(report), url_fetcher=fetcher).write_pdf()
    return pdf


def render(report: Report14BCT, fmt: str) -> bytes:
    """The report in ``fmt`` (one of :data:`FORMATS`); ValueError otherwise."""
    import orjson

    if fmt == "json":
        data: Any = report.to_json()
        return orjson.dumps(data)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "xlsx":
        return to_xlsx(report)
    if fmt == "pdf":
        return to_pdf(report)
    raise ValueError(f"định dạng không hỗ trợ / unsupported format {fmt!r}: one of {', '.join(FORMATS)}")
