"""``GET /fhir/Encounter/{id}/$claim-xml`` and ``POST /fhir/$import-claim-xml`` through the REST API.

Spec: https://hl7.org/fhir/R4/operations.html; the claim file: docs/claims.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from claims_support import make_claims_pki, native_visit, put_all, run_with_store

from senhealth.api import create_app
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.emr.claims.envelope import build_envelope, read_envelope, verify_envelope
from senhealth.emr.claims.operations import register_claims_operations, unregister_claims_operations
from senhealth.emr.claims.synthetic import generate_claims
from senhealth.emr.claims.xml_tables import write_table
from senhealth.emr.pki.errors import NoSigningKey
from senhealth.emr.pki.keys import SigningKey
from senhealth.fhir.operations import get_operation
from senhealth.fhir.store import FhirStore

PKI = make_claims_pki()
KEY = PKI.facility("01001")
XML = {"Content-Type": "application/xml"}
FHIR_JSON = "application/fhir+json"


def _key(organization: str) -> SigningKey:
    if organization != "org-a":
        raise NoSigningKey(f"no signing key for organization {organization}")
    return KEY


@pytest.fixture(autouse=True)
def claims_operations() -> Iterator[None]:
    register_claims_operations(signing_key=_key, trust_roots=PKI.trust_roots)
    yield
    unregister_claims_operations()


@pytest.fixture
def api(schema_url: str) -> Callable[[Callable[[httpx.AsyncClient], Awaitable[Any]]], Any]:
    migrate(schema_url)

    async def setup(store: FhirStore) -> None:
        await put_all(store, native_visit())
        other = native_visit(suffix="z", inpatient=False)
        for resource in other:
            if resource["resourceType"] == "Encounter":
                resource["status"], resource["period"] = "in-progress", {"start": "2025-03-10T08:15:00+07:00"}
        await put_all(store, other)
        await put_all(store, native_visit(suffix="y", inpatient=False))  # its facility has no key

    run_with_store(schema_url, setup)

    def run(scenario: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            app = create_app(Settings(database_url=schema_url))
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    return await scenario(client)

        return asyncio.run(main())

    return run


def _outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


def test_export_then_import_over_http(api: Callable[..., Any]) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        assert get_operation("claim-xml") is not None
        exported = await client.get("/fhir/Encounter/enc-a/$claim-xml")
        assert exported.status_code == 200, exported.text[:500]
        assert exported.headers["content-type"].startswith("application/xml")
        assert "claim-enc-a.xml" in exported.headers["content-disposition"]
        verified = verify_envelope(exported.content, trust_roots=PKI.trust_roots)
        assert verified.signer == KEY.certificate
        kinds = [f.kind for f in read_envelope(verified.signed_root).records[0]]
        assert kinds[:2] == ["XML0", "XML1"] and "XML2" in kinds

        imported = await client.post("/fhir/$import-claim-xml", content=exported.content, headers=XML)
        assert imported.status_code == 200, imported.text[:800]
        bundle = imported.json()
        assert bundle["type"] == "transaction-response"
        statuses = {e["response"]["status"] for e in bundle["entry"]}
        assert statuses == {"201 Created"}
        locations = [e["response"]["location"] for e in bundle["entry"]]
        encounter = next(loc for loc in locations if "/Encounter/" in loc).split("/_history")[0]
        read = await client.get(encounter.removeprefix("http://test"))
        assert read.status_code == 200 and read.json()["period"]["end"] == "2025-03-14T10:30:00+07:00"
        again = await client.post(
            "/fhir/$import-claim-xml", content=exported.content, headers={"Content-Type": "text/xml"}
        )
        assert again.status_code == 200
        assert {e["response"]["status"] for e in again.json()["entry"]} == {"200 OK"}

    api(scenario)


def test_errors_over_http(api: Callable[..., Any]) -> None:
    claim = next(c for c in generate_claims(40, seed=21, key=KEY, broken=1.0) if c.defect == "sex-code")
    valid = next(generate_claims(1, seed=22, key=None, broken=0.0))
    unsigned = build_envelope("01001", [[(n, write_table(n, r)) for n, r in valid.tables.items() if r]])

    async def scenario(client: httpx.AsyncClient) -> None:
        unknown = await client.get("/fhir/Encounter/nobody/$claim-xml")
        _outcome(unknown, 404)
        unfinished = _outcome(await client.get("/fhir/Encounter/enc-z/$claim-xml"), 422)
        assert unfinished["issue"][0]["expression"] == ["Encounter.period.end"]
        no_key = _outcome(await client.get("/fhir/Encounter/enc-y/$claim-xml"), 409)
        assert "no signing key" in no_key["issue"][0]["diagnostics"]
        broken = _outcome(await client.post("/fhir/$import-claim-xml", content=claim.data, headers=XML), 422)
        assert [i["expression"] for i in broken["issue"]] == [["XML1[1].GIOI_TINH"]]
        assert "không có trong danh mục" in broken["issue"][0]["diagnostics"]
        refused = _outcome(await client.post("/fhir/$import-claim-xml", content=unsigned, headers=XML), 422)
        assert refused["issue"][0]["code"] == "security"
        forbidden = await client.post(
            "/fhir/$import-claim-xml?allowUnsigned=true", content=unsigned, headers=XML
        )
        _outcome(forbidden, 403)
        as_json = await client.post(
            "/fhir/$import-claim-xml",
            json={"resourceType": "Parameters"},
            headers={"Content-Type": FHIR_JSON},
        )
        _outcome(as_json, 415)
        not_a_claim = await client.post("/fhir/$import-claim-xml", content=b"<html/>", headers=XML)
        _outcome(not_a_claim, 400)
        searched = await client.get(
            "/fhir/Encounter",
            params={"identifier": f"https://senhealth.vn/fhir/sid/ma-lk/01001|{claim.ma_lk}"},
        )
        assert searched.json().get("total", 0) == 0  # nothing of the refused file was written

    api(scenario)


def test_unsigned_files_where_the_server_allows_them(api: Callable[..., Any]) -> None:
    register_claims_operations(signing_key=_key, trust_roots=PKI.trust_roots, allow_unsigned=True)
    valid = next(generate_claims(1, seed=23, key=None, broken=0.0))
    unsigned = build_envelope("01001", [[(n, write_table(n, r)) for n, r in valid.tables.items() if r]])

    async def scenario(client: httpx.AsyncClient) -> None:
        plain = await client.post("/fhir/$import-claim-xml", content=unsigned, headers=XML)
        _outcome(plain, 422)  # still refused unless asked for
        allowed = await client.post(
            "/fhir/$import-claim-xml?allowUnsigned=true", content=unsigned, headers=XML
        )
        assert allowed.status_code == 200, allowed.text[:500]

    api(scenario)
