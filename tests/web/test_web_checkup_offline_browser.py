"""The check-up form offline in a real browser: Playwright driving Debian's Chromium against one uvicorn
server (real HTTP on a loopback port, its own process, ``checkup_web_support.build_checkup_app``), with
the station's service worker and the outbox in IndexedDB.

1. The commune health worker opens the form, the connection drops (``context.set_offline``), she saves:
   the page says the check-up is kept on this device, the station's day comes from the cache with one
   check-up waiting; the connection returns, the check-up is sent and its risk is in the store.
2. She fills a form while offline; meanwhile a colleague's check-up of the same patient reaches the
   server; on reconnection the conflict is shown (her values beside the colleague's, nothing written)
   and her choice "keep both" saves hers as one more check-up.

Both scenarios share one signed-in page (a TOTP code is single-use) and leave the outbox empty.
Playwright for Python: https://playwright.dev/python/docs/api/class-browsercontext#browser-context-set-offline
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import live_web_support as live_web
import pytest
from checkup_web_support import MINH, STATION, WORKER, seed_station
from playwright.sync_api import Browser, BrowserContext, Page, expect
from web_dataset import JSON, PASSWORD, seed, system_token

from senhealth.checkup.forms import form_for

WEB_TESTS = Path(__file__).resolve().parent
SYNC_TAGS = "https://senhealth.vn/fhir/CodeSystem/checkup-sync"
pytestmark = live_web.BROWSER_MARKS


@dataclass
class Live:
    url: str
    totp: str
    token: str  # the platform's system token, for the test's own look at the store

    def fhir(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **JSON}
        return httpx.request(method, f"{self.url}/fhir/{path}", headers=headers, timeout=30, **kwargs)

    def encounters(self) -> list[dict[str, Any]]:
        r = self.fhir("GET", "Encounter", params={"subject": f"Patient/{MINH}", "_sort": "_lastUpdated"})
        assert r.status_code == 200, r.text[:300]
        return [e["resource"] for e in r.json().get("entry") or []]


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("checkup-offline")
    with live_web.scratch_platform(database_url, "test_checkup_offline", data_dir) as settings:

        async def seeding(client: httpx.AsyncClient) -> str:
            await seed(client, settings, with_clinical=False)
            return await seed_station(client, settings)

        totp = live_web.seed_platform(settings, seeding)
        with live_web.serve("checkup_web_support:build_checkup_app", settings, [WEB_TESTS]) as base:
            yield Live(base, totp, system_token(settings))


@pytest.fixture(scope="module")
def tablet(browser: Browser, live: Live) -> Iterator[tuple[BrowserContext, Page]]:
    """The station's tablet (service workers allowed), the commune health worker signed in."""
    with live_web.browser_page(browser, live.url, 1000, 900, service_workers="allow") as page:
        live_web.sign_in(page, WORKER, PASSWORD, totp_secret=live.totp, two_factor="if-asked")
        yield page.context, page


@pytest.fixture
def online(tablet: tuple[BrowserContext, Page]) -> Iterator[tuple[BrowserContext, Page]]:
    context, _ = tablet
    context.set_offline(False)
    yield tablet
    context.set_offline(False)


def _open_form(page: Page) -> None:
    """The station's day (the service worker in control), then Mr. Minh's form from today's list."""
    page.goto("/app/station")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("navigator.serviceWorker.controller !== null"):
        page.reload()  # the first visit: the worker takes control of the page loaded after it
    expect(page.locator("#outbox-count")).to_have_text("0")
    page.locator(f'#todays tr[data-id="{MINH}"] a.start-checkup').click()
    page.wait_for_url(f"**/app/station/checkup/{MINH}")
    assert page.evaluate("navigator.serviceWorker.controller !== null")


def _fill(page: Page, systolic: str, diastolic: str) -> None:
    page.select_option("#q-known-hypertension", "true")
    page.select_option("#q-smoking", "77176002")
    page.fill("#q-bp-systolic", systolic)
    page.fill("#q-bp-diastolic", diastolic)
    page.fill("#q-height", "165")
    page.fill("#q-weight", "70")
    page.fill("#q-cholesterol", "6.2")


def _tags(encounter: dict[str, Any]) -> set[str]:
    return {t["code"] for t in (encounter.get("meta") or {}).get("tag") or [] if t.get("system") == SYNC_TAGS}


def test_checkup_saved_offline_is_sent_when_the_connection_returns(
    online: tuple[BrowserContext, Page], live: Live
) -> None:
    context, page = online
    before = len(live.encounters())
    _open_form(page)
    _fill(page, "165", "100")

    context.set_offline(True)
    page.click("#checkup-submit")
    notice = page.locator("#offline-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("đã được lưu trên máy này")
    expect(page.locator("#checkup-submit")).to_be_disabled()
    assert len(live.encounters()) == before  # nothing reached the server

    page.click("#offline-back")  # the station's day, from the service worker's cache
    page.wait_for_url("**/app/station")
    expect(page.locator("#offline-banner")).to_be_visible()
    expect(page.locator("#outbox-count")).to_have_text("1")
    expect(page.locator("#outbox-pending li")).to_contain_text("Đỗ Văn Minh")
    page.goto("/app/station/worklists?kind=overdue")  # never visited: no page on this device
    expect(page.locator("#offline-page")).to_be_visible()
    page.go_back()
    expect(page.locator("#outbox-count")).to_have_text("1")

    context.set_offline(False)  # the `online` event: the outbox is sent
    expect(page.locator("#outbox-count")).to_have_text("0", timeout=20_000)
    expect(page.locator("#outbox-sent li")).to_contain_text("Đỗ Văn Minh")
    encounters = live.encounters()
    assert len(encounters) == before + 1
    assert "offline" in _tags(encounters[-1])
    risks = live.fhir("GET", "RiskAssessment", params={"subject": f"Patient/{MINH}"}).json()
    assert risks.get("entry"), "the risk was computed when the check-up arrived"
    page.locator("#outbox-sent a.sent-result").click()
    page.wait_for_url(f"**/app/station/checkup/{MINH}/result?done=1")
    expect(page.locator("#risk-value")).to_contain_text("%")


def _colleague_checkup(live: Live) -> str:
    """A colleague's check-up of Mr. Minh reaching the server from another tablet (BP 170/105); its id."""
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": "https://senhealth.vn/fhir/CodeSystem/encounter-type", "code": "checkup"}]}],
        "subject": {"reference": f"Patient/{MINH}"},
        "participant": [{"individual": {"display": "YS. Lê Văn Tâm"}}],
        "serviceProvider": {"reference": f"Organization/{STATION}"},
    }  # fmt: skip
    created = live.fhir("POST", "Encounter", json=encounter)
    assert created.status_code == 201, created.text[:300]
    form = form_for(55, "male")
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{form['url']}|{form['version']}",
        "status": "completed",
        "subject": {"reference": f"Patient/{MINH}"},
        "authored": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "encounter": {"reference": f"Encounter/{created.json()['id']}"},
        "item": [
            {"linkId": "age", "answer": [{"valueInteger": 55}]},
            {"linkId": "vitals", "item": [
                {"linkId": "bp", "item": [
                    {"linkId": "bp-systolic", "answer": [{"valueInteger": 170}]},
                    {"linkId": "bp-diastolic", "answer": [{"valueInteger": 105}]},
                ]},
            ]},
        ],
    }  # fmt: skip
    saved = live.fhir("POST", "QuestionnaireResponse/$extract?persist=true", json=response)
    assert saved.status_code in (200, 201), saved.text[:300]
    return str(created.json()["id"])


def test_conflict_on_sync_is_shown_and_resolved_by_the_worker(
    online: tuple[BrowserContext, Page], live: Live
) -> None:
    context, page = online
    _open_form(page)
    _fill(page, "150", "95")
    context.set_offline(True)
    page.click("#checkup-submit")
    expect(page.locator("#offline-notice")).to_be_visible()
    page.click("#offline-back")
    page.wait_for_url("**/app/station")
    expect(page.locator("#outbox-count")).to_have_text("1")

    theirs = _colleague_checkup(live)
    before = len(live.encounters())

    context.set_offline(False)
    conflict = page.locator("#outbox-conflicts article.conflict")
    expect(conflict).to_have_count(1, timeout=20_000)
    expect(conflict).to_contain_text("YS. Lê Văn Tâm")
    expect(conflict.locator('tr[data-item="bp-systolic"] td.mine')).to_have_text("150")
    expect(conflict.locator('tr[data-item="bp-systolic"] td.theirs')).to_have_text("170")
    expect(page.locator("#outbox-count")).to_have_text("0")
    assert len(live.encounters()) == before  # the conflict wrote nothing
    assert theirs

    conflict.locator("button.keep-both").click()
    expect(page.locator("#outbox-conflicts")).to_have_count(0, timeout=20_000)
    expect(page.locator("#outbox-sent li")).to_contain_text("Đỗ Văn Minh")
    encounters = live.encounters()
    assert len(encounters) == before + 1
    assert _tags(encounters[-1]) == {"offline", "keep-both"}
    assert any(e["id"] == theirs for e in encounters)  # the colleague's check-up is still there


def test_in_english_and_sent_from_the_form_page_itself(
    online: tuple[BrowserContext, Page], live: Live
) -> None:
    context, page = online
    before = len(live.encounters())
    page.goto(f"/app/station/checkup/{MINH}?lang=en")
    _fill(page, "140", "90")
    context.set_offline(True)
    page.click("#checkup-submit")
    expect(page.locator("#offline-notice")).to_contain_text("saved on this device")
    context.set_offline(False)  # any station page sends the outbox when the connection returns
    deadline = time.monotonic() + 20
    while len(live.encounters()) == before and time.monotonic() < deadline:
        time.sleep(0.3)
    assert len(live.encounters()) == before + 1
    page.goto("/app/station?lang=vi")  # the language is remembered: back to Vietnamese
    expect(page.locator("#outbox-count")).to_have_text("0")
