"""The pages in a real browser: Playwright driving Debian's Chromium against one uvicorn server (real
HTTP on a loopback port), in Vietnamese. Sign-in with two-factor, patient search and chart, the
duplicate-review queue, emergency access (break-the-glass) to another facility's patient and its early
end, the citizen portal (record, a consent change checked through the FHIR API, and
"who viewed my record" showing the doctor's visit). Screenshots go to ``docs/img/web/``.

The scenarios follow one another on the doctor's page (a TOTP code is single-use), so the module runs in
one test process (``xdist_group``; ``make test`` distributes with ``--dist loadgroup``).

Playwright for Python: https://playwright.dev/python/docs/api/class-page ; the browser is the
system's Chromium (``/usr/bin/chromium``), never a downloaded one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import live_web_support as live_web
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from web_dataset import PASSWORD, Seeded, seed, system_token

from senhealth.core.config import Settings

DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img" / "web"
# The screenshots of docs/web.md are refreshed only when asked (SENHEALTH_WEB_SCREENSHOTS=1), so that an
# ordinary test run leaves the committed images alone; otherwise they go to a temporary directory.
SHOTS: list[Path] = []
pytestmark = live_web.BROWSER_MARKS


class Live:
    def __init__(self, url: str, settings: Settings, seeded: Seeded) -> None:
        self.url = url
        self.settings = settings
        self.seeded = seeded


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    # inside the facility network: two-factor only for those who enrolled or must
    with live_web.scratch_platform(database_url, "test_web", tmp_path_factory.mktemp("web")) as settings:

        async def seeding(client: httpx.AsyncClient) -> Seeded:
            return await seed(client, settings, with_clinical=True)

        seeded = live_web.seed_platform(settings, seeding)
        # The server runs in its own process, as `senhealth serve` does: the process-wide pool, policy and
        # audit sink of the tests running beside it in this process cannot touch it.
        with live_web.serve("senhealth.app:build_app", settings) as base:
            yield Live(base, settings, seeded)


@pytest.fixture(scope="module", autouse=True)
def _shots(tmp_path_factory: pytest.TempPathFactory) -> None:
    SHOTS[:] = [
        DOCS_SHOTS if os.environ.get("SENHEALTH_WEB_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("shots")
    ]


def _sign_in(page: Page, live: Live, username: str, *, shots: bool = False) -> None:
    """Password, then the TOTP code computed from the account's enrolled secret."""
    page.goto("/app/login")
    assert page.locator("h1").inner_text() == "Đăng nhập"
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    if shots:
        shot(page, "01-dang-nhap")
    page.click("button[type=submit]")
    page.wait_for_url("**/app/login/totp")
    assert "Mã xác thực hai lớp" in page.locator("h1").inner_text()
    page.fill("#code", pyotp.TOTP(live.seeded.totp[username]).now())
    if shots:
        shot(page, "02-ma-xac-thuc")
    page.click("button[type=submit]")
    page.wait_for_url("**/app/patients")
    assert "Tìm người bệnh" in page.content()


@pytest.fixture(scope="module")
def doctor(browser: Browser, live: Live) -> Iterator[Page]:
    """The provincial hospital doctor's tablet, signed in once (a TOTP code is single-use); each scenario
    starts from its own address, so that they do not depend on one another's order."""
    with live_web.browser_page(browser, live.url, 1024, 768) as page:
        _sign_in(page, live, "bs.binh")
        yield page


def shot(page: Page, name: str, *, full: bool = False) -> None:
    SHOTS[0].mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS[0] / f"{name}.png"), full_page=full)


def test_sign_in_with_two_factor(browser: Browser, live: Live) -> None:
    with live_web.browser_page(browser, live.url, 1024, 768) as page:
        page.goto("/app/patients")
        page.wait_for_url("**/app/login**")  # not signed in: sent to the sign-in page
        _sign_in(page, live, "bs.hoa", shots=True)


def test_patient_search_by_name_without_diacritics_and_by_personal_id(doctor: Page) -> None:
    page = doctor
    page.goto("/app/patients")
    page.fill("#q", "nguyen van an")
    page.fill("#year", "1980")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("#results .result")
    results = page.locator("#results").inner_text()
    assert "Nguyễn Văn An" in results and "Lê Thị Hoa" not in results
    shot(page, "03-tim-nguoi-benh")
    page.fill("#q", "001080012345")
    page.fill("#year", "")
    page.click("form.search button[type=submit]")
    expect(page.locator("#results .result")).to_have_count(1)
    assert "001080012345" in page.locator("#results").inner_text()


def test_chart_shows_the_sections(doctor: Page) -> None:
    page = doctor
    page.goto("/app/patients?q=nguyen+van+an&year=1980")
    page.click("#results .result a")
    page.wait_for_url("**/app/patients/p-an")
    for heading in (
        "Lượt khám chữa bệnh",
        "Bệnh",
        "Chỉ số sinh tồn và xét nghiệm",
        "Thuốc",
        "Dị ứng",
        "Tiêm chủng",
        "Tài liệu",
    ):
        assert page.locator("h2", has_text=heading).count() >= 1, heading
    body = page.inner_text("main")
    for text in (
        "Tăng huyết áp vô căn",
        "Amlodipin 5 mg",
        "Penicillin",
        "Vắc xin cúm mùa",
        "130/82 mmHg",
        "Khám ngoại trú",
    ):
        assert text in body, text
    assert page.locator("svg.chart").count() >= 3  # blood pressure, weight, glucose
    shot(page, "04-ho-so-benh-an", full=True)


def test_review_queue_decides_a_pair(doctor: Page) -> None:
    page = doctor
    page.goto("/app/patients")
    page.click("nav >> text=Rà soát hồ sơ trùng")
    page.wait_for_url("**/app/review")
    pair = page.locator("section.pair").first
    assert "Nguyễn Văn Ân" in pair.inner_text() and "Nguyễn Văn An" in pair.inner_text()
    shot(page, "05-ra-soat-trung")
    pair.locator("button[value=distinct]").click()
    page.wait_for_selector("section.decided")
    assert "hai người khác nhau" in page.inner_text("section.decided")


def test_emergency_access_to_another_facility_patient(doctor: Page) -> None:
    page = doctor
    page.goto("/app/patients?q=le+thi+hoa")
    assert "Lê Thị Hoa" not in page.inner_text("#results")  # another facility's patient
    form = page.locator("form.break-glass-form")
    expect(form).to_be_visible()  # offered when nothing was found
    assert "được ghi vào nhật ký" in form.inner_text()
    form.locator("#bg-reason").fill("Người bệnh hôn mê chuyển đến cấp cứu, cần xem tiền sử dị ứng")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/app/patients?q=le+thi+hoa")
    page.click("#results .result a")
    page.wait_for_url("**/app/patients/p-hoa")
    banner = page.locator(".break-glass-banner")
    expect(banner).to_contain_text("Đang truy cập khẩn cấp")
    assert "Lê Thị Hoa" in page.locator("h1").inner_text()
    shot(page, "09-truy-cap-khan-cap")
    banner.locator("button", has_text="Kết thúc truy cập khẩn cấp").click()
    page.wait_for_url("**/app/patients?ended=1")
    expect(page.locator(".break-glass-banner")).to_have_count(0)
    page.goto("/app/patients/p-hoa")
    assert "Không xem được hồ sơ" in page.locator("h1").inner_text()


def test_portal_record_consent_change_and_who_viewed(browser: Browser, live: Live, doctor: Page) -> None:
    doctor.goto("/app/patients/p-an")  # the doctor opens An's chart: An will see it in the portal
    assert "Nguyễn Văn An" in doctor.locator("h1").inner_text()
    with live_web.browser_page(browser, live.url, 820, 1180) as page:
        live_web.sign_in(page, "nv.an", PASSWORD, path="/portal/login", landing="**/portal")
        body = page.inner_text("main")
        for text in (
            "Sổ sức khỏe của tôi",
            "Thông tin hành chính",
            "Bệnh mạn tính",
            "Tăng huyết áp vô căn",
            "Tiêm chủng",
            "Amlodipin 5 mg",
        ):
            assert text in body, text
        shot(page, "06-so-suc-khoe")

        page.click("nav >> text=Đồng ý của tôi")
        page.wait_for_url("**/portal/consents")
        research = page.locator("#consent-HRESCH")
        assert research.locator("input[value=deny]").is_checked()  # research is opt-in
        assert page.locator("#consent-PUBHLTH input[value=permit]").is_disabled()
        research.locator("input[value=permit]").check()  # saved at once (Alpine), or with the button
        page.wait_for_selector("p.ok")
        assert page.locator("#consent-HRESCH input[value=permit]").is_checked()
        shot(page, "07-dong-y")
        headers = {"Authorization": f"Bearer {system_token(live.settings)}"}
        r = httpx.get(f"{live.url}/fhir/Consent", params={"patient": "Patient/p-an"}, headers=headers)
        consents = [e["resource"] for e in r.json().get("entry", [])]
        research_consents = [c for c in consents if c["provision"]["purpose"][0]["code"] == "HRESCH"]
        assert len(research_consents) == 1
        assert research_consents[0]["provision"]["type"] == "permit"
        assert research_consents[0]["policyRule"]["coding"][0]["code"] == "OPTIN"

        page.click("nav >> text=Ai đã xem hồ sơ của tôi")
        page.wait_for_url("**/portal/access")
        table = page.inner_text("table.access")
        assert "BS. Trần Thị Bình" in table and "Bệnh viện Đa khoa tỉnh" in table
        shot(page, "08-ai-da-xem")
