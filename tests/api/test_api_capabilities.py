"""The CapabilityStatement lists what is implemented, and the routes implement what it lists;
the OpenAPI schema describes the FHIR routes.

Spec: https://hl7.org/fhir/R4/capabilitystatement.html, https://hl7.org/fhir/R4/http.html#capabilities
"""

from __future__ import annotations

from typing import Any

import httpx
from api_support import RunApi

from senhealth.fhir.operations import all_operations
from senhealth.fhir.validation import validate

# interaction code -> (method, OpenAPI path) of the route that implements it
ROUTES = {
    "read": ("get", "/fhir/{type}/{id}"),
    "vread": ("get", "/fhir/{type}/{id}/_history/{vid}"),
    "update": ("put", "/fhir/{type}/{id}"),
    "patch": ("patch", "/fhir/{type}/{id}"),
    "delete": ("delete", "/fhir/{type}/{id}"),
    "history-instance": ("get", "/fhir/{type}/{id}/_history"),
    "history-type": ("get", "/fhir/{type}/_history"),
    "create": ("post", "/fhir/{type}"),
    "search-type": ("get", "/fhir/{type}"),
    "transaction": ("post", "/fhir"),
    "batch": ("post", "/fhir"),
    "search-system": ("get", "/fhir"),
    "history-system": ("get", "/fhir/_history"),
}


def test_capability_statement(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
        r = await c.get("/fhir/metadata")
        assert r.status_code == 200
        return r.json(), (await c.get("/openapi.json")).json()

    statement, openapi = run_api(scenario)
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
    assert "application/fhir+json" in statement["format"]
    assert set(statement["patchFormat"]) == {"application/json-patch+json", "application/fhir+json"}
    assert statement["implementation"]["url"] == "http://test/fhir"
    rest = statement["rest"][0]
    system = {i["code"] for i in rest["interaction"]}
    assert system == {"transaction", "batch", "search-system", "history-system"}
    by_type = {r["type"]: r for r in rest["resource"]}
    assert len(by_type) > 140 and "Patient" in by_type and "Resource" not in by_type
    pat = by_type["Patient"]
    codes = {i["code"] for i in pat["interaction"]}
    assert codes == {
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    }
    assert pat["conditionalCreate"] and pat["conditionalUpdate"] and pat["conditionalDelete"] == "single"
    assert pat["updateCreate"] and pat["versioning"] == "versioned-update"
    params = {p["name"]: p for p in pat["searchParam"]}
    assert params["identifier"]["type"] == "token" and params["_lastUpdated"]["type"] == "date"
    assert params["birthdate"]["definition"] == "http://hl7.org/fhir/SearchParameter/individual-birthdate"
    pat_ops = {o["name"] for o in pat["operation"]}
    assert {"everything", "validate", "meta", "meta-add", "meta-delete"} <= pat_ops
    assert "everything" not in {o["name"] for o in by_type["Observation"].get("operation", [])}
    # the core's own system operation, and exactly the system-level operations registered in this process (the
    # platform's, when another test in this worker installed them)
    system_ops = {o["name"] for o in rest["operation"]}
    assert "meta" in system_ops
    assert system_ops == {op.name for op in all_operations() if "system" in op.levels}
    # every interaction the statement claims has its route
    paths = openapi["paths"]
    for code in system | codes:
        method, path = ROUTES[code]
        assert method in paths[path], code
    # and the statement is itself a valid FHIR resource
    issues = [i for i in validate(statement)["issue"] if i["severity"] in ("error", "fatal")]
    assert not issues, issues[:3]


def test_metadata_modes(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        assert (await c.get("/fhir/metadata", params={"mode": "normative"})).status_code == 200
        assert (await c.get("/fhir/metadata", params={"mode": "terminology"})).status_code == 400
        assert (await c.get("/fhir/metadata", params={"mode": "x"})).status_code == 400

    run_api(scenario)


def test_openapi_describes_the_fhir_routes(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> dict[str, Any]:
        assert (await c.get("/docs")).status_code == 200
        schema: dict[str, Any] = (await c.get("/openapi.json")).json()
        return schema

    schema = run_api(scenario)
    paths = schema["paths"]
    read = paths["/fhir/{type}/{id}"]["get"]
    names = {(p["in"], p["name"]) for p in read["parameters"]}
    assert {("path", "type"), ("path", "id"), ("query", "_summary"), ("query", "_elements")} <= names
    assert set(read["responses"]) >= {"200", "400", "404", "410"}
    create = paths["/fhir/{type}"]["post"]
    body = create["requestBody"]["content"]["application/fhir+json"]["schema"]
    assert body["type"] == "object" and "resourceType" in body["required"]
    assert any(p["name"] == "If-None-Exist" and p["in"] == "header" for p in create["parameters"])
    patch = paths["/fhir/{type}/{id}"]["patch"]["requestBody"]["content"]
    assert patch["application/json-patch+json"]["schema"]["type"] == "array"
    assert (
        "application/x-www-form-urlencoded" in paths["/fhir/{type}/_search"]["post"]["requestBody"]["content"]
    )
    assert (
        "post" in paths["/fhir/Patient/{id}/$everything"] and "get" in paths["/fhir/Patient/{id}/$everything"]
    )
    assert "get" not in paths["/fhir/{type}/{id}/$meta-add"]
    search = paths["/fhir/{type}"]["get"]
    assert {"_count", "_sort", "_include"} <= {p["name"] for p in search["parameters"]}
    assert "requestBody" not in search
    operation_ids = [op["operationId"] for path in paths.values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))
