"""Operations: $validate, $meta, $meta-add, $meta-delete, Patient/$everything, and the registry.

Spec: https://hl7.org/fhir/R4/operations.html, https://hl7.org/fhir/R4/resource-operation-validate.html,
https://hl7.org/fhir/R4/resource-operation-meta.html, https://hl7.org/fhir/R4/patient-operation-everything.html
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from api_support import JSON_HEADERS, RunApi, create, diagnostics, ids, observation, outcome, patient, unique

from senhealth.fhir.operations import Operation, OperationCall, OperationResult, register, unregister
from senhealth.fhir.validation import register_profile, unregister_profile

VN_PATIENT = "https://senhealth.vn/fhir/StructureDefinition/test-vn-patient"
CCCD = "https://senhealth.vn/fhir/sid/cccd"


@pytest.fixture
def vn_profile() -> Iterator[str]:
    sd = {
        "resourceType": "StructureDefinition",
        "url": VN_PATIENT,
        "name": "TestVNPatient",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "differential": {
            "element": [
                {"id": "Patient.identifier", "path": "Patient.identifier", "min": 1},
                {
                    "id": "Patient.identifier.system",
                    "path": "Patient.identifier.system",
                    "min": 1,
                    "fixedUri": CCCD,
                },
            ]
        },
    }
    yield register_profile(sd)
    unregister_profile(VN_PATIENT)


def params(*items: tuple[str, str, Any]) -> dict[str, Any]:
    out = []
    for name, kind, value in items:
        out.append(
            {"name": name, "resource": value} if kind == "resource" else {"name": name, f"value{kind}": value}
        )
    return {"resourceType": "Parameters", "parameter": out}


def errors_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in body["issue"] if i["severity"] in ("error", "fatal")]


def test_validate_valid_and_invalid(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        r = await c.post("/fhir/Patient/$validate", json=patient(unique()), headers=JSON_HEADERS)
        assert r.status_code == 200
        assert r.json()["resourceType"] == "OperationOutcome" and not errors_of(r.json())
        r = await c.post(
            "/fhir/Patient/$validate", json=patient(unique(), gender="robot"), headers=JSON_HEADERS
        )
        assert r.status_code == 200
        bad = errors_of(r.json())
        assert bad and bad[0]["expression"] == ["Patient.gender"]
        body = params(
            ("resource", "resource", patient(unique(), birthDate="1980-02-30")), ("mode", "Code", "create")
        )
        r = await c.post("/fhir/Patient/$validate", json=body, headers=JSON_HEADERS)
        assert errors_of(r.json())
        # nothing was stored
        assert (await c.get("/fhir/Patient", params={"_summary": "count"})).json()["total"] == 0
        outcome(
            await c.post(
                "/fhir/Patient/$validate", json={"resourceType": "Observation"}, headers=JSON_HEADERS
            ),
            400,
        )
        outcome(await c.post("/fhir/Patient/$validate", headers=JSON_HEADERS), 400)
        bad_mode = params(("resource", "resource", patient(unique())), ("mode", "Code", "sideways"))
        outcome(await c.post("/fhir/Patient/$validate", json=bad_mode, headers=JSON_HEADERS), 400)

    run_api(scenario)


def test_validate_against_a_profile(run_api: RunApi, vn_profile: str) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        without_cccd = patient(None)
        body = params(("resource", "resource", without_cccd), ("profile", "Uri", vn_profile))
        r = await c.post("/fhir/Patient/$validate", json=body, headers=JSON_HEADERS)
        assert r.status_code == 200 and errors_of(r.json())
        body = params(("resource", "resource", patient(unique())), ("profile", "Uri", vn_profile))
        r = await c.post("/fhir/Patient/$validate", json=body, headers=JSON_HEADERS)
        assert not errors_of(r.json())
        # without the profile the same resource is valid
        r = await c.post("/fhir/Patient/$validate", json=without_cccd, headers=JSON_HEADERS)
        assert not errors_of(r.json())
        body = params(
            ("resource", "resource", without_cccd), ("profile", "Uri", "http://example.org/unknown")
        )
        r = await c.post("/fhir/Patient/$validate", json=body, headers=JSON_HEADERS)
        assert any(i["code"] == "not-found" for i in r.json()["issue"])

    run_api(scenario)


def test_validate_instance_level(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        r = await c.get(f"/fhir/Patient/{pid}/$validate")
        assert r.status_code == 200 and not errors_of(r.json())
        r = await c.post(
            f"/fhir/Patient/{pid}/$validate", json=params(("mode", "Code", "delete")), headers=JSON_HEADERS
        )
        assert r.status_code == 200
        wrong = patient(unique(), id="other")
        outcome(await c.post(f"/fhir/Patient/{pid}/$validate", json=wrong, headers=JSON_HEADERS), 400)
        outcome(await c.get("/fhir/Patient/missing/$validate"), 404)

    run_api(scenario)


def test_meta_family(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        tag = {"system": "https://senhealth.vn/tags", "code": "vip"}
        sec = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
        add = params(("meta", "Meta", {"tag": [tag], "security": [sec], "profile": [VN_PATIENT]}))
        r = await c.post(f"/fhir/Patient/{pid}/$meta-add", json=add, headers=JSON_HEADERS)
        assert r.status_code == 200, r.text
        meta = r.json()["parameter"][0]["valueMeta"]
        assert meta["tag"] == [tag] and meta["security"] == [sec] and meta["profile"] == [VN_PATIENT]
        r = await c.post(f"/fhir/Patient/{pid}/$meta-add", json=add, headers=JSON_HEADERS)
        assert r.json()["parameter"][0]["valueMeta"]["tag"] == [tag]  # not twice
        found = (await c.get("/fhir/Patient", params={"_tag": "https://senhealth.vn/tags|vip"})).json()
        assert ids(found) == [f"Patient/{pid}"]
        r = await c.get(f"/fhir/Patient/{pid}/$meta")
        assert r.json()["parameter"][0]["valueMeta"]["tag"] == [tag]
        r = await c.get("/fhir/Patient/$meta")
        assert r.json()["parameter"][0]["valueMeta"]["tag"] == [tag]
        r = await c.get("/fhir/$meta")
        assert r.json()["parameter"][0]["valueMeta"]["security"] == [sec]
        r = await c.get("/fhir/Observation/$meta")
        assert "tag" not in r.json()["parameter"][0]["valueMeta"]
        delete = params(("meta", "Meta", {"tag": [{"system": tag["system"], "code": "vip"}]}))
        r = await c.post(f"/fhir/Patient/{pid}/$meta-delete", json=delete, headers=JSON_HEADERS)
        meta = r.json()["parameter"][0]["valueMeta"]
        assert "tag" not in meta and meta["security"] == [sec]
        # state-changing operations refuse GET, missing input is 400
        outcome(await c.get(f"/fhir/Patient/{pid}/$meta-add"), 405)
        outcome(await c.post(f"/fhir/Patient/{pid}/$meta-add", json=params(), headers=JSON_HEADERS), 400)
        outcome(await c.post("/fhir/Patient/$meta-add", json=add, headers=JSON_HEADERS), 404)

    run_api(scenario)


def test_patient_everything(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        org = (await create(c, {"resourceType": "Organization", "name": "Trạm Y tế xã An Bình"}))["id"]
        pid = (await create(c, patient(unique(), managingOrganization={"reference": f"Organization/{org}"})))[
            "id"
        ]
        other = (await create(c, patient(unique())))["id"]
        obs = [(await create(c, observation(f"Patient/{pid}")))["id"] for _ in range(3)]
        await create(c, observation(f"Patient/{other}"))
        enc = (
            await create(
                c,
                {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": {"reference": f"Patient/{pid}"},
                },
            )
        )["id"]
        r = await c.get(f"/fhir/Patient/{pid}/$everything")
        assert r.status_code == 200
        bundle = r.json()
        assert bundle["type"] == "searchset"
        matched = set(ids(bundle))
        assert matched == {f"Patient/{pid}", f"Encounter/{enc}", *(f"Observation/{o}" for o in obs)}
        assert f"Organization/{org}" in ids(bundle, "include")
        # _type
        r = await c.get(f"/fhir/Patient/{pid}/$everything", params={"_type": "Observation"})
        assert set(ids(r.json())) == {f"Observation/{o}" for o in obs}
        # _count and paging
        page = (await c.get(f"/fhir/Patient/{pid}/$everything", params={"_count": "2"})).json()
        assert len(ids(page)) == 2
        seen = set(ids(page))
        while nxt := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
            page = (await c.get(nxt)).json()
            seen |= set(ids(page))
        assert seen == matched
        # _since: only what changed after
        await asyncio.sleep(0.05)
        since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        await asyncio.sleep(0.05)
        late = (await create(c, observation(f"Patient/{pid}")))["id"]
        r = await c.get(f"/fhir/Patient/{pid}/$everything", params={"_since": since})
        assert ids(r.json()) == [f"Observation/{late}"]
        # POST works too; unknown patients are 404
        r = await c.post(
            f"/fhir/Patient/{pid}/$everything", json=params(("_count", "Integer", 1)), headers=JSON_HEADERS
        )
        assert r.status_code == 200 and len(ids(r.json())) == 1
        outcome(await c.get("/fhir/Patient/nobody/$everything"), 404)
        outcome(await c.get(f"/fhir/Patient/{pid}/$everything", params={"_type": "Unicorn"}), 400)
        outcome(await c.get(f"/fhir/Observation/{obs[0]}/$everything"), 404)
        r = await c.get(f"/fhir/Patient/{pid}/$everything", params={"start": "2020"})
        assert any(e["search"]["mode"] == "outcome" for e in r.json()["entry"])

    run_api(scenario)


def test_unknown_operations(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        body = outcome(await c.get("/fhir/Patient/$nope"), 404)
        assert "nope" in diagnostics(body)
        outcome(await c.post("/fhir/$nope", json=params(), headers=JSON_HEADERS), 404)
        outcome(await c.get("/fhir/Patient/1/$nope"), 404)
        outcome(await c.post("/fhir/$validate", json=patient(unique()), headers=JSON_HEADERS), 404)

    run_api(scenario)


def test_registered_operation_is_routed(run_api: RunApi) -> None:
    async def echo(call: OperationCall) -> OperationResult:
        return OperationResult(
            params(("level", "Code", call.level), ("message", "String", call.text("message") or ""))
        )

    op = Operation(
        name="test-echo",
        handler=echo,
        levels=frozenset({"system", "type", "instance"}),
        definition="https://senhealth.vn/fhir/OperationDefinition/test-echo",
    )
    register(op)
    try:

        async def scenario(c: httpx.AsyncClient) -> None:
            r = await c.get("/fhir/$test-echo", params={"message": "xin chào"})
            assert r.json()["parameter"][1]["valueString"] == "xin chào"
            r = await c.post(
                "/fhir/Patient/$test-echo", json=params(("message", "String", "hi")), headers=JSON_HEADERS
            )
            assert r.json()["parameter"][0]["valueCode"] == "type"
            pid = (await create(c, patient(unique())))["id"]
            r = await c.get(f"/fhir/Patient/{pid}/$test-echo")
            assert r.json()["parameter"][0]["valueCode"] == "instance"
            statement = (await c.get("/fhir/metadata")).json()
            assert any(o["name"] == "test-echo" for o in statement["rest"][0]["operation"])

        run_api(scenario)
    finally:
        unregister("test-echo")


def test_operation_with_a_raw_body_and_a_binary_answer(run_api: RunApi) -> None:
    """An operation that takes an XML file and answers a non-FHIR document (the claim XML, a PDF)."""

    async def upper(call: OperationCall) -> OperationResult:
        if call.raw_body is None:
            return OperationResult(params(("seen", "String", "no raw body")))
        return OperationResult(
            None, content=call.raw_body.upper(), media_type="application/xml", headers={"X-Seen": "yes"}
        )

    register(
        Operation(
            name="test-upper",
            handler=upper,
            levels=frozenset({"system"}),
            definition="https://senhealth.vn/fhir/OperationDefinition/test-upper",
            raw_body_types=frozenset({"application/xml", "text/xml"}),
        )
    )
    try:

        async def scenario(c: httpx.AsyncClient) -> None:
            xml = "<a>xin chào</a>".encode()
            r = await c.post(
                "/fhir/$test-upper", content=xml, headers={"Content-Type": "text/xml; charset=utf-8"}
            )
            assert r.status_code == 200 and r.content == xml.upper()
            assert r.headers["content-type"].startswith("application/xml") and r.headers["x-seen"] == "yes"
            # another media type is parsed as FHIR JSON as before: XML is not JSON
            r = await c.post(
                "/fhir/$test-upper", content=xml, headers={"Content-Type": "application/fhir+json"}
            )
            outcome(r, 400)
            r = await c.post("/fhir/$test-upper", json=params(("x", "String", "y")), headers=JSON_HEADERS)
            assert r.json()["parameter"][0]["valueString"] == "no raw body"

        run_api(scenario)
    finally:
        unregister("test-upper")
