"""The radiologist's pages over HTTP (in-process): the reading worklist (urgent first), the report page with the
viewer's data, the images through the WADO-RS proxy, the review signed with the doctor's certificate (a real
test PKI), refusals shown in the page's language, and who may open the pages."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from emr_web_support import TestPki, make_test_pki, text_of
from imaging_web_support import DOCTOR, FACILITY, HOSPITAL, arrive, install_imaging_web
from web_dataset import PASSWORD, seed
from web_support import csrf_of, sign_in

from senhealth.app import build_app
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.fhir import access
from senhealth.imaging.platform import uninstall_imaging


@pytest.fixture
def world(schema_url: str, tmp_path: Path) -> Iterator[tuple[Settings, TestPki]]:
    migrate(schema_url)
    settings = Settings(
        database_url=schema_url, data_dir=tmp_path, auth_required=True, facility_networks=["10.0.0.0/8"]
    )
    from senhealth.imaging.config import configure, get_config

    saved = get_config().model_dump()
    configure(storage_dir=tmp_path / "imaging")
    pki = make_test_pki(tmp_path, settings)
    try:
        pki.issue_user(DOCTOR, "BS. Trần Thị Bình", organization=HOSPITAL)
        pki.issue_organization(FACILITY, HOSPITAL)
        yield settings, pki
    finally:
        pki.close()
        uninstall_imaging()
        configure(**saved)
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)


def _viewer(html: str) -> dict[str, Any]:
    found = re.search(r'data-viewer="([^"]+)"', html)
    assert found, "no viewer on the page"
    data: dict[str, Any] = json.loads(unescape(found.group(1)))
    return data


def test_worklist_viewer_review_and_signature(world: tuple[Settings, TestPki]) -> None:
    settings, _ = world

    async def main() -> None:
        app = build_app(settings)
        install_imaging_web(app, settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as c:
                seeded = await seed(c, settings, with_clinical=False)
                reports = await arrive(c, settings)
                await scenario(c, seeded.totp, reports)

    async def scenario(c: httpx.AsyncClient, totp: dict[str, str], reports: dict[str, str]) -> None:
        # not signed in: to the sign-in page
        r = await c.get("/app/imaging/worklist")
        assert r.status_code == 303 and "/app/login" in r.headers["location"]
        r = await sign_in(c, DOCTOR, PASSWORD, totp_secret=totp[DOCTOR])
        assert r.status_code == 200

        # the worklist: urgent (the nodule) first, in Vietnamese by default, English on asking
        r = await c.get("/app/imaging/worklist")
        assert r.status_code == 200, r.text[:500]
        order = re.findall(r'data-report="([^"]+)" data-priority="([^"]+)"', r.text)
        assert order == [(reports["urgent"], "urgent"), (reports["routine"], "routine")]
        page = text_of(r.text)
        assert "Danh sách đọc phim" in page and "Nguyễn Văn An" in page and "Nghi có nốt" in page
        r = await c.get("/app/imaging/worklist?lang=en")
        assert "Reading worklist" in r.text and "suspected" in text_of(r.text)

        # the report page: the viewer's data (three frames, the overlay on the image it was made on)
        path = f"/app/imaging/reports/{reports['urgent']}"
        r = await c.get(path + "?lang=vi")
        assert r.status_code == 200, r.text[:500]
        data = _viewer(r.text)
        assert len(data["images"]) == 3 and [i["number"] for i in data["images"]] == [1, 2, 3]
        assert {i["lo"] for i in data["images"]} == {0} and {i["hi"] for i in data["images"]} == {4095}
        overlay = data["overlay"]
        assert overlay and overlay["target"] in {i["sop"] for i in data["images"]}
        assert "Sơ bộ (chưa được bác sĩ đọc)" in text_of(r.text)
        assert "Còn hiệu lực" in text_of(r.text)  # her certificate, checked now

        # images through the proxy: a frame at the viewport's size, the overlay; bad parameters refused
        first = data["images"][0]
        base = f"/app/imaging/wado/studies/{data['study']}/series/{first['series']}/instances/{first['sop']}"
        r = await c.get(
            base + "/frames/1/rendered", params={"window": "2047.5,4095,linear-exact", "viewport": "128,128"}
        )
        assert (
            r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"
        )
        r = await c.get(
            f"/app/imaging/wado/studies/{data['study']}/series/{overlay['series']}/instances/{overlay['sop']}"
            "/frames/1/rendered",
            params={"window": "127.5,255,linear-exact"},
        )
        assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
        assert (await c.get(base + "/frames/1/rendered", params={"window": "x"})).status_code == 400

        # a reject without the radiologist's words is refused, and the page says why
        form = {"csrf_token": csrf_of((await c.get(path)).text), "verdict": "reject", "conclusion": ""}
        r = await c.post(path + "/review", data=form)
        assert r.status_code in (400, 422), r.status_code
        assert 'id="errors"' in r.text and "bác bỏ" in text_of(r.text).lower()

        # accept and sign: the report is final, signed, read-only
        form = {"csrf_token": csrf_of(r.text), "verdict": "accept", "facility_signature": "1"}
        r = await c.post(path + "/review", data=form)
        assert r.status_code == 303, r.text[:800]
        r = await c.get(r.headers["location"])
        page = text_of(r.text)
        assert "Đã ký báo cáo cuối" in page and "Đã ký (chính thức)" in page
        assert "Chữ ký hợp lệ" in page and "BS. Trần Thị Bình" in page
        assert 'id="review-form"' not in r.text
        r = await c.get("/app/imaging/worklist")
        assert re.findall(r'data-report="([^"]+)"', r.text) == [reports["routine"]]

    asyncio.run(main())


def test_pages_are_for_doctors_only(world: tuple[Settings, TestPki]) -> None:
    settings, _ = world

    async def main() -> None:
        app = build_app(settings)
        install_imaging_web(app, settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:
                await seed(c, settings, with_clinical=False)
                await sign_in(c, "dd.lan", PASSWORD)
                r = await c.get("/app/imaging/worklist")
                assert r.status_code == 403 and "bác sĩ đọc phim" in text_of(r.text)
                r = await c.get("/app/imaging/worklist?lang=en")
                assert r.status_code == 403 and "radiologists" in text_of(r.text)

    asyncio.run(main())
