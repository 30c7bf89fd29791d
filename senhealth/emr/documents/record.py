"""A patient's clinical record as the documents and exchange formats read it: the patient, their
encounters and the clinical resources of each, and the organisations and practitioners they name.

Spec: https://hl7.org/fhir/R4/compartmentdefinition-patient.html (what belongs to a patient) and
https://hl7.org/fhir/R4/encounter.html (``encounter`` on Condition, Observation, MedicationRequest,
Procedure, ServiceRequest, DiagnosticReport, ImagingStudy: what belongs to one visit or stay).

:func:`load_record` runs one compartment search per resource type (paged, at most
:data:`MAX_PER_TYPE` resources each) under the caller's access restriction, then reads the resources
they reference outside the compartment (Organization, Practitioner, PractitionerRole, Location,
Medication). An unknown or invisible patient is :class:`DocumentError` 404.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from senhealth.core.db import transaction
from senhealth.emr.documents.document import DocumentError
from senhealth.emr.documents.values import ICD10_SYSTEMS, codings, first_code, parse_datetime, reference_key
from senhealth.fhir.access import Restriction
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.fhir.store import read as read_ops

__all__ = ["CLINICAL_TYPES", "MAX_PER_TYPE", "ClinicalRecord", "load_record"]

#: The compartment types a record holds, in the order the exports list them.
CLINICAL_TYPES: Final = (
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "Immunization",
    "Observation",
    "DiagnosticReport",
    "ImagingStudy",
    "MedicationRequest",
    "MedicationStatement",
    "Procedure",
    "ServiceRequest",
    "Appointment",
    "FamilyMemberHistory",
    "RelatedPerson",
    "Composition",
)
_SHARED_TYPES: Final = frozenset(
    {"Organization", "Practitioner", "PractitionerRole", "Location", "Medication"}
)
MAX_PER_TYPE: Final = 5000
_PAGE: Final = 1000
_DIAGNOSIS_ROLE: Final = "http://terminology.hl7.org/CodeSystem/diagnosis-role"


def _when(resource: Mapping[str, Any]) -> str:
    for key in (
        "effectiveDateTime",
        "authoredOn",
        "performedDateTime",
        "occurrenceDateTime",
        "recordedDate",
        "issued",
        "onsetDateTime",
        "start",
        "date",
    ):
        value = resource.get(key)
        if isinstance(value, str):
            return value
    for key in ("period", "effectivePeriod", "performedPeriod"):
        period = resource.get(key)
        if isinstance(period, Mapping) and isinstance(period.get("start"), str):
            return str(period["start"])
    return ""


def _sort_key(resource: Mapping[str, Any]) -> tuple[float, str]:
    moment = parse_datetime(_when(resource))
    return (moment.timestamp() if moment else 0.0, str(resource.get("id", "")))


@dataclass
class ClinicalRecord:
    """What the store holds for one patient (see the module docstring)."""

    patient: dict[str, Any]
    by_type: dict[str, list[dict[str, Any]]]
    shared: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Type/id" -> resource
    base_urls: tuple[str, ...] = ()

    @property
    def patient_id(self) -> str:
        return str(self.patient["id"])

    def of_type(self, res_type: str) -> list[dict[str, Any]]:
        return self.by_type.get(res_type, [])

    @property
    def encounters(self) -> list[dict[str, Any]]:
        """The encounters, oldest first."""
        return self.of_type("Encounter")

    def encounter(self, encounter_id: str) -> dict[str, Any] | None:
        return next((e for e in self.encounters if e.get("id") == encounter_id), None)

    def key(self, ref: Any) -> str | None:
        return reference_key(ref, self.base_urls)

    def resolve(self, ref: Any) -> dict[str, Any] | None:
        """The resource a Reference points at, among the record and the shared resources."""
        key = self.key(ref)
        if key is None:
            return None
        if key in self.shared:
            return self.shared[key]
        res_type, res_id = key.split("/", 1)
        if res_type == "Patient" and res_id == self.patient_id:
            return self.patient
        return next((r for r in self.of_type(res_type) if r.get("id") == res_id), None)

    def for_encounter(self, res_type: str, encounter_id: str) -> list[dict[str, Any]]:
        """The resources of ``res_type`` that name ``Encounter/{encounter_id}`` as their encounter."""
        want = f"Encounter/{encounter_id}"
        return [r for r in self.of_type(res_type) if self.key(r.get("encounter") or r.get("context")) == want]

    def outside_encounters(self, res_type: str) -> list[dict[str, Any]]:
        """The resources of ``res_type`` that belong to no encounter (the problem list, history)."""
        return [r for r in self.of_type(res_type) if not (r.get("encounter") or r.get("context"))]

    def diagnoses(self, encounter_id: str, uses: tuple[str, ...]) -> list[dict[str, Any]]:
        """The encounter's Conditions with one of the diagnosis ``uses`` (``AD``, ``DD``, ``billing``...),
        in ``Encounter.diagnosis`` rank order; ``()``: every diagnosis the encounter lists."""
        enc = self.encounter(encounter_id)
        if enc is None:
            return []
        ranked: list[tuple[int, int, dict[str, Any]]] = []
        for i, dx in enumerate(enc.get("diagnosis") or []):
            if not isinstance(dx, Mapping):
                continue
            use = {str(c.get("code")) for c in codings(dx.get("use")) if c.get("system") == _DIAGNOSIS_ROLE}
            if uses and not use & set(uses):
                continue
            cond = self.resolve(dx.get("condition"))
            if cond is not None and cond.get("resourceType") == "Condition":
                rank_value = dx.get("rank")
                rank = rank_value if isinstance(rank_value, int) else 999
                ranked.append((rank, i, cond))
        ranked.sort(key=lambda t: (t[0], t[1]))
        out: list[dict[str, Any]] = []
        for _, _, cond in ranked:
            if all(c.get("id") != cond.get("id") for c in out):
                out.append(cond)
        return out

    def main_and_other(self, encounter_id: str) -> list[dict[str, Any]]:
        """The encounter's final diagnoses, main first: ``DD`` (discharge), else ``billing``, else every
        ``Encounter.diagnosis`` but the admission ones, else the Conditions recorded in the encounter."""
        for uses in (("DD",), ("billing",)):
            found = self.diagnoses(encounter_id, uses)
            if found:
                return found
        admission = {c.get("id") for c in self.diagnoses(encounter_id, ("AD",))}
        listed = [c for c in self.diagnoses(encounter_id, ()) if c.get("id") not in admission]
        if listed:
            return listed
        return [c for c in self.for_encounter("Condition", encounter_id) if c.get("id") not in admission]

    def icd10(self, condition: Mapping[str, Any]) -> str | None:
        return first_code(condition.get("code"), ICD10_SYSTEMS)

    def all_resources(self) -> Iterator[dict[str, Any]]:
        yield self.patient
        for res_type in CLINICAL_TYPES:
            yield from self.of_type(res_type)


async def load_record(
    store: FhirStore,
    patient_id: str,
    *,
    restriction: Restriction | None = None,
    types: tuple[str, ...] = CLINICAL_TYPES,
) -> ClinicalRecord:
    """The record of ``Patient/{patient_id}`` (404 :class:`DocumentError` when unknown or not visible)."""
    param_ids = await store.param_ids()
    by_type: dict[str, list[dict[str, Any]]] = {}
    async with transaction(store.pool) as conn:
        found = await search(
            conn,
            parse_search("Patient", [("_id", patient_id)], strict=True, base_urls=store.base_urls),
            param_ids,
            restriction=restriction,
        )
        if not found.matches:
            raise DocumentError(404, f"Patient/{patient_id} is not known", "not-found")
        patient = found.matches[0].content
        for res_type in types:
            rows: list[dict[str, Any]] = []
            cursor: str | None = None
            while True:
                criteria = [("_count", str(_PAGE))] + ([("_cursor", cursor)] if cursor else [])
                request = parse_search(res_type, criteria, strict=True, base_urls=store.base_urls)
                page = await search(
                    conn, request, param_ids, compartment=("Patient", patient_id), restriction=restriction
                )
                rows += [r.content for r in page.matches]
                cursor = page.next_cursor
                if not cursor or len(rows) >= MAX_PER_TYPE:
                    break
            rows.sort(key=_sort_key)
            by_type[res_type] = rows
        record = ClinicalRecord(patient, by_type, {}, store.base_urls)
        wanted: set[str] = set()
        for resource in record.all_resources():
            _collect_shared(resource, record, wanted)
        # one level further: a PractitionerRole's practitioner and organization, a Location's owner
        for _ in range(2):
            new: set[str] = set()
            for key in sorted(wanted - set(record.shared)):
                res_type, res_id = key.split("/", 1)
                try:
                    stored = await read_ops.read(conn, res_type, res_id)
                except (NotFound, Gone):
                    continue
                if stored.content is not None:
                    record.shared[key] = stored.content
                    _collect_shared(stored.content, record, new)
            wanted = new - set(record.shared)
            if not wanted:
                break
    return record


def _collect_shared(node: Any, record: ClinicalRecord, into: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found = record.key(value)
                if found is not None and found.split("/", 1)[0] in _SHARED_TYPES:
                    into.add(found)
            elif isinstance(value, dict | list):
                _collect_shared(value, record, into)
    elif isinstance(node, list):
        for item in node:
            _collect_shared(item, record, into)
