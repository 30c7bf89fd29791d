"""Audit records of the archive's writes and of DIMSE queries and retrievals.

Spec: the Basic Audit Log Patterns IG https://profiles.ihe.net/ITI/BALP/ (who, what, when, from where,
the outcome, the patients concerned); the events go to the platform's audit sink
(:func:`senhealth.fhir.access.audit_sink`) in the caller's transaction, as every FHIR write's do. DICOM
has no user behind an association: the caller is a system principal named after the calling AE title
(``dicom-ae:<AE>``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.access import NO_AUDIT, AccessEvent, Action, Principal, audit_sink

__all__ = ["ae_principal", "record"]


def ae_principal(calling_ae: str) -> Principal:
    """The principal of a DICOM association."""
    name = calling_ae.strip() or "UNKNOWN"
    return Principal(kind="system", subject=f"dicom-ae:{name}", roles=frozenset({"system"}), client_id=name)


async def record(
    conn: AsyncConnection[TupleRow],
    *,
    principal: Principal | None,
    action: Action,
    study_id: str | None,
    patients: Iterable[str | None] = (),
    source_ip: str | None = None,
    query: str | None = None,
    status: int = 200,
    details: dict[str, Any] | None = None,
) -> None:
    """Record one access to ``ImagingStudy/<study_id>`` (None: a query over studies) in ``conn``'s transaction."""
    sink = audit_sink()
    if sink is NO_AUDIT:
        return
    event = AccessEvent(
        when=datetime.now(UTC),
        principal=principal,
        action=action,
        res_type="ImagingStudy",
        res_id=study_id,
        query=query,
        patients=sorted({p for p in patients if p}),
        outcome="success" if status < 400 else "failed",
        status=status,
        source_ip=source_ip,
        details=details or {},
    )
    await sink.record(conn, event)
