"""The clinical-document pages in a real browser: Playwright driving Debian's Chromium against one uvicorn
server (real HTTP on a loopback port, its own process), with a real PKI (a test CA whose OCSP responder,
CRL and RFC 3161 timestamp authority run on loopback in this process: ``tests/emr/emr_pki_support.py``).

A doctor of the provincial hospital opens a finished inpatient visit, creates its discharge paper,
completes and saves it, signs it with her certificate, sees the signature panel say valid, opens the
print preview (the printed copy's pages as images), reads the QR code from a screenshot of the page and
finds it equal to the verification link, checks the conversion marking in the printed PDF, follows the
link to ``/verify/{code}`` and finds a valid signature and no clinical content there. Then a correction
(amendment) with its chain of two signed versions, and a claim XML upload with one bad file.

The server is the platform as ``senhealth serve`` builds it, completed by ``emr_web_support.build_emr_app``
with whatever of the document pages and operations the platform does not wire yet. Screenshots go to
``docs/img/web/`` when ``SENHEALTH_WEB_SCREENSHOTS=1`` (else a temporary folder). The module runs in one
test process with the other browser tests (``xdist_group("browser")``).

Playwright for Python: https://playwright.dev/python/docs/api/class-page
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import live_web_support as live_web
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import zxingcpp
from emr_web_support import HOSPITAL, TestPki, make_test_pki, uninstall_emr
from PIL import Image
from playwright.sync_api import Browser, FilePayload, Page, expect
from web_dataset import PASSWORD, Seeded, seed, system_token

from senhealth.core.config import Settings
from senhealth.emr.claims.synthetic import SyntheticClaim, generate_claims

WEB_TESTS = Path(__file__).resolve().parent
DOCS_SHOTS = WEB_TESTS.parents[1] / "docs" / "img" / "web"
CLAIMS_TESTS = str(WEB_TESTS.parent / "emr" / "claims")
FACILITY_SYSTEM = "https://senhealth.vn/fhir/sid/facility"
PATIENT = "pat-web"
ENCOUNTER = "enc-web"
DOCS = f"/app/patients/{PATIENT}/clinical-documents"
ADVICE = 'textarea[id="f:instructions.advice"]'
SHOTS: list[Path] = []
pytestmark = live_web.BROWSER_MARKS


@dataclass
class Live:
    url: str
    settings: Settings
    seeded: Seeded
    pki: TestPki
    claims: tuple[SyntheticClaim, SyntheticClaim]


def _hospital_visit() -> list[dict[str, Any]]:
    """A finished inpatient visit at the provincial hospital (diagnoses, drugs, results: the claim tests'
    native visit), and the hospital's insurance facility code."""
    if CLAIMS_TESTS not in sys.path:
        sys.path.insert(0, CLAIMS_TESTS)
    from claims_support import native_visit  # type: ignore[import-not-found,unused-ignore]

    out: list[dict[str, Any]] = [
        {
            "resourceType": "Organization",
            "id": "bv-tinh",
            "name": HOSPITAL,
            "identifier": [{"system": FACILITY_SYSTEM, "value": "01001"}],
        }
    ]
    for resource in native_visit("01001", "web"):
        if resource["resourceType"] != "Organization":
            out.append(
                json.loads(json.dumps(resource).replace("Organization/org-web", "Organization/bv-tinh"))
            )
    return out


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("emr-web")
    with (
        live_web.scratch_platform(database_url, "test_emr_web", data_dir) as settings,
        closing(make_test_pki(data_dir, settings)) as pki,
    ):
        pki.issue_user("bs.binh", "BS. Trần Thị Bình", organization=HOSPITAL)
        org_key = pki.issue_organization("bv-tinh", HOSPITAL)
        good = next(iter(generate_claims(1, seed=21, key=org_key, broken=0.0, facility="01001")))
        bad = next(
            c
            for n in range(1, 60)
            for c in generate_claims(1, seed=n, key=org_key, broken=1.0, facility="01001")
            if c.defect == "missing-name"
        )

        async def seeding(client: httpx.AsyncClient) -> Seeded:
            seeded = await seed(client, settings, with_clinical=True)
            headers = {
                "Authorization": f"Bearer {system_token(settings)}",
                "Content-Type": "application/fhir+json",
            }
            for resource in _hospital_visit():
                r = await client.put(
                    f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=headers
                )
                assert r.status_code in (200, 201), r.text[:300]
            return seeded

        seeded = live_web.seed_platform(settings, seeding)
        uninstall_emr()  # build_app installed the platform's registrations in this process too
        with live_web.serve("emr_web_support:build_emr_app", settings, [WEB_TESTS]) as base:
            yield Live(base, settings, seeded, pki, (good, bad))


@pytest.fixture(scope="module", autouse=True)
def _shots(tmp_path_factory: pytest.TempPathFactory) -> None:
    wanted = os.environ.get("SENHEALTH_WEB_SCREENSHOTS") == "1"
    SHOTS[:] = [DOCS_SHOTS if wanted else tmp_path_factory.mktemp("emr-shots")]


def shot(page: Page, name: str, *, full: bool = False) -> None:
    SHOTS[0].mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS[0] / f"{name}.png"), full_page=full)


@pytest.fixture(scope="module")
def doctor(browser: Browser, live: Live) -> Iterator[Page]:
    """The hospital doctor's tablet, signed in once (password, then her two-factor code)."""
    with live_web.browser_page(browser, live.url, 1100, 900) as page:
        live_web.sign_in(page, "bs.binh", PASSWORD, totp_secret=live.seeded.totp["bs.binh"])
        yield page


def new_discharge_paper(page: Page, advice: str) -> str:
    """From the patient's documents page: a discharge paper of the visit, completed and saved; its id."""
    page.goto(DOCS)
    visit = page.locator(f'li.emr-encounter[data-id="{ENCOUNTER}"]')
    visit.locator("select[name=type]").select_option("discharge-paper")
    visit.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/clinical-documents/[^/?]+\?created=1$"))
    expect(page.locator("#notice")).to_contain_text("Văn bản đã được tạo từ hồ sơ của lượt khám")
    expect(page.locator("#doc-status")).to_have_text("Bản nháp (chưa ký)")
    page.fill(ADVICE, advice)
    page.click("#save")
    page.wait_for_url("**?saved=1")
    expect(page.locator(ADVICE)).to_have_value(advice)
    return page.url.split("/")[-1].split("?")[0]


def sign_as_author(page: Page) -> None:
    page.click("#action-sign")
    page.wait_for_url("**/sign")
    own = page.locator(".certificate.valid").first
    expect(own).to_contain_text("BS. Trần Thị Bình")
    expect(own).to_contain_text("Còn hiệu lực")
    page.select_option("#role", "author")
    page.click("#sign-submit")
    page.wait_for_url("**?signed=1")


def test_discharge_paper_signed_printed_and_verified_through_its_qr_code(doctor: Page, live: Live) -> None:
    page = doctor
    advice = "Uống thuốc đều, tái khám sau 2 tuần tại khoa Nội."
    new_discharge_paper(page, advice)
    assert "Chẩn đoán khi ra viện" in page.inner_text("#editor")
    diagnosis = page.locator('textarea[id="f:discharge-diagnosis.mainDiagnosis"]').input_value()
    assert "J18.9" in diagnosis, diagnosis  # read from the visit's record
    shot(page, "emr-01-soan-giay-ra-vien")

    sign_as_author(page)
    expect(page.locator("#notice")).to_contain_text("Đã ký")
    expect(page.locator("#doc-signed")).to_contain_text("Đã ký")
    expect(page.locator("#editor")).to_have_count(0)  # signed: read-only now
    verdict = page.locator("#signature-verdict")  # the panel, loaded by htmx from $verify
    expect(verdict).to_contain_text("Mọi chữ ký trên văn bản này đều hợp lệ")
    row = page.locator("#signature-panel tr.signature.valid")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Người lập")
    expect(row).to_contain_text("BS. Trần Thị Bình")
    assert advice in page.inner_text("#content")
    shot(page, "emr-02-bang-chu-ky", full=True)

    page.click("#action-print")
    page.wait_for_url("**/print")
    first = page.locator("img.print-page").first
    expect(first).to_be_visible(timeout=60_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=first.element_handle())
    link = page.locator("#verification-link").get_attribute("href")
    code = page.locator("#lookup-code").inner_text()
    assert link == f"{live.url}/verify/{code}"
    assert link in (first.get_attribute("alt") or "")
    shot(page, "emr-03-xem-truoc-ban-in")
    screenshot = Image.open(io.BytesIO(first.screenshot()))
    decoded = [found.text for found in zxingcpp.read_barcodes(screenshot)]
    assert decoded == [link]  # the QR code printed on the page leads to the verification page

    pdf_href = page.locator("#pdf-link").get_attribute("href")
    assert pdf_href is not None
    pdf = page.request.get(pdf_href)
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    document = pdfium.PdfDocument(pdf.body())
    marking = document[0].get_textpage().get_text_range()
    document.close()
    assert "Bản giấy chuyển đổi từ hồ sơ bệnh án điện tử" in marking
    assert "BS. Trần Thị Bình" in marking and code in marking  # who printed, the look-up code

    with page.expect_popup() as opened:
        page.click("#verification-link")
    verify = opened.value
    verify.wait_for_load_state()
    assert verify.url == link
    expect(verify.locator("#verdict")).to_contain_text("khớp với hồ sơ bệnh án điện tử đã được ký số")
    expect(verify.locator("#signatures tr.signature.valid")).to_have_count(1)
    expect(verify.locator("#signatures")).to_contain_text("BS. Trần Thị Bình")
    text = verify.inner_text("body")
    for clinical in (advice, "J18.9", "Amoxicilin", "Nguyễn Văn An", "001085012345"):
        assert clinical not in text, clinical  # no clinical content, no identity
    shot(verify, "emr-04-trang-xac-minh")
    verify.close()


def test_amendment_keeps_the_signed_original_and_shows_the_chain(doctor: Page) -> None:
    page = doctor
    original = new_discharge_paper(page, "Tái khám sau 1 tháng.")
    sign_as_author(page)
    expect(page.locator("#signature-verdict")).to_contain_text("hợp lệ")
    page.click("#action-amend")
    page.wait_for_url("**/amend")
    expect(page.locator(ADVICE)).to_have_value("Tái khám sau 1 tháng.")
    page.fill(ADVICE, "Đính chính: tái khám sau 2 tuần.")
    page.click("#amend-submit")
    page.wait_for_url("**?amended=1")
    correction = page.url.split("/")[-1].split("?")[0]
    assert correction != original
    expect(page.locator("#corrects")).to_be_visible()
    expect(page.locator("#doc-status")).to_have_text("Bản đính chính")
    assert "Đính chính: tái khám sau 2 tuần." in page.inner_text("#content")
    chain = page.locator("#amendment-chain li.chain-link")
    expect(chain).to_have_count(2)
    assert chain.nth(0).get_attribute("data-id") == original  # the original first
    assert chain.nth(1).get_attribute("data-id") == correction
    for i in range(2):
        expect(chain.nth(i)).to_contain_text("Đã ký, hợp lệ")
    shot(page, "emr-05-chuoi-dinh-chinh", full=True)
    chain.nth(0).locator("a").click()
    page.wait_for_url(f"**/clinical-documents/{original}")
    expect(page.locator("#replaced-by")).to_be_visible()
    expect(page.locator("#action-amend")).to_have_count(0)
    assert "Tái khám sau 1 tháng." in page.inner_text("#content")  # the original, unchanged


def test_claim_xml_import_reports_the_bad_file_field(doctor: Page, live: Live) -> None:
    page = doctor
    good, bad = live.claims
    page.goto("/app/claims/import")
    files: list[FilePayload] = [
        {"name": good.name, "mimeType": "application/xml", "buffer": good.data},
        {"name": bad.name, "mimeType": "application/xml", "buffer": bad.data},
    ]
    page.set_input_files("#files", files)
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-reports")
    reports = page.locator("article.claim-report")
    expect(reports).to_have_count(2)
    expect(page.locator(f'article.claim-report.accepted[data-file="{good.name}"]')).to_have_count(1)
    refused = page.locator(f'article.claim-report.refused[data-file="{bad.name}"]')
    expect(refused.locator("code.field")).to_have_text(list(bad.expected))
    expect(refused).to_contain_text("Không có dữ liệu nào của tệp này được nhập")
    shot(page, "emr-06-nhap-xml", full=True)
