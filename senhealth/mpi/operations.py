"""``Patient/$match``: the patient index's answer to "which records are this person?".

Spec: https://hl7.org/fhir/R4/patient-operation-match.html (OperationDefinition
http://hl7.org/fhir/OperationDefinition/Patient-match). Input: ``resource`` (the Patient to match,
required), ``onlyCertainMatches`` (only ``certain`` answers), ``count`` (the most to return). Output: a
``searchset`` Bundle of Patients, most likely first, each entry with ``search.score`` (0–1) and the
extension http://hl7.org/fhir/StructureDefinition/match-grade (``certain`` / ``probable`` /
``possible`` / ``certainly-not``).

Candidates come from the store's search (:func:`senhealth.fhir.search.execute.search`, under the
caller's access restriction): the Patients with the same personal ID (CCCD) identifier, and those with
the same family name (the store's normalised string match: case and diacritics folded) or the same
given name, born the same year. They are scored with the matcher of :mod:`senhealth.mpi.match`
(deterministic personal ID + the trained Splink model), graded on its thresholds:

- ``certain``: an automatic link (same well-formed CCCD that neither record contradicts, or match
  probability ≥ ``Thresholds.link``);
- ``probable``: probability ≥ ``Thresholds.review`` (the review queue's band);
- ``possible``: probability ≥ :data:`POSSIBLE`, or a shared CCCD that a record contradicts;
- ``certainly-not``: a pair a reviewer decided ``distinct`` in the review queue (only when the posted
  Patient has an ``id``), answered with score 0 after the others.

Records merged away (a ``replaced-by`` link) and the posted Patient itself are not returned. The
Patients returned are handed to the audit sink as a ``search`` event (the REST layer records the
operation itself without them).

Register with :func:`register_mpi_operations` (``senhealth/app.py`` at start-up; tests in a fixture,
then :func:`unregister_mpi_operations`); it also puts ``Patient/$everything`` over linked records
(:mod:`senhealth.mpi.patient_everything`) in place of the core's.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Final

from senhealth.core.db import transaction
from senhealth.fhir.access import AccessEvent, access_policy, audit_sink, current_principal
from senhealth.fhir.operations.patient_everything import set_everything_handler
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)
from senhealth.fhir.search.execute import Row, search
from senhealth.fhir.search.request import parse_search
from senhealth.mpi.identifiers import CCCD_SYSTEM, parse_cccd
from senhealth.mpi.match import Thresholds, deduplicate
from senhealth.mpi.names import split_name
from senhealth.mpi.patient_everything import MayShare, linked_everything
from senhealth.mpi.record import Candidate, candidate_from_patient

__all__ = [
    "DEFAULT_COUNT",
    "MATCH",
    "MATCH_GRADE",
    "POSSIBLE",
    "grade",
    "register_mpi_operations",
    "run_match",
    "unregister_mpi_operations",
]

MATCH_GRADE: Final = "http://hl7.org/fhir/StructureDefinition/match-grade"
#: The lowest match probability answered (as ``possible``).
POSSIBLE: Final = 0.1
DEFAULT_COUNT: Final = 10
MAX_COUNT: Final = 100
#: The most candidates each search brings (the scorer's input stays small).
PER_SEARCH: Final = 50
QUERY_ID: Final = "$match"  # the posted Patient's id among the candidates ('$' is never in a FHIR id)
_GRADE_ORDER: Final = {"certain": 0, "probable": 1, "possible": 2, "certainly-not": 3}


def grade(probability: float, *, linked: bool, thresholds: Thresholds | None = None) -> str:
    """The match grade of a scored pair: ``certain`` when linked, else by probability."""
    thresholds = thresholds or Thresholds()
    if linked:
        return "certain"
    if probability >= thresholds.review:
        return "probable"
    return "possible"


def _escape(value: str) -> str:
    """A search parameter value with FHIR's escapes (https://hl7.org/fhir/R4/search.html#escaping)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("$", "\\$").replace("|", "\\|")


def _resource(call: OperationCall) -> dict[str, Any]:
    values = call.params.get("resource") or []
    if len(values) != 1:
        raise OperationError(
            400, "$match takes exactly one 'resource' parameter (a Patient)", "required", "resource"
        )
    resource = values[0]
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        raise OperationError(400, "The 'resource' parameter must be a Patient", expression="resource")
    return resource


def _flag(call: OperationCall, name: str) -> bool:
    value = call.first(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise OperationError(400, f"Parameter {name!r} must be a boolean", expression=name)


def _criteria(query: Candidate) -> list[list[tuple[str, str]]]:
    """The searches that bring candidates: same CCCD; same family name or given name and birth year."""
    out: list[list[tuple[str, str]]] = []
    cccd = parse_cccd(query.cccd) if query.cccd else None
    if cccd is not None:
        out.append([("identifier", f"{CCCD_SYSTEM}|{cccd.value}")])
    family, _, given = split_name(family=query.family, given=query.given, text=query.text)
    if query.birth_date is not None:
        year = str(query.birth_date.year)
        if family:
            out.append([("family", _escape(family)), ("birthdate", year)])
        if given:
            out.append([("given", _escape(given)), ("birthdate", year)])
    return out


def _merged_away(content: dict[str, Any]) -> bool:
    return any(isinstance(e, dict) and e.get("type") == "replaced-by" for e in content.get("link") or [])


async def _candidates(
    call: OperationCall, query: Candidate, own_id: str | None
) -> tuple[dict[str, Row], set[str]]:
    """The candidate Patients by id, and the ids a reviewer decided are not ``own_id``'s person."""
    restriction = access_policy().restriction(current_principal().get(), "operation")
    param_ids = await call.store.param_ids()
    found: dict[str, Row] = {}
    distinct: set[str] = set()
    async with transaction(call.store.pool) as conn:
        for criteria in _criteria(query):
            request = parse_search(
                "Patient",
                [*criteria, ("_count", str(PER_SEARCH))],
                strict=True,
                base_urls=call.store.base_urls,
            )
            result = await search(conn, request, param_ids, restriction=restriction)
            for row in result.matches:
                if row.res_id != own_id and not _merged_away(row.content):
                    found.setdefault(row.res_id, row)
        if own_id and found:
            cur = await conn.execute(
                "SELECT CASE WHEN patient_a = %s THEN patient_b ELSE patient_a END FROM mpi_review "
                "WHERE status = 'distinct' AND (patient_a = %s OR patient_b = %s)",
                (own_id, own_id, own_id),
            )
            distinct = {str(r[0]) for r in await cur.fetchall()}
    return found, distinct


async def _audit(call: OperationCall, ids: list[str]) -> None:
    if not ids:
        return
    event = AccessEvent(
        when=datetime.now(UTC),
        principal=current_principal().get(),
        action="search",
        res_type="Patient",
        query="$match",
        patients=sorted(ids),
        details={"operation": "match"},
    )
    async with transaction(call.store.pool) as conn:
        await audit_sink().record(conn, event)


async def run_match(call: OperationCall) -> OperationResult:
    """Find, score and grade the Patients that may be the posted one."""
    resource = _resource(call)
    only_certain = _flag(call, "onlyCertainMatches")
    count = call.integer("count")
    count = DEFAULT_COUNT if count is None else min(count, MAX_COUNT)
    own_id = resource.get("id") if isinstance(resource.get("id"), str) else None
    query = candidate_from_patient({**resource, "id": QUERY_ID})
    rows, distinct = await _candidates(call, query, own_id)
    thresholds = Thresholds()
    scored: list[tuple[str, float, str, bool]] = []  # (id, score, grade, same personal ID)
    if rows:
        people = [query, *(candidate_from_patient(r.content) for r in rows.values())]
        result = await asyncio.to_thread(
            deduplicate, people, Thresholds(link=thresholds.link, review=POSSIBLE)
        )
        for pairs, linked in ((result.links, True), (result.review, False)):
            for pair in pairs:
                if QUERY_ID not in (pair.left, pair.right):
                    continue
                other = pair.right if pair.left == QUERY_ID else pair.left
                same_id = "same personal ID" in pair.reasons
                if other in distinct:
                    scored.append((other, 0.0, "certainly-not", same_id))
                else:
                    p = pair.probability
                    scored.append((other, round(p, 4), grade(p, linked=linked), same_id))
    if only_certain:
        scored = [s for s in scored if s[2] == "certain"]
    # most likely first; among equals, a shared personal ID first, then by id (a stable answer)
    scored.sort(key=lambda s: (_GRADE_ORDER[s[2]], -s[1], not s[3], s[0]))
    scored = scored[:count]
    entries = [
        {
            "fullUrl": f"{call.base_url}/Patient/{res_id}",
            "resource": rows[res_id].content,
            "search": {
                "extension": [{"url": MATCH_GRADE, "valueCode": match_grade}],
                "mode": "match",
                "score": score,
            },
        }
        for res_id, score, match_grade, _ in scored
    ]
    await _audit(call, [s[0] for s in scored])
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(entries)}
    if entries:
        bundle["entry"] = entries
    return OperationResult(bundle)


MATCH: Final = Operation(
    name="match",
    handler=run_match,
    levels=frozenset({"type"}),
    resource_types=frozenset({"Patient"}),
    definition="http://hl7.org/fhir/OperationDefinition/Patient-match",
    documentation=(
        "Patients that may be the posted one (resource, onlyCertainMatches, count), graded "
        "certain / probable / possible / certainly-not by the patient index."
    ),
)


def register_mpi_operations(*, may_share: MayShare | None = None) -> None:
    """Register the patient index's operations; calling it again replaces them (harmless).

    - ``Patient/$match`` (this module);
    - ``Patient/[id]/$everything`` over the records linked to the patient, through the core's hook
      (:mod:`senhealth.mpi.patient_everything`, https://hl7.org/fhir/R4/patient-operation-everything.html).

    ``may_share(conn, patient_ids) -> set of ids``: the sharing decision for linked records the access
    policy does not let the caller see (records kept by other facilities): it gets those linked
    Patient ids and returns the ones whose records may be shared with the caller (the caller is
    :func:`senhealth.fhir.access.current_principal`; ``conn`` is an open connection in a transaction).
    ``None``: share them all. Records the policy lets the caller see are included without asking it.
    ``senhealth/app.py`` passes the consent module's decision; the patient index does not import it.
    """
    register(MATCH, replace=True)
    set_everything_handler(linked_everything(may_share))


def unregister_mpi_operations() -> None:
    """Remove what :func:`register_mpi_operations` registered, and put the core's ``$everything`` back (tests)."""
    unregister(MATCH.name)
    set_everything_handler(None)
