"""The purge: destroying documents whose retention has ended, and only those.

Spec: retention rules :mod:`.rules` (Circular 33/2025, vietnam.md §2: unverified); the audit record
BALP https://profiles.ihe.net/ITI/BALP/ (a delete of patient data, with the patient); the store's
delete https://hl7.org/fhir/R4/http.html#delete (a deleted resource reads as 410 Gone).

:func:`purge` takes the documents asked for (explicit ids, or every document due: :func:`due`) and
re-checks each one in the transaction that destroys it: a document under retention, kept
permanently, of an episode still open, with no rule, or on legal hold is **refused and reported**, even
when asked for by id; nothing is destroyed without a rule that says it may be. For each document
destroyed, in one transaction:

- the Composition, its signed document Bundles and its signature Provenances (the records
  :mod:`senhealth.emr.signatures` keeps of it) are deleted: each gets a delete version (so change feeds,
  materialised views and ``_history`` see the deletion), and every earlier version's content is removed
  from the history (a purge that left the content in ``_history`` would destroy nothing);
- its printed copies' look-up codes are kept, marked purged (the verification page then says the
  record was destroyed at the end of its retention instead of "unknown code");
- one audit event (action ``delete``, the patient, the rule, the dates, every resource destroyed) is
  written in the same transaction: a purge without its audit record cannot commit. With no audit sink
  installed the purge refuses to run.

The purge deletes below the store's write hooks (as the bulk loader writes): the signature guard
(:mod:`senhealth.emr.signatures.immutability`) refuses any delete of signed content by design, and a
purge is the one administrative path allowed past it; subscriptions are not notified of purges.
Clinical resources of the episode (Encounter, Conditions, Observations...) are not destroyed here:
they may be part of other documents still kept (docs/retention.md "What is destroyed").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.errors import SenHealthError
from senhealth.emr.printing.print_log import mark_purged
from senhealth.emr.retention.scan import RetentionStatus, all_compositions, retention_status
from senhealth.emr.signatures.records import signed_records
from senhealth.fhir.access import NO_AUDIT, AccessEvent, Principal, audit_sink
from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.write import lock, write_delete

__all__ = [
    "PurgeError",
    "PurgeReport",
    "Purged",
    "Refused",
    "due",
    "purge",
]


class PurgeError(SenHealthError):
    """The purge cannot run at all (no audit sink, no reason given)."""


@dataclass(frozen=True, slots=True)
class Purged:
    composition: str
    patient: str | None
    rule: str
    years: int | None
    episode_end: date | None
    purgeable_from: date | None
    resources: tuple[str, ...]  # Type/id of everything destroyed


@dataclass(frozen=True, slots=True)
class Refused:
    composition: str
    decision: str  # under-retention | permanent | legal-hold | episode-open | no-rule | not-found
    reason: str
    reason_vi: str
    until: date | None = None


@dataclass(slots=True)
class PurgeReport:
    as_of: date
    dry_run: bool
    purged: list[Purged] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        by: dict[str, int] = {}
        for r in self.refused:
            by[r.decision] = by.get(r.decision, 0) + 1
        return {
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "purged": len(self.purged),
            "refused": len(self.refused),
            "refused_by_reason": by,
        }


async def _expunge(conn: AsyncConnection[TupleRow], res_type: str, res_id: str, when: datetime) -> bool:
    """Delete one resource below the write hooks and remove every earlier version's content."""
    current = await lock(conn, res_type, res_id, create=False)
    if current is None:
        return False
    if current.live:
        await write_delete(conn, res_type, res_id, current, when)
    await conn.execute(
        "DELETE FROM fhir_history WHERE pkey = %s AND rid = %s AND NOT deleted", (current.pkey, current.rid)
    )
    return True


async def due(store: FhirStore, *, as_of: date, zone: str = "Asia/Ho_Chi_Minh") -> list[RetentionStatus]:
    """The documents whose retention has ended on ``as_of`` and that no hold keeps."""
    out = []
    async for ids in all_compositions(store):
        for cid in ids:
            status = await retention_status(store, cid, zone=zone)
            if status is not None and status.decision(as_of) == "purgeable":
                out.append(status)
    return out


async def _purge_one(
    store: FhirStore,
    cid: str,
    *,
    as_of: date,
    zone: str,
    dry_run: bool,
    principal: Principal | None,
    reason: str,
    report: PurgeReport,
) -> None:
    async with store.transaction() as tx:
        # a hold placed while this runs waits for the purge's commit (SHARE blocks inserts and updates)
        await tx.conn.execute("LOCK TABLE emr_legal_hold IN SHARE MODE")
        status = await retention_status(store, cid, tx=tx, zone=zone)
        if status is None:
            report.refused.append(
                Refused(
                    cid,
                    "not-found",
                    "no such document (or already purged)",
                    "không có hồ sơ này (hoặc đã hủy)",
                )
            )
            return
        decision = status.decision(as_of)
        if decision != "purgeable":
            en, vi = status.explain(as_of)
            report.refused.append(Refused(cid, decision, en, vi, status.purgeable_from))
            return
        assert status.classification is not None
        records = await signed_records(store, cid, conn=tx.conn)
        targets = [("Composition", cid)]
        targets += [("Bundle", b.res_id) for b in records.bundles]
        for rows in records.provenances.values():
            targets += [("Provenance", p.res_id) for p in rows]
        done = Purged(
            cid,
            status.patient,
            status.classification.rule.key,
            status.classification.years,
            status.episode_end,
            status.purgeable_from,
            tuple(f"{t}/{i}" for t, i in targets),
        )
        if dry_run:
            report.purged.append(done)
            return
        when = datetime.now(UTC)
        await tx.lock_existing(targets)
        for res_type, res_id in targets:
            await _expunge(tx.conn, res_type, res_id, when)
        await mark_purged(tx.conn, cid, when)
        await audit_sink().record(
            tx.conn,
            AccessEvent(
                when=when,
                principal=principal,
                action="delete",
                res_type="Composition",
                res_id=cid,
                query="retention-purge",
                patients=[status.patient] if status.patient else [],
                details={
                    "event": "retention-purge",
                    "reason": reason,
                    "rule": done.rule,
                    "years": done.years,
                    "episode_end": done.episode_end.isoformat() if done.episode_end else None,
                    "purgeable_from": done.purgeable_from.isoformat() if done.purgeable_from else None,
                    "document_type": status.doc_type,
                    "facility": status.facility,
                    "resources": list(done.resources),
                },
            ),
        )
        report.purged.append(done)


async def purge(
    store: FhirStore,
    compositions: Iterable[str] | None = None,
    *,
    as_of: date | None = None,
    zone: str = "Asia/Ho_Chi_Minh",
    dry_run: bool = False,
    principal: Principal | None = None,
    reason: str,
) -> PurgeReport:
    """Destroy ``compositions`` (ids; None: every document due) where retention allows, refusing and
    reporting the rest (see the module docstring). ``reason``: why the purge runs (the destruction
    decision's number, say), recorded in the audit."""
    if not reason or not reason.strip():
        raise PurgeError("Thiếu lý do hủy hồ sơ / a purge needs a reason (the destruction decision)")
    if not dry_run and audit_sink() is NO_AUDIT:
        raise PurgeError("Không có nhật ký kiểm toán / no audit sink is installed: a purge must be audited")
    when = as_of or datetime.now(UTC).date()
    report = PurgeReport(when, dry_run)
    ids: Sequence[str]
    if compositions is None:
        ids = [s.composition for s in await due(store, as_of=when, zone=zone)]
    else:
        ids = list(dict.fromkeys(compositions))
    for cid in ids:
        await _purge_one(
            store, cid, as_of=when, zone=zone, dry_run=dry_run, principal=principal, reason=reason.strip(),
            report=report,
        )  # fmt: skip
    return report
