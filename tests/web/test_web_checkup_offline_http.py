"""The check-up form offline, over HTTP in-process (real PostgreSQL, the platform as ``build_app`` makes
it, the station's routes from ``checkup_web_support.install_checkup``): ``POST /app/station/sync`` saves
a check-up kept on a tablet once, whatever the retries; a check-up saved meanwhile is a conflict that
writes nothing and shows the server's values beside the worker's; the worker's "keep both" saves it as
one more; the plain form's POST checks the same version and is idempotent too."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import httpx
import pytest
from checkup_web_support import MINH, run_station
from web_dataset import JSON, system_token
from web_support import csrf_of

from senhealth.core.config import Settings

FORM = f"/app/station/checkup/{MINH}"
SYNC = "/app/station/sync"
ANSWERS = {
    "known-hypertension": "true",
    "smoking": "77176002",
    "bp-systolic": "165",
    "bp-diastolic": "100",
    "height": "165",
    "weight": "70",
    "cholesterol": "6.2",
}
SUBMISSION = "https://senhealth.vn/fhir/sid/checkup-submission"
SYNC_TAGS = "https://senhealth.vn/fhir/CodeSystem/checkup-sync"


@pytest.fixture
def settings(web_settings: Settings) -> Settings:
    return web_settings


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} in the form"
    return found.group(1)


async def _encounters(c: httpx.AsyncClient, settings: Settings) -> list[dict[str, Any]]:
    r = await c.get(
        "/fhir/Encounter",
        params={"subject": f"Patient/{MINH}", "_sort": "_lastUpdated"},
        headers={"Authorization": f"Bearer {system_token(settings)}"},
    )
    assert r.status_code == 200, r.text[:300]
    return [e["resource"] for e in r.json().get("entry") or []]


async def _responses(c: httpx.AsyncClient, settings: Settings) -> int:
    r = await c.get(
        "/fhir/QuestionnaireResponse",
        params={"subject": f"Patient/{MINH}", "_summary": "count"},
        headers={"Authorization": f"Bearer {system_token(settings)}"},
    )
    return int(r.json()["total"])


async def _form(c: httpx.AsyncClient) -> tuple[str, str]:
    """The form's CSRF token and base version."""
    page = await c.get(FORM)
    assert page.status_code == 200, page.text[:500]
    return csrf_of(page.text), _hidden(page.text, "base")


async def _sync(c: httpx.AsyncClient, token: str, **body: Any) -> httpx.Response:
    payload = {"patient": MINH, "submission": str(uuid.uuid4()), "answers": ANSWERS, **body}
    return await c.post(SYNC, json=payload, headers={"X-CSRF-Token": token})


def test_sync_saves_once_whatever_the_retries(settings: Settings) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        token, base = await _form(c)
        assert base.startswith("none|") and base.endswith("|male")  # no check-up yet; birth date; sex
        key = str(uuid.uuid4())
        two_hours_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
        body = {"submission": key, "base": base, "recorded": two_hours_ago.isoformat()}

        no_csrf = await c.post(SYNC, json={"patient": MINH, "answers": ANSWERS, **body})
        assert no_csrf.status_code == 403 and no_csrf.json()["status"] == "forbidden"
        bad = await _sync(c, token, submission="x", base=base)
        assert bad.status_code == 400
        wrong = await _sync(c, token, base=base, answers={**ANSWERS, "bp-systolic": "abc"})
        assert wrong.status_code == 422 and wrong.json()["item"] == "bp-systolic"
        too_high = await _sync(c, token, base=base, answers={**ANSWERS, "bp-systolic": "400"})
        assert too_high.status_code == 422 and too_high.json()["item"] == "bp-systolic", too_high.text
        assert await _encounters(c, settings) == []  # refusals write nothing

        first = await _sync(c, token, **body)
        assert first.status_code == 200, first.text[:500]
        saved = first.json()
        assert saved["status"] == "saved" and saved["already"] is False
        assert saved["result"] == f"{FORM}/result?done=1"
        again = await _sync(c, token, **body)  # the answer was lost on the way: the tablet sends it again
        assert again.status_code == 200 and again.json()["already"] is True
        assert again.json()["encounter"] == saved["encounter"]

        encounters = await _encounters(c, settings)
        assert len(encounters) == 1 and await _responses(c, settings) == 1
        encounter = encounters[0]
        assert {"system": SUBMISSION, "value": key} in encounter["identifier"]
        assert {"system": SYNC_TAGS, "code": "offline"} in [
            {"system": t["system"], "code": t["code"]} for t in encounter["meta"].get("tag") or []
        ]
        assert dt.datetime.fromisoformat(encounter["period"]["start"]) == two_hours_ago  # when it was done
        assert encounter["participant"][0]["individual"]["display"] == "YS. Hoàng Thị Thu"
        result = await c.get(saved["result"])
        assert 'id="patient-cell"' in result.text and 'data-registry="hypertension"' in result.text

        sw = await c.get("/app/station/sw.js")
        assert sw.status_code == 200 and sw.headers["service-worker-allowed"] == "/app/station"
        assert sw.headers["content-type"].startswith("text/javascript") and "networkFirst" in sw.text

    run_station(settings, scenario)


def test_conflict_writes_nothing_and_the_workers_choice_saves(settings: Settings) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        token, base = await _form(c)
        # a colleague's tablet saves a check-up of the same patient with the plain form meanwhile
        other = {f"q:{k}": v for k, v in ANSWERS.items()}
        posted = await c.post(
            FORM, data={**other, "csrf_token": token, "base": base, "submission": str(uuid.uuid4())}
        )
        assert posted.status_code == 303, posted.text[:500]
        [theirs] = await _encounters(c, settings)

        mine = {**ANSWERS, "bp-systolic": "150", "smoking": "8517006"}
        key = str(uuid.uuid4())
        conflict = await _sync(c, token, submission=key, base=base, answers=mine)
        assert conflict.status_code == 409, conflict.text[:500]
        shown = conflict.json()
        assert shown["kind"] == "checkup"
        assert shown["current"]["encounter"] == f"Encounter/{theirs['id']}"
        assert shown["current"]["who"] == "YS. Hoàng Thị Thu" and shown["current"]["when"]
        assert shown["base"] == f"Encounter/{theirs['id']}/_history/1|{base.split('|', 1)[1]}"
        rows = {r["linkId"]: r for r in shown["rows"]}
        assert (rows["bp-systolic"]["mine"], rows["bp-systolic"]["theirs"]) == ("150", "165")
        assert rows["smoking"]["mine"] != rows["smoking"]["theirs"] and rows["smoking"]["label"]
        assert len(await _encounters(c, settings)) == 1 and await _responses(c, settings) == 1  # nothing

        # the same stale base with the answer "keep both" is still a conflict: a choice needs the new base
        stale = await _sync(c, token, submission=key, base=base, answers=mine, resolution="keep-both")
        assert stale.status_code == 409
        kept = await _sync(c, token, submission=key, base=shown["base"], answers=mine, resolution="keep-both")
        assert kept.status_code == 200, kept.text[:500]
        encounters = await _encounters(c, settings)
        assert len(encounters) == 2 and await _responses(c, settings) == 2  # both check-ups kept
        tags = {t["code"] for t in encounters[-1]["meta"].get("tag") or [] if t["system"] == SYNC_TAGS}
        assert tags == {"offline", "keep-both"}

        # the plain form: the old base is a conflict page, "keep both" on it saves; a double click saves once
        page = await c.post(
            FORM, data={**other, "csrf_token": token, "base": base, "submission": str(uuid.uuid4())}
        )
        assert page.status_code == 409
        assert 'id="conflict"' in page.text and 'id="keep-both"' in page.text
        new_base = _hidden(page.text, "base")
        assert new_base != base and new_base.startswith(f"Encounter/{encounters[-1]['id']}/")
        assert 'value="165"' in page.text  # the worker's values stay in the form
        assert len(await _encounters(c, settings)) == 2
        once = {**other, "csrf_token": token, "base": new_base, "resolution": "keep-both"}
        once["submission"] = str(uuid.uuid4())
        assert (await c.post(FORM, data=once)).status_code == 303
        assert (await c.post(FORM, data=once)).status_code == 303  # the second click: already saved
        assert len(await _encounters(c, settings)) == 3

        # the birth date changed since the form was opened: a conflict of another kind
        headers = {"Authorization": f"Bearer {system_token(settings)}", **JSON}
        patient = (await c.get(f"/fhir/Patient/{MINH}", headers=headers)).json()
        patient["birthDate"] = str(int(patient["birthDate"][:4]) - 1) + patient["birthDate"][4:]
        assert (await c.put(f"/fhir/Patient/{MINH}", json=patient, headers=headers)).status_code == 200
        _, latest = await _form(c)
        moved = await _sync(c, token, base=latest.split("|")[0] + "|" + base.split("|", 1)[1])
        assert moved.status_code == 409 and moved.json()["kind"] == "patient"
        assert len(await _encounters(c, settings)) == 3

    run_station(settings, scenario)


def test_a_send_interrupted_after_the_encounter_is_completed_not_repeated(settings: Settings) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        token, base = await _form(c)
        key = str(uuid.uuid4())
        # an earlier send created the Encounter and then lost the connection before the answers
        headers = {"Authorization": f"Bearer {system_token(settings)}", **JSON}
        half = {
            "resourceType": "Encounter",
            "identifier": [{"system": SUBMISSION, "value": key}],
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [
                {
                    "coding": [
                        {"system": "https://senhealth.vn/fhir/CodeSystem/encounter-type", "code": "checkup"}
                    ]
                }
            ],
            "subject": {"reference": f"Patient/{MINH}"},
        }
        assert (await c.post("/fhir/Encounter", json=half, headers=headers)).status_code == 201
        done = await _sync(c, token, submission=key, base=base)  # the base predates its own Encounter
        assert done.status_code == 200, done.text[:500]
        assert done.json()["already"] is False
        assert len(await _encounters(c, settings)) == 1 and await _responses(c, settings) == 1

    run_station(settings, scenario)
