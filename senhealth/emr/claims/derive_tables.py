"""Package the Ministry's claim field tables (Decisions 130, 4750 and 3176) as data of this package.

Source: the field tables ("bảng chỉ tiêu") of the insurance claim XML, published as annexes of Decision
130/QĐ-BYT (18 Jan 2023), amended by Decision 4750/QĐ-BYT (29 Dec 2023) and Decision 3176/QĐ-BYT
(29 Oct 2024), saved as one CSV per table (``qd3176-xml0-checkin.csv``, ``qd3176-xml1.csv`` ...;
``qd4750-*.csv`` for the 4750 edition). Each CSV row is one field: its number (``STT``), name
(``Chỉ tiêu``), type (``Chuỗi`` string / ``Số`` number), maximum size (a number, or ``n``: unbounded)
and the official explanations: the original text, then each decision's corrections. Rows without a
number are the table's notes ("Ghi chú").

Run ``python -m senhealth.emr.claims.derive_tables SOURCE_DIR`` to write
``data/claim-tables-qd3176.json.gz`` and ``data/claim-tables-qd4750.json.gz``: the rows as they are,
texts untouched, nothing inferred. What Sen Health reads from them (date formats, code lists, required
fields) is :mod:`senhealth.emr.claims.field_rules`. The product never reads the CSV files at run time.

Written by hand: no library carries these tables.
"""

from __future__ import annotations

import csv
import gzip
import re
import sys
from pathlib import Path
from typing import Any

import orjson

__all__ = ["EDITIONS", "derive", "main", "serialise"]

#: edition key -> (decision, date in force of the text, file prefix)
EDITIONS: dict[str, tuple[str, str]] = {
    "qd3176": ("3176/QĐ-BYT (29/10/2024), hợp nhất 130/QĐ-BYT và 4750/QĐ-BYT", "2024-10-29"),
    "qd4750": ("4750/QĐ-BYT (29/12/2023), sửa đổi 130/QĐ-BYT", "2023-12-29"),
}
_TABLE = re.compile(r"-xml(\d+)(?:-checkin)?\.csv$")


def _table_name(path: Path) -> str:
    match = _TABLE.search(path.name)
    if match is None:
        raise ValueError(f"not a claim table file: {path.name}")
    return f"XML{int(match.group(1))}"


def _read(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    fields: list[dict[str, Any]] = []
    notes: list[str] = []
    for row in body:
        row = row + [""] * (len(header) - len(row))
        number = row[1].strip()
        if not number.isdigit():  # a note row: the text sits in the name column
            text = " ".join(cell.strip() for cell in row[2:] if cell.strip())
            if text:
                notes.append(text)
            continue
        fields.append(
            {
                "stt": int(number),
                "name": row[2].strip(),
                "type": row[3].strip(),
                "size": row[4].strip(),
                "texts": [cell.strip() for cell in row[5:]],
            }
        )
    return {
        "title": body[0][0].strip() if body else "",
        "file": path.name,
        "text_columns": header[5:],
        "fields": fields,
        "notes": notes,
    }


def derive(source: Path, edition: str) -> dict[str, Any]:
    """The tables of ``edition`` (``qd3176`` or ``qd4750``) read from the CSV files in ``source``."""
    decision, issued = EDITIONS[edition]
    paths = sorted(source.glob(f"{edition}-xml*.csv"), key=lambda p: int(_TABLE.search(p.name).group(1)))  # type: ignore[union-attr]
    if not paths:
        raise FileNotFoundError(f"no {edition}-xml*.csv in {source}")
    tables = {_table_name(p): _read(p) for p in paths}
    return {"edition": edition, "decision": decision, "issued": issued, "tables": tables}


def serialise(document: dict[str, Any]) -> bytes:
    """The gzipped JSON of a derived document (deterministic: no timestamp in the gzip header)."""
    return gzip.compress(orjson.dumps(document, option=orjson.OPT_SORT_KEYS), mtime=0)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m senhealth.emr.claims.derive_tables SOURCE_DIR", file=sys.stderr)
        return 2
    source = Path(args[0])
    out = Path(__file__).resolve().parent / "data"
    for edition in EDITIONS:
        target = out / f"claim-tables-{edition}.json.gz"
        target.write_bytes(serialise(derive(source, edition)))
        print(f"wrote {target.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
