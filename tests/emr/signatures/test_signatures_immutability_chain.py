"""Signed documents are immutable; a correction is a new signed Composition that replaces the original.

Spec: https://hl7.org/fhir/R4/http.html#update / #delete, https://hl7.org/fhir/R4/composition-definitions.html#Composition.relatesTo;
Circular 13/2025 (no overwriting of signed content; both versions stay visible).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from emr_pki_support import TestPki
from signatures_support import AUTHOR, COMPOSITION, HEAD, composition, ref, run_store, seed

from senhealth.emr.signatures import (
    Signer,
    SigningRefused,
    amend_document,
    document_chain,
    document_signatures,
    install_immutability_guard,
    pki_services,
    remove_immutability_guard,
    sign_document,
)
from senhealth.emr.signatures.immutability import SignedRecordLocked
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store import FhirStore

BASE = "http://benhvien.example.vn/fhir"


def author(key: Any) -> Signer:
    return Signer("author", key, ref("Practitioner", AUTHOR, "BS. Lê Văn Lân"))


def test_guard_refuses_changes_to_signed_records(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")
    install_immutability_guard()

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        await seed(store, "comp-unsigned")
        result = await sign_document(store, COMPOSITION, author(key), pki_services(settings), base_url=BASE)
        changed = composition(title="Giấy ra viện (đã sửa)")
        with pytest.raises(SignedRecordLocked) as refused:
            await store.update(changed)
        assert refused.value.status == 422 and "$amend" in refused.value.message
        with pytest.raises(SignedRecordLocked) as refused:
            await store.delete("Composition", COMPOSITION)
        assert refused.value.status == 409
        assert (await store.read("Composition", COMPOSITION)).version == 1  # nothing was written
        # a change of meta only (a label, a legal hold) is outside the signed content: allowed
        labelled = composition(
            meta={
                "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "LEGAL"}]
            }
        )
        stored, _ = await store.update(labelled)
        assert stored.version == 2
        # an unsigned Composition is edited as usual
        stored, _ = await store.update(composition("comp-unsigned", title="Nháp / draft"))
        assert stored.version == 2
        # the signed Bundle and the signature Provenance are never changed or deleted
        bundle = dict(result.bundle)
        bundle["timestamp"] = "2020-01-01T00:00:00.000Z"
        with pytest.raises(SignedRecordLocked) as refused:
            await store.update(bundle)
        assert refused.value.status == 409
        with pytest.raises(SignedRecordLocked):
            await store.delete("Bundle", result.bundle_id)
        with pytest.raises(SignedRecordLocked):
            await store.delete("Provenance", result.provenance_id)
        # nobody forges a signed document or a signature record through the store
        forged = copy.deepcopy(result.bundle)
        forged.pop("id")
        with pytest.raises(SignedRecordLocked) as refused:
            await store.create(forged)
        assert refused.value.status == 403
        fake = copy.deepcopy(result.provenance)
        fake.pop("id")
        with pytest.raises(SignedRecordLocked):
            await store.create(fake)
        plain = copy.deepcopy(result.bundle)
        plain.pop("id")
        plain["meta"] = {"tag": [{"system": "http://example.org/tags", "code": "copy"}]}
        copied = await store.create(plain)  # an untagged copy is just a Bundle
        assert copied.version == 1
        # everything still verifies
        infos = await document_signatures(store, COMPOSITION, services=pki_services(settings))
        assert [i.valid for i in infos] == [True]

    try:
        run_store(settings.database_url, scenario)
    finally:
        remove_immutability_guard()


def test_without_the_guard_nothing_is_refused(settings: Any, pki: TestPki) -> None:
    """The guard is what refuses (and it is gone after ``remove_immutability_guard``)."""
    key = pki.issue_user("bs.lan")

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        await sign_document(store, COMPOSITION, author(key), pki_services(settings), base_url=BASE)
        stored, _ = await store.update(composition(title="sửa thẳng"))
        assert stored.version == 2

    run_store(settings.database_url, scenario)


def test_amendment_chain_both_signed_and_visible(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")
    head = pki.issue_user("bs.hoa")
    services = pki_services(settings)
    install_immutability_guard()

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        original = await sign_document(store, COMPOSITION, author(key), services, base_url=BASE)
        await sign_document(store, COMPOSITION, Signer("verifier", head, ref("Practitioner", HEAD)), services)
        corrected = composition(title="Giấy ra viện (bản sửa đổi)")
        corrected["section"][0]["text"]["div"] = (
            '<div xmlns="http://www.w3.org/1999/xhtml">Viêm phổi thùy (J18.1)</div>'
        )
        amended = await amend_document(store, COMPOSITION, corrected, author(key), services, base_url=BASE)
        new_id = amended.composition["id"]
        assert new_id != COMPOSITION
        assert amended.composition["status"] == "amended"
        assert amended.composition["relatesTo"] == [
            {"code": "replaces", "targetReference": {"reference": f"Composition/{COMPOSITION}"}}
        ]
        assert amended.signed.created_bundle and amended.signed.bundle_id != original.bundle_id
        # the original is untouched, still signed and valid
        first = await store.read("Composition", COMPOSITION)
        assert first.version == 1 and first.content is not None and first.content["status"] == "final"
        for start in (COMPOSITION, new_id):
            chain = await document_chain(store, start, services=services)
            assert [link.composition for link in chain] == [
                f"Composition/{COMPOSITION}",
                f"Composition/{new_id}",
            ]
            assert (
                chain[0].replaced_by == [f"Composition/{new_id}"]
                and chain[1].replaces == f"Composition/{COMPOSITION}"
            )
            assert [[s.role for s in link.signatures] for link in chain] == [
                ["author", "verifier"],
                ["author"],
            ]
            assert all(s.valid for link in chain for s in link.signatures)
            assert all(link.signed for link in chain)
        # the original is not amended twice: amend the latest
        with pytest.raises(OperationError) as refused:
            await amend_document(store, COMPOSITION, corrected, author(key), services)
        assert refused.value.status == 409 and new_id in refused.value.message
        # a second correction extends the line
        third = await amend_document(
            store, new_id, composition(title="Giấy ra viện (sửa lần 2)"), author(key), services
        )
        chain = await document_chain(store, COMPOSITION, verify=False)
        assert [link.composition for link in chain][-1] == f"Composition/{third.composition['id']}"
        assert len(chain) == 3 and all(link.signatures == [] for link in chain)

    try:
        run_store(settings.database_url, scenario)
    finally:
        remove_immutability_guard()


def test_amendment_refusals_leave_nothing(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")
    services = pki_services(settings)

    async def count(store: FhirStore) -> int:
        async with store.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM fhir_resource WHERE res_type = 'Composition'")
            row = await cur.fetchone()
            assert row is not None
            return int(row[0])

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        with pytest.raises(OperationError) as refused:  # not signed: update it instead
            await amend_document(store, COMPOSITION, composition(), author(key), services)
        assert refused.value.status == 422
        await sign_document(store, COMPOSITION, author(key), services, base_url=BASE)
        other_patient = composition(subject=ref("Patient", "someone-else"))
        with pytest.raises(OperationError) as refused:
            await amend_document(store, COMPOSITION, other_patient, author(key), services)
        assert refused.value.status == 422 and refused.value.expression == "Composition.subject"
        before = await count(store)
        pki.revoke(key)
        with pytest.raises(SigningRefused):  # the correction cannot be signed: it is not created either
            await amend_document(store, COMPOSITION, composition(title="x"), author(key), services)
        assert await count(store) == before

    run_store(settings.database_url, scenario)
