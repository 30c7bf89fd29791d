"""History at instance, type and system level, with _since, _at, _count and paging.

Spec: https://hl7.org/fhir/R4/http.html#history
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from api_support import JSON_HEADERS, RunApi, create, outcome, patient, unique


def test_instance_history(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        created = await create(c, patient(unique()))
        pid = created["id"]
        await c.put(f"/fhir/Patient/{pid}", json={**created, "gender": "female"}, headers=JSON_HEADERS)
        await c.delete(f"/fhir/Patient/{pid}")
        r = await c.get(f"/fhir/Patient/{pid}/_history")
        assert r.status_code == 200
        bundle = r.json()
        assert bundle["type"] == "history" and bundle["total"] == 3
        methods = [e["request"]["method"] for e in bundle["entry"]]
        assert methods == ["DELETE", "PUT", "POST"]
        assert [e["response"]["etag"] for e in bundle["entry"]] == ['W/"3"', 'W/"2"', 'W/"1"']
        assert bundle["entry"][2]["request"]["url"] == "Patient"
        assert bundle["entry"][1]["request"]["url"] == f"Patient/{pid}"
        assert bundle["entry"][1]["resource"]["gender"] == "female"
        assert bundle["entry"][2]["response"]["status"] == "201 Created"
        outcome(await c.get("/fhir/Patient/never-was/_history"), 404)

    run_api(scenario)


def test_type_and_system_history_with_count_and_paging(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        made = [(await create(c, patient(unique())))["id"] for _ in range(3)]
        await create(c, {"resourceType": "Organization", "name": "Trạm Y tế"})
        r = await c.get("/fhir/Patient/_history", params={"_count": "2"})
        bundle = r.json()
        assert len(bundle["entry"]) == 2
        assert all(e["resource"]["resourceType"] == "Patient" for e in bundle["entry"])
        next_url = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
        rest = (await c.get(next_url)).json()
        seen = [e["resource"]["id"] for e in bundle["entry"] + rest["entry"]]
        assert sorted(seen) == sorted(made)
        assert not any(link["relation"] == "next" for link in rest["link"])
        system = (await c.get("/fhir/_history")).json()
        types = {e["resource"]["resourceType"] for e in system["entry"]}
        assert types == {"Patient", "Organization"}

    run_api(scenario)


def test_since_and_at(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        created = await create(c, patient(unique()))
        pid = created["id"]
        await asyncio.sleep(0.05)
        middle = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        await asyncio.sleep(0.05)
        await c.put(f"/fhir/Patient/{pid}", json={**created, "gender": "female"}, headers=JSON_HEADERS)
        since = (await c.get(f"/fhir/Patient/{pid}/_history", params={"_since": middle})).json()
        assert [e["response"]["etag"] for e in since["entry"]] == ['W/"2"']
        at = (await c.get(f"/fhir/Patient/{pid}/_history", params={"_at": middle})).json()
        assert [e["response"]["etag"] for e in at["entry"]] == ['W/"1"']
        year = (await c.get("/fhir/Patient/_history", params={"_at": "1999"})).json()
        assert "entry" not in year
        outcome(await c.get("/fhir/_history", params={"_since": "yesterday"}), 400)
        outcome(await c.get("/fhir/_history", params={"_at": "2024-13"}), 400)
        outcome(await c.get("/fhir/_history", params={"_count": "x"}), 400)
        outcome(await c.get("/fhir/_history", params={"_cursor": "###"}), 400)
        strict = {"Prefer": "handling=strict"}
        outcome(await c.get("/fhir/_history", params={"_list": "x"}, headers=strict), 400)
        assert (await c.get("/fhir/_history", params={"_list": "x"})).status_code == 200

    run_api(scenario)


def test_history_summary(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        bundle = (await c.get(f"/fhir/Patient/{pid}/_history", params={"_elements": "gender"})).json()
        resource = bundle["entry"][0]["resource"]
        assert "gender" in resource and "name" not in resource

    run_api(scenario)
