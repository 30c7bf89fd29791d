"""Which Patient a claim file is about: the patient index's identifiers, strongest first.

Spec: the identifiers of :mod:`senhealth.mpi.identifiers` (personal ID, insurance card) and the
matching rules of :mod:`senhealth.mpi.match` (a shared well-formed personal ID that neither record
contradicts is the same person; numbers are re-issued and mistyped, so a contradiction is not a match);
FHIR search on ``identifier`` (https://hl7.org/fhir/R4/search.html#token).

Deterministic, as an import must be (the same file always goes to the same Patient):

1. the personal ID (``SO_CCCD``, 12 digits): a Patient with that identifier whose sex and birth year
   do not contradict it (:func:`senhealth.mpi.identifiers.cccd_conflicts`);
2. the insurance card (``MA_THE_BHYT``, each card): a Patient with that card and the same birth date
   and sex;
3. the facility's own patient number (``MA_BN`` at ``MA_CSKCB``): the Patient a previous file of the same
   facility made.

A record merged away (a ``replaced-by`` link) answers with the record that replaced it. No match: the
caller creates a Patient (whose identifiers make the next file match); the patient index's batch
de-duplication (``senhealth mpi dedup``) later links what these rules could not. The search sees every
Patient (no access restriction): an import that missed a Patient the caller may not see would create a
duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.emr.claims import fhir_terms as t
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore
from senhealth.mpi.identifiers import cccd_conflicts, parse_bhyt, parse_cccd

__all__ = ["match_patient"]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("$", "\\$").replace("|", "\\|")


def _replaced_by(content: Mapping[str, Any]) -> str | None:
    for link in content.get("link") or []:
        if link.get("type") == "replaced-by":
            ref = str((link.get("other") or {}).get("reference") or "")
            if ref.startswith("Patient/"):
                return ref[8:]
    return None


def _birth(xml1: Mapping[str, str]) -> str:
    text = xml1.get("NGAY_SINH", "")
    if len(text) < 8 or text[4:8] == "0000":
        return text[:4]
    if text[6:8] == "00":
        return f"{text[:4]}-{text[4:6]}"
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}"


def _gender(xml1: Mapping[str, str]) -> str | None:
    return {"1": "male", "2": "female"}.get(xml1.get("GIOI_TINH", ""))


async def _candidates(
    store: FhirStore, conn: AsyncConnection[TupleRow], param_ids: Any, system: str, value: str
) -> list[dict[str, Any]]:
    request = parse_search(
        "Patient", [("identifier", f"{system}|{_escape(value)}"), ("_count", "20")], base_urls=store.base_urls
    )
    result = await search(conn, request, param_ids)
    return [row.content for row in sorted(result.matches, key=lambda r: r.res_id)]


async def _resolve(
    store: FhirStore, conn: AsyncConnection[TupleRow], param_ids: Any, patient: dict[str, Any]
) -> str:
    seen: set[str] = set()
    current = patient
    while (nxt := _replaced_by(current)) is not None and nxt not in seen:
        seen.add(str(current.get("id")))
        found = await search(
            conn, parse_search("Patient", [("_id", nxt)], base_urls=store.base_urls), param_ids
        )
        if not found.matches:
            break
        current = found.matches[0].content
    return str(current["id"])


async def match_patient(
    store: FhirStore, conn: AsyncConnection[TupleRow], param_ids: Any, xml1: Mapping[str, str]
) -> tuple[str | None, str]:
    """The id of the Patient the XML1 record is about and how it was found (``personal ID``,
    ``insurance card``, ``facility patient number``), or ``(None, "")``."""
    gender, birth = _gender(xml1), _birth(xml1)
    personal = parse_cccd(xml1.get("SO_CCCD", ""))
    if personal is not None:
        for content in await _candidates(store, conn, param_ids, t.CCCD_SYSTEM, personal.value):
            year: int | None = None
            raw = str(content.get("birthDate") or "")
            if raw[:4].isdigit():
                year = int(raw[:4])
            if not cccd_conflicts(personal.value, content.get("gender"), year):
                return await _resolve(store, conn, param_ids, content), "personal ID"
    for card in (c.strip() for c in xml1.get("MA_THE_BHYT", "").split(";")):
        if not card or parse_bhyt(card) is None:
            continue
        for content in await _candidates(store, conn, param_ids, t.BHYT_SYSTEM, card):
            same_birth = str(content.get("birthDate") or "") == birth
            same_sex = gender is None or content.get("gender") in (gender, None)
            if same_birth and same_sex:
                return await _resolve(store, conn, param_ids, content), "insurance card"
    number, facility = xml1.get("MA_BN", ""), xml1.get("MA_CSKCB", "")
    if number and facility:
        system = t.facility_system(t.MA_BN_PREFIX, facility)
        found = await _candidates(store, conn, param_ids, system, number)
        if found:
            return await _resolve(store, conn, param_ids, found[0]), "facility patient number"
    return None, ""
