"""Legal holds: records that must not be destroyed, whatever their retention, until the hold is released.

A hold is placed on a document (``Composition/<id>``), an episode (``Encounter/<id>``: every document of
it) or a patient (``Patient/<id>``: every document of theirs), with a reason and the person placing it;
it is released with a reason and the person releasing it. Released holds stay as records (table
``emr_legal_hold``, migration ``0020_printing_retention.sql``). Placing and releasing are audited by the
caller (the CLI records both in the audit log).

Typical reasons: a complaint or lawsuit, an inspection, a police or court request, a medical-incident
investigation (docs/retention.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.errors import SenHealthError

__all__ = [
    "HoldError",
    "LegalHold",
    "active_holds",
    "list_holds",
    "place_hold",
    "release_hold",
]

_TARGET: Final = re.compile(r"^(Composition|Encounter|Patient)/[A-Za-z0-9.-]{1,64}$")
_COLUMNS: Final = "id, target, reason, placed_by, placed_at, released_by, released_at, release_reason"


class HoldError(SenHealthError):
    """A hold could not be placed or released (bad target, no reason, unknown or already released)."""


@dataclass(frozen=True, slots=True)
class LegalHold:
    id: int
    target: str
    reason: str
    placed_by: str
    placed_at: datetime
    released_by: str | None = None
    released_at: datetime | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None


def _check_target(target: str) -> str:
    target = target.strip()
    if not _TARGET.match(target):
        raise HoldError(
            f"Đối tượng không hợp lệ / invalid hold target {target[:80]!r}: Composition/<id>, Encounter/<id> "
            "or Patient/<id>",
            "target",
        )
    return target


def _need(value: str, what_vi: str, what_en: str) -> str:
    if not value or not value.strip():
        raise HoldError(f"Thiếu {what_vi} / {what_en} is required", what_en)
    return value.strip()


async def place_hold(
    conn: AsyncConnection[TupleRow], target: str, *, reason: str, by: str, at: datetime | None = None
) -> LegalHold:
    """Place a hold on ``target`` (see the module docstring)."""
    target = _check_target(target)
    reason = _need(reason, "lý do", "a reason")
    by = _need(by, "người thực hiện", "who places it")
    cur = await conn.execute(
        f"INSERT INTO emr_legal_hold (target, reason, placed_by, placed_at) VALUES (%s, %s, %s, "
        f"coalesce(%s, now())) RETURNING {_COLUMNS}",
        (target, reason, by, at),
    )
    row = await cur.fetchone()
    assert row is not None
    return LegalHold(*row)


async def release_hold(
    conn: AsyncConnection[TupleRow], hold_id: int, *, reason: str, by: str, at: datetime | None = None
) -> LegalHold:
    """Release hold ``hold_id``; refused when it is unknown or already released."""
    reason = _need(reason, "lý do", "a reason")
    by = _need(by, "người thực hiện", "who releases it")
    cur = await conn.execute(
        f"UPDATE emr_legal_hold SET released_by = %s, released_at = coalesce(%s, now()), release_reason = %s "
        f"WHERE id = %s AND released_at IS NULL RETURNING {_COLUMNS}",
        (by, at, reason, hold_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise HoldError(
            f"Không có lệnh giữ đang hiệu lực số {hold_id} / no active hold with id {hold_id}", "hold"
        )
    return LegalHold(*row)


async def active_holds(conn: AsyncConnection[TupleRow], targets: Iterable[str]) -> list[LegalHold]:
    """The active holds on any of ``targets``, oldest first."""
    wanted = sorted(set(targets))
    if not wanted:
        return []
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM emr_legal_hold WHERE target = ANY(%s) AND released_at IS NULL "
        "ORDER BY placed_at, id",
        (wanted,),
    )
    return [LegalHold(*row) for row in await cur.fetchall()]


async def list_holds(
    conn: AsyncConnection[TupleRow], *, target: str | None = None, include_released: bool = False
) -> list[LegalHold]:
    """Holds, newest first (only active ones unless ``include_released``)."""
    where = []
    params: list[object] = []
    if target:
        where.append("target = %s")
        params.append(_check_target(target))
    if not include_released:
        where.append("released_at IS NULL")
    sql = f"SELECT {_COLUMNS} FROM emr_legal_hold"
    if where:
        sql += " WHERE " + " AND ".join(where)
    cur = await conn.execute(sql + " ORDER BY placed_at DESC, id DESC", params)
    return [LegalHold(*row) for row in await cur.fetchall()]
