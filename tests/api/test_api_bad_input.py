"""Bad input never produces a 5xx: every error is a 4xx OperationOutcome.

Spec: https://hl7.org/fhir/R4/http.html#Status-Codes, https://hl7.org/fhir/R4/http.html#mime-type
(406 / 415 for formats other than JSON here) and https://hl7.org/fhir/R4/search.html#errors.
"""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
from api_support import FHIR, JSON_HEADERS, RunApi, create, diagnostics, outcome, patient, unique


def test_malformed_bodies(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        for raw in (
            b'{"resourceType":',
            b"[1, 2]",
            b'"Patient"',
            b"",
            b"   ",
            b'{"name": []}',
            b'{"resourceType": 5}',
            b"\xff\xfe{}",
            b'{"resourceType":"Patient","birthDate":"1980-01-01","x":1e999999}',
            b"[" * 100_000 + b"]" * 100_000,
            b'{"a":' * 5000 + b"1" + b"}" * 5000,
            b'{"resourceType":"Patient","name":[{"family":"a\\u0000b"}]}',
            b'{"resourceType":"Patient","multipleBirthInteger":123456789012345678901234567890}',
        ):
            r = await c.post("/fhir/Patient", content=raw, headers=JSON_HEADERS)
            assert 400 <= r.status_code < 500, (raw[:60], r.status_code, r.text[:200])
            outcome(r, r.status_code)
        body = outcome(await c.post("/fhir/Patient", content=b'{"resourceType":', headers=JSON_HEADERS), 400)
        assert "JSON" in diagnostics(body)

    run_api(scenario)


def test_content_types_and_formats(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        body = json.dumps(patient(unique())).encode()
        r = await c.post(
            "/fhir/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"}
        )
        assert "Only JSON" in diagnostics(outcome(r, 415))
        outcome(await c.post("/fhir/Patient", content=body, headers={"Content-Type": "text/plain"}), 415)
        for ok in ("application/json", "application/fhir+json; charset=utf-8", "application/json+fhir"):
            assert (
                await c.post("/fhir/Patient", content=body, headers={"Content-Type": ok})
            ).status_code == 201
        assert (
            await c.post("/fhir/Patient", content=body)
        ).status_code == 201  # no Content-Type: JSON assumed
        r = await c.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"})
        assert "Only JSON" in diagnostics(outcome(r, 406))
        outcome(await c.get("/fhir/metadata", params={"_format": "xml"}), 406)
        outcome(await c.get("/fhir/metadata", params={"_format": "text/turtle"}), 406)
        assert (await c.get("/fhir/metadata", headers={"Accept": "text/html,*/*;q=0.8"})).status_code == 200
        assert (
            await c.get(
                "/fhir/metadata", headers={"Accept": "application/fhir+xml"}, params={"_format": "json"}
            )
        ).status_code == 200
        outcome(await c.get("/fhir/metadata", headers={"Accept": "application/json;q=0"}), 406)

    run_api(scenario)


def test_body_too_large(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        big = patient(
            unique(),
            text={
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * 5000 + "</div>",
            },
        )
        outcome(await c.post("/fhir/Patient", json=big, headers=JSON_HEADERS), 413)
        outcome(
            await c.post(
                "/fhir",
                json={"resourceType": "Bundle", "type": "batch", "entry": [{"x": "y" * 5000}]},
                headers=JSON_HEADERS,
            ),
            413,
        )

        async def chunks() -> Any:  # no Content-Length: counted while reading
            for _ in range(10):
                yield b" " * 1000

        outcome(await c.post("/fhir/Patient", content=chunks(), headers=JSON_HEADERS), 413)
        assert (
            await c.post("/fhir/Patient", json=patient(unique()), headers=JSON_HEADERS)
        ).status_code == 201

    run_api(scenario, max_body_bytes=4096)


def test_bad_paths_ids_and_methods(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        huge = "a" * 10_000
        outcome(await c.get(f"/fhir/Patient/{huge}"), 400)
        outcome(
            await c.put(f"/fhir/Patient/{huge}", json=patient(unique(), id=huge), headers=JSON_HEADERS), 400
        )
        outcome(await c.get(f"/fhir/Patient/{'b' * 65}"), 400)
        outcome(await c.get("/fhir/Patient/%00"), 400)
        outcome(await c.get("/fhir/Patient/x y"), 400)
        outcome(await c.get(f"/fhir/{huge}"), 404)
        outcome(await c.get("/fhir/Patient/1/_history/1/extra"), 404)
        outcome(await c.get("/fhir/Patient/1/_history/99999999999999999999"), 404)
        outcome(await c.get("/nothing-here"), 404)
        outcome(await c.post("/fhir/Patient/1", json=patient(unique()), headers=JSON_HEADERS), 405)
        outcome(await c.delete("/fhir"), 405)
        outcome(await c.put("/fhir/metadata", json={}, headers=JSON_HEADERS), 405)
        outcome(await c.post("/fhir/Patient/1/Observation", json={}, headers=JSON_HEADERS), 405)

    run_api(scenario)


def test_bad_query_strings(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        await create(c, patient(unique()))
        for query in (
            "_count=%ZZ",
            "_count=99999999999999999999999",
            "birthdate=ge",
            "birthdate=xx2020",
            "_sort=-",
            "_include=:::",
            "_revinclude=Observation",
            "name:missing=maybe",
            "identifier=" + "|" * 500,
            "_id=" + ",".join(str(i) for i in range(2000)),
            "_has:Observation:subject:code=1",
            "general-practitioner.name=x",
            "%FF%FE=1",
            "_lastUpdated=gt2020-13-45",
            "_summary=sometimes",
            "_total=maybe",
        ):
            r = await c.get(f"/fhir/Patient?{query}")
            assert r.status_code < 500, (query, r.status_code, r.text[:300])
            if r.status_code >= 400:
                outcome(r, r.status_code)
        for query in ("_since=x", "_at=2020-02-30", "_count=-1"):
            outcome(await c.get(f"/fhir/_history?{query}"), 400)

    run_api(scenario)


def test_unknown_params_under_strict_handling(run_api: RunApi) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        strict = {"Prefer": "handling=strict"}
        outcome(await c.get("/fhir/Patient", params={"colour": "blue"}, headers=strict), 400)
        outcome(await c.get("/fhir/Patient", params={"name:sounds-like": "x"}, headers=strict), 400)
        outcome(await c.get("/fhir", params={"colour": "blue"}, headers=strict), 400)
        outcome(await c.post("/fhir/Patient/_search", data={"colour": "blue"}, headers=strict), 400)
        assert (
            await c.get("/fhir/Patient", params={"colour": "blue"}, headers={"Prefer": "nonsense"})
        ).status_code == 200

    run_api(scenario)


def test_random_inputs_never_500(run_api: RunApi) -> None:
    rng = random.Random(20240501)
    alphabet = '{}[]":,0123456789.eE-+ abcxyzPatientresourceType\\\x00\xff'

    def noise() -> bytes:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))).encode(
            "utf-8", "surrogatepass"
        )

    def mutated() -> bytes:
        text = json.dumps(patient(unique(), telecom=[{"system": "phone", "value": "0912"}]))
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        return "".join(chars).encode("utf-8", "surrogatepass")

    async def scenario(c: httpx.AsyncClient) -> None:
        pid = (await create(c, patient(unique())))["id"]
        for n in range(150):
            raw = noise() if n % 2 else mutated()
            method, url = rng.choice(
                [
                    ("POST", "/fhir/Patient"),
                    ("PUT", f"/fhir/Patient/{pid}"),
                    ("POST", "/fhir"),
                    ("PATCH", f"/fhir/Patient/{pid}"),
                    ("POST", "/fhir/Patient/$validate"),
                    ("POST", f"/fhir/Patient/{pid}/$meta-add"),
                ]
            )
            ctype = "application/json-patch+json" if method == "PATCH" and n % 3 else FHIR
            r = await c.request(method, url, content=raw, headers={"Content-Type": ctype})
            assert r.status_code < 500, (method, url, raw, r.status_code, r.text[:300])

    run_api(scenario)
