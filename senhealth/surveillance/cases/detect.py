"""Automatic case detection: reconcile one person's case reports with the notifiable-disease evidence in
their records (every linked Patient record), in one transaction.

Spec: patient identity through ``Patient.link`` (:func:`senhealth.mpi.link.linked_ids`: the records of one
person, https://hl7.org/fhir/R4/patient.html#links); the evidence (:mod:`.evidence`), episodes
(:mod:`.episodes`), the case report (:mod:`.record`) and the series (:mod:`senhealth.surveillance.series`).

:func:`detect_for_patient` is what the ``surveillance.detect`` job runs for a patient whose records changed
(the write hook, :mod:`.hook`, queues it). It reads the person's Conditions, Encounters and Observations
from their own partitions (``fhir_resource.pkey``: no cross-patient scan), groups the evidence into
episodes, and matches them with the person's active cases (by shared evidence, else by overlapping
time): one case per person, disease and episode.

- An episode without a case creates one (a QuestionnaireResponse with a new id, and its index row).
- A case whose episode changed is updated: classification (a confirming laboratory result upgrades it to
  confirmed), outcome (unless set by hand), evidence, onset, the list in force and the deadline.
- Two cases matching one episode (two records of one person, each with a case, then linked by the MPI)
  are merged: the one detected first stays, the other becomes ``merged`` (its QuestionnaireResponse
  ``entered-in-error``, pointing at the survivor); the earliest report time of the two is kept.
- A case left without evidence (deleted or recoded) is ``withdrawn``.

The person's commune is the home address of the golden record (the active record that no other replaces;
else the smallest id). Each change moves the case's contribution in the series in the same transaction
(:func:`senhealth.surveillance.series.counts.apply_change`). Transaction-level advisory locks on the
person's record ids, taken in sorted order, serialise two detections of one person (two jobs for two
linked records) without deadlock. ``auto_report``: a case counts as reported when detected (the platform
itself is the report to the preventive-medicine centre); off by default, a health worker reports it
(:func:`senhealth.surveillance.cases.actions.mark_reported`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from senhealth.fhir.store import FhirStore, Gone, NotFound, StoreTx, content_from_text
from senhealth.mpi.link import linked_ids
from senhealth.surveillance.cases.episodes import Episode, episodes
from senhealth.surveillance.cases.evidence import Evidence, evidence_of, fhir_datetime, vn_date
from senhealth.surveillance.cases.record import CaseRow, load_rows, render, upsert_row
from senhealth.surveillance.notifiable.forms import ensure_questionnaire
from senhealth.surveillance.series.counts import apply_change
from senhealth.surveillance.series.population import ADMIN_UNIT_EXTENSION

__all__ = ["DetectResult", "detect_for_patient", "golden_record", "residence", "write_case"]

_TYPES: Final = ["Condition", "Encounter", "Observation"]
_LOAD: Final = (
    "SELECT res_type, pkey, coalesce(content_raw, content::text) FROM fhir_resource "
    "WHERE pkey = ANY(%s) AND res_type = ANY(%s)"
)


@dataclass(slots=True)
class DetectResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, list[str]]:
        return {
            "created": self.created, "updated": self.updated, "merged": self.merged,
            "withdrawn": self.withdrawn, "unchanged": self.unchanged,
        }  # fmt: skip


def golden_record(patients: dict[str, dict[str, Any]]) -> str:
    """The record a person's cases are filed under: active and replaced by no other; else the smallest id."""

    def replaced(content: dict[str, Any]) -> bool:
        return any(isinstance(e, dict) and e.get("type") == "replaced-by" for e in content.get("link") or [])

    good = sorted(
        pid for pid, c in patients.items() if not replaced(c) and c.get("active", True) is not False
    )
    return good[0] if good else min(patients)


def residence(content: dict[str, Any]) -> tuple[str, str]:
    """``(province, commune)`` codes of a Patient's home address (else its first coded address)."""
    coded: list[tuple[bool, str, str]] = []
    for address in content.get("address") or []:
        if not isinstance(address, dict):
            continue
        for ext in address.get("extension") or []:
            if not isinstance(ext, dict) or ext.get("url") != ADMIN_UNIT_EXTENSION:
                continue
            parts = {
                str(x.get("url")): str((x.get("valueCoding") or {}).get("code", ""))
                for x in ext.get("extension") or []
                if isinstance(x, dict)
            }
            coded.append((address.get("use") == "home", parts.get("province", ""), parts.get("commune", "")))
    if not coded:
        return "", ""
    coded.sort(key=lambda t: not t[0])
    return coded[0][1], coded[0][2]


def _died(ep: Episode, patients: dict[str, dict[str, Any]]) -> bool:
    for content in patients.values():
        death = fhir_datetime(content.get("deceasedDateTime"))
        if death is not None and ep.first_evidence <= vn_date(death) <= ep.last_evidence + timedelta(days=30):
            return True
    return False


def _overlaps(case: CaseRow, ep: Episode) -> bool:
    gap = timedelta(days=ep.disease.episode_days)
    return case.first_evidence - gap <= ep.last_evidence and ep.first_evidence <= case.last_evidence + gap


async def write_case(tx: StoreTx, old: CaseRow | None, new: CaseRow) -> bool:
    """Write ``new`` (resource, index row, series change from ``old``); False when nothing changed."""
    if old == new:
        return False
    await tx.update(render(new))  # update-as-create for a new case; no new version when unchanged
    await upsert_row(tx.conn, new)
    await apply_change(tx.conn, old.counted() if old else None, new.counted())
    return True


async def _lock_person(tx: StoreTx, ids: list[str]) -> None:
    for pid in ids:
        await tx.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"surveillance-case:{pid}",))


async def _patients(tx: StoreTx, ids: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for pid in ids:
        try:
            stored = await tx.read("Patient", pid)
        except (NotFound, Gone):
            continue
        if stored.content is not None:
            out[pid] = stored.content
    return out


async def _evidence(tx: StoreTx, ids: list[str]) -> list[Evidence]:
    cur = await tx.conn.execute(_LOAD, (ids, _TYPES))
    found: list[Evidence] = []
    for _rtype, pkey, text in await cur.fetchall():
        found += evidence_of(content_from_text(str(text)), str(pkey))
    return found


async def detect_for_patient(
    store: FhirStore, patient_id: str, *, now: datetime | None = None, auto_report: bool = False
) -> DetectResult:
    """Reconcile the case reports of the person ``patient_id`` belongs to (see the module docstring)."""
    moment = now or datetime.now(UTC)
    result = DetectResult()
    async with store.transaction() as tx:
        ids = sorted({patient_id} | await linked_ids(tx, patient_id))
        await _lock_person(tx, ids)
        patients = await _patients(tx, ids)
        existing = await load_rows(tx.conn, "patients && %s::text[] AND status = 'active'", (ids,))
        if not patients:
            if not existing:
                return result
            golden, province, commune = existing[0].patient_id, existing[0].province, existing[0].commune
        else:
            golden = golden_record(patients)
            province, commune = residence(patients[golden])
        found = episodes(await _evidence(tx, sorted(patients)) if patients else [])
        if found or existing:
            await ensure_questionnaire(tx)
        taken: set[str] = set()
        for ep in found:
            candidates = [
                c for c in existing
                if c.case_id not in taken and c.disease == ep.disease.key
                and (set(c.evidence) & set(ep.refs) or _overlaps(c, ep))
            ]  # fmt: skip
            primary = candidates[0] if candidates else None
            taken.update(c.case_id for c in candidates)
            reported = [c.reported_at for c in candidates if c.reported_at is not None]
            outcome = ep.outcome
            if _died(ep, patients):
                outcome = "died"
            if primary is not None and primary.outcome_manual:
                outcome = primary.outcome
            new = CaseRow(
                case_id=primary.case_id if primary else uuid.uuid4().hex,
                disease=ep.disease.key,
                list_id=ep.notifiable_list.id,
                disease_group=ep.disease.group,
                icd10=ep.icd10,
                patient_id=golden,
                patients=tuple(sorted(set(ep.patients) | {golden})),
                province=province,
                commune=commune,
                onset_date=ep.onset,
                case_date=ep.case_date,
                first_evidence=ep.first_evidence,
                last_evidence=ep.last_evidence,
                diagnosed_at=ep.diagnosed_at,
                detected_at=primary.detected_at if primary else moment,
                deadline=ep.disease.deadline,
                deadline_at=ep.deadline_at,
                reported_at=min(reported) if reported else (moment if auto_report else None),
                classification=ep.classification,
                outcome=outcome,
                outcome_manual=primary.outcome_manual if primary else False,
                evidence=ep.refs,
            )
            changed = await write_case(tx, primary, new)
            if primary is None:
                result.created.append(new.case_id)
            else:
                (result.updated if changed else result.unchanged).append(new.case_id)
            for other in candidates[1:]:
                await write_case(tx, other, other.with_(status="merged", merged_into=new.case_id))
                result.merged.append(other.case_id)
        for case in existing:
            if case.case_id not in taken:
                await write_case(tx, case, case.with_(status="withdrawn"))
                result.withdrawn.append(case.case_id)
    return result
