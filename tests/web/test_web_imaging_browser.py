"""The radiologist in a real browser: Playwright driving Debian's Chromium against one uvicorn server (its own
process, real HTTP on loopback), a real test PKI (CA, OCSP and timestamp authority on loopback).

Two synthetic chest studies arrived by STOW-RS and the job worker ran the demonstration model (during the
set-up, through the same platform). The doctor signs in, opens the reading worklist (the urgent study
first), opens the study in the viewer, toggles the AI overlay (the canvas changes), drags window/level (the
numbers and the canvas change), scrolls through the frames with the wheel and the keyboard, zooms, accepts
the AI's finding and signs the final report with her certificate; the report is final and its signature
valid. Screenshots go to ``docs/img/web/`` when ``SENHEALTH_WEB_SCREENSHOTS=1``.

Playwright for Python: https://playwright.dev/python/docs/api/class-page
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pyotp
import pytest
from imaging_web_support import DOCTOR, FACILITY, HOSPITAL, arrive, install_imaging_web
from playwright.sync_api import Browser, Page, expect
from psycopg import sql
from psycopg.conninfo import make_conninfo
from web_dataset import PASSWORD, Seeded, seed

from senhealth.app import build_app
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.fhir import access
from senhealth.imaging.platform import uninstall_imaging

CHROMIUM = "/usr/bin/chromium"
WEB_TESTS = Path(__file__).resolve().parent
DOCS_SHOTS = WEB_TESTS.parents[1] / "docs" / "img" / "web"
pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's Chromium is not installed"),
    pytest.mark.xdist_group("browser"),
]

CHECKSUM = """() => {
  const c = document.getElementById('viewer-canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0, red = 0;
  for (let i = 0; i < d.length; i += 4) { s += d[i + 1]; if (d[i] > d[i + 1] + 40) red++; }
  return [s, red];
}"""


@dataclass
class Live:
    url: str
    seeded: Seeded
    reports: dict[str, str]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from emr_web_support import make_test_pki

    schema = f"test_imaging_web_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    migrate(url)
    data_dir = tmp_path_factory.mktemp("imaging-web")
    settings = Settings(
        database_url=url, data_dir=data_dir, auth_required=True, facility_networks=["127.0.0.0/8"]
    )
    pki = make_test_pki(data_dir, settings)
    pki.issue_user(DOCTOR, "BS. Trần Thị Bình", organization=HOSPITAL)
    pki.issue_organization(FACILITY, HOSPITAL)

    async def seeding() -> tuple[Seeded, dict[str, str]]:
        app = build_app(settings)
        install_imaging_web(app, settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://seed", timeout=120) as client:
                seeded = await seed(client, settings, with_clinical=False)
                return seeded, await arrive(client, settings)

    server: subprocess.Popen[bytes] | None = None
    try:
        seeded, reports = asyncio.run(seeding())
        uninstall_imaging()
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)
        port = _free_port()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(WEB_TESTS), os.environ.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
            "SENHEALTH_DATABASE_URL": url,
            "SENHEALTH_DATA_DIR": str(data_dir),
            "SENHEALTH_AUTH_REQUIRED": "true",
            "SENHEALTH_FACILITY_NETWORKS": '["127.0.0.0/8"]',
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "imaging_web_support:build_imaging_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield Live(f"http://127.0.0.1:{port}", seeded, reports)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        pki.close()
        uninstall_imaging()
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _shot(page: Page, name: str, tmp: Path) -> None:
    folder = DOCS_SHOTS if os.environ.get("SENHEALTH_WEB_SCREENSHOTS") == "1" else tmp
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _checksum(page: Page) -> tuple[int, int]:
    s, red = page.evaluate(CHECKSUM)
    return int(s), int(red)


def test_radiologist_reads_in_the_viewer_and_signs(browser: Browser, live: Live, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 950}, locale="vi-VN", base_url=live.url)
    page = context.new_page()
    try:
        page.goto("/app/login")
        page.fill("#username", DOCTOR)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/app/login/totp")
        page.fill("#code", pyotp.TOTP(live.seeded.totp[DOCTOR]).now())
        page.click("button[type=submit]")
        page.wait_for_url("**/app/patients")

        # the worklist: the study the AI finds likely abnormal comes first
        page.goto("/app/imaging/worklist")
        rows = page.locator("tr.worklist-row")
        expect(rows).to_have_count(2)
        expect(rows.first).to_have_attribute("data-report", live.reports["urgent"])
        expect(rows.first).to_contain_text("Khẩn")
        _shot(page, "imaging-01-danh-sach-doc-phim", tmp_path)
        rows.first.locator("a").click()
        page.wait_for_url(f"**/app/imaging/reports/{live.reports['urgent']}")

        viewer = page.locator("#viewer")
        expect(viewer).to_have_attribute("data-ready", "1", timeout=20_000)
        expect(viewer).to_have_attribute("data-overlay", "on", timeout=20_000)
        # it opens on the image the AI flagged (the one its Segmentation was made on)
        target = page.evaluate("() => window.senhealthViewer.data.overlay.target")
        shown = int(viewer.get_attribute("data-index") or -1)
        assert page.evaluate(f"() => window.senhealthViewer.images[{shown}].img.sop") == target
        with_overlay = _checksum(page)
        assert with_overlay[1] > 50, with_overlay  # the AI's region drawn in red on the image it was made on

        # the overlay off (keyboard) and on again (button)
        viewer.focus()
        page.keyboard.press("o")
        expect(viewer).to_have_attribute("data-overlay", "off")
        without = _checksum(page)
        assert without[1] < with_overlay[1] // 10, (with_overlay, without)
        _shot(page, "imaging-02-vien-xem-anh", tmp_path)
        page.click("#viewer-overlay")
        expect(viewer).to_have_attribute("data-overlay", "on")
        expect(page.locator("#viewer-overlay")).to_have_attribute("aria-pressed", "true")

        # window/level by dragging: narrower and brighter, then a preset
        wc, ww = viewer.get_attribute("data-wc"), viewer.get_attribute("data-ww")
        before = _checksum(page)
        box = page.locator("#viewer-canvas").bounding_box()
        assert box is not None
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx - 60, cy - 40, steps=6)
        page.mouse.up()
        assert viewer.get_attribute("data-ww") != ww and viewer.get_attribute("data-wc") != wc
        assert int(viewer.get_attribute("data-ww") or 0) < int(ww or 0)
        after = _checksum(page)
        assert after[0] != before[0]
        expect(page.locator("#viewer-wl")).to_contain_text("W ")
        page.click("#preset-2")  # full range
        expect(viewer).to_have_attribute("data-ww", "4095")

        # scrolling: the wheel and the keyboard, through the three frames
        viewer.focus()
        page.keyboard.press("Home")
        expect(page.locator("#viewer-frame")).to_have_text("1 / 3")
        expect(viewer).to_have_attribute("data-ready", "1", timeout=20_000)
        page.mouse.move(cx, cy)
        page.mouse.wheel(0, 120)
        expect(viewer).to_have_attribute("data-index", "1")
        expect(viewer).to_have_attribute("data-ready", "1", timeout=20_000)
        viewer.focus()
        page.keyboard.press("ArrowDown")
        expect(page.locator("#viewer-frame")).to_have_text("3 / 3")
        expect(viewer).to_have_attribute("data-ready", "1", timeout=20_000)
        page.keyboard.press("ArrowUp")
        expect(viewer).to_have_attribute("data-index", "1")

        # zoom, then reset
        page.click("#viewer-zoom-in")
        expect(viewer).to_have_attribute("data-zoom", "125")
        page.keyboard.press("r")
        expect(viewer).to_have_attribute("data-zoom", "100")

        # accept the AI's finding and sign with her certificate
        expect(page.locator(".certificate.valid").first).to_contain_text("BS. Trần Thị Bình")
        page.check("#verdict-accept")
        page.click("#review-submit")
        page.wait_for_url("**?signed=1", timeout=60_000)
        expect(page.locator("#notice")).to_contain_text("Đã ký báo cáo cuối")
        expect(page.locator("#report-status")).to_have_text("Đã ký (chính thức)")
        expect(page.locator("#signature-state")).to_have_text("Chữ ký hợp lệ")
        expect(page.locator("#interpreter")).to_contain_text("BS. Trần Thị Bình")
        expect(page.locator("#review-form")).to_have_count(0)
        _shot(page, "imaging-03-bao-cao-da-ky", tmp_path)

        page.goto("/app/imaging/worklist")
        expect(page.locator("tr.worklist-row")).to_have_count(1)
    finally:
        context.close()
