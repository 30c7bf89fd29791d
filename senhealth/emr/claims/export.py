"""Export an Encounter as a signed claim file (``GIAMDINHHS``): read, map, validate, wrap, sign.

Spec: FHIR search https://hl7.org/fhir/R4/search.html (the resources of one Encounter: ``encounter=``,
``context=``, ``supporting-info=``), the claim tables (:mod:`senhealth.emr.claims.export_mapping`) and
the envelope (:mod:`senhealth.emr.claims.envelope`).

:func:`encounter_data` reads the Encounter and everything its claim is made of, under the caller's
access restriction (a resource the caller may not see is not in the claim; an Encounter it may not
see is "not found"). :func:`export_claim` maps, validates every table field by field (a claim that
would fail the portal's checks is not produced: :class:`ClaimInvalid` lists each fault) and returns
the envelope, signed with the facility's key when one is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.db import transaction
from senhealth.emr.claims import fhir_terms as t
from senhealth.emr.claims.envelope import build_envelope, sign_envelope
from senhealth.emr.claims.export_mapping import EncounterData, ExportError, claim_tables
from senhealth.emr.claims.validate import FieldError, validate_table
from senhealth.emr.claims.xml_tables import write_table
from senhealth.emr.pki.keys import SigningKey
from senhealth.fhir.access import Restriction
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import MAX_COUNT, parse_search
from senhealth.fhir.store import FhirStore, NotFound

__all__ = ["ClaimInvalid", "ExportError", "claim_files", "encounter_data", "export_claim"]


class ClaimInvalid(ValueError):
    """The claim the Encounter would make fails the field checks; ``errors`` says where and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} field errors, first: {errors[0].message}")
        self.errors = errors


@dataclass(slots=True)
class _Reader:
    store: FhirStore
    conn: AsyncConnection[TupleRow]
    param_ids: Any
    restriction: Restriction | None

    async def find(self, res_type: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = [*params, ("_count", str(MAX_COUNT))] + ([("_cursor", cursor)] if cursor else [])
            request = parse_search(res_type, query, strict=True, base_urls=self.store.base_urls)
            result = await search(self.conn, request, self.param_ids, restriction=self.restriction)
            out.extend(r.content for r in result.matches)
            cursor = result.next_cursor
            if not cursor:
                return out

    async def by_ids(self, res_type: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        wanted = sorted({i for i in ids if i})
        out: list[dict[str, Any]] = []
        for start in range(0, len(wanted), 100):
            chunk = ",".join(wanted[start : start + 100])
            out.extend(await self.find(res_type, [("_id", chunk)]))
        return out


def _refs(node: Any, res_type: str) -> set[str]:
    """Ids of every ``res_type/<id>`` reference inside ``node``."""
    found: set[str] = set()
    stack = [node]
    prefix = f"{res_type}/"
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str) and ref.startswith(prefix):
                found.add(ref[len(prefix) :].split("/")[0])
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
    return found


async def encounter_data(
    store: FhirStore, encounter_id: str, *, restriction: Restriction | None = None
) -> EncounterData:
    """The Encounter ``encounter_id`` and every resource its claim reads; ``NotFound`` when it does not
    exist or the caller may not see it."""
    async with transaction(store.pool) as conn:
        reader = _Reader(store, conn, await store.param_ids(), restriction)
        found = await reader.by_ids("Encounter", [encounter_id])
        if not found:
            raise NotFound(f"Encounter/{encounter_id} is not known")
        enc = found[0]
        patient_ids = _refs(enc.get("subject"), "Patient")
        patients = await reader.by_ids("Patient", patient_ids)
        if not patients:
            raise ExportError("the Encounter has no readable subject Patient", "Encounter.subject")
        patient = patients[0]
        ref = f"Encounter/{encounter_id}"
        by_encounter = [("encounter", ref)]
        org_ids = _refs(enc.get("serviceProvider"), "Organization")
        organizations = await reader.by_ids("Organization", org_ids)
        conditions = await reader.find("Condition", by_encounter)
        listed = _refs(enc.get("diagnosis"), "Condition") - {c["id"] for c in conditions}
        conditions = (await reader.by_ids("Condition", listed)) + conditions
        data = EncounterData(
            encounter=enc,
            patient=patient,
            organization=organizations[0] if organizations else None,
            conditions=conditions,
            medication_requests=await reader.find("MedicationRequest", by_encounter),
            medication_administrations=await reader.find("MedicationAdministration", [("context", ref)]),
            medication_dispenses=await reader.find("MedicationDispense", [("context", ref)]),
            charge_items=await reader.find("ChargeItem", [("context", ref)]),
            procedures=await reader.find("Procedure", by_encounter),
            service_requests=await reader.find("ServiceRequest", by_encounter),
            observations=await reader.find("Observation", by_encounter),
            reports=await reader.find("DiagnosticReport", by_encounter),
            impressions=await reader.find("ClinicalImpression", by_encounter),
            compositions=await reader.find("Composition", by_encounter),
            appointments=await reader.find("Appointment", [("supporting-info", ref)]),
        )
        basics = await reader.find(
            "Basic", [("subject", f"Patient/{patient['id']}"), ("code", f"{t.CLAIM_TABLE}|")]
        )
        facility_code = t.identifier_value(organizations[0], t.FACILITY_SYSTEM) if organizations else ""
        ma_lk = t.identifier_value(enc, t.MA_LK_PREFIX, prefix=True)
        prefix = f"{facility_code}|{ma_lk}|"
        data.basics = [b for b in basics if t.identifier_value(b, t.CLAIM_ROW).startswith(prefix)]
        everything: list[Any] = [
            enc,
            data.conditions,
            data.medication_requests,
            data.medication_administrations,
        ]
        everything += [data.medication_dispenses, data.charge_items, data.procedures, data.service_requests]
        everything += [
            data.observations,
            data.reports,
            data.impressions,
            data.compositions,
            data.appointments,
        ]
        practitioners = await reader.by_ids("Practitioner", _refs(everything, "Practitioner"))
        data.practitioners = {f"Practitioner/{p['id']}": p for p in practitioners}
    return data


def claim_files(data: EncounterData) -> tuple[str, list[tuple[str, bytes]]]:
    """The facility code and the ``(LOAIHOSO, table XML)`` of an Encounter's claim, every table checked;
    raises :class:`ClaimInvalid` (every fault) or :class:`ExportError`."""
    records = claim_tables(data)
    files: list[tuple[str, bytes]] = []
    errors: list[FieldError] = []
    for name, rows in records.items():
        content = write_table(name, rows)
        errors.extend(validate_table(name, content))
        files.append((name, content))
    if errors:
        raise ClaimInvalid(errors)
    return records["XML1"][0]["MA_CSKCB"], files


async def export_claim(
    store: FhirStore,
    encounter_id: str,
    *,
    key: SigningKey | None = None,
    restriction: Restriction | None = None,
    created: datetime | None = None,
) -> bytes:
    """The ``GIAMDINHHS`` file of Encounter ``encounter_id``: signed with ``key`` (the facility's), or
    unsigned (with an empty signature placeholder) when ``key`` is None."""
    data = await encounter_data(store, encounter_id, restriction=restriction)
    facility, files = claim_files(data)
    document = build_envelope(facility, [files], created=created)
    return sign_envelope(document, key) if key is not None else document
