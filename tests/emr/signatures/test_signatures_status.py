"""The first signature makes a draft document final: the stored Composition and the signed Bundle both say
``final`` (so does its print); when signing fails (no timestamp), nothing is signed and the draft is a draft
again."""

from __future__ import annotations

from typing import Any

import pytest
from emr_pki_support import TestPki
from signatures_support import AUTHOR, COMPOSITION, FACILITY, composition, ref, run_store, seed

from senhealth.emr.signatures import Signer, pki_services, sign_document
from senhealth.emr.signatures.records import signed_records
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store import FhirStore

BASE = "http://benhvien.example.vn/fhir"


def test_first_signature_makes_the_draft_final(settings: Any, pki: TestPki) -> None:
    signer = Signer(
        "author", pki.issue_user("bs.lan"), ref("Practitioner", AUTHOR), ref("Organization", FACILITY)
    )

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        await store.update(composition(status="preliminary"))
        pki.tsa_available = False
        with pytest.raises(OperationError) as refused:
            await sign_document(store, COMPOSITION, signer, pki_services(settings), base_url=BASE)
        assert refused.value.status == 503
        stored = (await store.read("Composition", COMPOSITION)).content
        assert stored is not None and stored["status"] == "preliminary"
        assert (await signed_records(store, COMPOSITION)).latest is None
        pki.tsa_available = True
        result = await sign_document(store, COMPOSITION, signer, pki_services(settings), base_url=BASE)
        stored = (await store.read("Composition", COMPOSITION)).content
        assert stored is not None and stored["status"] == "final"
        entry = result.bundle["entry"][0]["resource"]
        assert entry["status"] == "final" and entry["meta"]["versionId"] == stored["meta"]["versionId"]

    run_store(settings.database_url, scenario)
