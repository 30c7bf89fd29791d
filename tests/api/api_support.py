"""Resources and assertions shared by the REST API tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

FHIR = "application/fhir+json"
JSON_HEADERS = {"Content-Type": FHIR, "Accept": FHIR}


def unique(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def patient(
    ident: str | None = None, family: str = "Nguyễn", given: str = "Văn An", **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"family": family, "given": given.split()}],
        "gender": "male",
        "birthDate": "1980-01-02",
        **extra,
    }
    if ident is not None:
        out["identifier"] = [{"system": "https://senhealth.vn/fhir/sid/cccd", "value": ident}]
    return out


def observation(subject: str, value: Any = 7.2, code: str = "4548-4", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2024-03-01T08:30:00+07:00",
        "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
        **extra,
    }


def outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is an OperationOutcome with ``status``; return it."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(FHIR)
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"], body
    return body


def diagnostics(body: dict[str, Any]) -> str:
    return " | ".join(str(i.get("diagnostics", "")) for i in body["issue"])


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=JSON_HEADERS)
    assert r.status_code == 201, r.text[:500]
    body: dict[str, Any] = r.json()
    return body


def ids(bundle: dict[str, Any], mode: str | None = "match") -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if mode is None or e.get("search", {}).get("mode") == mode
    ]


RunApi = Callable[..., Any]
"""The ``run_api`` fixture: ``run_api(scenario, **create_app_options)``."""
