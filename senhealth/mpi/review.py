"""The review queue: candidate duplicate pairs that a human decides (table ``mpi_review``, migration 0007).

:func:`senhealth.mpi.match.deduplicate` sends a pair to review when the records share a personal ID
that one of them contradicts, or when the match probability lies between the review and link
thresholds (docs/mpi.md, "Decision rules"). :func:`enqueue_pairs` stores those pairs (idempotent: a
pair already queued keeps its row; an open one gets the newest score and reasons, a decided one is
never re-opened), :func:`list_open` pages through the open pairs in queue order (keyset on ``id``) and
:func:`decide` records a reviewer's verdict: ``linked`` (one person) or ``distinct`` (two people).

Deciding ``linked`` does not merge the records by itself: the caller merges them with
:func:`senhealth.mpi.link.link` (``Patient.link``, https://hl7.org/fhir/R4/patient-definitions.html#Patient.link)
and records the decision, best in the same transaction::

    async with store.transaction() as tx:
        await link(store, survivor, duplicate, by=user)   # joins tx (a savepoint)
        await decide(tx.conn, pair_id, "linked", by=user)

All functions take an open psycopg ``AsyncConnection`` and run in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from senhealth.core.errors import SenHealthError
from senhealth.mpi.match import ScoredPair

__all__ = [
    "Decision",
    "ReviewError",
    "ReviewItem",
    "decide",
    "enqueue_pairs",
    "get_pair",
    "list_open",
    "ordered",
]

Decision = Literal["linked", "distinct"]
Status = Literal["open", "linked", "distinct"]
DECISIONS: Final = frozenset({"linked", "distinct"})
MAX_PAGE: Final = 1000

_COLUMNS = "id, patient_a, patient_b, score, reasons, status, created, decided_by, decided_at, note"

_ENQUEUE = """
INSERT INTO mpi_review (patient_a, patient_b, score, reasons)
SELECT a, b, s, r FROM unnest(%s::text[], %s::text[], %s::float8[], %s::jsonb[]) AS u(a, b, s, r)
ON CONFLICT (patient_a, patient_b) DO UPDATE
    SET score = EXCLUDED.score, reasons = EXCLUDED.reasons
    WHERE mpi_review.status = 'open'
RETURNING (xmax = 0) AS inserted
"""

_DECIDE = f"""
UPDATE mpi_review SET status = %s, decided_by = %s, decided_at = now(), note = %s
WHERE id = %s AND status = 'open'
RETURNING {_COLUMNS}
"""


class ReviewError(SenHealthError):
    """A review request that cannot be done: unknown pair (``status`` 404), already decided (409), bad input."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.code = {404: "not-found", 409: "conflict"}.get(status, "invalid")


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One row of the queue; ``patient_a`` < ``patient_b`` (Patient logical ids)."""

    id: int
    patient_a: str
    patient_b: str
    score: float
    reasons: tuple[str, ...]
    status: Status
    created: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


def _item(row: tuple[Any, ...]) -> ReviewItem:
    return ReviewItem(
        id=int(row[0]),
        patient_a=row[1],
        patient_b=row[2],
        score=float(row[3]),
        reasons=tuple(str(r) for r in row[4] or ()),
        status=row[5],
        created=row[6],
        decided_by=row[7],
        decided_at=row[8],
        note=row[9],
    )


def ordered(a: str, b: str) -> tuple[str, str]:
    """The pair's key, ``(smaller id, larger id)`` in code-point order (the table's ``COLLATE "C"``)."""
    if a == b:
        raise ReviewError(f"A record cannot be paired with itself: {a!r}")
    return (a, b) if a < b else (b, a)


async def enqueue_pairs(conn: AsyncConnection[TupleRow], pairs: Iterable[ScoredPair]) -> int:
    """Queue ``pairs`` for review in one statement; returns how many were new.

    Idempotent: a pair already in the queue (in either order) is not added again; while it is open its
    score and reasons are replaced by the newest ones, once decided it is left alone. When ``pairs``
    holds the same pair twice, the last one wins.
    """
    batch: dict[tuple[str, str], ScoredPair] = {}
    for pair in pairs:
        if not 0.0 <= pair.probability <= 1.0:
            raise ReviewError(f"Score of {pair.left}/{pair.right} must be in [0, 1], not {pair.probability}")
        batch[ordered(pair.left, pair.right)] = pair
    if not batch:
        return 0
    keys = sorted(batch)  # one order: concurrent enqueues of overlapping batches cannot deadlock
    cur = await conn.execute(
        _ENQUEUE,
        (
            [a for a, _ in keys],
            [b for _, b in keys],
            [batch[k].probability for k in keys],
            [Jsonb(list(batch[k].reasons)) for k in keys],
        ),
    )
    return sum(1 for (inserted,) in await cur.fetchall() if inserted)


async def list_open(
    conn: AsyncConnection[TupleRow], limit: int = 50, after: int | None = None
) -> list[ReviewItem]:
    """Open pairs in queue order (oldest first), at most ``limit``; ``after``: the last id of the previous page."""
    if limit < 0:
        raise ReviewError("limit must not be negative")
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM mpi_review WHERE status = 'open' AND id > %s ORDER BY id LIMIT %s",
        (after if after is not None else 0, min(limit, MAX_PAGE)),
    )
    return [_item(row) for row in await cur.fetchall()]


async def get_pair(conn: AsyncConnection[TupleRow], pair_id: int) -> ReviewItem | None:
    """One row of the queue, decided or not; ``None`` when there is no such pair."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM mpi_review WHERE id = %s", (pair_id,))
    row = await cur.fetchone()
    return _item(row) if row else None


async def decide(
    conn: AsyncConnection[TupleRow], pair_id: int, decision: Decision, by: str, note: str | None = None
) -> ReviewItem:
    """Record the reviewer ``by``'s verdict on an open pair; returns the decided row.

    Raises :class:`ReviewError`: 400 for a decision other than ``linked`` / ``distinct`` or no
    reviewer, 404 for an unknown pair, 409 for a pair already decided (decisions are not overwritten).
    """
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be 'linked' or 'distinct', not {decision!r}")
    if not by.strip():
        raise ReviewError("A decision needs the reviewer who made it")
    cur = await conn.execute(_DECIDE, (decision, by, note, pair_id))
    row = await cur.fetchone()
    if row is not None:
        return _item(row)
    existing = await get_pair(conn, pair_id)
    if existing is None:
        raise ReviewError(f"No review pair {pair_id}", 404)
    raise ReviewError(
        f"Review pair {pair_id} was already decided ({existing.status}, by {existing.decided_by})", 409
    )
