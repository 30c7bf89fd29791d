"""The video room page in a real browser: two Chromium pages with fake camera and microphone (Playwright
driving Debian's Chromium) join the room of one Appointment through one uvicorn server on loopback
(``rooms_support.build_rooms_app``), and each receives the other's stream.

The doctor's page is in Vietnamese (the default), the citizen's in English (``?lang=en``). Then the chat,
the bitrate set on the video sender (audio first), a dropped signalling connection that the page
reconnects by itself (a fresh token, the peer connection made again), and leaving.
Playwright for Python: https://playwright.dev/python/docs/api/class-page#page-wait-for-function
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from rooms_support import PASSWORD, Live, live_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's Chromium is not installed"),
    pytest.mark.xdist_group("browser"),
]
ROOM = "appt-now"
# the other participant's <video> plays a live track with real pictures
REMOTE_PLAYING = """() => {
  const v = document.querySelector('figure.remote video');
  return !!(v && v.videoWidth > 0 && v.srcObject
            && v.srcObject.getVideoTracks().some((t) => t.readyState === 'live'));
}"""


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(database_url, tmp_path_factory.mktemp("room-browser")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(live: Live) -> Iterator[Browser]:
    """Chromium with a fake camera and microphone granted without asking (after the ``live`` server,
    whose set-up runs its own event loop)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's Chromium is not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _context(browser: Browser, live: Live) -> BrowserContext:
    return browser.new_context(
        viewport={"width": 1100, "height": 800}, locale="vi-VN", base_url=live.url,
        permissions=["camera", "microphone"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def doctor(browser: Browser, live: Live) -> Iterator[Page]:
    context = _context(browser, live)
    page = context.new_page()
    page.goto("/app/login")
    page.fill("#username", "bs.binh")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if "/app/login/totp" in page.url:
        page.fill("#code", pyotp.TOTP(live.seeded.totp["bs.binh"]).now())
        page.click("button[type=submit]")
    page.wait_for_url("**/app/patients")
    yield page
    context.close()


@pytest.fixture(scope="module")
def patient(browser: Browser, live: Live) -> Iterator[Page]:
    context = _context(browser, live)
    page = context.new_page()
    page.goto("/portal/login")
    page.fill("#username", "nv.an")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/portal")
    yield page
    context.close()


def test_two_pages_see_each_other_chat_reconnect_and_leave(doctor: Page, patient: Page) -> None:
    response = doctor.goto(f"/app/telehealth/rooms/{ROOM}")
    assert response is not None and response.status == 200
    assert "camera=(self)" in response.headers["permissions-policy"]
    expect(doctor.locator("h1")).to_have_text("Phòng khám trực tuyến")
    expect(doctor.locator("#room-status")).to_have_attribute("data-state", "waiting")

    patient.goto(f"/portal/telehealth/rooms/{ROOM}?lang=en")
    expect(patient.locator("h1")).to_have_text("Video consultation")
    patient.wait_for_function(REMOTE_PLAYING, timeout=20000)
    doctor.wait_for_function(REMOTE_PLAYING, timeout=20000)
    expect(doctor.locator("#room-status")).to_have_attribute("data-state", "in-room")
    expect(doctor.locator("#room-participants li")).to_have_count(2)
    expect(patient.locator("figure.remote figcaption")).to_have_text("BS. Trần Thị Bình")

    # audio first: the audio sender has the high priority, the video a capped bitrate
    senders = patient.evaluate(
        """() => {
          const peer = [...window.senhealthRoom.peers.values()][0];
          return peer.pc.getSenders().filter((s) => s.track).map((s) => {
            const e = s.getParameters().encodings[0] || {};
            return [s.track.kind, e.priority, e.maxBitrate];
          });
        }"""
    )
    kinds = {kind: (priority, bitrate) for kind, priority, bitrate in senders}
    assert kinds["audio"][0] == "high" and kinds["video"][0] == "low", senders
    assert 0 < kinds["video"][1] <= 600000, senders

    # the chat, both ways
    patient.fill("#chat-text", "Good morning, doctor")
    patient.click("#chat-form button")
    expect(doctor.locator("#chat-log")).to_contain_text("Nguyễn Văn An: Good morning, doctor")
    doctor.fill("#chat-text", "Chào anh An, anh đo huyết áp chưa?")
    doctor.press("#chat-text", "Enter")
    expect(patient.locator("#chat-log")).to_contain_text(
        "BS. Trần Thị Bình: Chào anh An, anh đo huyết áp chưa?"
    )

    # the doctor's signalling connection drops: the page reconnects and the call is made again
    doctor.evaluate(
        "() => { window.__oldPc = [...window.senhealthRoom.peers.values()][0].pc; window.senhealthRoom.ws.close(); }"
    )
    doctor.wait_for_function(
        """() => {
          const peers = [...window.senhealthRoom.peers.values()];
          return peers.length === 1 && peers[0].pc !== window.__oldPc && peers[0].pc.connectionState === 'connected';
        }""",
        timeout=20000,
    )
    expect(patient.locator("#chat-log")).to_contain_text("BS. Trần Thị Bình joined.")
    patient.wait_for_function(REMOTE_PLAYING, timeout=20000)
    doctor.wait_for_function(REMOTE_PLAYING, timeout=20000)

    # the citizen leaves: the doctor is told and the video goes
    patient.click("#leave-room")
    expect(patient.locator("#room-status")).to_have_text("You left the room.")
    expect(doctor.locator("#chat-log")).to_contain_text("Nguyễn Văn An đã rời phòng.")
    expect(doctor.locator("figure.remote")).to_have_count(0)
    expect(doctor.locator("#room-status")).to_have_attribute("data-state", "waiting")


def test_a_non_participant_is_told_why(browser: Browser, live: Live) -> None:
    context = _context(browser, live)
    page = context.new_page()
    try:
        page.goto("/portal/login")
        page.fill("#username", "nv.hoa")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/portal")
        page.goto(f"/portal/telehealth/rooms/{ROOM}")
        expect(page.locator("#room-status")).to_have_attribute("data-state", "refused")
        expect(page.locator("#room-status")).to_contain_text("bạn không tham gia lịch hẹn này")
        expect(page.locator("figure.remote")).to_have_count(0)
    finally:
        context.close()
