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

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import live_web_support as live_web
import pytest
from imaging_web_support import DOCTOR, FACILITY, HOSPITAL, arrive, install_imaging_web
from playwright.sync_api import Browser, Page, expect
from web_dataset import PASSWORD, Seeded, seed

from senhealth.imaging.platform import uninstall_imaging

WEB_TESTS = Path(__file__).resolve().parent
DOCS_SHOTS = WEB_TESTS.parents[1] / "docs" / "img" / "web"
pytestmark = live_web.BROWSER_MARKS

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


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from emr_web_support import make_test_pki

    data_dir = tmp_path_factory.mktemp("imaging-web")
    with live_web.scratch_platform(database_url, "test_imaging_web", data_dir) as settings:
        pki = make_test_pki(data_dir, settings)
        pki.issue_user(DOCTOR, "BS. Trần Thị Bình", organization=HOSPITAL)
        pki.issue_organization(FACILITY, HOSPITAL)

        async def seeding(client: httpx.AsyncClient) -> tuple[Seeded, dict[str, str]]:
            seeded = await seed(client, settings, with_clinical=False)
            return seeded, await arrive(client, settings)

        try:
            seeded, reports = live_web.seed_platform(
                settings, seeding, prepare=lambda app: install_imaging_web(app, settings), timeout=120
            )
            uninstall_imaging()
            factory = "imaging_web_support:build_imaging_app"
            with live_web.serve(factory, settings, [WEB_TESTS]) as base:
                yield Live(base, seeded, reports)
        finally:
            pki.close()
            uninstall_imaging()


def _shot(page: Page, name: str, tmp: Path) -> None:
    folder = DOCS_SHOTS if os.environ.get("SENHEALTH_WEB_SCREENSHOTS") == "1" else tmp
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _checksum(page: Page) -> tuple[int, int]:
    s, red = page.evaluate(CHECKSUM)
    return int(s), int(red)


def test_radiologist_reads_in_the_viewer_and_signs(browser: Browser, live: Live, tmp_path: Path) -> None:
    with live_web.browser_page(browser, live.url, 1200, 950) as page:
        live_web.sign_in(page, DOCTOR, PASSWORD, totp_secret=live.seeded.totp[DOCTOR])

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
