"""The station's pages over HTTP, in-process (real PostgreSQL, the platform as ``build_app`` makes it, the
pages' routes from ``checkup_web_support.install_checkup``): the form's refusals name the item and leave
nothing written; a saved check-up gives the risk, the registry, the worklist and the coverage."""

from __future__ import annotations

import re

import httpx
import pytest
from checkup_web_support import MINH, run_station
from web_dataset import system_token
from web_support import csrf_of

from senhealth.core.config import Settings

FORM = f"/app/station/checkup/{MINH}"
GOOD = {
    "q:known-hypertension": "true",
    "q:smoking": "77176002",
    "q:bp-systolic": "165",
    "q:bp-diastolic": "100",
    "q:height": "165",
    "q:weight": "70",
    "q:cholesterol": "6.2",
}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def settings(web_settings: Settings) -> Settings:
    return web_settings


async def _encounters(client: httpx.AsyncClient, settings: Settings) -> int:
    r = await client.get(
        "/fhir/Encounter",
        params={"subject": f"Patient/{MINH}", "_summary": "count"},
        headers={"Authorization": f"Bearer {system_token(settings)}"},
    )
    assert r.status_code == 200, r.text[:300]
    return int(r.json()["total"])


def test_form_refuses_bad_values_naming_the_item_and_writes_nothing(settings: Settings) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        page = await c.get(FORM)
        assert page.status_code == 200, page.text[:500]
        assert 'name="q:bp-systolic"' in page.text and "mm[Hg]" in page.text
        assert 'id="q-age"' in page.text and 'value="55"' in page.text
        token = csrf_of(page.text)
        r = await c.post(FORM, data={**GOOD, "q:bp-systolic": "abc", "csrf_token": token})
        assert r.status_code == 422
        assert 'data-item="bp-systolic"' in r.text
        assert 'id="q-bp-systolic" name="q:bp-systolic" value="abc"' in r.text  # kept for correction
        assert 'aria-invalid="true"' in r.text
        r = await c.post(FORM, data={**GOOD, "q:bp-systolic": "400", "csrf_token": token})
        assert r.status_code == 422, r.text[:500]
        assert 'data-item="bp-systolic"' in r.text, text_of(r.text)[:800]
        assert 'value="400"' in r.text  # what was typed stays in the form
        assert await _encounters(c, settings) == 0  # nothing half-written

    run_station(settings, scenario)


def test_saved_checkup_gives_risk_registry_worklist_and_coverage(settings: Settings) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        station = await c.get("/app/station")
        assert station.status_code == 200, station.text[:500]
        assert f'data-id="{MINH}"' in station.text
        before = int(re.search(r'id="coverage-covered">(\d+)<', station.text).group(1))  # type: ignore[union-attr]
        page = await c.get(FORM)
        r = await c.post(FORM, data={**GOOD, "csrf_token": csrf_of(page.text)})
        assert r.status_code == 303, r.text[:800]
        result = await c.get(r.headers["location"])
        assert result.status_code == 200
        assert 'id="patient-cell"' in result.text
        cell = re.search(r'<td class="band-(\d)[^"]*" id="patient-cell"', result.text)
        assert cell is not None
        assert 'data-registry="hypertension"' in result.text
        assert 'data-grade="grade-2"' in result.text
        worklist = await c.get("/app/station/worklists", params={"kind": "uncontrolled"})
        assert f'data-id="{MINH}"' in worklist.text
        bad = await c.get("/app/station/worklists", params={"kind": "everyone"})
        assert bad.status_code == 400
        station = await c.get("/app/station")
        after = int(re.search(r'id="coverage-covered">(\d+)<', station.text).group(1))  # type: ignore[union-attr]
        assert after == before + 1
        assert await _encounters(c, settings) == 1

    run_station(settings, scenario)


def _lab(code: str, value: float, unit: str, day: str, performer: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{MINH}"},
        "effectiveDateTime": day,
        "performer": [{"display": performer}],
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def test_new_form_is_filled_from_recent_hospital_results(settings: Settings) -> None:
    """Results of the last 12 months in the form's unit fill the new form and are listed with their source;
    an older result, or one in another unit, is left for the worker to enter."""
    import datetime as dt

    today = dt.date.today()
    recent = (today - dt.timedelta(days=20)).isoformat()
    old = (today - dt.timedelta(days=400)).isoformat()

    async def scenario(c: httpx.AsyncClient) -> None:
        auth = {"Authorization": f"Bearer {system_token(settings)}"}
        for lab in (
            _lab("2093-3", 6.4, "mmol/L", recent, "Bệnh viện đa khoa tỉnh"),
            _lab("2093-3", 4.1, "mmol/L", old, "Bệnh viện đa khoa tỉnh"),  # older than 12 months
            _lab("1558-6", 110.0, "mg/dL", recent, "Phòng khám tư"),  # another unit than the form's mmol/L
        ):
            r = await c.post("/fhir/Observation", json=lab, headers=auth)
            assert r.status_code == 201, r.text[:300]
        page = await c.get(FORM)
        assert page.status_code == 200, page.text[:500]
        assert re.search(r'id="q-cholesterol" name="q:cholesterol" value="6.4"', page.text), text_of(
            page.text
        )[:600]
        assert 'id="imported-results"' in page.text and "Bệnh viện đa khoa tỉnh" in page.text
        assert 'data-item="cholesterol"' in page.text
        glucose = re.search(r'name="q:([a-z-]*glucose[a-z-]*)" value="([^"]*)"', page.text)
        assert glucose is not None and glucose.group(2) == ""  # mg/dL is not the form's unit: not filled

    run_station(settings, scenario)
