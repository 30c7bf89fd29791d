"""Search over HTTP: type and system level, POST _search, compartments, paging, includes, handling.

Spec: https://hl7.org/fhir/R4/http.html#search, https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

import httpx
from api_support import RunApi, create, ids, observation, outcome, patient, unique

CCCD = "https://senhealth.vn/fhir/sid/cccd"


def test_type_search_bundle(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        pid = (await create(c, patient(ident)))["id"]
        await create(c, patient(unique(), family="Trần"))
        r = await c.get("/fhir/Patient", params={"identifier": f"{CCCD}|{ident}"})
        assert r.status_code == 200
        bundle = r.json()
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
        assert bundle["total"] == 1
        assert ids(bundle) == [f"Patient/{pid}"]
        assert bundle["entry"][0]["fullUrl"] == f"http://test/fhir/Patient/{pid}"
        self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
        assert self_link.startswith("http://test/fhir/Patient?identifier=")
        r = await c.get("/fhir/Patient", params={"family": "nguyen"})  # diacritics folded
        assert f"Patient/{pid}" in ids(r.json())

    run_api(scenario)


def test_post_search_with_form_body(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        pid = (await create(c, patient(ident)))["id"]
        r = await c.post("/fhir/Patient/_search", data={"identifier": f"{CCCD}|{ident}"})
        assert r.status_code == 200 and ids(r.json()) == [f"Patient/{pid}"]
        r = await c.post("/fhir/_search", data={"_type": "Patient", "identifier": f"{CCCD}|{ident}"})
        assert r.status_code == 200 and ids(r.json()) == [f"Patient/{pid}"]
        r = await c.post(
            "/fhir/Patient/_search", content=b'{"a":1}', headers={"Content-Type": "application/json"}
        )
        outcome(r, 415)

    run_api(scenario)


def test_system_search(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        oid = (await create(c, observation(f"Patient/{pid}")))["id"]
        r = await c.get("/fhir", params={"_type": "Patient,Observation", "_count": "10"})
        assert r.status_code == 200
        found = set(ids(r.json()))
        assert {f"Patient/{pid}", f"Observation/{oid}"} <= found
        r = await c.get("/fhir", params={"_id": oid})
        assert ids(r.json()) == [f"Observation/{oid}"]

    run_api(scenario)


def test_compartment_search(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        a = (await create(c, patient(unique())))["id"]
        b = (await create(c, patient(unique())))["id"]
        oa = (await create(c, observation(f"Patient/{a}")))["id"]
        await create(c, observation(f"Patient/{b}"))
        r = await c.get(f"/fhir/Patient/{a}/Observation")
        assert r.status_code == 200
        assert ids(r.json()) == [f"Observation/{oa}"]
        r = await c.get(f"/fhir/Patient/{a}/Observation", params={"code": "http://loinc.org|nope"})
        assert r.json()["total"] == 0
        r = await c.get(f"/fhir/Patient/{a}/*")
        assert set(ids(r.json())) == {f"Patient/{a}", f"Observation/{oa}"}
        r = await c.post(f"/fhir/Patient/{a}/Observation/_search", data={"code": "http://loinc.org|4548-4"})
        assert ids(r.json()) == [f"Observation/{oa}"]
        outcome(await c.get(f"/fhir/Patient/{a}/Unicorn"), 404)
        outcome(await c.get(f"/fhir/Patient/{a}/Organization"), 400)
        outcome(await c.get(f"/fhir/Encounter/{a}/Observation"), 400)
        outcome(await c.get(f"/fhir/Observation/{a}/Patient"), 400)

    run_api(scenario)


def test_paging_with_next_links(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        family = unique("Fam")
        made = {(await create(c, patient(unique(), family=family)))["id"] for _ in range(5)}
        seen: list[str] = []
        url: str | None = f"/fhir/Patient?family={family}&_count=2"
        pages = 0
        while url:
            r = await c.get(url)
            assert r.status_code == 200
            bundle = r.json()
            seen.extend(e["resource"]["id"] for e in bundle.get("entry", []))
            url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
            if url:
                assert "_cursor=" in url
            pages += 1
        assert pages == 3 and set(seen) == made and len(seen) == 5
        outcome(await c.get("/fhir/Patient", params={"family": family, "_cursor": "garbage"}), 400)

    run_api(scenario)


def test_include_and_search_modes(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        oid = (await create(c, observation(f"Patient/{pid}")))["id"]
        r = await c.get("/fhir/Observation", params={"_id": oid, "_include": "Observation:subject"})
        bundle = r.json()
        assert ids(bundle, "match") == [f"Observation/{oid}"]
        assert ids(bundle, "include") == [f"Patient/{pid}"]

    run_api(scenario)


def test_summary_count_and_elements_in_search(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        family = unique("Fam")
        for _ in range(3):
            await create(c, patient(unique(), family=family))
        r = await c.get("/fhir/Patient", params={"family": family, "_summary": "count"})
        assert r.json()["total"] == 3 and "entry" not in r.json()
        r = await c.get("/fhir/Patient", params={"family": family, "_elements": "gender"})
        resource = r.json()["entry"][0]["resource"]
        assert "gender" in resource and "name" not in resource
        assert any(t.get("code") == "SUBSETTED" for t in resource["meta"]["tag"])

    run_api(scenario)


def test_handling_strict_and_lenient(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        await create(c, patient(unique()))
        r = await c.get("/fhir/Patient", params={"not-a-param": "1"})
        assert r.status_code == 200
        warnings = [e for e in r.json()["entry"] if e["search"]["mode"] == "outcome"]
        assert warnings and warnings[0]["resource"]["resourceType"] == "OperationOutcome"
        r = await c.get("/fhir/Patient", params={"not-a-param": "1"}, headers={"Prefer": "handling=strict"})
        body = outcome(r, 400)
        assert "not-a-param" in str(body)
        r = await c.get("/fhir/Patient", params={"not-a-param": "1"}, headers={"Prefer": "handling=lenient"})
        assert r.status_code == 200

    run_api(scenario)


def test_malformed_search_values_are_400(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        for params in (
            {"birthdate": "lt-not-a-date"},
            {"_count": "-1"},
            {"_count": "many"},
            {"family:bogus": "x"},
            {"_type": "Observation"},
        ):
            outcome(await c.get("/fhir/Patient", params=params), 400)
        outcome(await c.get("/fhir", params={"_type": "Unicorn"}), 400)
        strict = {"Prefer": "handling=strict"}
        outcome(await c.get("/fhir/Patient", params={"_sort": "nonsense"}, headers=strict), 400)

    run_api(scenario)


def test_deleted_resources_do_not_match(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        pid = (await create(c, patient(ident)))["id"]
        await c.delete(f"/fhir/Patient/{pid}")
        r = await c.get("/fhir/Patient", params={"identifier": f"{CCCD}|{ident}"})
        assert r.json()["total"] == 0

    run_api(scenario)
