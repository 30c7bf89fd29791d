"""The document operations through the REST API (``create_app``, real HTTP semantics over ASGI):
``Encounter/$create-document``, ``Composition/$document`` (GET, POST, type level, ``persist``), and the
errors a client meets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from documents_support import Seeded, run_async, seed

from senhealth.api import create_app
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.emr.documents.operations import register_document_operations, unregister_document_operations

FHIR = "application/fhir+json"
HEADERS = {"Content-Type": FHIR, "Accept": FHIR}


@pytest.fixture
def api(schema_url: str) -> Iterator[Callable[[Callable[[httpx.AsyncClient, Seeded], Awaitable[Any]]], Any]]:
    migrate(schema_url)
    seeded = run_async(schema_url, seed)
    unregister_document_operations()
    register_document_operations()

    def run(scenario: Callable[[httpx.AsyncClient, Seeded], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            app = create_app(Settings(database_url=schema_url))
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    return await scenario(client, seeded)

        return asyncio.run(main())

    yield run
    unregister_document_operations()


def _params(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(parts)}


def _outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:400])
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


def test_create_a_discharge_paper_and_get_its_document(api: Any) -> None:
    async def scenario(client: httpx.AsyncClient, s: Seeded) -> None:
        r = await client.post(
            f"/fhir/Encounter/{s.encounter}/$create-document",
            json=_params(
                {"name": "type", "valueCode": "discharge-paper"},
                {"name": "author", "valueString": f"Practitioner/{s.doctor}"},
                {
                    "name": "field",
                    "part": [
                        {"name": "name", "valueString": "notes.notes"},
                        {"name": "value", "valueString": "Kiêng rượu bia"},
                    ],
                },
            ),
            headers=HEADERS,
        )
        assert r.status_code == 201, r.text[:500]
        comp = r.json()
        assert comp["resourceType"] == "Composition" and comp["status"] == "preliminary"
        assert r.headers["location"].endswith(f"/Composition/{comp['id']}/_history/1")
        assert comp["custodian"] == {"reference": f"Organization/{s.facility}"}  # the encounter's provider
        notes = next(x for x in comp["section"] if x["id"] == "notes")
        assert "Kiêng rượu bia" in notes["text"]["div"]

        got = await client.get(f"/fhir/Composition/{comp['id']}/$document", headers={"Accept": FHIR})
        assert got.status_code == 200, got.text[:300]
        bundle = got.json()
        assert bundle["type"] == "document"
        assert bundle["entry"][0]["fullUrl"] == f"http://test/fhir/Composition/{comp['id']}"
        assert bundle["entry"][1]["resource"]["resourceType"] == "Patient"
        # type level with id, and POST, give the same document
        typed = await client.get(
            "/fhir/Composition/$document", params={"id": comp["id"]}, headers={"Accept": FHIR}
        )
        assert typed.json()["identifier"] == bundle["identifier"]
        posted = await client.post(
            f"/fhir/Composition/{comp['id']}/$document", json=_params(), headers=HEADERS
        )
        assert posted.json()["identifier"] == bundle["identifier"]
        # persist: the Bundle is stored and readable at the Bundle end-point
        kept = await client.get(f"/fhir/Composition/{comp['id']}/$document", params={"persist": "true"})
        assert kept.status_code == 200
        stored_id = kept.json()["id"]
        again = await client.get(f"/fhir/Bundle/{stored_id}", headers={"Accept": FHIR})
        assert again.status_code == 200 and again.json()["identifier"] == bundle["identifier"]
        assert len(again.json()["entry"]) == len(bundle["entry"])

    api(scenario)


def test_draft_without_persisting_and_the_errors(api: Any) -> None:
    async def scenario(client: httpx.AsyncClient, s: Seeded) -> None:
        url = f"/fhir/Encounter/{s.encounter}/$create-document"
        draft = await client.post(
            url,
            json=_params(
                {"name": "type", "valueCode": "prescription"},
                {"name": "author", "valueString": s.doctor},
                {"name": "persist", "valueBoolean": False},
            ),
            headers=HEADERS,
        )
        assert draft.status_code == 200 and "id" not in draft.json()
        listed = await client.get("/fhir/Composition", headers={"Accept": FHIR})
        assert listed.json().get("total", len(listed.json().get("entry", []))) == 0

        bad_type = await client.post(
            url,
            json=_params({"name": "type", "valueCode": "x"}, {"name": "author", "valueString": s.doctor}),
            headers=HEADERS,
        )
        assert _outcome(bad_type, 400)["issue"][0]["expression"] == ["type"]
        no_author = await client.post(
            url, json=_params({"name": "type", "valueCode": "prescription"}), headers=HEADERS
        )
        assert "author" in _outcome(no_author, 400)["issue"][0]["diagnostics"]
        bad_field = await client.post(
            url,
            json=_params(
                {"name": "type", "valueCode": "prescription"},
                {"name": "author", "valueString": s.doctor},
                {
                    "name": "field",
                    "part": [
                        {"name": "name", "valueString": "nowhere.x"},
                        {"name": "value", "valueString": "y"},
                    ],
                },
            ),
            headers=HEADERS,
        )
        assert "no section 'nowhere'" in _outcome(bad_field, 400)["issue"][0]["diagnostics"]
        missing = await client.post(
            "/fhir/Encounter/none/$create-document",
            json=_params(
                {"name": "type", "valueCode": "prescription"}, {"name": "author", "valueString": s.doctor}
            ),
            headers=HEADERS,
        )
        _outcome(missing, 404)
        as_get = await client.get(url, params={"type": "prescription"})
        assert as_get.status_code == 405
        unknown_doc = await client.get("/fhir/Composition/nothing/$document")
        _outcome(unknown_doc, 404)
        no_id = await client.get("/fhir/Composition/$document")
        _outcome(no_id, 400)

    api(scenario)
