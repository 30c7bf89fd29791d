"""``GET /dashboards/checkup`` in-process over the assembled platform: the SVG map (one path per commune of
the province, the class of a commune of known rate, no-data communes hatched), the table and the
province total, CSV equal to ``checkup_dashboard``, English, bad parameters, who may see it (a provincial
officer: every commune; a facility administrator: their own commune; a commune health worker: 403).

Also the helpers the browser test shares: ``install_dashboard(app)`` adds the route (and the
``/dashboards`` prefix to the web dispatcher) until the lead wires them in ``senhealth/web/app.py``;
``seed_dashboard(client, settings)`` writes two stations of Bắc Ninh with synthetic patients.
Synthetic data only.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from web_dataset import JSON, PASSWORD, seed, system_token
from web_support import sign_in

from senhealth.core.config import Settings
from senhealth.core.geo import province_map
from senhealth.security import accounts

ZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")
ADMIN_UNIT: Final = "https://senhealth.vn/fhir/StructureDefinition/administrative-unit"
COMMUNE_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/commune-2025"
EAST: Final = ("tyt-dong", "07210", "Phường Bắc Giang")  # station id, commune code, commune name
WEST: Final = ("tyt-tay", "07228", "Phường Đa Mai")
OFFICER: Final = "sy.tinh"
ADMIN: Final = "qt.dong"
WORKER: Final = "yt.dong"
HOSPITAL_ADMIN: Final = "qt.benhvien"

Scenario = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[Any]]


def install_dashboard(app: FastAPI) -> None:
    """Route ``/dashboards/checkup`` in the pages' application (idempotent); the dispatcher's prefix is
    :func:`dashboards_prefix`'s."""
    from senhealth.web.views import dashboard_checkup

    routes = app.state.senhealth_web.router.routes
    if not any(getattr(r, "path", None) == dashboard_checkup.ROUTES[0].path for r in routes):
        routes[0:0] = list(dashboard_checkup.ROUTES)


def with_dashboards_prefix(prefixes: tuple[str, ...]) -> tuple[str, ...]:
    return prefixes if "/dashboards" in prefixes else (*prefixes, "/dashboards")


def build_dashboard_app() -> FastAPI:
    """``uvicorn --factory test_web_dashboard_checkup:build_dashboard_app``."""
    from senhealth.app import build_app
    from senhealth.core.config import get_settings
    from senhealth.web import app as web_app

    web_app.PREFIXES = with_dashboards_prefix(web_app.PREFIXES)  # type: ignore[misc]  # its own process
    app = build_app(get_settings())
    install_dashboard(app)
    return app


@pytest.fixture
def run(web_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[[Scenario], Any]:
    """``run(scenario)``: the platform with the dashboard, seeded (web dataset + :func:`seed_dashboard`),
    ``scenario(client, secrets)`` with an httpx client from a facility-network address."""
    from senhealth.app import build_app
    from senhealth.web import app as web_app
    from senhealth.web import install_web

    monkeypatch.setattr(web_app, "PREFIXES", with_dashboards_prefix(web_app.PREFIXES))

    def runner(scenario: Scenario) -> Any:
        async def main() -> Any:
            app = build_app(web_settings)
            install_web(app, web_settings)
            install_dashboard(app)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://test", timeout=120
                ) as client:
                    await seed(client, web_settings, with_clinical=False)
                    secrets = await seed_dashboard(client, web_settings)
                    return await scenario(client, secrets)

        return asyncio.run(main())

    return runner


def _station(org: str, commune: str, name: str) -> dict[str, Any]:
    coding = {"system": COMMUNE_SYSTEM, "code": commune, "display": name}
    return {
        "resourceType": "Organization",
        "id": org,
        "active": True,
        "name": f"Trạm Y tế {name}",
        "address": [
            {"extension": [{"url": ADMIN_UNIT, "extension": [{"url": "commune", "valueCoding": coding}]}]}
        ],
    }


def _at(hours_ago: float) -> str:
    """An instant ``hours_ago`` before now, kept inside this year (Viet Nam's time)."""
    now = dt.datetime.now(ZONE)
    start = dt.datetime(now.year, 1, 1, 0, 5, tzinfo=ZONE)
    return max(now - dt.timedelta(hours=hours_ago), start).isoformat(timespec="seconds")


def _patient(pid: str, org: str, name: str) -> dict[str, Any]:
    family, *given = name.split()
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"text": name, "family": family, "given": given}],
        "gender": "female",
        "birthDate": "1960-05-05",
        "managingOrganization": {"reference": f"Organization/{org}"},
    }


def _checkup(pid: str, org: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"{pid}-checkup",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [
            {"coding": [{"system": "https://senhealth.vn/fhir/CodeSystem/encounter-type", "code": "checkup"}]}
        ],
        "subject": {"reference": f"Patient/{pid}"},
        "serviceProvider": {"reference": f"Organization/{org}"},
        "period": {"start": _at(2), "end": _at(1)},
    }


def _hypertension(pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"{pid}-htn",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"coding": [{"system": "https://senhealth.vn/fhir/CodeSystem/icd10-vn", "code": "I10"}]},
        "subject": {"reference": f"Patient/{pid}"},
    }


def _bp(pid: str, sbp: int, dbp: int) -> dict[str, Any]:
    loinc = "http://loinc.org"
    q = {"unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}
    return {
        "resourceType": "Observation",
        "id": f"{pid}-bp",
        "status": "final",
        "code": {"coding": [{"system": loinc, "code": "85354-9"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": _at(3),
        "component": [
            {"code": {"coding": [{"system": loinc, "code": "8480-6"}]}, "valueQuantity": {"value": sbp, **q}},
            {"code": {"coding": [{"system": loinc, "code": "8462-4"}]}, "valueQuantity": {"value": dbp, **q}},
        ],
    }


async def seed_dashboard(client: httpx.AsyncClient, settings: Settings) -> dict[str, str]:
    """EAST: 4 citizens, 1 checked up (coverage 25 %: class q1), 2 hypertensive (130/80 controlled,
    160/100 not: 50 %); WEST: 3 citizens, 2 checked up (66.7 %: q3), no registry (no data). Accounts:
    the provincial officer, EAST's facility administrator, EAST's commune health worker. Returns the
    TOTP secrets by username."""
    from senhealth.checkup.registries import enrol
    from senhealth.core.db import get_pool
    from senhealth.fhir.store import FhirStore

    headers = {"Authorization": f"Bearer {system_token(settings)}", **JSON}
    east, west = EAST[0], WEST[0]
    hospital = {"resourceType": "Organization", "id": "bv-khac", "name": "Bệnh viện Đa khoa khu vực"}
    resources: list[dict[str, Any]] = [_station(*EAST), _station(*WEST), hospital]
    east_people = ["e1", "e2", "e3", "e4"]
    names = [
        "Nguyễn Thị Mai",
        "Trần Văn Bình",
        "Lê Thị Cúc",
        "Phạm Văn Dũng",
        "Hoàng Thị Em",
        "Vũ Văn Phúc",
        "Đỗ Thị Giang",
    ]
    for pid, name in zip([*east_people, "w1", "w2", "w3"], names):
        resources.append(_patient(f"p-{pid}", east if pid.startswith("e") else west, name))
    resources += [_checkup("p-e1", east), _checkup("p-w1", west), _checkup("p-w2", west)]
    resources += [_hypertension("p-e1"), _bp("p-e1", 130, 80), _hypertension("p-e2"), _bp("p-e2", 160, 100)]
    for resource in resources:
        r = await client.put(
            f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=headers
        )
        assert r.status_code in (200, 201), r.text[:300]
    store = FhirStore(get_pool())
    for pid in ("p-e1", "p-e2"):
        done = await enrol(store, pid)
        assert "hypertension" in [e.rule.registry for e in done.eligible]
    secrets = {}
    for username, role, facility in (
        (OFFICER, "provincial_officer", None),
        (ADMIN, "facility_admin", f"Organization/{east}"),
        (WORKER, "commune_health_worker", f"Organization/{east}"),
        (HOSPITAL_ADMIN, "facility_admin", "Organization/bv-khac"),  # no citizens registered there
    ):
        await accounts.create_user(username, PASSWORD, [role], display_name=username, facility=facility)
        uri = await accounts.enroll_totp(username)
        secrets[username] = parse_qs(urlparse(uri).query)["secret"][0]
    return secrets


def _path_class(html: str, code: str) -> str:
    found = re.search(rf'<path class="area (\w+)" data-code="{code}"', html)
    assert found, code
    return found.group(1)


def test_the_map_the_table_and_the_csv(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, secrets: dict[str, str]) -> None:
        from senhealth.checkup.dashboard import checkup_dashboard
        from senhealth.core.db import get_pool
        from senhealth.fhir.store import FhirStore

        await sign_in(client, OFFICER, PASSWORD, totp_secret=secrets[OFFICER])
        year = dt.datetime.now(ZONE).year
        r = await client.get("/dashboards/checkup")
        assert r.status_code == 200, r.text[:500]
        html = r.text
        assert "Content-Security-Policy" in r.headers or "content-security-policy" in r.headers
        assert "style=" not in html  # nothing inline (the pages' CSP)
        bac_ninh = province_map("24")
        assert html.count('<path class="area ') == len(bac_ninh.communes) == 99
        assert _path_class(html, EAST[1]) == "q1"  # 1 of 4: 25 %
        assert _path_class(html, WEST[1]) == "q3"  # 2 of 3: 66.7 %
        other = next(c for c in bac_ninh.communes if c.code not in (EAST[1], WEST[1]))
        assert _path_class(html, other.code) == "nodata"
        assert f"<title>{other.name}: không có số liệu</title>" in html
        assert f"<title>{EAST[2]}: 25,0 % (1/4)</title>" in html
        assert 'id="row-07210"' in html and "Tỷ lệ khám sức khỏe định kỳ" in html
        total = re.search(
            r'<strong class="total-rate">([^<]+)</strong>\s*<span class="total-counts">(\d+)/(\d+)', html
        )
        assert total
        # the seeded web dataset also registers 3 citizens at two facilities without a commune code
        assert total.groups() == ("30,0 %", "3", "10")
        assert "Trạm chưa ghi mã xã" in html

        store = FhirStore(get_pool())
        board = await checkup_dashboard(store, year)
        for indicator in ("coverage", "htn-control"):
            c = await client.get(f"/dashboards/checkup?indicator={indicator}&format=csv&sort=code")
            assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
            assert "attachment" in c.headers["content-disposition"]
            rows = list(csv.DictReader(io.StringIO(c.text.lstrip("\ufeff"))))
            expected = [*board.communes, board.total]
            assert [r["commune_code"] for r in rows] == [x.commune_code for x in expected]
            for row, ours in zip(rows, expected):
                ratio = ours.ratio(indicator)
                assert (int(row["numerator"]), int(row["denominator"])) == (
                    ratio.numerator,
                    ratio.denominator,
                )
                assert row["rate"] == ("" if ratio.rate is None else f"{ratio.rate:.4f}")
        by_code = {r.commune_code: r for r in board.communes}
        assert (by_code[EAST[1]].htn_control.numerator, by_code[EAST[1]].htn_control.denominator) == (1, 2)

        # the hypertension map: EAST 50 % (q2), WEST no registry: hatched and "no data" in the table
        h = (await client.get("/dashboards/checkup?indicator=htn-control&sort=rate&dir=desc&lang=en")).text
        assert _path_class(h, EAST[1]) == "q2" and _path_class(h, WEST[1]) == "nodata"
        assert f"<title>{EAST[2]}: 50.0% (1/2)</title>" in h and f"<title>{WEST[2]}: no data</title>" in h
        assert "Blood pressure control (hypertension)" in h and 'aria-sort="descending"' in h
        body = h.split("<tbody>")[1].split("</tbody>")[0]
        assert body.index('id="row-07210"') < body.index('id="row-07228"')  # rates first, no data last

        for bad in ("indicator=nope", "year=abc", "year=1800", "province=99"):
            assert (await client.get(f"/dashboards/checkup?{bad}")).status_code == 400, bad

    run(scenario)


def test_who_may_see_the_dashboard(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, secrets: dict[str, str]) -> None:
        r = await client.get("/dashboards/checkup")
        assert r.status_code == 303 and r.headers["location"].startswith("/app/login")

        await sign_in(client, WORKER, PASSWORD, totp_secret=secrets[WORKER])
        r = await client.get("/dashboards/checkup")
        assert r.status_code == 403 and "dành cho cán bộ Sở Y tế" in r.text
        assert (await client.get("/dashboards/checkup?format=csv")).status_code == 403
        client.cookies.clear()

        await sign_in(client, ADMIN, PASSWORD, totp_secret=secrets[ADMIN])
        r = await client.get("/dashboards/checkup")
        assert r.status_code == 200, r.text[:300]
        assert _path_class(r.text, EAST[1]) == "q1" and _path_class(r.text, WEST[1]) == "nodata"
        rows = list(
            csv.DictReader(
                io.StringIO((await client.get("/dashboards/checkup?format=csv")).text.lstrip("\ufeff"))
            )
        )
        assert [(r["commune_code"], r["numerator"], r["denominator"]) for r in rows] == [
            (EAST[1], "1", "4"),
            ("", "1", "4"),
        ]
        client.cookies.clear()

        await sign_in(client, HOSPITAL_ADMIN, PASSWORD, totp_secret=secrets[HOSPITAL_ADMIN])
        r = await client.get("/dashboards/checkup")
        assert r.status_code == 403 and "không phải trạm y tế xã" in r.text

    run(scenario)
