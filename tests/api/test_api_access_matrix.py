"""The access-control matrix: every role × resource × interaction, answered as the policy says, no leaks.

Spec: https://hl7.org/fhir/R4/security.html (a resource the caller may not see is answered like an
unknown one), the rules in :mod:`senhealth.security.policy`. Data-driven: the expected outcome of each
case is computed from one rule ("which patients may this principal see"), not listed by hand, and every
case is checked against it (a district's doctor sees the patients of its commune station through the
referral network, except one who refused that sharing in a Consent): reads (the fast path and the routed one), vread, instance history, type
history, searches (with ``_include`` and ``_revinclude``), compartment searches, ``$everything``,
``ViewDefinition/$run`` (the rows of a view over Observations), a terminology operation (``$lookup``: every
principal, it reads no patient data), and writes. A denied read must be indistinguishable from a read of an id that does not exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from senhealth.api import create_app
from senhealth.api.views import views_router
from senhealth.core.config import Settings
from senhealth.fhir import access
from senhealth.fhir.access import Principal
from senhealth.security.consent import build_consent
from senhealth.security.policy import RolePolicy

JSON = {"Content-Type": "application/fhir+json"}
#: ``ViewDefinition/$run`` of an inline view: one row per Observation the caller may see.
RUN_OBSERVATIONS = {
    "resourceType": "Parameters",
    "parameter": [
        {
            "name": "viewResource",
            "resource": {
                "resourceType": "ViewDefinition",
                "status": "active",
                "resource": "Observation",
                "select": [{"column": [{"name": "id", "path": "getResourceKey()", "type": "id"}]}],
            },
        },
        {"name": "_format", "valueCode": "json"},
    ],
}


def principals(patient_a: str) -> dict[str, Principal]:
    return {
        "doctor-f1": Principal("user", "u1", frozenset({"doctor"}), facility="Organization/f1"),
        "doctor-f0": Principal("user", "u8", frozenset({"doctor"}), facility="Organization/f0"),
        "admin-f2": Principal("user", "u10", frozenset({"facility_admin"}), facility="Organization/f2"),
        "nurse-f2": Principal("user", "u2", frozenset({"nurse"}), facility="Organization/f2"),
        "chw-f1": Principal("user", "u3", frozenset({"commune_health_worker"}), facility="Organization/f1"),
        "patient-a": Principal("patient", "u4", frozenset({"patient"}), patient=f"Patient/{patient_a}"),
        "analyst": Principal("user", "u5", frozenset({"data_analyst"})),
        "province": Principal("user", "u6", frozenset({"provincial_officer"})),
        "cdc": Principal("user", "u9", frozenset({"cdc_officer"})),
        "system-read": Principal("system", "c1", frozenset({"system"}), scopes=frozenset({"system/*.rs"})),
        "glass-f1": Principal(
            "user", "u7", frozenset({"doctor"}), facility="Organization/f1", break_glass="unconscious patient"
        ),
    }


@dataclass
class World:
    ids: dict[str, str] = field(default_factory=dict)  # name -> id
    patient_of: dict[str, str | None] = field(default_factory=dict)  # name -> patient name (None: no patient)
    types: dict[str, str] = field(default_factory=dict)


def visible_patients(who: str) -> set[str] | None:
    """The rule: which patients' data ``who`` may see (None: all)."""
    return {
        "doctor-f1": {"A", "D"},
        "chw-f1": {"A", "D"},
        "admin-f2": {"B"},
        "doctor-f0": {"A"},  # f1's district: A through the referral network; D refused that sharing
        "nurse-f2": {"B"},
        "patient-a": {"A"},
        "analyst": {"B"},  # B opted in to research; the analyst gets B's data de-identified
        "province": set(),
        "cdc": {"C"},  # C has dengue (A90), a notifiable disease
        "system-read": None,
        "glass-f1": None,
    }[who]


def sees(who: str, name: str, world: World) -> bool:
    allowed = visible_patients(who)
    patient = world.patient_of[name]
    return allowed is None or patient is None or patient in allowed


@pytest.fixture
def policy() -> Iterator[None]:
    access.install(policy=RolePolicy(notifiable=("A90", "B08.4")))
    try:
        yield
    finally:
        access.install(policy=access.OPEN)


async def _build(c: httpx.AsyncClient) -> World:
    world = World()

    async def put(name: str, resource: dict[str, Any], patient: str | None) -> None:
        r = await c.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=JSON)
        assert r.status_code in (200, 201), r.text
        world.ids[name] = resource["id"]
        world.types[name] = resource["resourceType"]
        world.patient_of[name] = patient

    await put("f0", {"resourceType": "Organization", "id": "f0", "name": "Trung tâm Y tế huyện"}, None)
    await put(
        "f1",
        {
            "resourceType": "Organization",
            "id": "f1",
            "name": "Trạm Y tế xã Một",
            "partOf": {"reference": "Organization/f0"},
        },
        None,
    )
    await put("f2", {"resourceType": "Organization", "id": "f2", "name": "Bệnh viện Hai"}, None)
    await put("P1", {"resourceType": "Practitioner", "id": "prac-1", "name": [{"family": "Lê"}]}, None)
    for p in ("A", "B", "C", "D"):
        await put(
            p,
            {"resourceType": "Patient", "id": f"pat-{p.lower()}", "name": [{"family": "Trần", "given": [p]}]},
            p,
        )
    for p, org in (("A", "f1"), ("B", "f2"), ("D", "f1")):
        enc = {
            "resourceType": "Encounter",
            "id": f"enc-{p.lower()}",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/pat-{p.lower()}"},
            "serviceProvider": {"reference": f"Organization/{org}"},
        }
        await put(f"E{p}", enc, p)
    for p in ("A", "B", "C", "D"):
        obs = {
            "resourceType": "Observation",
            "id": f"obs-{p.lower()}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/pat-{p.lower()}"},
            "performer": [{"reference": "Practitioner/prac-1"}],
            "valueQuantity": {
                "value": 72,
                "unit": "/min",
                "system": "http://unitsofmeasure.org",
                "code": "/min",
            },
        }
        if p == "A":  # A's observation is also about B (focus is not in the Patient compartment)
            obs["focus"] = [{"reference": "Patient/pat-b"}]
        await put(f"O{p}", obs, p)
    dengue = {
        "resourceType": "Condition",
        "id": "cond-c",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "A90"}]},
        "subject": {"reference": "Patient/pat-c"},
    }
    await put("CC", dengue, "C")
    refusal = build_consent("pat-d", "TREAT", "deny", consent_id="consent-d")
    await put("KD", refusal, "D")  # D refuses sharing across facilities (docs/consent.md)
    await put("KB", build_consent("pat-b", "HRESCH", "permit", consent_id="consent-b"), "B")
    return world


def _run(api_url: str, scenario: Any) -> Any:
    tokens: dict[str, Principal] = {}

    async def authenticate(headers: Mapping[str, str]) -> Principal | None:
        value = headers.get("authorization", "")
        return tokens.get(value.removeprefix("Bearer ")) if value else None

    async def main() -> Any:
        app = create_app(
            Settings(database_url=api_url), authenticate=authenticate, extra_routers=[views_router()]
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await scenario(client, tokens)

    return asyncio.run(main())


def _names_in(bundle: dict[str, Any], world: World, mode: str) -> set[str]:
    by_id = {(world.types[n], world.ids[n]): n for n in world.ids}
    out = set()
    for e in bundle.get("entry", []):
        if e.get("search", {}).get("mode") == mode:
            res = e["resource"]
            out.add(by_id.get((res["resourceType"], res["id"]), f"?{res['id']}"))
    return out


def test_access_matrix(api_url: str, policy: None) -> None:
    leaks: list[str] = []
    checked = {"cases": 0}

    async def scenario(c: httpx.AsyncClient, tokens: dict[str, Principal]) -> None:
        world = await _build(c)
        people = principals(world.ids["A"])
        for who, principal in people.items():
            tokens[who] = principal
            h = {"Authorization": f"Bearer {who}"}

            def expect(case: str, ok: bool, expected: bool, who: str = who) -> None:
                checked["cases"] += 1
                if ok != expected:
                    leaks.append(f"{who}: {case}: got {'allowed' if ok else 'denied'}")

            unknown = await c.get("/fhir/Observation/no-such-id", headers=h)
            for name in world.ids:
                path = f"/fhir/{world.types[name]}/{world.ids[name]}"
                want = sees(who, name, world)
                for variant, params in (("read", {}), ("routed read", {"_format": "json"})):
                    r = await c.get(path, params=params, headers=h)
                    expect(f"{variant} {name}", r.status_code == 200, want)
                    if r.status_code == 200 and world.types[name] == "Patient":
                        named = "name" in r.json()  # an analyst's answers are de-identified
                        expect(f"{variant} {name} with the name", named, who != "analyst")
                    if r.status_code != 200:
                        assert r.status_code == 404, (who, name, r.status_code, r.text)
                        same = (
                            r.json()["issue"][0]["diagnostics"]
                            .replace(world.ids[name], "X")
                            .replace(world.types[name], "T")
                        )
                        assert same == unknown.json()["issue"][0]["diagnostics"].replace(
                            "no-such-id", "X"
                        ).replace("Observation", "T"), (who, name, r.text)
                r = await c.get(f"{path}/_history/1", headers=h)
                expect(f"vread {name}", r.status_code == 200, want)
                r = await c.get(f"{path}/_history", headers=h)
                expect(f"history {name}", r.status_code == 200, want)
            for res_type in ("Observation", "Patient", "Encounter", "Organization"):
                r = await c.get(f"/fhir/{res_type}", headers=h)
                assert r.status_code in (200, 403), r.text
                got = _names_in(r.json(), world, "match") if r.status_code == 200 else set()
                want_set = {n for n in world.ids if world.types[n] == res_type and sees(who, n, world)}
                checked["cases"] += 1
                if r.status_code == 200 and got != want_set:
                    leaks.append(f"{who}: search {res_type}: {sorted(got)} != {sorted(want_set)}")
            r = await c.get("/fhir/Observation", params={"_include": "Observation:subject"}, headers=h)
            included = _names_in(r.json(), world, "include")
            want_inc = {p for p in ("A", "B", "C", "D") if sees(who, p, world) and sees(who, f"O{p}", world)}
            expect("include", included == want_inc, True)
            r = await c.get("/fhir/Observation", params={"_include": "Observation:focus"}, headers=h)
            focus = _names_in(r.json(), world, "include")
            want_focus = {"B"} if sees(who, "OA", world) and sees(who, "B", world) else set()
            expect("include outside the restriction", focus == want_focus, True)
            r = await c.get("/fhir/Patient", params={"_revinclude": "Observation:focus"}, headers=h)
            refocus = _names_in(r.json(), world, "include")
            want_refocus = {"OA"} if sees(who, "B", world) and sees(who, "OA", world) else set()
            expect("revinclude outside the restriction", refocus == want_refocus, True)
            r = await c.get("/fhir/Patient", params={"_revinclude": "Observation:subject"}, headers=h)
            revinc = _names_in(r.json(), world, "include")
            expect(
                "revinclude",
                revinc == {f"O{p}" for p in ("A", "B", "C", "D") if sees(who, f"O{p}", world)},
                True,
            )
            r = await c.get("/fhir/Observation/_history", headers=h)
            hist = {e["resource"]["id"] for e in r.json().get("entry", []) if "resource" in e}
            want_hist = {
                world.ids[n] for n in world.ids if world.types[n] == "Observation" and sees(who, n, world)
            }
            expect("type history", hist == want_hist, True)
            for p in ("A", "B", "C", "D"):
                pid = world.ids[p]
                r = await c.get(f"/fhir/Patient/{pid}/Observation", headers=h)
                expect(f"compartment {p}", r.status_code == 200, sees(who, p, world))
                r = await c.get(f"/fhir/Patient/{pid}/$everything", headers=h)
                expect(f"$everything {p}", r.status_code == 200, sees(who, p, world) and who != "analyst")
            r = await c.post("/fhir/ViewDefinition/$run", json=RUN_OBSERVATIONS, headers={**h, **JSON})
            assert r.status_code == 200, (who, r.text)
            rows = {row["id"] for row in r.json()}
            want_rows = {
                world.ids[n] for n in world.ids if world.types[n] == "Observation" and sees(who, n, world)
            }
            expect("$run", rows == want_rows, True)
            r = await c.get(
                "/fhir/CodeSystem/$lookup",
                params={"system": "https://senhealth.vn/fhir/CodeSystem/icd10-vn", "code": "A90"},
                headers=h,
            )
            expect("terminology $lookup", r.status_code == 200, True)
        for who in people:  # writes last, so that the reads above saw only the world as built
            h = {"Authorization": f"Bearer {who}"}
            for p in ("A", "C"):
                obs = {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "ghi chú"},
                    "subject": {"reference": f"Patient/{world.ids[p]}"},
                }
                r = await c.post("/fhir/Observation", json=obs, headers={**h, **JSON})
                may_write = who in (
                    "doctor-f1",
                    "doctor-f0",
                    "chw-f1",
                    "nurse-f2",
                    "admin-f2",
                    "glass-f1",
                ) and sees(who, p, world)
                checked["cases"] += 1
                if (r.status_code == 201) != may_write:
                    leaks.append(f"{who}: create for {p}: {r.status_code}")
                assert r.status_code in (201, 403), (who, p, r.status_code, r.text)

    _run(api_url, scenario)
    print(f"access matrix: {len(principals(''))} principals, {checked['cases']} cases, {len(leaks)} leaks")
    assert checked["cases"] >= 11 * 50  # every principal went through every case
    assert not leaks, "\n".join(leaks)


def test_bundles_are_checked_entry_by_entry(api_url: str, policy: None) -> None:
    """A restricted role's batch and transaction entries follow the same rule as the interactions sent
    one by one: unseen reads answer 404, searches return only the caller's patients, a write for
    someone else's patient fails (a transaction rolls back whole), history and operations are refused."""
    out: dict[str, Any] = {}

    async def scenario(c: httpx.AsyncClient, tokens: dict[str, Principal]) -> None:
        world = await _build(c)
        tokens["doctor-f1"] = principals(world.ids["A"])["doctor-f1"]
        h = {"Authorization": "Bearer doctor-f1", **JSON}

        def obs_for(p: str) -> dict[str, Any]:
            return {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "mạch"},
                "subject": {"reference": f"Patient/{world.ids[p]}"},
            }

        batch = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                {"request": {"method": "GET", "url": f"Observation/{world.ids['OA']}"}},
                {"request": {"method": "GET", "url": f"Observation/{world.ids['OB']}"}},
                {"request": {"method": "GET", "url": "Observation?code=8867-4"}},
                {"request": {"method": "GET", "url": f"Patient/{world.ids['B']}/Observation"}},
                {"request": {"method": "GET", "url": "Observation/_history"}},
                {"resource": obs_for("A"), "request": {"method": "POST", "url": "Observation"}},
                {"resource": obs_for("B"), "request": {"method": "POST", "url": "Observation"}},
                {"request": {"method": "DELETE", "url": f"Observation/{world.ids['OB']}"}},
            ],
        }
        r = await c.post("/fhir", json=batch, headers=h)
        assert r.status_code == 200, r.text
        entries = r.json()["entry"]
        out["batch"] = [e["response"]["status"].split()[0] for e in entries]
        found = entries[2]["resource"].get("entry", [])
        out["searched"] = sorted(e["resource"]["id"] for e in found if e["search"]["mode"] == "match")
        transaction = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": obs_for("A"), "request": {"method": "POST", "url": "Observation"}},
                {"resource": obs_for("B"), "request": {"method": "POST", "url": "Observation"}},
            ],
        }
        before = (await c.get("/fhir/Observation", params={"_summary": "count"})).json()["total"]
        r = await c.post("/fhir", json=transaction, headers=h)
        out["transaction"] = r.status_code
        after = (await c.get("/fhir/Observation", params={"_summary": "count"})).json()["total"]
        out["rolled_back"] = before == after
        ok = {**transaction, "entry": transaction["entry"][:1]}
        out["transaction_ok"] = (await c.post("/fhir", json=ok, headers=h)).status_code
        out["ids"] = world.ids

    _run(api_url, scenario)
    ids = out["ids"]
    assert out["batch"] == ["200", "404", "200", "404", "403", "201", "403", "404"]
    assert out["searched"] == sorted([ids["OA"], ids["OD"]])
    assert out["transaction"] == 403 and out["rolled_back"]
    assert out["transaction_ok"] == 200


def test_analysts_get_deidentified_research_data(api_url: str, policy: None) -> None:
    """An analyst sees the patients who opted in to research, de-identified, and cannot search people
    by who they are (docs/consent.md, senhealth/fhir/deidentify.py)."""
    out: dict[str, Any] = {}

    async def scenario(c: httpx.AsyncClient, tokens: dict[str, Principal]) -> None:
        world = await _build(c)
        tokens["analyst"] = principals(world.ids["A"])["analyst"]
        h = {"Authorization": "Bearer analyst"}
        r = await c.get("/fhir/Patient", params={"name": "Trần"}, headers=h)
        out["by_name"] = (r.status_code, r.json()["issue"][0].get("expression"))
        r = await c.get("/fhir/Patient", params={"_count": "50"}, headers=h)
        out["patients"] = [e["resource"] for e in r.json().get("entry", [])]
        r = await c.get("/fhir/Observation", params={"_include": "Observation:subject"}, headers=h)
        out["bundle"] = r.json()
        r = await c.get(f"/fhir/Patient/{world.ids['B']}/_history", headers=h)
        out["history"] = r.json()
        out["ids"] = world.ids

    _run(api_url, scenario)
    assert out["by_name"] == (403, ["name"])
    ids = out["ids"]
    assert [p["id"] for p in out["patients"]] == [ids["B"]]
    resources = [e["resource"] for e in out["bundle"]["entry"]]
    assert sorted(r["id"] for r in resources) == sorted([ids["OB"], ids["B"]])
    for res in [*resources, *(e["resource"] for e in out["history"]["entry"])]:
        assert "name" not in res and "identifier" not in res and "text" not in res, res
        assert {"code": "REDACTED"}.items() <= res["meta"]["security"][-1].items()
