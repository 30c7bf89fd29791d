"""Signing and verifying documents with real certificates, OCSP, CRL and an RFC 3161 TSA on loopback.

Spec: https://hl7.org/fhir/R4/signatures.html, RFC 7515, RFC 3161; Decree 23/2025 (certificate status at
signing and at verification), Circular 13/2025 Art. 3 (author, counter-signatures, organisation).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from emr_pki_support import TestPki
from signatures_support import AUTHOR, COMPOSITION, FACILITY, HEAD, PATIENT, jws_header, ref, run_store, seed

from senhealth.core import db
from senhealth.emr.pki.keys import SigningKey
from senhealth.emr.pki.timestamp import verify_timestamp
from senhealth.emr.signatures import (
    DOCUMENT_TARGET_FORMAT,
    Signer,
    SigningRefused,
    canonical_document,
    document_signatures,
    pki_services,
    sign_document,
)
from senhealth.emr.signatures.jws import parse_detached
from senhealth.emr.signatures.model import (
    ASTM_SYSTEM,
    EVIDENCE_EXTENSION,
    RECORD_TAG_SYSTEM,
    TIMESTAMP_EXTENSION,
)
from senhealth.emr.signatures.provenance import extension_value
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store import FhirStore

BASE = "http://benhvien.example.vn/fhir"


def author(key: SigningKey) -> Signer:
    return Signer("author", key, ref("Practitioner", AUTHOR, "BS. Lê Văn Lân"), ref("Organization", FACILITY))


def verifier(key: SigningKey) -> Signer:
    return Signer("verifier", key, ref("Practitioner", HEAD, "BS CKII. Phạm Thị Hoa"))


async def tamper_bundle(store: FhirStore, bundle_id: str, change: Any) -> None:
    """Change the stored Bundle behind the store's back (as someone with database access could)."""
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT content::text FROM fhir_resource WHERE res_type = 'Bundle' AND res_id = %s", (bundle_id,)
        )
        row = await cur.fetchone()
        assert row is not None
        content = orjson.loads(row[0])
        change(content)
        await conn.execute(
            "UPDATE fhir_resource SET content = %s::jsonb WHERE res_type = 'Bundle' AND res_id = %s",
            (orjson.dumps(content).decode(), bundle_id),
        )


def test_sign_then_verify_valid(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan", "BS. Lê Văn Lân")
    services = pki_services(settings)

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        before = datetime.now(UTC)
        result = await sign_document(store, COMPOSITION, author(key), services, base_url=BASE)
        assert result.created_bundle
        bundle = (await store.read("Bundle", result.bundle_id)).content
        assert bundle is not None and bundle["type"] == "document"
        assert {"system": RECORD_TAG_SYSTEM, "code": "signed-document"} in bundle["meta"]["tag"]
        assert bundle["entry"][0]["resource"]["id"] == COMPOSITION
        assert bundle["entry"][0]["fullUrl"] == f"{BASE}/Composition/{COMPOSITION}"
        sig = bundle["signature"]
        assert sig["sigFormat"] == "application/jose" and sig["targetFormat"] == DOCUMENT_TARGET_FORMAT
        assert sig["type"] == [
            {"system": ASTM_SYSTEM, "code": "1.2.840.10065.1.12.1.1", "display": "Author's Signature"}
        ]
        assert sig["who"]["reference"] == f"Practitioner/{AUTHOR}"
        header = jws_header(sig)
        assert header["alg"] == "RS256" and header["tstUrl"] == pki.tsa_url
        assert len(header["x5c"]) == 3  # the signer's certificate, the intermediate, the root
        assert header["srCms"][0]["commId"]["id"] == "urn:oid:1.2.840.10065.1.12.1.1"
        assert abs(datetime.fromisoformat(header["sigT"].replace("Z", "+00:00")) - before) < timedelta(
            seconds=5
        )
        # the timestamp is over the JWS signature value and verifies with the TSA's chain
        jws = parse_detached(base64.b64decode(sig["data"]).decode())
        token = base64.b64decode(extension_value(sig, TIMESTAMP_EXTENSION, "valueBase64Binary"))
        stamped = verify_timestamp(token, jws.signature, pki.trust_roots)
        assert abs(stamped - before) < timedelta(seconds=5)
        # the Provenance: targets, agent, the same signature with the evidence of the certificate check
        prov = (await store.read("Provenance", result.provenance_id)).content
        assert prov is not None
        assert [t["reference"] for t in prov["target"]] == [
            f"Bundle/{result.bundle_id}/_history/1",
            f"Composition/{COMPOSITION}/_history/1",
        ]
        assert prov["agent"][0]["type"]["coding"][0]["code"] == "author"
        assert prov["agent"][0]["onBehalfOf"] == ref("Organization", FACILITY)
        assert prov["signature"][0]["data"] == sig["data"]
        assert extension_value(prov["signature"][0], EVIDENCE_EXTENSION, "valueReference") == {
            "reference": "#evidence"
        }
        evidence = orjson.loads(base64.b64decode(prov["contained"][0]["data"]))
        assert evidence["ocsp"] or evidence["crl"]

        infos = await document_signatures(store, COMPOSITION, services=services)
        assert len(infos) == 1
        info = infos[0]
        assert info.valid, info.reason
        assert (info.role, info.kind, info.who) == ("author", "digital-signature", f"Practitioner/{AUTHOR}")
        assert info.signer == "BS. Lê Văn Lân" and info.provenance == f"Provenance/{result.provenance_id}"
        assert info.timestamp == stamped and "valid" in info.reason and "Hợp lệ" in info.reason_vi
        assert info.composition == f"Composition/{COMPOSITION}/_history/1"

    run_store(settings.database_url, scenario)


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (lambda b: b["entry"][-1]["resource"].update(id="swapped"), "changed after signing"),
        (lambda b: b["entry"][0]["resource"].update(title="Giấy ra viện (sửa)"), "changed after signing"),
        (lambda b: b.update(timestamp="2020-01-01T00:00:00.000Z"), "changed after signing"),
        (lambda b: b.pop("signature"), "lost its author signature"),
    ],
)
def test_any_change_to_the_stored_document_is_detected(
    settings: Any, pki: TestPki, change: Any, expect: str
) -> None:
    key = pki.issue_user("bs.lan")
    services = pki_services(settings)

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        result = await sign_document(store, COMPOSITION, author(key), services, base_url=BASE)
        await tamper_bundle(store, result.bundle_id, change)
        infos = await document_signatures(store, COMPOSITION, services=services)
        assert infos and not infos[0].valid
        assert expect in infos[0].reason, infos[0].reason
        # nobody counter-signs a document that no longer matches its author signature
        with pytest.raises(SigningRefused) as refused:
            await sign_document(store, COMPOSITION, verifier(pki.issue_user("bs.hoa")), services)
        assert refused.value.status == 409 and "no longer matches" in refused.value.message

    run_store(settings.database_url, scenario)


def test_revoked_certificate_cannot_sign(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")
    pki.revoke(key, at=datetime.now(UTC) - timedelta(minutes=5))

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        with pytest.raises(SigningRefused) as refused:
            await sign_document(store, COMPOSITION, author(key), pki_services(settings), base_url=BASE)
        assert refused.value.status == 422
        assert "thu hồi" in refused.value.message and "revoked" in refused.value.message
        assert await document_signatures(store, COMPOSITION, services=pki_services(settings)) == []
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM fhir_resource WHERE res_type IN ('Bundle', 'Provenance')"
            )
            assert (await cur.fetchone()) == (0,)  # nothing half-written

    run_store(settings.database_url, scenario)


def test_expired_certificate_cannot_sign(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.cu", expired=True)

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        with pytest.raises(SigningRefused) as refused:
            await sign_document(store, COMPOSITION, author(key), pki_services(settings), base_url=BASE)
        assert refused.value.status == 422
        assert "hết hạn" in refused.value.message and "expired" in refused.value.message

    run_store(settings.database_url, scenario)


def test_signed_then_revoked_stays_valid_at_signing_time(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")
    services = pki_services(settings)

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        await sign_document(store, COMPOSITION, author(key), services, base_url=BASE)
        await asyncio.sleep(1.1)  # revocation times are whole seconds: revoke in a later second
        revoked = pki.revoke(key)
        info = (await document_signatures(store, COMPOSITION, services=services))[0]
        assert info.valid, info.reason
        assert info.revoked_at == revoked and info.timestamp is not None and info.timestamp < revoked
        assert "revoked later" in info.reason and "thu hồi sau đó" in info.reason_vi
        # and the same certificate can no longer sign anything
        with pytest.raises(SigningRefused, match="revoked"):
            await sign_document(
                store, COMPOSITION, verifier(key), services, now=revoked + timedelta(seconds=1)
            )

    run_store(settings.database_url, scenario)


def test_revocation_dated_before_the_timestamp_invalidates(settings: Any, pki: TestPki) -> None:
    """A key reported compromised as of a time before the signature: the signature does not hold."""
    key = pki.issue_user("bs.lan")
    services = pki_services(settings)

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        await sign_document(store, COMPOSITION, author(key), services, base_url=BASE)
        pki.revoke(key, at=datetime.now(UTC) - timedelta(minutes=10))
        info = (await document_signatures(store, COMPOSITION, services=services))[0]
        assert not info.valid
        assert "not valid at the signing time" in info.reason and "revoked" in info.reason

    run_store(settings.database_url, scenario)


def test_counter_signatures_cover_the_same_bytes(settings: Any, pki: TestPki) -> None:
    services = pki_services(settings)
    doctor = pki.issue_user("bs.lan")
    head = pki.issue_user("bs.hoa", "BS CKII. Phạm Thị Hoa")
    patient = pki.issue_user("bn.binh", "Nguyễn Thị Bình")
    facility = pki.issue_organization(FACILITY, "Bệnh viện Đa khoa Sen Hồng")

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        first = await sign_document(store, COMPOSITION, author(doctor), services, base_url=BASE)
        with pytest.raises(SigningRefused) as again:
            await sign_document(store, COMPOSITION, author(doctor), services, base_url=BASE)
        assert again.value.status == 409
        results = [
            await sign_document(store, COMPOSITION, verifier(head), services),
            await sign_document(
                store, COMPOSITION, Signer("patient", patient, ref("Patient", PATIENT)), services
            ),
            await sign_document(
                store, COMPOSITION, Signer("organization", facility, ref("Organization", FACILITY)), services
            ),
        ]
        with pytest.raises(SigningRefused, match="already signed"):
            await sign_document(store, COMPOSITION, verifier(head), services)
        payload = canonical_document(first.bundle)
        for r in results:
            assert not r.created_bundle and r.bundle_id == first.bundle_id
            assert r.provenance["target"][0]["reference"] == f"Bundle/{first.bundle_id}/_history/1"
        # the stored Bundle was not touched by the counter-signatures
        stored = await store.read("Bundle", first.bundle_id)
        assert stored.version == 1 and canonical_document(stored.content or {}) == payload
        infos = await document_signatures(store, COMPOSITION, services=services)
        assert [i.role for i in infos] == ["author", "verifier", "patient", "organization"]
        assert all(i.valid for i in infos), [i.reason for i in infos]
        assert [i.signer for i in infos][1:] == [
            "BS CKII. Phạm Thị Hoa",
            "Nguyễn Thị Bình",
            "Bệnh viện Đa khoa Sen Hồng",
        ]
        assert infos[3].who == f"Organization/{FACILITY}" and infos[2].who == f"Patient/{PATIENT}"
        codes = [i.type_code for i in infos]
        assert codes == [
            "1.2.840.10065.1.12.1.1",
            "1.2.840.10065.1.12.1.5",
            "1.2.840.10065.1.12.1.7",
            "1.2.840.10065.1.12.1.14",
        ]
        # one counter-signature's record changed in the database: only that one fails
        prov_id = results[0].provenance_id
        async with store.pool.connection() as conn:
            await conn.execute(
                "UPDATE fhir_resource SET content = jsonb_set(content, '{signature,0,type,0,code}', "
                "'\"1.2.840.10065.1.12.1.1\"') WHERE res_type = 'Provenance' AND res_id = %s",
                (prov_id,),
            )
        infos = await document_signatures(store, COMPOSITION, services=services)
        bad = [i for i in infos if not i.valid]
        assert [i.provenance for i in bad] == [f"Provenance/{prov_id}"]

    run_store(settings.database_url, scenario)


def test_only_the_author_signs_first(settings: Any, pki: TestPki) -> None:
    head = pki.issue_user("bs.hoa")

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        with pytest.raises(SigningRefused) as refused:
            await sign_document(store, COMPOSITION, verifier(head), pki_services(settings))
        assert refused.value.status == 409 and "author signs first" in refused.value.message

    run_store(settings.database_url, scenario)


def test_no_timestamp_no_signature(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")
    pki.tsa_available = False

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        with pytest.raises(OperationError) as refused:
            await sign_document(store, COMPOSITION, author(key), pki_services(settings), base_url=BASE)
        assert refused.value.status == 503 and "timestamp" in refused.value.message
        async with db.transaction(store.pool) as conn:
            cur = await conn.execute("SELECT count(*) FROM fhir_resource WHERE res_type = 'Bundle'")
            assert (await cur.fetchone()) == (0,)

    run_store(settings.database_url, scenario)


def test_digest_of_signed_bytes_is_stable_across_reads(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        result = await sign_document(store, COMPOSITION, author(key), pki_services(settings), base_url=BASE)
        first = hashlib.sha256(canonical_document(result.bundle)).hexdigest()
        stored = await store.read("Bundle", result.bundle_id)
        assert hashlib.sha256(canonical_document(stored.content or {})).hexdigest() == first
        assert b'"value":12.50' in canonical_document(stored.content or {})  # the decimal kept its digits

    run_store(settings.database_url, scenario)
