"""Read, vread, create, update (as create too), delete: status codes and headers.

Spec: https://hl7.org/fhir/R4/http.html (#read #vread #create #update #delete #versioning #cread #ops)
"""

from __future__ import annotations

import json
from email.utils import format_datetime, parsedate_to_datetime

import httpx
from api_support import FHIR, JSON_HEADERS, RunApi, create, diagnostics, observation, outcome, patient, unique


def test_create_answers_201_with_location_etag_last_modified(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        r = await c.post("/fhir/Patient", json=patient(unique()), headers=JSON_HEADERS)
        assert r.status_code == 201
        body = r.json()
        pid = body["id"]
        assert body["meta"]["versionId"] == "1"
        assert r.headers["location"] == f"http://test/fhir/Patient/{pid}/_history/1"
        assert r.headers["etag"] == 'W/"1"'
        assert parsedate_to_datetime(r.headers["last-modified"]).year >= 2024
        assert r.headers["content-type"].startswith(FHIR)

    run_api(scenario)


def test_create_ignores_the_clients_id(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        body = await create(c, patient(unique(), id="chosen-by-client"))
        assert body["id"] != "chosen-by-client"
        r = await c.get("/fhir/Patient/chosen-by-client")
        outcome(r, 404)

    run_api(scenario)


def test_read_and_vread(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        body = await create(c, patient(unique()))
        pid = body["id"]
        r = await c.get(f"/fhir/Patient/{pid}")
        assert r.status_code == 200
        assert r.json()["id"] == pid
        assert r.headers["etag"] == 'W/"1"'
        assert r.headers["content-location"].endswith(f"/fhir/Patient/{pid}/_history/1")
        assert "last-modified" in r.headers
        updated = {**r.json(), "gender": "female"}
        r = await c.put(f"/fhir/Patient/{pid}", json=updated, headers=JSON_HEADERS)
        assert r.status_code == 200
        assert r.headers["etag"] == 'W/"2"'
        r1 = await c.get(f"/fhir/Patient/{pid}/_history/1")
        assert r1.status_code == 200 and r1.json()["gender"] == "male"
        assert r1.headers["etag"] == 'W/"1"'
        r2 = await c.get(f"/fhir/Patient/{pid}/_history/2")
        assert r2.json()["gender"] == "female"
        outcome(await c.get(f"/fhir/Patient/{pid}/_history/3"), 404)
        outcome(await c.get(f"/fhir/Patient/{pid}/_history/abc"), 404)

    run_api(scenario)


def test_read_unknown_type_id_and_resource(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        body = outcome(await c.get("/fhir/Patient/does-not-exist"), 404)
        assert body["issue"][0]["code"] == "not-found"
        body = outcome(await c.get("/fhir/Unicorn/1"), 404)
        assert "Unicorn" in diagnostics(body)
        outcome(await c.get("/fhir/DomainResource/1"), 404)
        outcome(await c.post("/fhir/Unicorn", json={"resourceType": "Unicorn"}, headers=JSON_HEADERS), 404)
        outcome(await c.get("/fhir/Patient/bad_id!"), 400)

    run_api(scenario)


def test_update_as_create_and_update(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = unique("p")
        r = await c.put(f"/fhir/Patient/{pid}", json=patient(unique(), id=pid), headers=JSON_HEADERS)
        assert r.status_code == 201
        assert r.headers["location"].endswith(f"/fhir/Patient/{pid}/_history/1")
        r = await c.put(
            f"/fhir/Patient/{pid}", json=patient(unique(), id=pid, gender="female"), headers=JSON_HEADERS
        )
        assert r.status_code == 200
        assert r.json()["meta"]["versionId"] == "2"
        assert "location" not in r.headers

    run_api(scenario)


def test_update_checks_the_id(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        body = outcome(
            await c.put("/fhir/Patient/a1", json=patient(unique(), id="b2"), headers=JSON_HEADERS), 400
        )
        assert "id" in diagnostics(body)
        outcome(await c.put("/fhir/Patient/a1", json=patient(unique()), headers=JSON_HEADERS), 400)
        wrong_type = {"resourceType": "Organization", "id": "a1", "name": "x"}
        outcome(await c.put("/fhir/Patient/a1", json=wrong_type, headers=JSON_HEADERS), 400)
        outcome(await c.get("/fhir/Patient/a1"), 404)  # nothing was written

    run_api(scenario)


def test_invalid_resource_is_refused_and_not_written(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        bad = patient(unique(), gender="robot")
        body = outcome(await c.post("/fhir/Patient", json=bad, headers=JSON_HEADERS), 400)
        assert any("gender" in (i.get("expression") or [""])[0] for i in body["issue"])
        r = await c.get("/fhir/Patient", params={"identifier": bad["identifier"][0]["value"]})
        assert r.json()["total"] == 0

    run_api(scenario)


def test_delete_is_kept_in_history(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        r = await c.delete(f"/fhir/Patient/{pid}")
        assert r.status_code == 200
        assert r.json()["resourceType"] == "OperationOutcome"
        assert r.headers["etag"] == 'W/"2"'
        body = outcome(await c.get(f"/fhir/Patient/{pid}"), 410)
        assert body["issue"][0]["code"] == "deleted"
        outcome(await c.get(f"/fhir/Patient/{pid}/_history/2"), 410)
        assert (await c.get(f"/fhir/Patient/{pid}/_history/1")).status_code == 200
        hist = (await c.get(f"/fhir/Patient/{pid}/_history")).json()
        assert [e["request"]["method"] for e in hist["entry"]] == ["DELETE", "POST"]
        assert "resource" not in hist["entry"][0]
        # deleting again, or something unknown, changes nothing
        assert (await c.delete(f"/fhir/Patient/{pid}")).status_code == 204
        assert (await c.delete("/fhir/Patient/never-was")).status_code == 204
        # and a deleted resource can be brought back by an update
        r = await c.put(f"/fhir/Patient/{pid}", json=patient(unique(), id=pid), headers=JSON_HEADERS)
        assert r.status_code == 201 and r.json()["meta"]["versionId"] == "3"

    run_api(scenario)


def test_if_match_version_aware_update_and_delete(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        created = await create(c, patient(unique()))
        pid = created["id"]
        headers = {**JSON_HEADERS, "If-Match": 'W/"1"'}
        r = await c.put(f"/fhir/Patient/{pid}", json={**created, "gender": "female"}, headers=headers)
        assert r.status_code == 200 and r.headers["etag"] == 'W/"2"'
        # the same If-Match again: the resource is at version 2 now
        body = outcome(
            await c.put(f"/fhir/Patient/{pid}", json={**created, "gender": "other"}, headers=headers), 412
        )
        assert body["issue"][0]["code"] == "conflict"
        assert (await c.get(f"/fhir/Patient/{pid}")).json()["gender"] == "female"
        outcome(await c.delete(f"/fhir/Patient/{pid}", headers={"If-Match": 'W/"1"'}), 412)
        outcome(
            await c.put(
                f"/fhir/Patient/{pid}", json=created, headers={**JSON_HEADERS, "If-Match": "garbage!"}
            ),
            400,
        )
        outcome(await c.put("/fhir/Patient/nope", json={**created, "id": "nope"}, headers=headers), 412)
        r = await c.delete(f"/fhir/Patient/{pid}", headers={"If-Match": 'W/"2"'})
        assert r.status_code == 200

    run_api(scenario)


def test_conditional_read_if_none_match_and_if_modified_since(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        r = await c.get(f"/fhir/Patient/{pid}")
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        r = await c.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": etag})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
        r = await c.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": 'W/"7"'})
        assert r.status_code == 200
        r = await c.get(f"/fhir/Patient/{pid}", headers={"If-Modified-Since": modified})
        assert r.status_code == 304
        earlier = format_datetime(parsedate_to_datetime(modified).replace(year=2000), usegmt=True)
        r = await c.get(f"/fhir/Patient/{pid}", headers={"If-Modified-Since": earlier})
        assert r.status_code == 200
        r = await c.get(f"/fhir/Patient/{pid}", headers={"If-Modified-Since": "not a date"})
        assert r.status_code == 200

    run_api(scenario)


def test_prefer_return(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        r = await c.post(
            "/fhir/Patient", json=patient(unique()), headers={**JSON_HEADERS, "Prefer": "return=minimal"}
        )
        assert r.status_code == 201 and r.content == b""
        assert r.headers["location"] and r.headers["etag"] == 'W/"1"'
        pid = r.headers["location"].split("/")[-3]
        r = await c.post(
            "/fhir/Patient",
            json=patient(unique()),
            headers={**JSON_HEADERS, "Prefer": "return=OperationOutcome"},
        )
        assert r.status_code == 201 and r.json()["resourceType"] == "OperationOutcome"
        r = await c.post(
            "/fhir/Patient",
            json=patient(unique()),
            headers={**JSON_HEADERS, "Prefer": "return=representation"},
        )
        assert r.status_code == 201 and r.json()["resourceType"] == "Patient"
        current = (await c.get(f"/fhir/Patient/{pid}")).json()
        r = await c.put(
            f"/fhir/Patient/{pid}",
            json={**current, "gender": "female"},
            headers={**JSON_HEADERS, "Prefer": "return=minimal"},
        )
        assert r.status_code == 200 and r.content == b"" and r.headers["etag"] == 'W/"2"'
        r = await c.delete(f"/fhir/Patient/{pid}", headers={"Prefer": "return=minimal"})
        assert r.status_code == 204

    run_api(scenario)


def test_summary_and_elements_on_read(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        text = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">An</div>'}
        pid = (await create(c, patient(unique(), text=text, maritalStatus={"text": "M"})))["id"]
        full = (await c.get(f"/fhir/Patient/{pid}")).json()
        assert "maritalStatus" in full and "text" in full
        summary = (await c.get(f"/fhir/Patient/{pid}", params={"_summary": "true"})).json()
        assert (
            "name" in summary
            and "birthDate" in summary
            and "maritalStatus" not in summary
            and "text" not in summary
        )
        assert {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "SUBSETTED",
        } in summary["meta"]["tag"]
        data = (await c.get(f"/fhir/Patient/{pid}", params={"_summary": "data"})).json()
        assert "text" not in data and "maritalStatus" in data
        txt = (await c.get(f"/fhir/Patient/{pid}", params={"_summary": "text"})).json()
        assert "text" in txt and "name" not in txt
        elements = (await c.get(f"/fhir/Patient/{pid}", params={"_elements": "birthDate"})).json()
        assert set(elements) == {"resourceType", "id", "meta", "birthDate"}
        assert (await c.get(f"/fhir/Patient/{pid}", params={"_summary": "false"})).json() == full
        outcome(await c.get(f"/fhir/Patient/{pid}", params={"_summary": "maybe"}), 400)

    run_api(scenario)


def test_pretty_and_format(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        compact = await c.get(f"/fhir/Patient/{pid}")
        pretty = await c.get(f"/fhir/Patient/{pid}", params={"_pretty": "true"})
        assert b"\n  " in pretty.content and b"\n" not in compact.content
        assert pretty.json() == compact.json()
        for fmt in ("json", "application/fhir+json", "application/json"):
            assert (await c.get(f"/fhir/Patient/{pid}", params={"_format": fmt})).status_code == 200
        assert (
            await c.get(f"/fhir/Patient/{pid}", headers={"Accept": "application/json"})
        ).status_code == 200

    run_api(scenario)


def test_decimals_keep_their_digits(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        raw = (
            '{"resourceType":"Observation","status":"final","code":{"text":"x"},'
            f'"subject":{{"reference":"Patient/{pid}"}},"valueQuantity":{{"value":1.50,"unit":"mmol/L"}}}}'
        )
        r = await c.post("/fhir/Observation", content=raw.encode(), headers=JSON_HEADERS)
        assert r.status_code == 201
        assert b'"value":1.50' in r.content
        oid = r.json()["id"]
        assert b'"value":1.50' in (await c.get(f"/fhir/Observation/{oid}")).content
        assert (
            b'"value": 1.50' in (await c.get(f"/fhir/Observation/{oid}", params={"_pretty": "true"})).content
        )

    run_api(scenario)


def test_observation_in_patient_compartment(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        obs = await create(c, observation(f"Patient/{pid}"))
        assert obs["subject"]["reference"] == f"Patient/{pid}"

    run_api(scenario)


def test_plain_read_answers_like_the_routed_read(run_api: RunApi) -> None:
    """``GET /fhir/Type/id`` with no query and no conditions is answered before routing
    (:mod:`senhealth.api.fhir.fast_read`); any query string takes the route. Both answer alike, and
    everything the fast path does not handle still gets the route's answer."""

    async def scenario(c: httpx.AsyncClient) -> None:
        raw = json.dumps(observation("Patient/x", value=1.25)).replace("1.25", "1.50")
        r = await c.post("/fhir/Observation", content=raw, headers=JSON_HEADERS)
        path = f"/fhir/Observation/{r.json()['id']}"
        fast = await c.get(path, headers={"Accept": "application/fhir+json"})
        routed = await c.get(path, params={"_format": "json"})
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content and b'"value":1.50' in fast.content
        for name in ("content-type", "etag", "last-modified", "content-location", "content-length"):
            assert fast.headers[name] == routed.headers[name], name
        outcome(await c.get(path, headers={"Accept": "application/fhir+xml"}), 406)
        outcome(await c.get("/fhir/Observation/not-there"), 404)
        outcome(await c.get("/fhir/Nonsense/x"), 404)
        assert (await c.get(path, headers={"If-None-Match": fast.headers["etag"]})).status_code == 304
        await c.delete(path)
        outcome(await c.get(path), 410)

    run_api(scenario)
