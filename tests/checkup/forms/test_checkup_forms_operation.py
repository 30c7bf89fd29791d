"""``QuestionnaireResponse/$extract`` through the REST API on a real PostgreSQL, and ``install_forms``:
the transaction Bundle, ``persist`` writing the response and its resources all at once or not at all,
errors naming the item, idempotent installing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest
from checkup_forms_support import ENCOUNTER, PATIENT, answer, full_adult_answers, response, run_async, seed

from senhealth.api import create_app
from senhealth.checkup.forms import form_for, install_forms, register_forms_operations
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore, StoreTx
from senhealth.fhir.store.hooks import Write, register_write_hook, unregister_write_hook

FHIR = "application/fhir+json"
HEADERS = {"Content-Type": FHIR, "Accept": FHIR}
Scenario = Callable[[httpx.AsyncClient], Awaitable[Any]]


@pytest.fixture
def api(schema_url: str) -> Iterator[Callable[[Scenario], Any]]:
    migrate(schema_url)
    run_async(schema_url, seed)
    register_forms_operations()

    def run(scenario: Scenario) -> Any:
        async def main() -> Any:
            app = create_app(Settings(database_url=schema_url))
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    return await scenario(client)

        return asyncio.run(main())

    yield run


async def _count(client: httpx.AsyncClient, query: str) -> int:
    r = await client.get(f"/fhir/{query}", params={"_summary": "count"}, headers={"Accept": FHIR})
    assert r.status_code == 200, r.text[:300]
    total: int = r.json()["total"]
    return total


async def _counts(client: httpx.AsyncClient) -> tuple[int, int, int]:
    return (
        await _count(client, f"Observation?subject={PATIENT}"),
        await _count(client, f"Condition?subject={PATIENT}"),
        await _count(client, "QuestionnaireResponse"),
    )


def test_type_level_extract_answers_a_transaction_bundle_and_writes_nothing(api: Any) -> None:
    form = form_for(45, "female")
    body = response(form, full_adult_answers(), rid=None)

    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/fhir/QuestionnaireResponse/$extract", json=body, headers=HEADERS)
        assert r.status_code == 200, r.text[:500]
        bundle = r.json()
        assert bundle["type"] == "transaction"
        first = bundle["entry"][0]["resource"]
        assert first["resourceType"] == "QuestionnaireResponse" and first["id"]
        kinds = [e["resource"]["resourceType"] for e in bundle["entry"][1:]]
        assert kinds.count("Condition") == 1 and kinds.count("Observation") == 18
        for entry in bundle["entry"]:
            res = entry["resource"]
            assert entry["request"] == {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"}
            assert entry["fullUrl"] == f"http://test/fhir/{res['resourceType']}/{res['id']}"
        obs = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
        assert obs["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{first['id']}"}]
        assert await _counts(client) == (0, 0, 0)
        # as a Parameters body, the same answer
        params = {
            "resourceType": "Parameters",
            "parameter": [{"name": "questionnaire-response", "resource": {**body, "id": first["id"]}}],
        }
        again = await client.post("/fhir/QuestionnaireResponse/$extract", json=params, headers=HEADERS)
        assert again.status_code == 200 and again.json()["entry"] == bundle["entry"]

    api(scenario)


def test_persist_writes_the_response_and_everything_extracted_once(api: Any) -> None:
    form = form_for(45, "female")
    body = response(form, full_adult_answers(), rid="qr-persist")

    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/fhir/QuestionnaireResponse/$extract", params={"persist": "true"}, json=body, headers=HEADERS
        )
        assert r.status_code == 200, r.text[:500]
        answer_bundle = r.json()
        assert answer_bundle["type"] == "transaction-response"
        assert {e["response"]["status"][:3] for e in answer_bundle["entry"]} == {"201"}
        assert await _counts(client) == (18, 1, 1)
        stored = (await client.get("/fhir/QuestionnaireResponse/qr-persist", headers={"Accept": FHIR})).json()
        assert stored["encounter"] == {"reference": ENCOUNTER}
        bp = (
            await client.get(
                f"/fhir/Observation?code=http://loinc.org|85354-9&encounter={ENCOUNTER}",
                headers={"Accept": FHIR},
            )
        ).json()
        (entry,) = bp["entry"]
        assert entry["resource"]["derivedFrom"] == [{"reference": "QuestionnaireResponse/qr-persist"}]
        hypertension = (
            await client.get(f"/fhir/Condition?subject={PATIENT}", headers={"Accept": FHIR})
        ).json()
        assert hypertension["entry"][0]["resource"]["code"]["coding"][0]["code"] == "I10"
        # instance level on the stored response: the same resources, and persisting again adds nothing
        inst = await client.post(
            "/fhir/QuestionnaireResponse/qr-persist/$extract", params={"persist": "true"}, headers=HEADERS
        )
        assert inst.status_code == 200, inst.text[:400]
        assert {e["response"]["status"][:3] for e in inst.json()["entry"]} == {"200"}
        assert await _counts(client) == (18, 1, 1)
        got = await client.get("/fhir/QuestionnaireResponse/qr-persist/$extract", headers={"Accept": FHIR})
        assert (
            got.status_code == 200 and len(got.json()["entry"]) == 19
        )  # no response entry at instance level

    api(scenario)


def test_a_bad_answer_writes_nothing_and_names_the_item(api: Any) -> None:
    form = form_for(45, "female")
    groups = full_adult_answers()
    groups["labs"] = [answer("cholesterol", valueDecimal=5.8), answer("hba1c", valueDecimal=45)]
    body = response(form, groups, rid="qr-bad")

    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/fhir/QuestionnaireResponse/$extract", params={"persist": "true"}, json=body, headers=HEADERS
        )
        assert r.status_code == 422, r.text[:400]
        (issue,) = r.json()["issue"]
        assert "hba1c" in issue["diagnostics"]
        assert issue["expression"] == ["QuestionnaireResponse.item[3].item[1].answer[0]"]
        assert await _counts(client) == (0, 0, 0)
        # a store-level failure inside the transaction rolls back the response too: the encounter is fine
        # but the subject is another type
        wrong = {**response(form, full_adult_answers(), rid="qr-wrong"), "subject": {"reference": "Group/g1"}}
        w = await client.post(
            "/fhir/QuestionnaireResponse/$extract", params={"persist": "true"}, json=wrong, headers=HEADERS
        )
        assert w.status_code == 422 and w.json()["issue"][0]["expression"] == [
            "QuestionnaireResponse.subject"
        ]
        draft = {**response(form, full_adult_answers(), rid="qr-draft"), "status": "in-progress"}
        d = await client.post("/fhir/QuestionnaireResponse/$extract", json=draft, headers=HEADERS)
        assert d.status_code == 422 and d.json()["issue"][0]["expression"] == ["QuestionnaireResponse.status"]
        unknown = {**body, "questionnaire": "https://example.org/Questionnaire/x|1"}
        u = await client.post("/fhir/QuestionnaireResponse/$extract", json=unknown, headers=HEADERS)
        assert u.status_code == 422 and "not known" in u.json()["issue"][0]["diagnostics"]
        missing = await client.post("/fhir/QuestionnaireResponse/nope/$extract", headers=HEADERS)
        assert missing.status_code == 404
        assert await _counts(client) == (0, 0, 0)

    api(scenario)


class _Refused(Exception):
    status = 409


async def _refuse_conditions(tx: StoreTx, writes: Sequence[Write]) -> None:
    if any(w.res_type == "Condition" for w in writes):
        raise _Refused("Condition writes are refused in this test")


def test_a_write_refused_inside_the_transaction_leaves_nothing(api: Any) -> None:
    """Extraction succeeds, the store writes the response and the Observations, then a write hook refuses
    the Condition: the whole transaction is rolled back, the response included."""
    form = form_for(45, "female")
    body = response(form, full_adult_answers(), rid="qr-refused")
    register_write_hook(_refuse_conditions, types={"Condition"})

    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/fhir/QuestionnaireResponse/$extract", params={"persist": "true"}, json=body, headers=HEADERS
        )
        assert r.status_code == 409, r.text[:400]
        assert "refused" in r.json()["issue"][0]["diagnostics"]
        assert await _counts(client) == (0, 0, 0)
        gone = await client.get("/fhir/QuestionnaireResponse/qr-refused", headers={"Accept": FHIR})
        assert gone.status_code == 404

    try:
        api(scenario)
    finally:
        unregister_write_hook(_refuse_conditions)


def test_install_forms_is_idempotent_and_the_stored_forms_resolve(schema_url: str) -> None:
    migrate(schema_url)

    async def scenario(store: FhirStore) -> None:
        first = await install_forms(store)
        assert len(first) == 8 and {i.action for i in first} == {"created"}
        again = await install_forms(store)
        assert {i.action for i in again} == {"unchanged"}
        assert [i.id for i in again] == [i.id for i in first]
        stored = await store.read("Questionnaire", first[0].id)
        assert stored.version == 1
        # a changed form under the same url|version is updated in place, keeping its id
        changed = dict(stored.content or {})
        changed["title"] = "cũ"
        await store.update(changed)
        third = await install_forms(store)
        assert [i.action for i in third].count("updated") == 1
        assert (await store.read("Questionnaire", first[0].id)).content["title"] != "cũ"  # type: ignore[index]

    run_async(schema_url, scenario)
