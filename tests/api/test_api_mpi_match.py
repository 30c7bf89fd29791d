"""``POST /fhir/Patient/$match`` through the REST API (senhealth.mpi.operations).

Spec: https://hl7.org/fhir/R4/patient-operation-match.html. Synthetic people only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from api_support import JSON_HEADERS, RunApi, create, outcome

from senhealth.fhir.operations import get_operation
from senhealth.mpi.operations import MATCH_GRADE, register_mpi_operations, unregister_mpi_operations

CCCD = "https://senhealth.vn/fhir/sid/cccd"


@pytest.fixture(autouse=True)
def mpi_operations() -> Iterator[None]:
    register_mpi_operations()
    yield
    unregister_mpi_operations()


def person(
    family: str, given: str, sex: str, birth: str, cccd: str | None = None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": family, "given": given.split()}],
        "gender": sex,
        "birthDate": birth,
        **extra,
    }
    if sex == "female":
        out["telecom"] = [{"system": "phone", "value": "0912000111", "use": "mobile"}]
    if cccd is not None:
        out["identifier"] = [{"system": CCCD, "value": cccd}]
    return out


def parameters(resource: dict[str, Any], **options: Any) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "resource", "resource": resource}]
    if "only_certain" in options:
        params.append({"name": "onlyCertainMatches", "valueBoolean": options["only_certain"]})
    if "count" in options:
        params.append({"name": "count", "valueInteger": options["count"]})
    return {"resourceType": "Parameters", "parameter": params}


async def match(client: httpx.AsyncClient, resource: dict[str, Any], **options: Any) -> dict[str, Any]:
    r = await client.post("/fhir/Patient/$match", json=parameters(resource, **options), headers=JSON_HEADERS)
    assert r.status_code == 200, r.text[:800]
    body: dict[str, Any] = r.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    return body


def graded(bundle: dict[str, Any]) -> list[tuple[str, str, float]]:
    out = []
    for entry in bundle.get("entry", []):
        search = entry["search"]
        assert search["mode"] == "match"
        (ext,) = [e for e in search["extension"] if e["url"] == MATCH_GRADE]
        out.append((entry["resource"]["id"], ext["valueCode"], search["score"]))
    return out


def test_match_by_personal_id_and_by_name(run_api: RunApi, api_url: str) -> None:
    async def scenario(client: httpx.AsyncClient) -> dict[str, str]:
        lan = await create(client, person("Nguyễn", "Thị Lan", "female", "1990-03-04", "027190000001"))
        hung = await create(client, person("Trần", "Văn Hùng", "male", "1975-06-20", "027075000002"))
        hoa = await create(client, person("Nguyễn", "Thị Hoa", "female", "1990-07-21", "027190000099"))
        twin = await create(client, person("Nguyễn", "Thị Lan", "female", "1990-03-04"))

        # The same personal ID, written without diacritics: certain, first.
        query = person("Nguyen", "Thi Lan", "female", "1990-03-04", "027190000001")
        body = await match(client, query)
        results = graded(body)
        assert results[0][:2] == (lan["id"], "certain")
        assert results[0][2] >= 0.99
        assert body["total"] == len(results)
        assert body["entry"][0]["fullUrl"].endswith(f"/Patient/{lan['id']}")
        found = {r[0]: r[1] for r in results}
        assert hung["id"] not in found
        assert found.get(hoa["id"]) in (None, "possible", "probable")
        assert [score for _, _, score in results] == sorted((s for _, _, s in results), reverse=True)

        only = graded(await match(client, query, only_certain=True))
        assert [r[0] for r in only if r[1] != "certain"] == []
        assert lan["id"] in [r[0] for r in only]
        assert len(graded(await match(client, query, count=1))) == 1

        # A different person: nothing certain, none of these records.
        other = person("Lê", "Minh", "male", "2001-09-09", "027201000003")
        assert graded(await match(client, other)) == []

        # Without a personal ID: the model still finds her by name, birth date and phone.
        no_id = graded(await match(client, person("Nguyen", "Thi Lan", "female", "1990-03-04")))
        assert lan["id"] in {r[0] for r in no_id if r[1] in ("certain", "probable")}
        return {"lan": lan["id"], "twin": twin["id"]}

    ids = run_api(scenario)

    # A reviewer decided the two records with the same name are two people: certainly-not, score 0.
    a, b = sorted([ids["lan"], ids["twin"]])
    with psycopg.connect(api_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO mpi_review (patient_a, patient_b, score, status, decided_by, decided_at) "
            "VALUES (%s, %s, 0.9, 'distinct', 'reviewer-1', now())",
            (a, b),
        )

    async def known_distinct(client: httpx.AsyncClient) -> None:
        stored = (await client.get(f"/fhir/Patient/{ids['lan']}", headers=JSON_HEADERS)).json()
        results = graded(await match(client, stored))
        assert ids["lan"] not in [r[0] for r in results]  # not matched with itself
        assert (ids["twin"], "certainly-not", 0.0) in results
        assert results[-1][1] == "certainly-not"

    run_api(known_distinct)


def test_match_bad_input(run_api: RunApi) -> None:
    assert get_operation("match") is not None

    async def scenario(client: httpx.AsyncClient) -> None:
        empty = {"resourceType": "Parameters", "parameter": []}
        outcome(await client.post("/fhir/Patient/$match", json=empty, headers=JSON_HEADERS), 400)
        wrong = {
            "resourceType": "Parameters",
            "parameter": [{"name": "resource", "resource": {"resourceType": "Observation"}}],
        }
        outcome(await client.post("/fhir/Patient/$match", json=wrong, headers=JSON_HEADERS), 400)
        flag = parameters(person("Lê", "Minh", "male", "2001-09-09"))
        flag["parameter"].append({"name": "onlyCertainMatches", "valueString": "yes"})
        outcome(await client.post("/fhir/Patient/$match", json=flag, headers=JSON_HEADERS), 400)
        outcome(await client.post("/fhir/Observation/$match", json=empty, headers=JSON_HEADERS), 404)
        # nothing in the store: an empty searchset
        body = await match(client, person("Lê", "Minh", "male", "2001-09-09", "027201000003"))
        assert body["total"] == 0 and "entry" not in body

    run_api(scenario)
