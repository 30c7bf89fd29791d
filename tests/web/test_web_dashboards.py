"""The province's dashboards (``/dashboards/``) in-process over the assembled platform and a generated demo
province (150 citizens of Bắc Ninh, ``senhealth.demo.generate_resources``, loaded into a schema of its
own by ``analytics/province_support.py``), plus a signed record, a referral and a telemedicine visit.

Checked: every number on the overview, an indicator's page, a commune's and a facility's page equals the
indicator library's functions (``compute_indicators``, run here) or counts made here from the resources'
JSON; the CSV and XLSX downloads equal the tables; the drill-down links keep the period; form 14/BCT's page
equals ``report_14bct``, its downloads open; who may see what. Synthetic data only.

Also the helpers the browser and scheduled-report tests share: ``install_dashboards(app)`` (the routes,
until the lead wires them in ``senhealth/web/app.py``), ``dashboard_province`` (the loaded province with
its accounts), ``build_dashboards_app`` (a uvicorn factory).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import html as htmllib
import io
import os
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlparse

import httpx
import openpyxl
import pytest
from analytics.province_support import PROVINCE, Province, loaded_province
from fastapi import FastAPI
from web_dataset import PASSWORD
from web_support import sign_in

from senhealth.analytics.indicators import IndicatorResult, compute_indicators, month
from senhealth.core.config import Settings
from senhealth.fhir import access
from senhealth.fhir.store import FhirStore
from senhealth.security import accounts

OFFICER: Final = "sy.bangdieukhien"
ADMIN: Final = "qt.tram"
OTHER_ADMIN: Final = "qt.khac"
WORKER: Final = "yt.tram"
SCHEMA_ENV: Final = "SENHEALTH_TEST_DASHBOARD_VIEWS_SCHEMA"


def _id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"senhealth-test/dashboards/{name}"))


def install_dashboards(app: FastAPI) -> None:
    """Route the dashboards in the pages' application (idempotent)."""
    from senhealth.web.views import dashboard_pages

    routes = app.state.senhealth_web.router.routes
    paths = {getattr(r, "path", None) for r in routes}
    new = [r for r in dashboard_pages.ROUTES if r.path not in paths]
    routes[0:0] = new


def build_dashboards_app() -> FastAPI:
    """``uvicorn --factory test_web_dashboards:build_dashboards_app`` (views' schema from the environment)."""
    from senhealth.app import build_app
    from senhealth.core.config import get_settings
    from senhealth.web.views import dashboard_data

    dashboard_data.use_views_schema(os.environ.get(SCHEMA_ENV))
    app = build_app(get_settings())
    install_dashboards(app)
    return app


# --- the province -------------------------------------------------------------------------------------


def _local_day(text: str) -> dt.date:
    return dt.datetime.fromisoformat(text).astimezone(dt.timezone(dt.timedelta(hours=7))).date()


def facilities_of(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Organizations with a facility code, by id."""
    return {r["id"]: r for r in resources if r["resourceType"] == "Organization" and r.get("identifier")}


def unit_of(org: dict[str, Any], part: str) -> str:
    ext = org["address"][0]["extension"][0]["extension"]
    return str(next(e["valueCoding"]["code"] for e in ext if e["url"] == part))


def month_encounters(p: Province) -> list[dict[str, Any]]:
    orgs = facilities_of(p.resources)
    per = month(p.year, p.month)
    return [
        e
        for e in p.resources
        if e["resourceType"] == "Encounter"
        and e["status"] not in ("planned", "cancelled", "entered-in-error")
        and per.start <= _local_day(e["period"]["start"]) < per.end
        and (org := orgs.get(e["serviceProvider"]["reference"].split("/")[1])) is not None
        and unit_of(org, "province") == PROVINCE
    ]


@dataclass
class DashboardProvince:
    province: Province
    settings: Settings
    station: dict[str, Any] = field(default_factory=dict)  # the facility of the signed record
    hospital: dict[str, Any] = field(default_factory=dict)  # 24001, where the referral goes
    secrets: dict[str, str] = field(default_factory=dict)  # TOTP secrets by username
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)  # signed-in sessions by username

    @property
    def period(self) -> str:
        return f"{self.province.year}{self.province.month:02d}"


def _additions(p: Province) -> None:
    """A signed record, a referral from its facility to the provincial hospital and a virtual visit there."""
    encounters = month_encounters(p)
    orgs = facilities_of(p.resources)
    signed = next(
        e
        for e in encounters
        if orgs[e["serviceProvider"]["reference"].split("/")[1]]["identifier"][0]["value"] != "24001"
    )
    home = orgs[signed["serviceProvider"]["reference"].split("/")[1]]
    hospital = next(o for o in orgs.values() if o["identifier"][0]["value"] == "24001")
    practitioner = signed["participant"][0]["individual"]
    composition = {
        "resourceType": "Composition",
        "id": _id("composition"),
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
        "subject": signed["subject"],
        "encounter": {"reference": f"Encounter/{signed['id']}"},
        "date": signed["period"]["start"],
        "author": [practitioner],
        "title": "Phiếu khám bệnh",
        "custodian": {"reference": f"Organization/{home['id']}"},
    }
    provenance = {
        "resourceType": "Provenance",
        "id": _id("provenance"),
        "meta": {
            "tag": [{"system": "https://senhealth.vn/fhir/CodeSystem/signature-record", "code": "signature"}]
        },
        "target": [{"reference": f"Composition/{composition['id']}/_history/1"}],
        "recorded": signed["period"]["start"],
        "agent": [{"who": practitioner}],
    }
    referral = {
        "resourceType": "ServiceRequest",
        "id": _id("referral"),
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}],
        "subject": signed["subject"],
        "authoredOn": signed["period"]["start"],
        "requester": {"reference": f"Organization/{home['id']}"},
        "performer": [{"reference": f"Organization/{hospital['id']}"}],
    }
    virtual = {
        **signed,
        "id": _id("virtual"),
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
    }
    virtual.pop("diagnosis", None)
    p.resources.extend([composition, provenance, referral, virtual])


@contextmanager
def dashboard_province(
    database_url: str, data_dir: Path, *, sessions: bool = True
) -> Iterator[DashboardProvince]:
    """The loaded province, its settings and four accounts (officer, the station's administrator and
    health worker, another facility's administrator)."""
    with loaded_province(database_url, _additions) as p:
        settings = Settings(
            database_url=p.url,
            data_dir=data_dir,
            auth_required=True,
            facility_networks=["10.0.0.0/8", "127.0.0.0/8"],
        )
        orgs = facilities_of(p.resources)
        composition = next(r for r in p.resources if r["id"] == _id("composition"))
        station = orgs[composition["custodian"]["reference"].split("/")[1]]
        hospital = next(o for o in orgs.values() if o["identifier"][0]["value"] == "24001")
        other = next(o for o in orgs.values() if o["id"] not in (station["id"], hospital["id"]))
        found = DashboardProvince(p, settings, station=station, hospital=hospital)

        async def create() -> None:
            from senhealth.app import build_app

            app = build_app(settings)
            async with app.router.lifespan_context(app):
                for username, role, facility in (
                    (OFFICER, "provincial_officer", None),
                    (ADMIN, "facility_admin", f"Organization/{station['id']}"),
                    (WORKER, "commune_health_worker", f"Organization/{station['id']}"),
                    (OTHER_ADMIN, "facility_admin", f"Organization/{other['id']}"),
                ):
                    await accounts.create_user(
                        username, PASSWORD, [role], display_name=username, facility=facility
                    )
                    uri = await accounts.enroll_totp(username)
                    found.secrets[username] = parse_qs(urlparse(uri).query)["secret"][0]
                if not sessions:
                    return
                # one sign-in per account for the module (a TOTP code is accepted once): the session
                # cookies are kept and each test's client starts with them
                transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
                for username in found.secrets:
                    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                        await sign_in(client, username, PASSWORD, totp_secret=found.secrets[username])
                        found.cookies[username] = dict(client.cookies)
                        assert found.cookies[username], username

        try:
            asyncio.run(create())
        finally:
            access.install(policy=access.OPEN, sink=access.NO_AUDIT)
        yield found


@pytest.fixture(scope="module")
def demo(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardProvince]:
    with dashboard_province(database_url, tmp_path_factory.mktemp("dashboards")) as found:
        yield found


Scenario = Callable[[httpx.AsyncClient, DashboardProvince], Awaitable[Any]]


@pytest.fixture
def run(demo: DashboardProvince) -> Iterator[Callable[[Scenario], Any]]:
    from senhealth.web.views import dashboard_data

    dashboard_data.use_views_schema(demo.province.schema)
    dashboard_data.clear_cache()

    def runner(scenario: Scenario) -> Any:
        async def main() -> Any:
            from senhealth.app import build_app

            app = build_app(demo.settings)
            install_dashboards(app)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://test", timeout=120
                ) as client:
                    return await scenario(client, demo)

        return asyncio.run(main())

    try:
        yield runner
    finally:
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)
        dashboard_data.use_views_schema(None)
        dashboard_data.clear_cache()


async def computed(demo: DashboardProvince, period: str | None = None) -> dict[str, IndicatorResult]:
    """The indicator library's own answer (the function the pages must agree with)."""
    from senhealth.analytics.indicators import parse_period
    from senhealth.core.db import get_pool
    from senhealth.web.views.dashboard_data import checkup_providers

    store = FhirStore(get_pool())
    results = await compute_indicators(
        store.pool,
        parse_period(period or demo.period),
        PROVINCE,
        param_ids=await store.param_ids(),
        schema=demo.province.schema,
        providers=checkup_providers(store),
    )
    return {r.indicator.id: r for r in results}


# --- reading the pages ----------------------------------------------------------------------------------


def row_cells(page: str, row_id: str) -> dict[str, str]:
    """The cells of the table row ``row_id`` by column key (text, unescaped)."""
    found = re.search(rf'<tr id="{re.escape(row_id)}"[^>]*>(.*?)</tr>', page, re.S)
    assert found, row_id
    cells = re.findall(r'<td data-key="([^"]+)"[^>]*>(.*?)</td>', found.group(1), re.S)
    return {k: htmllib.unescape(re.sub(r"<[^>]+>", "", v)).strip() for k, v in cells}


def as_int(text: str) -> int | None:
    return None if text in ("", "–") else int(text.replace(".", "").replace(",", ""))


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(body.decode("utf-8").lstrip("\ufeff"))))


def read_xlsx(body: bytes) -> list[list[Any]]:
    book = openpyxl.load_workbook(io.BytesIO(body))
    sheet = book.active
    assert sheet is not None
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def signed_in(client: httpx.AsyncClient, demo: DashboardProvince, username: str) -> None:
    """The client now carries ``username``'s session (signed in once for the module)."""
    client.cookies.clear()
    for name, value in demo.cookies[username].items():
        client.cookies.set(name, value)


async def officer(client: httpx.AsyncClient, demo: DashboardProvince) -> None:
    signed_in(client, demo, OFFICER)


# --- tests -----------------------------------------------------------------------------------------------


def test_the_overview_equals_the_indicator_library(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, demo: DashboardProvince) -> None:
        await officer(client, demo)
        query = f"period={demo.period}&province={PROVINCE}"
        r = await client.get(f"/dashboards/?{query}")
        assert r.status_code == 200, r.text[:800]
        page = r.text
        assert "style=" not in page and "<script>" not in page  # the pages' CSP: nothing inline
        assert "<h1>Tổng quan y tế toàn tỉnh</h1>" in page
        results = await computed(demo)
        assert len(results) == 11 and all(x.available for x in results.values())
        assert results["emr-adoption"].total.numerator == 1  # the signed record
        assert results["referral-flows"].total.numerator == 1
        assert results["telemedicine-volume"].total.numerator >= 1
        assert page.count('<li class="indicator-card') == 11
        assert page.count('<svg class="sparkline"') == 11
        for ind_id, result in results.items():
            cells = row_cells(page, f"ind-{ind_id}")
            assert as_int(cells["numerator"]) == result.total.numerator, ind_id
            assert as_int(cells["denominator"]) == result.total.denominator, ind_id
        # the card's value as shown, e.g. the EMR adoption rate in Vietnamese
        emr = results["emr-adoption"].total
        assert emr.value is not None
        shown = f"{100 * emr.value:.1f}".replace(".", ",") + " %"
        card = re.search(r'id="card-emr-adoption".*?<strong class="value">([^<]+)</strong>', page, re.S)
        assert card and card.group(1) == shown

        # the map of the default indicator (EMR adoption per commune: its facilities summed)
        assert page.count('<path class="area ') == 99
        orgs = facilities_of(demo.province.resources)
        by_code = {o["identifier"][0]["value"]: o for o in orgs.values()}
        per_commune: dict[str, list[int]] = {}
        for row in results["emr-adoption"].rows:
            commune = unit_of(by_code[row.key], "commune")
            acc = per_commune.setdefault(commune, [0, 0])
            acc[0] += row.numerator
            acc[1] += row.denominator or 0
        station_commune = unit_of(demo.station, "commune")
        n, d = per_commune[station_commune]
        assert n >= 1 and d >= 1
        expected_title = f"{100 * n / d:.1f}".replace(".", ",") + f" % ({n}/{d})"
        assert re.search(
            rf'data-code="{station_commune}" d="[^"]*"><title>[^<]*: {re.escape(expected_title)}</title>',
            page,
        )
        assert (
            f'href="/dashboards/communes/{station_commune}?period={demo.period}&amp;province={PROVINCE}"'
            in page
        )

        # CSV and XLSX of the summary and of the communes' table equal the library
        rows = read_csv((await client.get(f"/dashboards/?{query}&format=csv&table=summary")).content)
        assert [x["indicator"] for x in rows] == list(results)
        for x in rows:
            total = results[x["indicator"]].total
            assert int(x["numerator"]) == total.numerator
            assert x["denominator"] == ("" if total.denominator is None else str(total.denominator))
            assert (x["value"] == "") if total.value is None else abs(float(x["value"]) - total.value) < 1e-6
        xlsx = await client.get(f"/dashboards/?{query}&format=xlsx&table=summary")
        assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
        sheet = read_xlsx(xlsx.content)
        assert sheet[1][:3] == ["Mã", "Phiên bản", "Chỉ số"]
        assert [(s[0], s[3]) for s in sheet[2:]] == [(k, v.total.numerator) for k, v in results.items()]
        communes = read_csv((await client.get(f"/dashboards/?{query}&format=csv&table=communes")).content)
        assert {c["commune_code"]: [int(c["numerator"]), int(c["denominator"])] for c in communes} == {
            c: v for c, v in per_commune.items() if v[1]
        }
        assert (await client.get(f"/dashboards/?{query}&format=pdf")).status_code == 400
        assert (await client.get(f"/dashboards/?{query}&format=csv&table=nope")).status_code == 400

        # English
        en = (await client.get(f"/dashboards/?{query}&lang=en")).text
        assert "The province&#39;s health at a glance" in en or "The province's health at a glance" in en

    run(scenario)


def test_an_indicators_trend_and_rows(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, demo: DashboardProvince) -> None:
        from senhealth.analytics.indicators import parse_period
        from senhealth.web.views.dashboard_data import last_periods

        await officer(client, demo)
        query = f"period={demo.period}&province={PROVINCE}"
        r = await client.get(f"/dashboards/indicators/visits-by-level?{query}")
        assert r.status_code == 200, r.text[:500]
        assert '<svg class="sparkline trend-chart"' in r.text
        trend = read_csv(
            (
                await client.get(f"/dashboards/indicators/visits-by-level?{query}&format=csv&table=trend")
            ).content
        )
        periods = [p.id for p in last_periods(parse_period(demo.period))]
        assert [t["period"] for t in trend] == periods and len(periods) == 12
        for t in trend:  # each period equals the library computed for it
            assert (
                int(t["numerator"]) == (await computed(demo, t["period"]))["visits-by-level"].total.numerator
            )
        assert sum(int(t["numerator"]) for t in trend) > 0
        rows = read_csv(
            (
                await client.get(f"/dashboards/indicators/visits-by-level?{query}&format=csv&table=rows")
            ).content
        )
        result = (await computed(demo))["visits-by-level"]
        assert [(x["key"], int(x["numerator"]), int(x["outpatient"])) for x in rows] == [
            (y.key, y.numerator, y.extra["outpatient"]) for y in result.rows
        ]
        # EMR adoption: rows are facilities and link to their page, keeping the period
        e = (await client.get(f"/dashboards/indicators/emr-adoption?{query}")).text
        station = demo.station
        assert (
            f'<a href="/dashboards/facility/{station["id"]}?period={demo.period}&amp;province={PROVINCE}">'
            in e
        )
        assert '<path class="area ' in e  # a map: it has a commune breakdown
        v = (await client.get(f"/dashboards/indicators/notifiable-incidence?{query}")).text
        assert '<path class="area ' not in v  # by disease: no map
        assert (await client.get(f"/dashboards/indicators/nope?{query}")).status_code == 404
        en = await client.get(f"/dashboards/indicators/emr-adoption?{query}&lang=en")
        assert en.status_code == 200 and "Share of encounters with a signed electronic record" in en.text

    run(scenario)


def test_drill_down_province_commune_facility(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, demo: DashboardProvince) -> None:
        await officer(client, demo)
        results = await computed(demo)
        station, code = demo.station, demo.station["identifier"][0]["value"]
        commune = unit_of(station, "commune")
        r = await client.get(f"/dashboards/communes/{commune}?period={demo.period}&province={PROVINCE}")
        assert r.status_code == 200, r.text[:500]
        link = f"/dashboards/facility/{station['id']}?period={demo.period}&amp;province={PROVINCE}"
        assert f'<a href="{link}">{code}</a>' in r.text
        orgs = facilities_of(demo.province.resources)
        in_commune = {o["identifier"][0]["value"] for o in orgs.values() if unit_of(o, "commune") == commune}
        emr = [x for x in results["emr-adoption"].rows if x.key in in_commune]
        cells = row_cells(r.text, "ind-emr-adoption")
        assert (as_int(cells["numerator"]), as_int(cells["denominator"])) == (
            sum(x.numerator for x in emr),
            sum(x.denominator or 0 for x in emr),
        )
        assert 'id="ind-notifiable-incidence"' not in r.text  # province-wide only

        f = await client.get(htmllib.unescape(link))
        assert f.status_code == 200, f.text[:500]
        row = next(x for x in results["emr-adoption"].rows if x.key == code)
        encounters = [
            e
            for e in month_encounters(demo.province)
            if e["serviceProvider"]["reference"] == f"Organization/{station['id']}"
        ]
        assert row.denominator == len(encounters)  # the library, against the resources
        cells = row_cells(f.text, "measure-emr-adoption")
        assert (
            (as_int(cells["numerator"]), as_int(cells["denominator"]))
            == (row.numerator, row.denominator)
            == (1, len(encounters))
        )
        assert as_int(row_cells(f.text, "measure-visits")["numerator"]) == len(encounters)
        assert as_int(row_cells(f.text, "measure-referrals-out")["numerator"]) == 1
        assert as_int(row_cells(f.text, "measure-referrals-in")["numerator"]) == 0
        tele = next(x for x in results["telemedicine-volume"].rows if x.key == code)
        assert as_int(row_cells(f.text, "measure-telemedicine-volume")["numerator"]) == tele.numerator >= 1
        trend = read_csv((await client.get(htmllib.unescape(link) + "&format=csv&table=trend")).content)
        assert trend[-1]["period"] == demo.period and int(trend[-1]["visits"]) == len(encounters)
        assert trend[-1]["emr-adoption"] == f"{1 / len(encounters):.4f}"
        xlsx = read_xlsx((await client.get(htmllib.unescape(link) + "&format=xlsx&table=summary")).content)
        assert [r[0] for r in xlsx[2:]] == ["emr-adoption", "visits", "referrals-out", "referrals-in",
                                            "telemedicine-volume", "dq-missing-personal-id"]  # fmt: skip
        # the hospital received the referral
        h = (await client.get(f"/dashboards/facility/{demo.hospital['id']}?period={demo.period}")).text
        assert as_int(row_cells(h, "measure-referrals-in")["numerator"]) == 1
        en = await client.get(f"/dashboards/communes/{commune}?period={demo.period}&lang=en")
        assert en.status_code == 200 and "<h1>Commune " in en.text and "Facilities in the commune" in en.text
        en = await client.get(htmllib.unescape(link) + "&lang=en")
        assert en.status_code == 200 and "Referrals received" in en.text
        assert (await client.get(f"/dashboards/facility/nope?period={demo.period}")).status_code == 404
        assert (await client.get(f"/dashboards/communes/99999?period={demo.period}")).status_code == 404

    run(scenario)


def test_the_14bct_page_and_its_downloads(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, demo: DashboardProvince) -> None:
        from pypdf import PdfReader

        from senhealth.analytics.reports import report_14bct
        from senhealth.core.db import get_pool

        await officer(client, demo)
        p = demo.province
        q = f"year={p.year}&month={p.month}&province={PROVINCE}"
        r = await client.get(f"/dashboards/reports/14bct?{q}")
        assert r.status_code == 200, r.text[:500]
        store = FhirStore(get_pool())
        report = await report_14bct(
            store.pool, p.year, p.month, PROVINCE, param_ids=await store.param_ids(), schema=p.schema
        )
        assert report.total["cases"] > 0 and report.total["deaths"] >= 3
        for row in report.rows:
            cells = row_cells(r.text, f"chapter-{row['chapter']}")
            assert (int(cells["cases"]), int(cells["deaths"])) == (row["cases"], row["deaths"])
        assert int(row_cells(r.text, "chapter-total")["cases"]) == report.total["cases"]
        rows = read_csv((await client.get(f"/dashboards/reports/14bct?{q}&format=csv")).content)
        assert next(x for x in rows if x["chapter"] == "TOTAL")["cases"] == str(report.total["cases"])
        x = await client.get(f"/dashboards/reports/14bct?{q}&format=xlsx")
        assert openpyxl.load_workbook(io.BytesIO(x.content)).sheetnames == ["14-BCT"]
        pdf = await client.get(f"/dashboards/reports/14bct?{q}&format=pdf")
        assert (
            pdf.headers["content-type"] == "application/pdf"
            and "attachment" in pdf.headers["content-disposition"]
        )
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "14/BCT" in text and str(report.total["cases"]) in text
        en = await client.get(f"/dashboards/reports/14bct?{q}&lang=en")
        assert en.status_code == 200 and "Form 14/BCT" in en.text
        assert (await client.get(f"/dashboards/reports/14bct?year={p.year}&month=13")).status_code == 400
        assert (await client.get(f"/dashboards/reports/14bct?{q}&format=doc")).status_code == 400

    run(scenario)


def test_who_may_see_the_dashboards(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, demo: DashboardProvince) -> None:
        station, q = demo.station["id"], f"period={demo.period}"
        r = await client.get(f"/dashboards/?{q}")
        assert r.status_code == 303 and r.headers["location"].startswith("/app/login")

        signed_in(client, demo, WORKER)
        for path in ("/dashboards/", f"/dashboards/facility/{station}", "/dashboards/reports/14bct",
                     "/dashboards/reports/scheduled", "/dashboards/indicators/emr-adoption"):  # fmt: skip
            r = await client.get(f"{path}?{q}")
            assert r.status_code == 403, path
        client.cookies.clear()

        signed_in(client, demo, ADMIN)
        r = await client.get(f"/dashboards/?{q}")
        assert r.status_code == 303 and r.headers["location"] == f"/dashboards/facility/{station}?{q}"
        own = await client.get(f"/dashboards/facility/{station}?{q}")
        assert own.status_code == 200 and "Bạn xem số liệu của cơ sở mình." in own.text
        assert "/dashboards/communes/" not in own.text  # no way up for an administrator
        assert (await client.get(f"/dashboards/facility/{demo.hospital['id']}?{q}")).status_code == 403
        assert (await client.get(f"/dashboards/facility/{station}?{q}&format=csv")).status_code == 200
        for path in (
            "/dashboards/reports/14bct",
            "/dashboards/indicators/emr-adoption",
            "/dashboards/communes/07210",
        ):
            assert (await client.get(f"{path}?{q}")).status_code == 403, path
        client.cookies.clear()

        signed_in(client, demo, OTHER_ADMIN)
        r = await client.get(f"/dashboards/facility/{station}?{q}")
        assert r.status_code == 403 and "chỉ xem được bảng điều khiển của cơ sở mình" in r.text
        client.cookies.clear()

        await officer(client, demo)
        for bad in ("period=2025-13", "period=abc", "province=9", "province=99"):
            assert (await client.get(f"/dashboards/?{bad}")).status_code == 400, bad

    run(scenario)
