"""``Patient/[id]/$everything`` over linked records (senhealth.mpi.patient_everything) through the REST API.

Spec: https://hl7.org/fhir/R4/patient-operation-everything.html, https://hl7.org/fhir/R4/patient.html#links.
Two records of one synthetic person, kept at two facilities and merged (``replaces`` / ``replaced-by``):
the lifelong record holds both, each resource once, paged across them; a caller restricted to one
facility gets the other record only when the sharing decision allows it. Synthetic people only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
import pytest
from mpi_store import Recorder
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.api import create_app
from senhealth.core.config import Settings
from senhealth.fhir import access
from senhealth.fhir.access import Principal
from senhealth.mpi.operations import register_mpi_operations, unregister_mpi_operations
from senhealth.mpi.patient_everything import MayShare
from senhealth.security.policy import RolePolicy

JSON = {"Content-Type": "application/fhir+json"}
DOCTOR_F1 = Principal("user", "u1", frozenset({"doctor"}), facility="Organization/f1")
A_ONLY = {"Patient/pat-a", "Patient/pat-b", "Encounter/enc-a", "Observation/obs-a1", "Observation/obs-a2"}
B_ONLY = {"Encounter/enc-b", "Observation/obs-b1", "Observation/obs-b2"}
EVERYTHING = A_ONLY | B_ONLY


@pytest.fixture(autouse=True)
def restore() -> Iterator[None]:
    # before too: a platform test earlier in this worker process may have installed the linked $everything
    unregister_mpi_operations()
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)
    yield
    unregister_mpi_operations()
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)


def _patient(pid: str, org: str, link: tuple[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"tag": [{"system": "https://senhealth.vn/fhir/tag", "code": "synthetic"}]},
        "active": link is None or link[0] != "replaced-by",
        "name": [{"family": "Nguyễn", "given": ["Thị", "Lan"]}],
        "gender": "female",
        "birthDate": "1990-03-04",
        "managingOrganization": {"reference": f"Organization/{org}"},
    }
    if link is not None:
        out["link"] = [{"other": {"reference": f"Patient/{link[1]}"}, "type": link[0]}]
    return out


def _observation(oid: str, pid: str, day: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": f"2026-01-{day:02d}",
        "performer": [{"reference": "Practitioner/prac-1"}],
        "valueQuantity": {
            "value": 70 + day,
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


async def _world(c: httpx.AsyncClient) -> None:
    resources: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": "f1", "name": "Trạm Y tế xã Một"},
        {"resourceType": "Organization", "id": "f2", "name": "Bệnh viện Hai"},
        {"resourceType": "Practitioner", "id": "prac-1", "name": [{"family": "Lê"}]},
        _patient("pat-a", "f1", ("replaces", "pat-b")),
        _patient("pat-b", "f2", ("replaced-by", "pat-a")),
        _patient("pat-c", "f1", None),  # someone else
    ]
    for p, org in (("a", "f1"), ("b", "f2"), ("c", "f1")):
        resources.append(
            {
                "resourceType": "Encounter",
                "id": f"enc-{p}",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": f"Patient/pat-{p}"},
                "serviceProvider": {"reference": f"Organization/{org}"},
            }
        )
    resources += [
        _observation(f"obs-{p}{n}", f"pat-{p}", n + (0 if p == "a" else 10)) for p in "abc" for n in (1, 2)
    ]
    for resource in resources:
        r = await c.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=JSON)
        assert r.status_code in (200, 201), r.text


def _run(url: str, scenario: Any, principal: Principal | None = None) -> Any:
    async def authenticate(headers: Mapping[str, str]) -> Principal | None:
        return principal if headers.get("authorization") else None

    async def main() -> Any:
        app = create_app(Settings(database_url=url), authenticate=authenticate)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                await _world(client)
                if principal is not None:
                    client.headers["Authorization"] = "Bearer t"
                return await scenario(client)

    return asyncio.run(main())


def _keys(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


async def _all_pages(c: httpx.AsyncClient, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    pages = []
    r = await c.get(path, params=params)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        nxt = [link["url"] for link in body["link"] if link["relation"] == "next"]
        if not nxt:
            return pages
        assert len(pages) < 20
        r = await c.get(nxt[0].removeprefix("http://test"))


def test_everything_returns_both_records_once_each_and_pages_across_them(url: str) -> None:
    register_mpi_operations()

    async def scenario(c: httpx.AsyncClient) -> None:
        whole = (await c.get("/fhir/Patient/pat-a/$everything")).json()
        assert sorted(_keys(whole)) == sorted(EVERYTHING)  # each once
        assert whole["total"] == len(EVERYTHING)
        assert set(_keys(whole, "include")) >= {"Practitioner/prac-1", "Organization/f1", "Organization/f2"}
        # from the merged-away record: the same person
        assert sorted(_keys((await c.get("/fhir/Patient/pat-b/$everything")).json())) == sorted(EVERYTHING)

        for count in ("1", "2", "3", "5"):
            pages = await _all_pages(c, "/fhir/Patient/pat-a/$everything", {"_count": count})
            seen = [k for page in pages for k in _keys(page)]
            assert sorted(seen) == sorted(EVERYTHING), count  # nothing lost, nothing twice
            assert all(len(_keys(p)) <= int(count) for p in pages)
            assert len(pages) > 1 and "total" not in pages[0]

        typed = await _all_pages(
            c, "/fhir/Patient/pat-a/$everything", {"_type": "Observation", "_count": "3"}
        )
        assert sorted(k for p in typed for k in _keys(p)) == sorted(
            k for k in EVERYTHING if "Observation" in k
        )

        future = (await c.get("/fhir/Patient/pat-a/$everything", params={"_since": "2999-01-01"})).json()
        assert _keys(future) == []

        bad = await c.get("/fhir/Patient/pat-a/$everything", params={"_cursor": "L.bm9wZQ"})
        assert bad.status_code == 400

        counted = (await c.get("/fhir/Patient/pat-a/$everything", params={"_count": "0"})).json()
        assert counted["total"] >= len(EVERYTHING)

        # someone without links: the core's answer
        alone = (await c.get("/fhir/Patient/pat-c/$everything")).json()
        assert sorted(_keys(alone)) == [
            "Encounter/enc-c",
            "Observation/obs-c1",
            "Observation/obs-c2",
            "Patient/pat-c",
        ]

    _run(url, scenario)


def test_without_the_patient_index_everything_is_one_record(url: str) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        body = (await c.get("/fhir/Patient/pat-a/$everything")).json()
        assert set(_keys(body)) == A_ONLY  # pat-b is in pat-a's compartment through its link

    _run(url, scenario)


def _sharing(allowed: set[str], asked: list[list[str]]) -> MayShare:
    async def may_share(conn: AsyncConnection[TupleRow], ids: Sequence[str]) -> set[str]:
        asked.append(list(ids))
        return set(ids) & allowed

    return may_share


@pytest.mark.parametrize("shared", [False, True])
def test_restricted_caller_gets_the_other_facility_record_only_when_shared(url: str, shared: bool) -> None:
    asked: list[list[str]] = []
    sink = Recorder()
    access.install(policy=RolePolicy(), sink=sink)
    register_mpi_operations(may_share=_sharing({"pat-b"} if shared else set(), asked))

    async def scenario(c: httpx.AsyncClient) -> tuple[list[str], int, tuple[int, int]]:
        body = (await c.get("/fhir/Patient/pat-a/$everything")).json()
        paged = await _all_pages(c, "/fhir/Patient/pat-a/$everything", {"_count": "2"})
        hidden = await c.get("/fhir/Patient/pat-b")  # the policy itself still hides the record
        other = await c.get("/fhir/Patient/pat-b/$everything")
        return (
            sorted(_keys(body) + _keys(body, "include")),
            len({k for p in paged for k in _keys(p)}),
            (hidden.status_code, other.status_code),
        )

    keys, paged, statuses = _run(url, scenario, DOCTOR_F1)
    assert statuses == (404, 404)
    assert asked and all(ids == ["pat-b"] for ids in asked)
    if shared:
        assert set(keys) >= EVERYTHING and paged == len(EVERYTHING)
        events = [e for e in sink.events if e.query == "$everything" and e.details.get("linked")]
        assert events and events[0].details["shared"] == ["pat-b"] and list(events[0].patients) == ["pat-b"]
    else:
        assert not set(keys) & (B_ONLY | {"Patient/pat-b"})  # neither b's data nor its Patient
        assert set(keys) >= A_ONLY - {"Patient/pat-b"} and paged == len(A_ONLY) - 1


def test_default_sharing_is_all_and_an_unrestricted_caller_is_not_asked(url: str) -> None:
    asked: list[list[str]] = []
    access.install(policy=RolePolicy())
    register_mpi_operations()

    async def scenario(c: httpx.AsyncClient) -> list[str]:
        return _keys((await c.get("/fhir/Patient/pat-a/$everything")).json())

    assert set(_run(url, scenario, DOCTOR_F1)) == EVERYTHING  # default: everything linked is shared
    register_mpi_operations(may_share=_sharing(set(), asked))
    access.install(policy=access.OPEN)
    assert set(_run(url, scenario)) == EVERYTHING and asked == []
