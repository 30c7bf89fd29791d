"""The dashboards' tables, and each of them as CSV and XLSX: one :class:`Table` is both what the page
shows and what the download holds, so the files always equal the page.

- CSV: RFC 4180 (https://www.rfc-editor.org/rfc/rfc4180), UTF-8 with a byte-order mark (spreadsheets
  then read Vietnamese right), the columns' machine keys as header; ratios 0–1 with 4 decimals, rates per
  100,000 with 2, empty cells for no value.
- XLSX (openpyxl, https://openpyxl.readthedocs.io/): one sheet, the caption on row 1, the columns'
  labels on row 2, numbers as numbers (ratios formatted as percentages).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from starlette.responses import Response

__all__ = ["FORMATS", "Column", "Table", "download", "to_csv", "to_xlsx"]

Kind = Literal["text", "count", "ratio", "per100k"]
Cell = str | int | float | None
FORMATS: Final = ("csv", "xlsx")
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    kind: Kind = "text"


@dataclass(slots=True)
class Table:
    """``rows[i][j]`` is column ``j``'s raw value; ``links[i]``: where row ``i``'s first cell leads."""

    name: str
    caption: str
    columns: Sequence[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)
    row_kinds: list[Kind | None] = field(default_factory=list)
    """How a row's numbers in ``text`` columns read on the page (a table of indicators of several kinds)."""

    def add(
        self,
        cells: list[Cell],
        *,
        link: str | None = None,
        row_id: str | None = None,
        kind: Kind | None = None,
    ) -> None:
        self.rows.append(cells)
        self.links.append(link)
        self.ids.append(row_id)
        self.row_kinds.append(kind)


def _csv_cell(value: Cell, kind: Kind) -> str:
    if value is None:
        return ""
    if kind == "ratio" and isinstance(value, (int, float)):
        return f"{value:.4f}"
    if kind == "per100k" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    return str(value)


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(v, c.kind) for v, c in zip(row, table.columns, strict=True)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = table.name[:31]
    sheet.append([table.caption])
    sheet["A1"].font = Font(bold=True)
    sheet.append([c.label for c in table.columns])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in table.rows:
        sheet.append(list(row))
        for cell, column in zip(sheet[sheet.max_row], table.columns, strict=True):
            if column.kind == "ratio":
                cell.number_format = "0.0%"
            elif column.kind == "per100k":
                cell.number_format = "0.00"
    for i, column in enumerate(table.columns, 1):
        width = max([len(column.label), *(len(str(r[i - 1] or "")) for r in table.rows)]) + 2
        sheet.column_dimensions[get_column_letter(i)].width = min(60, width)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def download(table: Table, fmt: str, filename: str) -> Response:
    """``table`` as a CSV or XLSX attachment named ``filename.<fmt>``."""
    if fmt == "csv":
        body, media = to_csv(table), "text/csv; charset=utf-8"
    else:
        body, media = to_xlsx(table), XLSX
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt}"'}
    )
