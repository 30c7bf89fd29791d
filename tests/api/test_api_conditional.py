"""Conditional create, update, patch and delete with 0, 1 and several matches.

Spec: https://hl7.org/fhir/R4/http.html#ccreate, #cond-update, #3.1.0.7.1 (conditional delete), #patch
"""

from __future__ import annotations

import httpx
from api_support import JSON_HEADERS, RunApi, create, diagnostics, outcome, patient, unique

CCCD = "https://senhealth.vn/fhir/sid/cccd"


def test_conditional_create_none_one_many(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        cond = {**JSON_HEADERS, "If-None-Exist": f"identifier={CCCD}|{ident}"}
        r = await c.post("/fhir/Patient", json=patient(ident), headers=cond)
        assert r.status_code == 201
        first = r.json()["id"]
        r = await c.post("/fhir/Patient", json=patient(ident, family="Trần"), headers=cond)
        assert r.status_code == 200  # the match, nothing written
        assert r.json()["id"] == first and r.json()["name"][0]["family"] == "Nguyễn"
        assert r.headers["etag"] == 'W/"1"'
        await create(c, patient(ident))  # now two carry the identifier
        body = outcome(await c.post("/fhir/Patient", json=patient(ident), headers=cond), 412)
        assert "more than one" in diagnostics(body)
        total = (await c.get("/fhir/Patient", params={"identifier": f"{CCCD}|{ident}"})).json()["total"]
        assert total == 2

    run_api(scenario)


def test_conditional_create_bad_criteria(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        headers = {**JSON_HEADERS, "If-None-Exist": "nonsense-param=1"}
        outcome(await c.post("/fhir/Patient", json=patient(unique()), headers=headers), 400)
        headers = {**JSON_HEADERS, "If-None-Exist": "_count=1"}
        outcome(await c.post("/fhir/Patient", json=patient(unique()), headers=headers), 400)
        headers = {**JSON_HEADERS, "If-None-Exist": "birthdate=notadate"}
        outcome(await c.post("/fhir/Patient", json=patient(unique()), headers=headers), 400)

    run_api(scenario)


def test_conditional_update_none_one_many(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        url = f"/fhir/Patient?identifier={CCCD}|{ident}"
        r = await c.put(url, json=patient(ident), headers=JSON_HEADERS)
        assert r.status_code == 201  # no match: created
        pid = r.json()["id"]
        r = await c.put(url, json=patient(ident, gender="female"), headers=JSON_HEADERS)
        assert r.status_code == 200 and r.json()["id"] == pid and r.json()["meta"]["versionId"] == "2"
        # the body's id must be the match's
        body = outcome(await c.put(url, json=patient(ident, id="someone-else"), headers=JSON_HEADERS), 400)
        assert "id" in diagnostics(body)
        r = await c.put(url, json=patient(ident, id=pid, gender="other"), headers=JSON_HEADERS)
        assert r.status_code == 200 and r.json()["gender"] == "other"
        # If-Match with the conditional update
        stale = {**JSON_HEADERS, "If-Match": 'W/"1"'}
        outcome(await c.put(url, json=patient(ident), headers=stale), 412)
        await create(c, patient(ident))
        outcome(await c.put(url, json=patient(ident), headers=JSON_HEADERS), 412)

    run_api(scenario)


def test_conditional_update_without_match_uses_the_body_id(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident, pid = unique(), unique("p")
        r = await c.put(
            f"/fhir/Patient?identifier={CCCD}|{ident}", json=patient(ident, id=pid), headers=JSON_HEADERS
        )
        assert r.status_code == 201 and r.json()["id"] == pid

    run_api(scenario)


def test_conditional_update_needs_criteria(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        outcome(await c.put("/fhir/Patient", json=patient(unique()), headers=JSON_HEADERS), 400)
        outcome(await c.put("/fhir/Patient?_sort=name", json=patient(unique()), headers=JSON_HEADERS), 400)

    run_api(scenario)


def test_conditional_delete_none_one_many(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        url = f"/fhir/Patient?identifier={CCCD}|{ident}"
        assert (await c.delete(url)).status_code == 204  # nothing matches: nothing to do
        a = (await create(c, patient(ident)))["id"]
        b = (await create(c, patient(ident)))["id"]
        outcome(await c.delete(url), 412)
        assert (await c.get(f"/fhir/Patient/{a}")).status_code == 200  # nothing deleted
        assert (await c.delete(f"/fhir/Patient/{b}")).status_code == 200
        r = await c.delete(url)
        assert r.status_code == 200 and r.json()["resourceType"] == "OperationOutcome"
        outcome(await c.get(f"/fhir/Patient/{a}"), 410)
        outcome(await c.delete("/fhir/Patient"), 400)  # no criteria would delete everything

    run_api(scenario)


def test_conditional_patch(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        url = f"/fhir/Patient?identifier={CCCD}|{ident}"
        patch = [{"op": "replace", "path": "/gender", "value": "female"}]
        headers = {"Content-Type": "application/json-patch+json"}
        outcome(await c.patch(url, json=patch, headers=headers), 404)
        pid = (await create(c, patient(ident)))["id"]
        r = await c.patch(url, json=patch, headers=headers)
        assert r.status_code == 200 and r.json()["gender"] == "female" and r.json()["id"] == pid
        await create(c, patient(ident))
        outcome(await c.patch(url, json=patch, headers=headers), 412)

    run_api(scenario)


def test_unknown_criteria_are_refused_even_lenient(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        body = outcome(await c.delete("/fhir/Patient?no-such-param=1"), 400)
        assert "no-such-param" in diagnostics(body)
        assert (await c.get(f"/fhir/Patient/{pid}")).status_code == 200

    run_api(scenario)
