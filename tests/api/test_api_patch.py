"""Patch: JSON Patch and FHIRPath Patch, over HTTP and on the functions themselves.

Spec: https://hl7.org/fhir/R4/http.html#patch and https://hl7.org/fhir/R4/fhirpatch.html
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import JSON_HEADERS, RunApi, create, outcome, patient, unique

from senhealth.fhir.patch import PatchError, apply_fhirpath_patch, apply_json_patch

JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def op(kind: str, path: str, **parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "operation",
        "part": [
            {"name": "type", "valueCode": kind},
            {"name": "path", "valueString": path},
            *({"name": name, **value} for name, value in parts.items()),
        ],
    }


def fhirpath_patch(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(ops)}


def test_json_patch_over_http(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        patch = [
            {"op": "test", "path": "/gender", "value": "male"},
            {"op": "replace", "path": "/gender", "value": "female"},
            {"op": "add", "path": "/active", "value": True},
        ]
        r = await c.patch(f"/fhir/Patient/{pid}", json=patch, headers=JSON_PATCH)
        assert r.status_code == 200
        assert r.json()["gender"] == "female" and r.json()["active"] is True
        assert r.headers["etag"] == 'W/"2"'
        hist = (await c.get(f"/fhir/Patient/{pid}/_history")).json()
        assert hist["entry"][0]["request"]["method"] == "PATCH"
        # a failing test operation: 422, nothing written
        outcome(await c.patch(f"/fhir/Patient/{pid}", json=patch, headers=JSON_PATCH), 422)
        assert (await c.get(f"/fhir/Patient/{pid}")).headers["etag"] == 'W/"2"'

    run_api(scenario)


def test_fhirpath_patch_over_http(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        body = fhirpath_patch(
            op("replace", "Patient.birthDate", value={"valueDate": "1990-05-17"}),
            op("add", "Patient", name={"valueString": "active"}, value={"valueBoolean": True}),
            op("add", "Patient.name[0]", name={"valueString": "given"}, value={"valueString": "Bình"}),
            op(
                "add",
                "Patient",
                name={"valueString": "telecom"},
                value={
                    "part": [
                        {"name": "system", "valueCode": "phone"},
                        {"name": "value", "valueString": "0912"},
                    ]
                },
            ),
        )
        r = await c.patch(f"/fhir/Patient/{pid}", json=body, headers=JSON_HEADERS)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["birthDate"] == "1990-05-17" and got["active"] is True
        assert got["name"][0]["given"] == ["Văn", "An", "Bình"]
        assert got["telecom"] == [{"system": "phone", "value": "0912"}]
        body = fhirpath_patch(op("delete", "Patient.telecom"), op("delete", "Patient.name.given[0]"))
        got = (await c.patch(f"/fhir/Patient/{pid}", json=body, headers=JSON_HEADERS)).json()
        assert "telecom" not in got and got["name"][0]["given"] == ["An", "Bình"]

    run_api(scenario)


def test_patch_producing_an_invalid_resource_writes_nothing(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        bad = [{"op": "replace", "path": "/gender", "value": "robot"}]
        body = outcome(await c.patch(f"/fhir/Patient/{pid}", json=bad, headers=JSON_PATCH), 400)
        assert any("gender" in i.get("expression", [""])[0] for i in body["issue"])
        bad_fp = fhirpath_patch(op("replace", "Patient.birthDate", value={"valueString": "yesterday"}))
        outcome(await c.patch(f"/fhir/Patient/{pid}", json=bad_fp, headers=JSON_HEADERS), 400)
        rt = [{"op": "replace", "path": "/resourceType", "value": "Organization"}]
        outcome(await c.patch(f"/fhir/Patient/{pid}", json=rt, headers=JSON_PATCH), 422)
        same_id = [{"op": "replace", "path": "/id", "value": "other"}]
        outcome(await c.patch(f"/fhir/Patient/{pid}", json=same_id, headers=JSON_PATCH), 422)
        r = await c.get(f"/fhir/Patient/{pid}")
        assert r.headers["etag"] == 'W/"1"' and r.json()["gender"] == "male"

    run_api(scenario)


def test_patch_errors(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        outcome(
            await c.patch(f"/fhir/Patient/{pid}", content=b"[]", headers={"Content-Type": "text/plain"}), 415
        )
        outcome(await c.patch(f"/fhir/Patient/{pid}", json={"op": "x"}, headers=JSON_PATCH), 400)
        outcome(
            await c.patch(f"/fhir/Patient/{pid}", json=[{"op": "jump", "path": "/a"}], headers=JSON_PATCH),
            400,
        )
        outcome(
            await c.patch(f"/fhir/Patient/{pid}", json={"resourceType": "Patient"}, headers=JSON_HEADERS), 400
        )
        patch = [{"op": "add", "path": "/active", "value": True}]
        outcome(await c.patch("/fhir/Patient/unknown", json=patch, headers=JSON_PATCH), 404)
        outcome(
            await c.patch(f"/fhir/Patient/{pid}", json=patch, headers={**JSON_PATCH, "If-Match": 'W/"9"'}),
            412,
        )
        r = await c.patch(f"/fhir/Patient/{pid}", json=patch, headers={**JSON_PATCH, "If-Match": 'W/"1"'})
        assert r.status_code == 200
        await c.delete(f"/fhir/Patient/{pid}")
        outcome(await c.patch(f"/fhir/Patient/{pid}", json=patch, headers=JSON_PATCH), 410)

    run_api(scenario)


# -- the patch functions ----------------------------------------------------------------------------

BASE = {
    "resourceType": "Patient",
    "id": "p",
    "name": [{"family": "X", "given": ["A", "B"]}],
    "birthDate": "2000-01-01",
    "deceasedBoolean": False,
    "identifier": [{"value": "1"}, {"value": "2"}],
}


@pytest.mark.parametrize(
    ("operation", "check"),
    [
        (
            op("replace", "Patient.birthDate", value={"valueDate": "1999-12-31"}),
            lambda r: r["birthDate"] == "1999-12-31",
        ),
        (
            op("replace", "Patient.deceased", value={"valueDateTime": "2020"}),
            lambda r: r["deceasedDateTime"] == "2020" and "deceasedBoolean" not in r,
        ),
        (
            op("add", "Patient", name={"valueString": "deceased"}, value={"valueBoolean": True}),
            lambda r: r["deceasedBoolean"] is True,
        ),
        (
            op(
                "insert",
                "Patient.identifier",
                index={"valueInteger": 1},
                value={"valueIdentifier": {"value": "n"}},
            ),
            lambda r: [i["value"] for i in r["identifier"]] == ["1", "n", "2"],
        ),
        (
            op(
                "insert",
                "Patient.address",
                index={"valueInteger": 0},
                value={"valueAddress": {"city": "Huế"}},
            ),
            lambda r: r["address"] == [{"city": "Huế"}],
        ),
        (
            op("move", "Patient.identifier", source={"valueInteger": 0}, destination={"valueInteger": 1}),
            lambda r: [i["value"] for i in r["identifier"]] == ["2", "1"],
        ),
        (op("delete", "Patient.identifier.where(value='1')"), lambda r: r["identifier"] == [{"value": "2"}]),
        (op("delete", "Patient.photo"), lambda r: r == BASE),
        (
            op("replace", "Patient.identifier[1].value", value={"valueString": "22"}),
            lambda r: r["identifier"][1]["value"] == "22",
        ),
    ],
)
def test_fhirpath_patch_operations(operation: dict[str, Any], check: Any) -> None:
    result = apply_fhirpath_patch(BASE, fhirpath_patch(operation))
    assert check(result), result
    assert BASE["identifier"] == [{"value": "1"}, {"value": "2"}]  # the input is never changed


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"resourceType": "Patient"}, 400),
        (fhirpath_patch(), 400),
        (fhirpath_patch(op("teleport", "Patient")), 400),
        (fhirpath_patch(op("replace", "Patient.(", value={"valueString": "x"})), 400),
        (fhirpath_patch(op("replace", "Patient.identifier.value", value={"valueString": "x"})), 422),
        (fhirpath_patch(op("replace", "Patient.photo", value={"valueString": "x"})), 422),
        (fhirpath_patch(op("add", "Patient", value={"valueString": "x"})), 400),
        (
            fhirpath_patch(
                op("insert", "Patient.identifier", index={"valueInteger": 9}, value={"valueString": "x"})
            ),
            422,
        ),
        (
            fhirpath_patch(
                op("move", "Patient.identifier", source={"valueInteger": 0}, destination={"valueInteger": 5})
            ),
            422,
        ),
        (fhirpath_patch(op("replace", "Patient.birthDate")), 400),
    ],
)
def test_fhirpath_patch_errors(body: Any, status: int) -> None:
    with pytest.raises(PatchError) as info:
        apply_fhirpath_patch(BASE, body)
    assert info.value.status == status


def test_json_patch_function() -> None:
    assert (
        apply_json_patch(BASE, [{"op": "remove", "path": "/deceasedBoolean"}]).get("deceasedBoolean") is None
    )
    for bad, status in (
        ({"op": "add"}, 400),
        ([{"op": "remove", "path": "/nothing"}], 422),
        ([{"op": "test", "path": "/id", "value": "q"}], 422),
        ([{"path": "/id"}], 400),
        ([{"op": "replace", "path": "", "value": [1]}], 422),
    ):
        with pytest.raises(PatchError) as info:
            apply_json_patch(BASE, bad)
        assert info.value.status == status, bad
