"""The print log: one row per printed copy, keyed by its look-up code (table ``emr_print``, migration
``0020_printing_retention.sql``).

Spec: e-Transactions Law 2023 Art. 12 and Decree 137/2024 (a paper copy converted from an electronic
record carries a look-up code, the time and the person who printed; every print is logged),
vietnam.md §2; the audit record of the same print: BALP https://profiles.ihe.net/ITI/BALP/ (an access of
the patient's record, in the same transaction as the log row: a print with no audit record cannot exist).

A row holds what the public verification page may show and nothing clinical: the document type, title
and date, the facility, the patient's initials and year of birth, when it was printed, and the SHA-256
of the PDF handed out. The patient id and the printer's account are kept for accountability ("who
printed my record") and never shown on the public page.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.access import AccessEvent, Principal, audit_sink

__all__ = [
    "PrintRecord",
    "find_print",
    "initials",
    "mark_purged",
    "prints_of",
    "record_print",
]

_COLUMNS: Final = (
    "code, composition, version, doc_type, title, document_date, facility, facility_name, patient, "
    "patient_initials, birth_year, printed_at, printed_by, printed_by_name, printed_role, pdf_sha256, "
    "pdf_pages, signer_cert_sha256, purged_at"
)


@dataclass(frozen=True, slots=True)
class PrintRecord:
    """One printed copy (a row of ``emr_print``)."""

    code: str
    composition: str
    version: int
    doc_type: str
    title: str
    document_date: datetime | None
    facility: str | None
    facility_name: str
    patient: str | None
    patient_initials: str
    birth_year: int | None
    printed_at: datetime
    printed_by: str
    printed_by_name: str
    printed_role: str
    pdf_sha256: bytes
    pdf_pages: int
    signer_cert_sha256: bytes | None = None
    purged_at: datetime | None = None


def initials(name: str) -> str:
    """``Nguyễn Thị Hồng Đào`` → ``N.T.H.Đ.``: the first letter of each word, diacritics dropped except
    Đ (a letter of its own)."""
    out = []
    for word in name.split():
        first = word[0].upper()
        if first != "Đ":
            first = unicodedata.normalize("NFD", first)[0]
        if first.isalpha():
            out.append(first + ".")
    return "".join(out)


def _record(row: Sequence[Any]) -> PrintRecord:
    values = list(row)
    values[15] = bytes(values[15])
    values[17] = bytes(values[17]) if values[17] is not None else None
    return PrintRecord(*values)


async def record_print(
    conn: AsyncConnection[TupleRow],
    record: PrintRecord,
    *,
    principal: Principal | None,
    source_ip: str | None = None,
) -> None:
    """Insert the print log row and hand the print to the audit sink, both in ``conn``'s transaction."""
    await conn.execute(
        f"INSERT INTO emr_print ({_COLUMNS}) VALUES ({', '.join(['%s'] * 19)})",
        (
            record.code, record.composition, record.version, record.doc_type, record.title,
            record.document_date, record.facility, record.facility_name, record.patient,
            record.patient_initials, record.birth_year, record.printed_at, record.printed_by,
            record.printed_by_name, record.printed_role, record.pdf_sha256, record.pdf_pages,
            record.signer_cert_sha256, record.purged_at,
        ),
    )  # fmt: skip
    await audit_sink().record(
        conn,
        AccessEvent(
            when=record.printed_at,
            principal=principal,
            action="operation",
            res_type="Composition",
            res_id=record.composition,
            query="$pdf",
            patients=[record.patient] if record.patient else [],
            source_ip=source_ip,
            details={
                "operation": "pdf",
                "event": "print",
                "lookup_code": record.code,
                "version": record.version,
                "document_type": record.doc_type,
                "pdf_sha256": record.pdf_sha256.hex(),
                "printed_by_name": record.printed_by_name,
            },
        ),
    )


async def find_print(conn: AsyncConnection[TupleRow], code: str) -> PrintRecord | None:
    """The printed copy with look-up code ``code`` (normalised), or None."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM emr_print WHERE code = %s", (code,))
    row = await cur.fetchone()
    return _record(row) if row is not None else None


async def prints_of(conn: AsyncConnection[TupleRow], composition: str) -> list[PrintRecord]:
    """Every printed copy of ``Composition/{composition}``, oldest first."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM emr_print WHERE composition = %s ORDER BY printed_at, code", (composition,)
    )
    return [_record(r) for r in await cur.fetchall()]


async def mark_purged(conn: AsyncConnection[TupleRow], composition: str, when: datetime) -> int:
    """Note that ``Composition/{composition}`` was purged (its copies then verify as destroyed)."""
    cur = await conn.execute(
        "UPDATE emr_print SET purged_at = %s WHERE composition = %s AND purged_at IS NULL",
        (when, composition),
    )
    return cur.rowcount
