"""Batch and transaction Bundles: atomicity, urn:uuid rewriting, conditional references, ordering.

Spec: https://hl7.org/fhir/R4/http.html#transaction, #trules, https://hl7.org/fhir/R4/bundle.html#transaction
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import JSON_HEADERS, RunApi, create, diagnostics, observation, outcome, patient, unique

CCCD = "https://senhealth.vn/fhir/sid/cccd"
SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "synthea"


def entry(
    method: str, url: str, resource: dict[str, Any] | None = None, full_url: str | None = None, **request: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        out["resource"] = resource
    if full_url is not None:
        out["fullUrl"] = full_url
    return out


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


async def post(c: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await c.post("/fhir", json=body, headers={**JSON_HEADERS, **headers})


async def count(c: httpx.AsyncClient, res_type: str, **params: str) -> int:
    r = await c.get(f"/fhir/{res_type}", params={**params, "_summary": "count"})
    total: int = r.json()["total"]
    return total


def test_transaction_rewrites_urn_uuid_references(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        urn = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"
        body = bundle(
            "transaction",
            entry("POST", "Observation", observation(urn), "urn:uuid:0c5b2c9e-8f8c-4e58-9d6b-2b1b5a9e1f00"),
            entry("POST", "Patient", patient(ident), urn),
        )
        r = await post(c, body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["type"] == "transaction-response"
        obs_entry, pat_entry = answer["entry"]
        assert obs_entry["response"]["status"] == "201 Created"
        assert pat_entry["response"]["location"].startswith("http://test/fhir/Patient/")
        assert pat_entry["response"]["etag"] == 'W/"1"'
        pid = pat_entry["resource"]["id"]
        assert obs_entry["resource"]["subject"]["reference"] == f"Patient/{pid}"
        oid = obs_entry["resource"]["id"]
        stored = (await c.get(f"/fhir/Observation/{oid}")).json()
        assert stored["subject"]["reference"] == f"Patient/{pid}"
        found = (await c.get("/fhir/Observation", params={"subject": f"Patient/{pid}"})).json()
        assert found["total"] == 1  # indexed with the real target

    run_api(scenario)


def test_transaction_is_atomic(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        urn = "urn:uuid:5d0a7a1c-8a55-4d73-8d3c-0d6f1f2b3c4d"
        existing = await create(c, patient(unique()))
        body = bundle(
            "transaction",
            entry("POST", "Patient", patient(ident), urn),
            entry("DELETE", f"Patient/{existing['id']}"),
            entry("POST", "Observation", observation(urn, status="not-a-status")),
        )
        r = await post(c, body)
        result = outcome(r, 400)
        assert any("Bundle.entry[2]" in e for i in result["issue"] for e in i.get("expression", []))
        assert "Bundle.entry[2]" in diagnostics(result)
        assert await count(c, "Patient", identifier=f"{CCCD}|{ident}") == 0
        assert await count(c, "Observation") == 0
        assert (await c.get(f"/fhir/Patient/{existing['id']}")).status_code == 200  # the delete was undone
        history = (await c.get("/fhir/_history")).json()
        assert len(history["entry"]) == 1  # only the patient made before the transaction

    run_api(scenario)


def test_transaction_failure_status_names_the_entry(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        created = await create(c, patient(unique()))
        pid = created["id"]
        stale = bundle(
            "transaction",
            entry("POST", "Patient", patient(unique())),
            entry("PUT", f"Patient/{pid}", {**created, "gender": "female"}, ifMatch='W/"5"'),
        )
        body = outcome(await post(c, stale), 412)
        assert "Bundle.entry[1]" in diagnostics(body)
        body = outcome(await post(c, bundle("transaction", entry("GET", "Patient/unknown-id"))), 404)
        assert "Bundle.entry[0]" in diagnostics(body)
        body = outcome(
            await post(c, bundle("transaction", entry("POST", "Unicorn", {"resourceType": "Unicorn"}))), 404
        )
        assert await count(c, "Patient") == 1

    run_api(scenario)


def test_transaction_order_delete_post_put_get(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        old = await create(c, patient(unique()))
        keep = await create(c, patient(unique()))
        body = bundle(
            "transaction",
            entry("GET", f"Patient?identifier={CCCD}|{ident}"),
            entry("PUT", f"Patient/{keep['id']}", {**keep, "gender": "female"}),
            entry("POST", "Patient", patient(ident)),
            entry("DELETE", f"Patient/{old['id']}"),
        )
        r = await post(c, body)
        assert r.status_code == 200, r.text
        get, put, created, deleted = r.json()["entry"]
        assert get["response"]["status"] == "200 OK"
        assert get["resource"]["type"] == "searchset" and get["resource"]["total"] == 1  # GET runs last
        assert put["response"]["status"] == "200 OK" and put["resource"]["gender"] == "female"
        assert created["response"]["status"] == "201 Created"
        assert deleted["response"]["status"] == "200 OK"
        assert (await c.get(f"/fhir/Patient/{old['id']}")).status_code == 410

    run_api(scenario)


def test_conditional_references(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        pid = (await create(c, patient(ident)))["id"]
        ok = bundle(
            "transaction", entry("POST", "Observation", observation(f"Patient?identifier={CCCD}|{ident}"))
        )
        r = await post(c, ok)
        assert r.status_code == 200, r.text
        assert r.json()["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{pid}"
        missing = bundle(
            "transaction",
            entry("POST", "Patient", patient(unique())),
            entry("POST", "Observation", observation(f"Patient?identifier={CCCD}|nobody")),
        )
        body = outcome(await post(c, missing), 412)
        assert "Bundle.entry[1]" in diagnostics(body)
        await create(c, patient(ident))
        body = outcome(await post(c, ok), 412)
        assert "more than one" in diagnostics(body)
        assert await count(c, "Observation") == 1
        assert await count(c, "Patient") == 2

    run_api(scenario)


def test_conditional_reference_to_a_patient_created_in_the_same_transaction(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        body = bundle(
            "transaction",
            entry("POST", "Patient", patient(ident)),
            entry("POST", "Observation", observation(f"Patient?identifier={CCCD}|{ident}")),
        )
        r = await post(c, body)
        assert r.status_code == 200, r.text
        pat, obs = r.json()["entry"]
        assert obs["resource"]["subject"]["reference"] == f"Patient/{pat['resource']['id']}"

    run_api(scenario)


def test_if_none_exist_and_conditional_update_in_transaction(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident, other = unique(), unique()
        pid = (await create(c, patient(ident)))["id"]
        urn, urn2 = (
            "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001",
            "urn:uuid:aaaaaaaa-0000-4000-8000-000000000002",
        )
        body = bundle(
            "transaction",
            entry("POST", "Patient", patient(ident), urn, ifNoneExist=f"identifier={CCCD}|{ident}"),
            entry("POST", "Observation", observation(urn)),
            entry("PUT", f"Patient?identifier={CCCD}|{other}", patient(other), urn2),
            entry("POST", "Observation", observation(urn2)),
        )
        r = await post(c, body)
        assert r.status_code == 200, r.text
        matched, obs, upserted, obs2 = r.json()["entry"]
        assert matched["response"]["status"] == "200 OK"
        assert obs["resource"]["subject"]["reference"] == f"Patient/{pid}"
        assert upserted["response"]["status"] == "201 Created"
        new_id = upserted["resource"]["id"]
        assert obs2["resource"]["subject"]["reference"] == f"Patient/{new_id}"
        assert await count(c, "Patient") == 2
        again = bundle(
            "transaction", entry("PUT", f"Patient?identifier={CCCD}|{other}", patient(other, gender="female"))
        )
        r = await post(c, again)
        assert r.json()["entry"][0]["response"]["status"] == "200 OK"
        assert (await c.get(f"/fhir/Patient/{new_id}")).json()["gender"] == "female"

    run_api(scenario)


def test_overlapping_entries_fail(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        created = await create(c, patient(unique()))
        pid = created["id"]
        body = bundle(
            "transaction",
            entry("PUT", f"Patient/{pid}", {**created, "gender": "female"}),
            entry("DELETE", f"Patient/{pid}"),
        )
        result = outcome(await post(c, body), 400)
        assert "both change" in diagnostics(result)
        assert (await c.get(f"/fhir/Patient/{pid}")).json()["gender"] == "male"

    run_api(scenario)


def test_patch_and_conditional_delete_entries(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        a = (await create(c, patient(unique())))["id"]
        b = (await create(c, patient(unique())))["id"]
        await create(c, patient(ident))
        json_patch = base64.b64encode(
            json.dumps([{"op": "replace", "path": "/gender", "value": "female"}]).encode()
        )
        binary = {
            "resourceType": "Binary",
            "contentType": "application/json-patch+json",
            "data": json_patch.decode(),
        }
        fhirpath = {
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "operation",
                    "part": [
                        {"name": "type", "valueCode": "replace"},
                        {"name": "path", "valueString": "Patient.birthDate"},
                        {"name": "value", "valueDate": "2001-02-03"},
                    ],
                }
            ],
        }
        body = bundle(
            "transaction",
            entry("PATCH", f"Patient/{a}", binary),
            entry("PATCH", f"Patient/{b}", fhirpath),
            entry("DELETE", f"Patient?identifier={CCCD}|{ident}"),
        )
        r = await post(c, body)
        assert r.status_code == 200, r.text
        assert (await c.get(f"/fhir/Patient/{a}")).json()["gender"] == "female"
        assert (await c.get(f"/fhir/Patient/{b}")).json()["birthDate"] == "2001-02-03"
        assert await count(c, "Patient", identifier=f"{CCCD}|{ident}") == 0

    run_api(scenario)


def test_prefer_return_in_transaction(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        body = bundle("transaction", entry("POST", "Patient", patient(unique())))
        minimal = (await post(c, body, Prefer="return=minimal")).json()["entry"][0]
        assert "resource" not in minimal and minimal["response"]["location"]
        oo = (await post(c, body, Prefer="return=OperationOutcome")).json()["entry"][0]
        assert oo["response"]["outcome"]["resourceType"] == "OperationOutcome"

    run_api(scenario)


def test_batch_entries_are_independent(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        body = bundle(
            "batch",
            entry("POST", "Patient", patient(ident)),
            entry("POST", "Patient", patient(unique(), gender="robot")),
            entry("GET", "Patient/unknown"),
            entry("DELETE", "Patient/unknown"),
            entry("PUT", "Unicorn/1", {"resourceType": "Unicorn", "id": "1"}),
        )
        r = await post(c, body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["type"] == "batch-response"
        statuses = [e["response"]["status"] for e in answer["entry"]]
        assert statuses == [
            "201 Created",
            "400 Bad Request",
            "404 Not Found",
            "204 No Content",
            "404 Not Found",
        ]
        assert answer["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
        assert await count(c, "Patient") == 1

    run_api(scenario)


def test_malformed_bundles(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        outcome(await post(c, patient(unique())), 400)
        outcome(await post(c, bundle("collection")), 400)
        outcome(await post(c, {"resourceType": "Bundle", "type": "transaction", "entry": {"x": 1}}), 400)
        outcome(await post(c, bundle("transaction", {"resource": patient(unique())})), 400)
        outcome(await post(c, bundle("transaction", entry("FETCH", "Patient"))), 400)
        outcome(await post(c, bundle("transaction", entry("POST", "Patient"))), 400)
        outcome(
            await post(
                c,
                bundle("transaction", entry("POST", "http://elsewhere.org/fhir/Patient", patient(unique()))),
            ),
            400,
        )
        outcome(await post(c, bundle("transaction", entry("GET", "Patient/1/a/b/c/d"))), 400)
        r = await post(c, bundle("transaction", entry("POST", "http://test/fhir/Patient", patient(unique()))))
        assert r.status_code == 200  # our own base is fine
        assert (await post(c, bundle("transaction"))).json()["entry"] == []

    run_api(scenario)


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="the shared Synthea bundles are not here")
def test_synthea_patient_bundle(run_api: RunApi) -> None:
    path = sorted(p for p in SYNTHEA.glob("*.json") if "Information" not in p.name)[0]
    data = json.loads(path.read_text())

    async def scenario(c: httpx.AsyncClient) -> None:
        r = await c.post(
            "/fhir", content=path.read_bytes(), headers={**JSON_HEADERS, "Prefer": "return=minimal"}
        )
        assert r.status_code == 200, r.text[:2000]
        answer = r.json()
        assert len(answer["entry"]) == len(data["entry"])
        assert all(e["response"]["status"] == "201 Created" for e in answer["entry"])
        pid = next(
            e["response"]["location"].split("/")[-3]
            for e in answer["entry"]
            if "/Patient/" in e["response"]["location"]
        )
        everything = (await c.get(f"/fhir/Patient/{pid}/$everything", params={"_count": "1000"})).json()
        in_compartment = {
            e["resource"]["resourceType"] for e in everything["entry"] if e["search"]["mode"] == "match"
        }
        assert {"Patient", "Encounter", "Observation"} <= in_compartment
        refs = json.dumps(everything)
        assert "urn:uuid:" not in refs

    run_api(scenario)


def test_batch_reads_searches_histories_and_operations(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        created = await create(c, patient(unique()))
        pid = created["id"]
        oid = (await create(c, observation(f"Patient/{pid}")))["id"]
        body = bundle(
            "batch",
            entry("GET", f"Patient/{pid}"),
            entry("GET", f"Patient/{pid}/_history/1"),
            entry("GET", f"Patient/{pid}/_history"),
            entry("GET", "Patient/_history?_count=1"),
            entry("GET", f"Patient/{pid}/Observation"),
            entry("GET", f"Observation?subject=Patient/{pid}&_summary=count"),
            entry("GET", f"Patient/{pid}", ifNoneMatch='W/"1"'),
            entry("GET", f"Patient/{pid}?_elements=gender"),
            entry("POST", "Patient/$validate", patient(unique(), gender="robot")),
            entry("GET", f"Patient/{pid}/$everything"),
            entry("GET", "Patient/$nope"),
            entry(
                "POST",
                "Patient",
                patient(unique()),
                ifNoneExist=f"Patient?identifier={created['identifier'][0]['system']}|{created['identifier'][0]['value']}",
            ),
        )
        r = await post(c, body)
        assert r.status_code == 200, r.text
        e = r.json()["entry"]
        assert e[0]["resource"]["id"] == pid and e[0]["response"]["etag"] == 'W/"1"'
        assert e[1]["resource"]["meta"]["versionId"] == "1"
        assert e[2]["resource"]["type"] == "history"
        assert len(e[3]["resource"]["entry"]) == 1
        assert [x["resource"]["id"] for x in e[4]["resource"]["entry"]] == [oid]
        assert e[5]["resource"]["total"] == 1 and "entry" not in e[5]["resource"]
        assert e[6]["response"]["status"] == "304 Not Modified" and "resource" not in e[6]
        assert set(e[7]["resource"]) == {"resourceType", "id", "meta", "gender"}
        assert e[8]["resource"]["resourceType"] == "OperationOutcome"
        assert any(i["severity"] == "error" for i in e[8]["resource"]["issue"])
        assert e[9]["resource"]["type"] == "searchset"
        assert e[10]["response"]["status"] == "404 Not Found"
        assert e[11]["response"]["status"] == "200 OK" and e[11]["resource"]["id"] == pid

    run_api(scenario)


def test_transaction_with_if_match_and_update_as_create(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        created = await create(c, patient(unique()))
        pid, new_id = created["id"], unique("p")
        body = bundle(
            "transaction",
            entry("PUT", f"Patient/{pid}", {**created, "gender": "female"}, ifMatch='W/"1"'),
            entry("PUT", f"Patient/{new_id}", patient(unique(), id=new_id)),
        )
        r = await post(c, body)
        assert r.status_code == 200, r.text
        updated, made = r.json()["entry"]
        assert updated["response"]["status"] == "200 OK" and updated["response"]["etag"] == 'W/"2"'
        assert made["response"]["status"] == "201 Created"
        assert made["response"]["location"].endswith(f"/Patient/{new_id}/_history/1")

    run_api(scenario)


@pytest.mark.parametrize("path", ["bulk", "entry-by-entry"])
def test_plain_creates_and_updates_answer_alike_on_both_paths(run_api: RunApi, path: str) -> None:
    """A transaction of plain POSTs and PUTs is written with the bulk statements; one with any other
    entry (here a read) entry by entry. Both give the same answers: 201 for a create (a POST's body id
    ignored) and for a PUT of a new id, 200 with the next version for a changed PUT, 200 with the same
    version for an unchanged one; references rewritten; history records POST and PUT."""

    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        old = await create(c, patient(unique()))
        same = await create(c, patient(unique()))
        new_id = unique("put")
        urn = "urn:uuid:7f1d9a3e-2b4c-4d5e-8f60-718293a4b5c6"
        entries = [
            entry("POST", "Patient", {**patient(ident), "id": "ignored"}, urn),
            entry("PUT", f"Patient/{new_id}", {**patient(unique()), "id": new_id}),
            entry("PUT", f"Patient/{old['id']}", {**patient(unique()), "id": old["id"], "gender": "male"}),
            entry("PUT", f"Patient/{same['id']}", {k: v for k, v in same.items() if k != "meta"}),
            entry("POST", "Observation", observation(urn)),
        ]
        if path == "entry-by-entry":
            entries.append(entry("GET", f"Patient/{old['id']}"))
        r = await post(c, bundle("transaction", *entries))
        assert r.status_code == 200, r.text
        got = r.json()["entry"]
        statuses = [e["response"]["status"] for e in got[:5]]
        assert statuses == ["201 Created", "201 Created", "200 OK", "200 OK", "201 Created"]
        assert [e["response"]["etag"] for e in got[:5]] == ['W/"1"', 'W/"1"', 'W/"2"', 'W/"1"', 'W/"1"']
        pid = got[0]["resource"]["id"]
        assert pid != "ignored" and got[0]["response"]["location"].endswith(f"/Patient/{pid}/_history/1")
        assert got[1]["resource"]["id"] == new_id
        assert got[2]["resource"]["gender"] == "male" and got[2]["resource"]["meta"]["versionId"] == "2"
        assert got[3]["resource"]["meta"]["versionId"] == "1"
        assert got[4]["resource"]["subject"]["reference"] == f"Patient/{pid}"
        assert (await c.get(f"/fhir/Patient/{pid}")).json()["identifier"] == patient(ident)["identifier"]
        found = (await c.get("/fhir/Observation", params={"subject": f"Patient/{pid}"})).json()
        assert found["total"] == 1
        history = (await c.get(f"/fhir/Patient/{old['id']}/_history")).json()
        assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "POST"]
        assert (await c.get(f"/fhir/Patient/{same['id']}/_history")).json()["total"] == 1
        if path == "entry-by-entry":
            assert got[5]["resource"]["gender"] == "male"  # the read sees the transaction's own write

    run_api(scenario)


def test_plain_transaction_with_an_invalid_entry_leaves_no_trace(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ident = unique()
        before = await count(c, "Patient")
        body = bundle(
            "transaction",
            entry("POST", "Patient", patient(ident)),
            entry("PUT", f"Patient/{unique('p')}", {"resourceType": "Patient", "id": "p1", "gender": 5}),
        )
        body["entry"][1]["request"]["url"] = "Patient/p1"
        r = await post(c, body)
        body_ = outcome(r, 400)
        assert "Bundle.entry[1]" in diagnostics(body_), body_
        assert await count(c, "Patient") == before

    run_api(scenario)


def test_transaction_reference_checks(run_api: RunApi) -> None:
    """bdl-7 (a fullUrl once per Bundle) and references to a urn:uuid no entry has: 400, nothing written."""

    async def scenario(c: httpx.AsyncClient) -> None:
        before = await count(c, "Patient")
        urn = "urn:uuid:0b6c2a3e-1d4f-4a5b-8c7d-9e0f1a2b3c4d"
        twice = bundle(
            "transaction",
            entry("POST", "Patient", patient(unique()), urn),
            entry("POST", "Patient", patient(unique()), urn),
        )
        r = await post(c, twice)
        assert "not unique" in diagnostics(outcome(r, 400))
        missing = "urn:uuid:1c7d3b4f-2e5a-4b6c-9d8e-0f1a2b3c4d5e"
        for extra in ([], [entry("DELETE", f"Patient/{unique()}")]):  # bulk, then entry by entry
            dangling = bundle(
                "transaction",
                entry("POST", "Patient", patient(unique())),
                entry("POST", "Observation", observation(missing)),
                *extra,
            )
            r = await post(c, dangling)
            text = diagnostics(outcome(r, 400))
            assert missing in text and "Bundle.entry[1]" in text, text
        r = await post(c, bundle("batch", entry("POST", "Observation", observation(missing))))
        assert r.status_code == 200 and r.json()["entry"][0]["response"]["status"].startswith("400")
        assert await count(c, "Patient") == before

    run_api(scenario)
