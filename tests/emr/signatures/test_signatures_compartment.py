"""A signed document and its signatures belong to the patient's compartment (pkey = the patient), so the
access policy treats them as that patient's data: another patient, or a clinician of a facility with no
care relationship, cannot read or find them. R4's compartment definition has no Bundle and counts a
Provenance only when it targets the Patient itself; the platform parameters ``Bundle.patient`` and
``Provenance.record-subject`` (senhealth.fhir.model.search_parameters) close that gap.
"""

from __future__ import annotations

from typing import Any

from emr_pki_support import TestPki
from signatures_support import AUTHOR, COMPOSITION, FACILITY, PATIENT, ref, run_store, seed

from senhealth.emr.signatures import Signer, pki_services, sign_document
from senhealth.fhir.access import Restriction
from senhealth.fhir.search import execute
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore

BASE = "http://benhvien.example.vn/fhir"


async def _search(store: FhirStore, res_type: str, params: list[tuple[str, str]], **kw: Any) -> list[str]:
    ids = await store.param_ids()
    async with store.pool.connection() as conn:
        result = await execute.search(conn, parse_search(res_type, params), ids, **kw)
    return [row.res_id for row in result.matches]


def test_signed_bundle_and_provenance_are_in_the_patients_compartment(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan", "BS. Lê Văn Lân")
    signer = Signer("author", key, ref("Practitioner", AUTHOR), ref("Organization", FACILITY))

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        result = await sign_document(store, COMPOSITION, signer, pki_services(settings), base_url=BASE)
        bundle = await store.read("Bundle", result.bundle_id)
        prov = await store.read("Provenance", result.provenance_id)
        assert bundle.pkey == PATIENT and prov.pkey == PATIENT
        # searchable by patient, and hidden from a restriction that does not include the patient
        assert await _search(store, "Bundle", [("patient", f"Patient/{PATIENT}")]) == [result.bundle_id]
        found = await _search(store, "Provenance", [("record-subject", f"Patient/{PATIENT}")])
        assert result.provenance_id in found
        other = Restriction(patients=frozenset({"someone-else"}))
        assert await _search(store, "Bundle", [], restriction=other) == []
        assert await _search(store, "Provenance", [], restriction=other) == []
        own = Restriction(patients=frozenset({PATIENT}))
        assert await _search(store, "Bundle", [], restriction=own) == [result.bundle_id]

    run_store(settings.database_url, scenario)
