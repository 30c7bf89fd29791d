"""The printed form as HTML (Jinja2) and as PDF (WeasyPrint), with the conversion marking of a paper copy.

Spec: WeasyPrint https://doc.courtbouillon.org/weasyprint/stable/ (CSS Paged Media: ``@page`` size A4,
margin boxes, running elements repeated on every page: https://www.w3.org/TR/css-gcpm-3/#running-elements);
Jinja2 https://jinja.palletsprojects.com/ (autoescape on). The conversion marking of a paper copy is
the one of e-Transactions Law Art. 12 and Decree 137/2024 (vietnam.md §2): "Bản giấy chuyển đổi từ hồ sơ
bệnh án điện tử", the system and its owner, a look-up code and its QR code, the time and the person who
printed; it is a running footer, so it is on every page.

Fonts: the stylesheet asks for DejaVu Serif (then Liberation Serif, Noto Serif): they carry every
Vietnamese letter. WeasyPrint embeds the subset of each font it uses, so the PDF prints the same
anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from senhealth.emr.printing.layout import DocumentView
from senhealth.emr.printing.lookup_code import display_code
from senhealth.emr.printing.qr_code import qr_data_uri

__all__ = [
    "CONVERSION_MARKING",
    "CONVERSION_MARKING_EN",
    "SYSTEM_NAME",
    "PrintMark",
    "html_to_pdf",
    "render_html",
    "render_pdf",
]

TEMPLATES: Final = Path(__file__).parent / "templates"
SYSTEM_NAME: Final = "Sen Health"
CONVERSION_MARKING: Final = "Bản giấy chuyển đổi từ hồ sơ bệnh án điện tử"
CONVERSION_MARKING_EN: Final = "Paper copy converted from an electronic medical record"
_STATUS: Final = {
    "preliminary": "Bản nháp / preliminary",
    "final": "Chính thức / final",
    "amended": "Đã đính chính / amended",
    "entered-in-error": "Nhập sai, đã hủy / entered in error",
}


@dataclass(frozen=True, slots=True)
class PrintMark:
    """The marking of one printed copy."""

    code: str  # the look-up code (12 characters)
    url: str  # the verification page of this copy (the QR code's content)
    printed_at: datetime
    printed_by: str  # the name of the person who printed
    owner: str  # the facility that owns the record
    system: str = SYSTEM_NAME
    zone: str = "Asia/Ho_Chi_Minh"

    @property
    def display_code(self) -> str:
        return display_code(self.code)

    @property
    def printed_at_text(self) -> str:
        return _local(self.printed_at, self.zone)

    @property
    def qr_data_uri(self) -> str:
        return qr_data_uri(self.url)


def _local(when: datetime, zone: str) -> str:
    if when.tzinfo is not None:
        when = when.astimezone(ZoneInfo(zone))
    return f"{when:%d/%m/%Y %H:%M}"


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _css() -> str:
    return (TEMPLATES / "document.css").read_text(encoding="utf-8")


def _dateline(view: DocumentView, zone: str) -> str:
    when = view.date
    if when is None:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone(ZoneInfo(zone))
    place = f"{view.place}, " if view.place else ""
    return f"{place}ngày {when:%d} tháng {when:%m} năm {when:%Y}"


def render_html(view: DocumentView, *, mark: PrintMark | None = None, zone: str = "Asia/Ho_Chi_Minh") -> str:
    """The form as one self-contained HTML page (styles inline, the QR code as a ``data:`` URI)."""
    return (
        _environment()
        .get_template("document.html.j2")
        .render(
            doc=view,
            mark=mark,
            css=_css(),
            system_name=SYSTEM_NAME,
            dateline=_dateline(view, zone),
            status_text=_STATUS.get(view.status, view.status),
            fmt=lambda when: _local(when, zone),
        )
    )


def html_to_pdf(html: str) -> tuple[bytes, int]:
    """The PDF of ``html`` (A4, fonts embedded) and its number of pages. Nothing is fetched: the page
    is self-contained (``data:`` URIs only) and any other URL it names fails the rendering."""
    from weasyprint import HTML  # loading Pango costs ~0.3 s: only callers pay it
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    document = HTML(string=html, url_fetcher=fetcher).render()
    pdf: bytes = document.write_pdf()
    return pdf, len(document.pages)


def render_pdf(
    view: DocumentView, *, mark: PrintMark | None = None, zone: str = "Asia/Ho_Chi_Minh"
) -> tuple[bytes, int]:
    """:func:`render_html` then :func:`html_to_pdf`: the unsigned PDF and its page count (:mod:`.pades`
    signs it)."""
    return html_to_pdf(render_html(view, mark=mark, zone=zone))
