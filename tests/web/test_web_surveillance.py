"""The CDC's pages in-process over the assembled platform (surveillance_web_support's synthetic province):
the alert inbox (columns, filters, overdue), one alert (the detector's numbers, the epidemic curve's numbers
equal to ``weekly_series`` and ``channel_table``, its history), every step through the forms calling the FHIR
operations as the user (and their refusals shown), the map (numbers equal to the series and the population,
its GeoJSON), the line list (CSV equal to ``line_list``, audited), the bulletin PDF (its text read with
pypdf), and who may open what (CDC officer, provincial officer read-only, a doctor refused, no session).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from surveillance_web_support import (
    DOCTOR,
    EAST,
    LAN,
    MINH,
    OFFICER,
    PASSWORD,
    PROVINCE,
    WEEK,
    WEST,
    Seeded,
    install_surveillance,
    seed_surveillance,
)
from web_support import csrf_of, sign_in

from senhealth.core.config import Settings

Scenario = Callable[[httpx.AsyncClient, Seeded], Awaitable[Any]]


@pytest.fixture
def run(web_settings: Settings) -> Callable[[Scenario], Any]:
    from senhealth.app import build_app
    from senhealth.web import install_web

    def runner(scenario: Scenario) -> Any:
        async def main() -> Any:
            app = build_app(web_settings)
            install_web(app, web_settings)
            install_surveillance(app)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://test", timeout=120
                ) as client:
                    seeded = await seed_surveillance(client, web_settings)
                    return await scenario(client, seeded)

        return asyncio.run(main())

    return runner


def _text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, element_id
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def _column(html: str, key: str) -> str:
    return html.split(f'id="col-{key}"')[1].split("</section>")[0]


async def _post(client: httpx.AsyncClient, alert: str, action: str, data: dict[str, str]) -> httpx.Response:
    page = await client.get(f"/app/surveillance/alerts/{alert}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    fields = {"csrf_token": csrf_of(page.text), **({"version": version.group(1)} if version else {}), **data}
    return await client.post(f"/app/surveillance/alerts/{alert}/{action}", data=fields, follow_redirects=True)


def test_the_inbox_an_alert_and_its_curve(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, seeded: Seeded) -> None:
        from senhealth.core.db import transaction
        from senhealth.surveillance.detectors.endemic_channel import channel_table
        from senhealth.surveillance.series import weekly_series

        await sign_in(client, LAN, PASSWORD)
        r = await client.get("/app/surveillance")
        assert r.status_code == 200, r.text[:500]
        html = r.text
        assert "style=" not in html
        assert "Hộp cảnh báo dịch" in html
        assert seeded.dengue_alert in _column(html, "signal") and seeded.measles_alert in _column(
            html, "signal"
        )
        assert "data-alert" not in _column(html, "verification")
        assert _text(html, "open-count") == "2 cảnh báo đang mở, 0 quá hạn"
        only = (await client.get("/app/surveillance?disease=measles")).text
        assert seeded.measles_alert in only and seeded.dengue_alert not in only
        only = (await client.get(f"/app/surveillance?area={EAST[0]}&lang=en")).text
        assert (
            seeded.dengue_alert in only
            and seeded.measles_alert not in only
            and "Outbreak alert inbox" in only
        )
        assert seeded.dengue_alert in (await client.get(f"/app/surveillance?area={PROVINCE}")).text

        page = (await client.get(f"/app/surveillance/alerts/{seeded.dengue_alert}?lang=vi")).text
        assert _text(page, "det-observed") == "3" and _text(page, "det-upperbound") == "2,2"
        assert _text(page, "det-expected") == "1,4" and _text(page, "det-method") == "ears-c2"
        assert '<svg class="epi-curve"' in page and 'class="channel"' in page and 'class="threshold"' in page
        assert 'class="bar alert-week" data-week="2026-W07" data-cases="3"' in page
        # the curve's numbers are the series' and the endemic channel's
        async with transaction() as conn:
            series = await weekly_series(
                conn, "dengue", start=dt.date(2020, 12, 28), end=dt.date(2026, 12, 28), commune=EAST[0]
            )
        weeks = [(w.week_start.isocalendar().year, w.week_start.isocalendar().week) for w in series]
        start = weeks.index((2026, 1))
        channel = channel_table(
            [w.count for w in series], year_start=start, b=5, w=1, k=2.0, method="meansd", weeks=weeks
        )
        rows = dict(re.findall(r'<tr data-week="(2026-W\d\d)"[^>]*>(.*?)</tr>', page, re.S))
        assert len(rows) == 53  # 2026 has 53 ISO weeks
        for label in ("2026-W05", "2026-W07", "2026-W30"):
            cells = re.findall(r'<td class="num">([^<]*)</td>', rows[label])
            at = weeks.index((2026, int(label[-2:]))) - start
            assert cells[0] == str(series[start + at].count), label
            assert cells[2] == f"{channel.centre[at]:.1f}".replace(".", ",").removesuffix(",0"), label
            assert cells[3] == f"{channel.upper[at]:.1f}".replace(".", ",").removesuffix(",0"), label
        assert re.findall(r'<td class="num">([^<]*)</td>', rows["2026-W07"])[0] == "3"
        assert re.findall(r'<td class="num">([^<]*)</td>', rows["2026-W05"])[0] == "1"
        # history: the signal's version, by the system
        assert 'data-version="1" data-step="signal"' in page and "Tín hiệu mới: 3 ca" in page

    run(scenario)


def test_every_step_through_the_forms_and_the_refusals(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, seeded: Seeded) -> None:
        from senhealth.core.db import get_pool
        from senhealth.fhir.store import FhirStore
        from senhealth.surveillance.alerts import alert_history, read_alert

        alert = seeded.dengue_alert
        store = FhirStore(get_pool())
        await sign_in(client, LAN, PASSWORD)
        r = await _post(client, alert, "triage", {"decision": "verify", "note": "Cụm ca ở tổ dân phố 3"})
        assert r.status_code == 200 and r.url.path == f"/app/surveillance/alerts/{alert}", r.text[:300]
        assert _text(r.text, "step-done") == "Đã ghi nhận: Đã sàng lọc, chờ phân công."
        assert (await read_alert(store, alert)).step.value == "triaged"

        # a form older than the alert: 409, nothing called
        page = await client.get(f"/app/surveillance/alerts/{alert}")
        stale = await client.post(
            f"/app/surveillance/alerts/{alert}/assign",
            data={"csrf_token": csrf_of(page.text), "version": "1", "owner": "Practitioner/cdc-lan"},
        )
        assert stale.status_code == 409 and "vừa được người khác cập nhật" in _text(stale.text, "step-error")
        # a bad due time, then an operation refusal (due in the past) shown with its status
        bad = await _post(client, alert, "assign", {"owner": "Practitioner/cdc-minh", "due": "ngày mai"})
        assert bad.status_code == 400 and _text(bad.text, "step-error") == "Hạn không hợp lệ."
        past = await _post(
            client, alert, "assign", {"owner": "Practitioner/cdc-minh", "due": "2020-01-01T08:00"}
        )
        assert past.status_code == 400 and "due must be in the future" in _text(past.text, "step-error")

        due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=7)))
        r = await _post(
            client, alert, "assign", {"owner": "Practitioner/cdc-minh", "due": due.strftime("%Y-%m-%dT%H:%M")}
        )
        assert r.status_code == 200 and (await read_alert(store, alert)).owner == "Practitioner/cdc-minh"
        assert 'id="not-owner"' in r.text and 'id="form-verify"' not in r.text  # Lan is not the assignee
        refused = await _post(client, alert, "verify", {"outcome": "confirmed", "note": "Lan thử xác minh"})
        assert refused.status_code == 403 and "(403)" in _text(refused.text, "step-error")
        client.cookies.clear()

        await sign_in(client, MINH, PASSWORD)
        inbox = (await client.get("/app/surveillance")).text
        assert alert in _column(inbox, "verification")
        no_note = await _post(client, alert, "verify", {"outcome": "confirmed"})
        assert no_note.status_code == 400 and "(400)" in _text(no_note.text, "step-error")
        r = await _post(
            client, alert, "verify", {"outcome": "confirmed", "note": "Đã điều tra: 3 ca NS1 dương tính"}
        )
        assert r.status_code == 200 and (await read_alert(store, alert)).step.value == "event"
        r = await _post(
            client, alert, "respond", {"action": "Phun hóa chất diệt muỗi tổ 3", "note": "Đội cơ động"}
        )
        assert r.status_code == 200 and "Phun hóa chất diệt muỗi tổ 3" in r.text
        action = re.search(r'data-action="([^"]+)" data-status="requested"', r.text)
        assert action
        early = await _post(client, alert, "close", {"reason": "event-over", "note": "Hết ca mới"})
        assert early.status_code == 409 and "Còn hành động đáp ứng chưa xong" in _text(
            early.text, "step-error"
        )
        r = await _post(
            client, alert, "respond", {"actionTask": f"Task/{action.group(1)}", "status": "completed"}
        )
        assert r.status_code == 200 and f'data-action="{action.group(1)}" data-status="completed"' in r.text
        r = await _post(client, alert, "close", {"reason": "event-over", "note": "Hai tuần không có ca mới"})
        assert r.status_code == 200 and (await read_alert(store, alert)).step.value == "closed"
        steps = re.findall(r'data-version="(\d+)" data-step="(\w+)"', r.text)
        assert [s for _, s in steps] == [
            "signal", "triaged", "verification", "event", "response", "response", "closed",
        ]  # fmt: skip
        assert [int(v) for v, _ in steps] == [a.version for a in await alert_history(store, alert)]
        assert "[verify: confirmed] Đã điều tra: 3 ca NS1 dương tính" in r.text and "Lê Văn Minh" in r.text
        assert 'id="form-close"' not in r.text and "Sự kiện đã kết thúc" in r.text
        inbox = (await client.get("/app/surveillance")).text
        assert alert not in inbox and seeded.measles_alert in inbox

    run(scenario)


def test_who_may_open_the_pages(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, seeded: Seeded) -> None:
        pages = [
            "/app/surveillance",
            f"/app/surveillance/alerts/{seeded.dengue_alert}",
            "/app/surveillance/map",
            "/app/surveillance/map.geojson",
            "/app/surveillance/line-list",
            f"/app/surveillance/bulletin?week={WEEK}",
        ]
        for path in pages:
            r = await client.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/app/login"), path
        await sign_in(client, DOCTOR, PASSWORD)
        for path in pages:
            assert (await client.get(path)).status_code == 403, path
        client.cookies.clear()

        await sign_in(client, OFFICER, PASSWORD, totp_secret=seeded.totp[OFFICER])
        for path in pages:
            expected = 403 if "line-list" in path else 200
            assert (await client.get(path)).status_code == expected, path
        page = (await client.get(f"/app/surveillance/alerts/{seeded.dengue_alert}")).text
        assert '<form method="post" action="/app/surveillance/alerts' not in page
        assert "Bạn chỉ xem" in page
        r = await _post(client, seeded.dengue_alert, "triage", {"decision": "verify"})
        assert r.status_code == 403 and "(403)" in _text(r.text, "step-error")  # the operation refuses
        assert (await client.get("/app/surveillance/alerts/sig-nope")).status_code == 404

    run(scenario)


def test_the_map_and_its_geojson(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, seeded: Seeded) -> None:
        from senhealth.core.db import transaction
        from senhealth.core.geo import province_map
        from senhealth.surveillance.series import population, weekly_series

        await sign_in(client, LAN, PASSWORD)
        r = await client.get(f"/app/surveillance/map?disease=dengue&weeks=4&end={WEEK}")
        assert r.status_code == 200, r.text[:500]
        html = r.text
        assert "style=" not in html and 'data-geojson="/app/surveillance/map.geojson?' in html
        assert html.count('<path class="area ') == len(province_map(PROVINCE).communes) == 99
        async with transaction() as conn:
            for code in (EAST[0], WEST[0]):
                series = await weekly_series(
                    conn, "dengue", start=dt.date(2026, 1, 19), end=dt.date(2026, 2, 9), commune=code
                )
                cases = sum(w.count for w in series)
                people = await population(conn, 2026, commune=code)
                assert people is not None
                row = html.split(f'id="row-{code}"')[1].split("</tr>")[0]
                assert f'<td class="num cases">{cases}</td>' in row
                assert f'<td class="num population">{people}</td>' in row
                rate = f"{cases * 100_000 / people:.1f}".replace(".", ",").removesuffix(",0")
                assert row.split('class="num rate">')[1].split("</td>")[0].endswith(rate)
        assert 'class="area q2 signal" data-code="07210"' in html  # 3 + 0 + 1 + 0 in 4 weeks: 16 / 100,000
        assert (
            'class="signal-marker" data-code="07210"' in html
            and 'class="signal-marker" data-code="07228"' in html
        )
        nodata = next(c.code for c in province_map(PROVINCE).communes if c.code not in (EAST[0], WEST[0]))
        assert f'class="area nodata" data-code="{nodata}"' in html

        g = (
            await client.get(f"/app/surveillance/map.geojson?disease=dengue&weeks=4&end={WEEK}&lang=en")
        ).json()
        assert g["type"] == "FeatureCollection" and len(g["features"]) == 99
        east = next(f for f in g["features"] if f["id"] == EAST[0])
        assert east["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert east["properties"]["signal"] is True and east["properties"]["cases"] == 4
        assert east["properties"]["rate"] == 16.0 and east["properties"]["class"] == "q2"
        assert east["properties"]["alerts"][0]["href"] == f"/app/surveillance/alerts/{seeded.dengue_alert}"
        assert east["properties"]["title"] == "Phường Bắc Giang: 16 / 100,000 (4 cases)"
        for bad in ("disease=nope", "weeks=0", "weeks=x", "end=2026-X1", "province=99"):
            assert (await client.get(f"/app/surveillance/map?{bad}")).status_code == 400, bad

    run(scenario)


def test_the_line_list_and_its_csv(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, seeded: Seeded) -> None:
        from senhealth.core.db import transaction
        from senhealth.surveillance.cases import line_list
        from senhealth.web.views.surveillance_linelist import CSV_FIELDS, csv_row

        await sign_in(client, LAN, PASSWORD)
        r = await client.get("/app/surveillance/line-list?disease=dengue")
        assert r.status_code == 200, r.text[:500]
        assert _text(r.text, "line-count") == "5 ca" and r.text.count('<tr data-case="') == 5
        assert "Nhiều người sốt cao trong cùng một xóm" in r.text  # the community signal beside it
        c = await client.get("/app/surveillance/line-list?disease=dengue&format=csv")
        assert (
            c.headers["content-type"].startswith("text/csv")
            and "attachment" in c.headers["content-disposition"]
        )
        got = list(csv.reader(io.StringIO(c.text.lstrip("\ufeff"))))
        async with transaction() as conn:
            lines = await line_list(conn, "dengue")
            assert got[0] == list(CSV_FIELDS)
            assert got[1:] == [csv_row(line) for line in lines] and len(lines) == 5
            filtered = await line_list(conn, "dengue", commune=EAST[0], start=dt.date(2026, 2, 9))
            cur = await conn.execute(
                "SELECT count(*) FROM audit_event WHERE query LIKE 'surveillance-line-list%%'"
            )
            row = await cur.fetchone()
            assert row is not None and row[0] >= 2  # the page and the CSV, each audited
        f = await client.get(
            f"/app/surveillance/line-list?disease=dengue&commune={EAST[0]}&start=2026-02-09&format=csv"
        )
        rows = list(csv.reader(io.StringIO(f.text.lstrip("\ufeff"))))[1:]
        assert rows == [csv_row(line) for line in filtered] and len(rows) == 3
        assert {r[CSV_FIELDS.index("patient")] for r in rows} == {"sxh-1", "sxh-2", "sxh-3"}
        assert (await client.get("/app/surveillance/line-list?start=hôm-qua")).status_code == 400

    run(scenario)


def test_the_weekly_bulletin_pdf(run: Callable[[Scenario], Any]) -> None:
    async def scenario(client: httpx.AsyncClient, seeded: Seeded) -> None:
        from pypdf import PdfReader

        from senhealth.core.db import transaction
        from senhealth.web.views.surveillance_data import curve

        await sign_in(client, LAN, PASSWORD)
        r = await client.get(f"/app/surveillance/bulletin?week={WEEK}&province={PROVINCE}")
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text[:300]
        assert r.content.startswith(b"%PDF")
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
        flat = re.sub(r"\s+", " ", text)
        assert "Bản tin giám sát bệnh truyền nhiễm tuần 2026-W07" in flat
        async with transaction() as conn:
            dengue = await curve(conn, "dengue", PROVINCE, 2026, through=dt.date(2026, 2, 9))
        at = dengue.row(WEEK)
        assert at is not None and dengue.centre is not None and dengue.upper is not None
        mean = f"{dengue.centre[at]:.1f}".replace(".", ",").removesuffix(",0")
        upper = f"{dengue.upper[at]:.1f}".replace(".", ",").removesuffix(",0")
        above = "Có" if dengue.upper[at] < 4 else "Không"
        # dengue this week in the province: 3 (Bắc Giang) + 1 (Đa Mai); the last 4 weeks: + 1 in W05
        assert f"Sốt xuất huyết Dengue 4 {mean} {upper} {above} 5" in flat, flat[:1500]
        assert "Bệnh sởi 1 " in flat  # measles: 1 case, no history (no channel)
        assert "Phường Bắc Giang" in flat and "ears-c2" in flat and "farrington-flexible" in flat
        en = await client.get(f"/app/surveillance/bulletin?week={WEEK}&lang=en")
        flat_en = re.sub(
            r"\s+", " ", "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(en.content)).pages)
        )
        assert "surveillance bulletin, week 2026" in flat_en and "Feb 9, 2026 to Feb 15, 2026" in flat_en
        assert (await client.get("/app/surveillance/bulletin?week=2026-W99")).status_code == 400

    run(scenario)
