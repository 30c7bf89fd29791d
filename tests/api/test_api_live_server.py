"""A real uvicorn server on a free loopback port, talked to over real HTTP.

Spec: https://hl7.org/fhir/R4/http.html
"""

from __future__ import annotations

import threading

import httpx
from api_support import FHIR, JSON_HEADERS, patient, unique


def test_crud_over_real_http(live_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=30) as c:
        r = c.get("/fhir/metadata")
        assert r.status_code == 200 and r.json()["resourceType"] == "CapabilityStatement"
        r = c.post("/fhir/Patient", json=patient(unique()), headers=JSON_HEADERS)
        assert r.status_code == 201
        location = r.headers["location"]
        assert location.startswith(f"{live_server}/fhir/Patient/")
        pid = r.json()["id"]
        r = c.get(location)  # the versioned URL from Location
        assert r.status_code == 200 and r.json()["id"] == pid
        r = c.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
        assert r.status_code == 304
        r = c.delete(f"/fhir/Patient/{pid}")
        assert r.status_code == 200
        r = c.get(f"/fhir/Patient/{pid}")
        assert r.status_code == 410 and r.headers["content-type"].startswith(FHIR)


def test_errors_over_real_http(live_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=30) as c:
        r = c.post("/fhir/Patient", content=b"{not json", headers=JSON_HEADERS)
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
        r = c.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"})
        assert r.status_code == 406
        r = c.get("/fhir/Unicorn")
        assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
        assert c.get("/openapi.json").status_code == 200


def test_concurrent_conditional_creates_make_one_resource(live_server: str) -> None:
    ident = unique()
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=live_server, timeout=60) as c:
            headers = {
                **JSON_HEADERS,
                "If-None-Exist": f"identifier=https://senhealth.vn/fhir/sid/cccd|{ident}",
            }
            r = c.post("/fhir/Patient", json=patient(ident), headers=headers)
            with lock:
                statuses.append(r.status_code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 5 + [201]
    with httpx.Client(base_url=live_server, timeout=30) as c:
        r = c.get("/fhir/Patient", params={"identifier": f"https://senhealth.vn/fhir/sid/cccd|{ident}"})
        assert r.json()["total"] == 1
