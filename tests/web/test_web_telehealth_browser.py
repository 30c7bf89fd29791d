"""The telemedicine pages in a real browser: Playwright driving Debian's Chromium against one uvicorn server
(its own process, real HTTP on a loopback port), with a real test PKI for the signed conclusion.

The commune station's health worker finds Mrs Hoa, asks the provincial hospital with the ECG cited and a
photo attached; the cardiologist finds it in her inbox, accepts, books the video meeting and signs the
conclusion; the station then reads the signed conclusion (signature valid, filed in both records) on its
side. Mrs Hoa books a remote visit in the portal and finds it among her visits with "join the video call".
In a video room, a file she shares reaches the doctor's chat, and a recording starts only once she agrees.

The server is ``senhealth.app.build_app`` completed by ``telehealth_web_support.build_telehealth_app`` with
the pages the platform does not route yet. Playwright for Python: https://playwright.dev/python/docs/api/class-page
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import live_web_support as live_web
import pytest
from playwright.sync_api import Browser, Page, expect
from telehealth_web_support import HOSPITAL, PASSWORD, STATION, TestPki, make_test_pki, seed

from senhealth.core.config import Settings

WEB_TESTS = Path(__file__).resolve().parent
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
pytestmark = live_web.BROWSER_MARKS


@dataclass
class Live:
    url: str
    settings: Settings
    pki: TestPki


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("tele-web")
    with (
        live_web.scratch_platform(database_url, "test_tele_web", data_dir) as settings,
        closing(make_test_pki(data_dir, settings)) as pki,
    ):
        pki.issue_user("bs.binh", "BS. Trần Thị Bình", organization=HOSPITAL)
        pki.issue_user("bs.an", "BS. Phạm Văn An", organization=STATION)
        live_web.seed_platform(settings, lambda client: seed(client, settings))
        from senhealth.emr.signatures import install_otp_sender, remove_immutability_guard

        remove_immutability_guard()
        install_otp_sender(None)
        factory = "telehealth_web_support:build_telehealth_app"
        with live_web.serve(factory, settings, [WEB_TESTS], timeout_s=90) as base:
            yield Live(base, settings, pki)


@pytest.fixture(scope="module")
def browser(live: Live) -> Iterator[Browser]:
    """Debian's Chromium with a fake camera and microphone (the room test), launched after the ``live``
    server (whose set-up runs its own event loop) and closed with the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=live_web.CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
                  "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"],
        )  # fmt: skip
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser: Browser, live: Live, username: str) -> Page:
    context = browser.new_context(
        viewport={"width": 1100, "height": 900},
        locale="vi-VN",
        base_url=live.url,
        permissions=["camera", "microphone"],
    )
    page = context.new_page()
    if username == "nt.hoa":
        live_web.sign_in(page, username, PASSWORD, path="/portal/login", landing="**/portal")
    else:
        live_web.sign_in(page, username, PASSWORD)
    return page


def test_station_to_hospital_consult_signed_on_both_sides(
    browser: Browser, live: Live, tmp_path: Path
) -> None:
    station = _page(browser, live, "bs.an")
    station.goto("/app/telehealth/consults")
    station.click("#new-consult")
    station.fill("#q", "nguyen thi hoa")
    station.click("#patient-search button[type=submit]")
    station.click('a[data-patient="p-hoa"]')
    expect(station.locator("#chosen-patient")).to_contain_text("Nguyễn Thị Hoa")
    station.select_option("#performer", "bv-tinh")
    station.fill("#question", "Rung nhĩ mới phát hiện: có cần chống đông?")
    station.fill("#reason", "Rung nhĩ")
    station.select_option("#priority", "urgent")
    station.fill("#summary", "Nữ 67 tuổi, hồi hộp 2 ngày, huyết áp 150/90.")
    station.check('input[name=cite][value="Observation/ecg-hoa"]')
    photo = tmp_path / "anh-ecg.png"
    photo.write_bytes(PNG)
    station.set_input_files("#files", str(photo))
    station.click("#send-request")
    station.wait_for_url("**/app/telehealth/consults/*?done=sent")
    expect(station.locator("#case-status")).to_have_text("Chờ nhận")
    expect(station.locator("#cited")).to_contain_text("Rung nhĩ, tần số thất 110")
    expect(station.locator("#cited img.thumb")).to_have_count(1)
    task_url = station.url.split("?")[0]

    hospital = _page(browser, live, "bs.binh")
    hospital.goto("/app/telehealth/consults")
    row = hospital.locator("#consults-received tr.consult-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Rung nhĩ mới phát hiện")
    row.locator("a").first.click()
    hospital.fill("#accept-note", "Nhận hội chẩn")
    hospital.click("#accept")
    expect(hospital.locator("#case-status")).to_have_text("Đã nhận")
    hospital.click("#schedule")
    expect(hospital.locator("#join-room")).to_be_visible()
    hospital.fill("#conclusion-text", "Rung nhĩ, CHA2DS2-VASc 3 điểm: nên dùng thuốc chống đông.")
    hospital.fill("#recommendation", "Khám tim mạch tại bệnh viện tỉnh trong tuần.")
    hospital.fill("#diagnosis", "I48.9 Rung nhĩ")
    hospital.click("#conclude")
    expect(hospital.locator("#case-status")).to_have_text("Đã kết luận")
    expect(hospital.locator("#signature-state")).to_contain_text("Chữ ký hợp lệ")
    expect(hospital.locator(".record-copy")).to_have_count(2)

    station.goto(task_url)
    expect(station.locator("#case-status")).to_have_text("Đã kết luận")
    expect(station.locator("#signature-state")).to_contain_text("Chữ ký hợp lệ")
    expect(station.locator("#conclusion")).to_contain_text("nên dùng thuốc chống đông")
    expect(station.locator(".record-copy")).to_have_count(2)
    station.goto("/app/telehealth/consults")
    expect(station.locator('#consults-sent tr[data-status="completed"]')).to_have_count(1)
    station.context.close()
    hospital.context.close()


def test_portal_booking(browser: Browser, live: Live) -> None:
    page = _page(browser, live, "nt.hoa")
    page.goto("/portal/telehealth")
    before = page.locator("#visits li.visit").count()  # the consult meeting of the other test, if it ran
    page.select_option("#condition", "I10")
    page.select_option("#slot", "slot-3")
    page.check('input[name=channel][value="video"]')
    page.fill("#reason", "Huyết áp buổi sáng 150/95")
    page.click("#book")
    expect(page.locator("#notice")).to_have_text("Đã đặt lịch khám từ xa.")
    expect(page.locator("#visits li.visit")).to_have_count(before + 1)
    booked = page.url.split("booked=")[1].split("&")[0]
    visit = page.locator(f'#visits li.visit[data-id="{booked}"]')
    expect(visit).to_contain_text("BS. Trần Thị Bình")
    expect(visit.locator("a.join")).to_have_text("Vào cuộc gọi video")
    href = visit.locator("a.join").get_attribute("href")
    assert href and href.startswith("/portal/telehealth/rooms/")
    page.goto("/portal/telehealth?lang=en")
    expect(page.locator("#book")).to_have_text("Book")
    page.context.close()


def test_room_file_sharing_and_recording_with_consent(browser: Browser, live: Live, tmp_path: Path) -> None:
    """Two pages in one room (Chromium's fake camera and microphone): a file shared by
    the patient reaches the doctor's chat as a link; a recording starts only after the patient agrees and is
    kept as a Media of the Appointment; a refusal stops the next one before it starts."""
    from web_dataset import system_token

    room = f"appt-live-{uuid.uuid4().hex[:6]}"
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 300))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1800))
    system = {
        "Authorization": f"Bearer {system_token(live.settings)}",
        "Content-Type": "application/fhir+json",
    }
    appointment = {
        "resourceType": "Appointment", "id": room, "status": "booked", "start": start, "end": end,
        "participant": [{"actor": {"reference": "Practitioner/bs-binh", "display": "BS. Trần Thị Bình"}, "status": "accepted"},
                        {"actor": {"reference": "Patient/p-hoa", "display": "Nguyễn Thị Hoa"}, "status": "accepted"}],
    }  # fmt: skip
    r = httpx.put(f"{live.url}/fhir/Appointment/{room}", json=appointment, headers=system, timeout=30)
    assert r.status_code in (200, 201), r.text
    doctor = _page(browser, live, "bs.binh")
    patient = _page(browser, live, "nt.hoa")
    doctor.goto(f"/app/telehealth/rooms/{room}")
    patient.goto(f"/portal/telehealth/rooms/{room}")
    for page in (doctor, patient):
        expect(page.locator("#room-status")).to_have_attribute("data-state", "in-room", timeout=20000)

    shared = tmp_path / "ket-qua-xet-nghiem.pdf"
    shared.write_bytes(b"%PDF-1.4 synthetic")
    patient.set_input_files("#room-file", str(shared))
    link = doctor.locator("#chat-log a.room-file-link")
    expect(link).to_have_count(1, timeout=10000)
    expect(doctor.locator("#chat-log")).to_contain_text("ket-qua-xet-nghiem.pdf")
    got = doctor.request.get(live.url + str(link.get_attribute("href")))
    assert got.status == 200 and got.body() == b"%PDF-1.4 synthetic"

    doctor.click("#record")
    expect(patient.locator("#consent-prompt")).to_be_visible(timeout=10000)
    expect(patient.locator("#consent-question")).to_contain_text("BS. Trần Thị Bình")
    expect(doctor.locator("#room")).to_have_attribute("data-recording", "asking")
    patient.click("#consent-agree")
    expect(doctor.locator("#room")).to_have_attribute("data-recording", "on", timeout=10000)
    doctor.wait_for_timeout(1500)
    doctor.click("#record")
    expect(doctor.locator("#room")).not_to_have_attribute("data-recording", "on", timeout=15000)
    assert doctor.locator("#room").get_attribute("data-recording") == "saved", doctor.locator(
        "#chat-log"
    ).inner_text()
    media = httpx.get(
        f"{live.url}/fhir/Media", params={"subject": "Patient/p-hoa"}, headers=system, timeout=30
    ).json()
    recordings = [e["resource"] for e in media.get("entry", []) if e["resource"].get("partOf")]
    assert [m["partOf"][0]["reference"] for m in recordings] == [f"Appointment/{room}"]
    assert recordings[0]["content"]["size"] > 0 and len(recordings[0]["extension"]) == 2

    doctor.click("#record")
    expect(patient.locator("#consent-prompt")).to_be_visible(timeout=10000)
    patient.click("#consent-refuse")
    expect(doctor.locator("#room")).to_have_attribute("data-recording", "refused", timeout=10000)
    doctor.context.close()
    patient.context.close()
