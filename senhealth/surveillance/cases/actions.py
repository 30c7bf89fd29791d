"""What a health worker does with a detected case: report it, record its outcome.

Spec: Circular 54/2015/TT-BYT (a case is reported within the deadline of its disease: 24 h, 48 h or
weekly; :mod:`senhealth.surveillance.notifiable.lists`); the case report :mod:`.record`.

- :func:`mark_reported` sets the time the case was reported (default: now): the QuestionnaireResponse
  becomes ``completed``; the case is **late** when that time is after its deadline. Reporting again
  keeps the first time.
- :func:`set_outcome` records recovered / died / unknown by hand; detection no longer changes it, and the
  series' death counts follow.

Both write the resource, the index row and the series change in one transaction
(:func:`senhealth.surveillance.cases.detect.write_case`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from senhealth.core.errors import SenHealthError
from senhealth.fhir.store import FhirStore
from senhealth.surveillance.cases.detect import write_case
from senhealth.surveillance.cases.record import CaseRow, load_rows
from senhealth.surveillance.notifiable.forms import OUTCOMES

__all__ = ["CaseNotFound", "mark_reported", "set_outcome"]


class CaseNotFound(SenHealthError):
    """No active case report has that id (HTTP 404)."""

    code = "not-found"
    status = 404


async def _change(store: FhirStore, case_id: str, **changes: object) -> CaseRow:
    async with store.transaction() as tx:
        rows = await load_rows(tx.conn, "case_id = %s AND status = 'active'", (case_id,))
        if not rows:
            raise CaseNotFound(f"no active case report {case_id}")
        old = rows[0]
        new = old.with_(**changes)
        await write_case(tx, old, new)
        return new


async def mark_reported(store: FhirStore, case_id: str, *, at: datetime | None = None) -> CaseRow:
    """Record that ``case_id`` was reported at ``at`` (default now; a case already reported keeps its time)."""
    async with store.transaction() as tx:
        rows = await load_rows(tx.conn, "case_id = %s AND status = 'active'", (case_id,))
        if not rows:
            raise CaseNotFound(f"no active case report {case_id}")
        old = rows[0]
        if old.reported_at is not None:
            return old
        new = old.with_(reported_at=at or datetime.now(UTC))
        await write_case(tx, old, new)
        return new


async def set_outcome(store: FhirStore, case_id: str, outcome: str) -> CaseRow:
    """Record the outcome of ``case_id`` by hand (``recovered``, ``died`` or ``unknown``)."""
    if outcome not in {c for c, _, _ in OUTCOMES}:
        raise ValueError(f"outcome {outcome!r} is not one of {[c for c, _, _ in OUTCOMES]}")
    return await _change(store, case_id, outcome=outcome, outcome_manual=True)
