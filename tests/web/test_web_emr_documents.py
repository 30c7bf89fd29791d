"""The clinical-document pages over HTTP (in-process): create a discharge paper from an encounter, edit
it, sign it with a real certificate (a test CA with OCSP, CRL and a timestamp authority on loopback), the
signature panel, the print preview (the printed copy's pages and PDF, the verification page its QR code
leads to), a correction (amendment) with the chain of both signed versions, a revoked certificate
refused with its reason, and the access rules (another facility's doctor sees nothing).

The platform is assembled as ``senhealth serve`` does, completed by ``emr_web_support.install_emr`` with
the document, signature, printing and claim operations and the pages' routes (see that module).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import zxingcpp
from emr_web_support import DOCS, ENCOUNTER, HOSPITAL, EmrWeb, doctor, emr_environment, sign_as, text_of
from PIL import Image
from web_dataset import PASSWORD, Seeded
from web_support import csrf_of, sign_in

from senhealth.emr.signatures import OtpMessage, install_otp_sender


@pytest.fixture
def emr_web(schema_url: str, tmp_path: Path) -> Iterator[EmrWeb]:
    with emr_environment(schema_url, tmp_path) as env:
        yield env


async def create_discharge_paper(c: httpx.AsyncClient) -> str:
    page = await c.get(DOCS)
    assert page.status_code == 200, page.text[:500]
    r = await c.post(
        DOCS,
        data={"encounter": ENCOUNTER, "type": "discharge-paper", "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 303, r.text[:1000]
    location = r.headers["location"]
    assert location.startswith(DOCS + "/") and location.endswith("?created=1")
    return location.split("/")[-1].split("?")[0]


def test_create_edit_sign_verify_and_print_a_discharge_paper(emr_web: EmrWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        await doctor(c, s)
        listing = await c.get(DOCS)
        assert "Giấy ra viện" in listing.text and ENCOUNTER in listing.text
        assert f"/app/patients/p-an/encounters/{ENCOUNTER}/claim.xml" in listing.text
        cid = await create_discharge_paper(c)

        page = await c.get(f"{DOCS}/{cid}?created=1")
        assert page.status_code == 200
        assert 'id="editor"' in page.text and "Bản nháp (chưa ký)" in page.text
        html = page.text
        fields = dict(re.findall(r'<textarea id="([^"]+)" name="[^"]+"[^>]*>([^<]*)</textarea>', html))
        assert any(k.startswith("f:") for k in fields) and any(k.startswith("t:") for k in fields)
        note_field = next(k for k in fields if k.startswith("t:"))
        data = {k: v for k, v in fields.items()}
        data[note_field] = "Dặn dò: tái khám sau 2 tuần, uống thuốc đều."
        version = re.search(r'name="version" value="([^"]+)"', html)
        assert version is not None
        data.update({"csrf_token": csrf_of(html), "version": version.group(1)})
        saved = await c.post(f"{DOCS}/{cid}", data=data)
        assert saved.status_code == 303, text_of(saved.text)[:1500]
        page = await c.get(f"{DOCS}/{cid}?saved=1")
        assert "Dặn dò: tái khám sau 2 tuần, uống thuốc đều." in page.text
        assert "Đã lưu" in page.text

        # a stale version is refused, not overwritten
        stale = await c.post(f"{DOCS}/{cid}", data=data)
        assert stale.status_code == 422 and "đã sửa văn bản này" in stale.text

        sign_page = await c.get(f"{DOCS}/{cid}/sign")
        assert "BS. Trần Thị Bình" in sign_page.text and "Còn hiệu lực" in sign_page.text
        assert "Bệnh viện Đa khoa tỉnh" in sign_page.text  # the facility's certificate is offered too
        r = await sign_as(c, cid)
        assert r.status_code == 303 and r.headers["location"].endswith("?signed=1"), text_of(r.text)[:1500]

        page = await c.get(f"{DOCS}/{cid}?signed=1")
        assert 'id="editor"' not in page.text and "Đã ký" in page.text
        assert f"{DOCS}/{cid}/amend" in page.text and f"{DOCS}/{cid}/print" in page.text

        panel = await c.get(f"{DOCS}/{cid}/signatures", headers={"HX-Request": "true"})
        assert panel.status_code == 200 and "<html" not in panel.text
        assert "Mọi chữ ký trên văn bản này đều hợp lệ" in panel.text
        assert "Người lập" in panel.text and "BS. Trần Thị Bình" in panel.text
        assert 'class="signature valid"' in panel.text

        # counter-signature with the facility's certificate
        r = await sign_as(c, cid, role="organization", certificate="organization")
        assert r.status_code == 303, text_of(r.text)[:1500]
        panel = await c.get(f"{DOCS}/{cid}/signatures")
        assert panel.text.count('class="signature valid"') == 2

        preview = await c.get(f"{DOCS}/{cid}/print")
        assert f"{DOCS}/{cid}/print/pages" in preview.text
        pages = await c.get(f"{DOCS}/{cid}/print/pages", headers={"HX-Request": "true"})
        assert pages.status_code == 200, text_of(pages.text)[:1500]
        code = re.search(r'id="lookup-code">([^<]+)<', pages.text)
        assert code is not None
        link = re.search(
            r'id="verification-link"[^>]*href="([^"]+)"|href="([^"]+)" id="verification-link"', pages.text
        )
        assert link is not None
        url = link.group(1) or link.group(2)
        assert url == f"http://test/verify/{code.group(1)}"
        images = re.findall(r'src="(/app/printed/[^"]+\.png)"', pages.text)
        assert images
        image = await c.get(images[0])
        assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
        decoded = [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(image.content)))]
        assert decoded == [url]  # the QR code of the page is the verification link shown
        pdf_link = re.search(r'href="(/app/printed/[^"]+\.pdf)"', pages.text)
        assert pdf_link is not None
        pdf = await c.get(pdf_link.group(1))
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-type"] == "application/pdf"
        document = pdfium.PdfDocument(pdf.content)
        marking = document[0].get_textpage().get_text_range()
        document.close()
        assert "Bản giấy chuyển đổi từ hồ sơ bệnh án điện tử" in marking and "BS. Trần Thị Bình" in marking

        verify = await c.get(f"/verify/{code.group(1)}")
        assert verify.status_code == 200
        assert "khớp với hồ sơ bệnh án điện tử đã được ký số" in verify.text
        assert "Dặn dò" not in verify.text and "Nguyễn Văn An" not in verify.text  # no clinical content

        # the copy is bound to the session that made it
        other = httpx.AsyncClient(transport=c._transport, base_url="http://test")
        async with other:
            r = await sign_in(other, "bs.hoa", PASSWORD, totp_secret=s.totp["bs.hoa"])
            assert r.url.path == "/app/patients"
            assert (await other.get(images[0])).status_code == 404
            # another facility's doctor: neither the patient's documents nor this one
            assert (await other.get(DOCS)).status_code == 404
            assert (await other.get(f"{DOCS}/{cid}")).status_code == 404
            assert (await other.get(f"{DOCS}/{cid}/signatures")).status_code == 404

        listing = await c.get(DOCS)
        row = re.search(rf'data-id="{cid}">(.*?)</tr>', listing.text, re.S)
        assert row is not None and "Đã ký" in row.group(1)

    emr_web.run(scenario)


def test_a_revoked_then_an_expired_certificate_cannot_sign_and_the_page_says_why(emr_web: EmrWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        await doctor(c, s)
        cid = await create_discharge_paper(c)
        early = await sign_as(c, cid, role="verifier")  # the author signs first
        assert early.status_code == 409 and "người lập ký trước" in text_of(early.text)
        assert "Hãy tải lại văn bản" in early.text  # what to do
        emr_web.pki.revoke(emr_web.doctor_key)
        page = await c.get(f"{DOCS}/{cid}/sign")
        assert "Không ký được" in page.text and "đã bị thu hồi" in page.text
        r = await sign_as(c, cid)
        assert r.status_code == 422
        body = text_of(r.text)
        assert "Văn bản chưa được ký" in body and "đã bị thu hồi" in body
        assert "the certificate cannot sign" not in body  # the Vietnamese half only
        assert "đề nghị người quản trị chứng thư số cấp chứng thư mới" in body  # what to do
        page = await c.get(f"{DOCS}/{cid}")
        assert 'id="editor"' in page.text  # nothing was signed: still a draft

        emr_web.pki.issue_user("bs.binh", "BS. Trần Thị Bình", organization=HOSPITAL, expired=True)
        r = await sign_as(c, cid)
        assert r.status_code == 422 and "đã hết hạn" in text_of(r.text)
        english = await c.get(f"{DOCS}/{cid}/sign?lang=en")
        assert "Cannot sign" in english.text and "expired" in english.text

    emr_web.run(scenario)


def test_amendment_keeps_both_signed_versions_and_shows_the_chain(emr_web: EmrWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        await doctor(c, s)
        cid = await create_discharge_paper(c)
        r = await sign_as(c, cid)
        assert r.status_code == 303, text_of(r.text)[:1000]
        # a signed document cannot be saved over
        page = await c.get(f"{DOCS}/{cid}")
        refused = await c.post(f"{DOCS}/{cid}", data={"csrf_token": csrf_of(page.text), "version": "1"})
        assert refused.status_code == 409 and "lập bản đính chính" in refused.text

        form = await c.get(f"{DOCS}/{cid}/amend")
        assert form.status_code == 200 and 'id="amend-form"' in form.text
        fields = dict(re.findall(r'<textarea id="([^"]+)" name="[^"]+"[^>]*>([^<]*)</textarea>', form.text))
        note = next(k for k in fields if k.startswith("t:"))
        fields[note] = "Đính chính: hẹn tái khám ngày 15/12/2026."
        r = await c.post(f"{DOCS}/{cid}/amend", data={**fields, "csrf_token": csrf_of(form.text)})
        assert r.status_code == 303, text_of(r.text)[:1500]
        new = r.headers["location"].split("/")[-1].split("?")[0]
        assert new != cid and r.headers["location"].endswith("?amended=1")

        page = await c.get(f"{DOCS}/{new}?amended=1")
        assert "Đính chính: hẹn tái khám ngày 15/12/2026." in page.text
        assert "Bản đính chính" in page.text and f"{DOCS}/{cid}" in page.text  # corrects the original
        original = await c.get(f"{DOCS}/{cid}")
        assert 'id="replaced-by"' in original.text and f"{DOCS}/{new}" in original.text
        assert f"{DOCS}/{cid}/amend" not in original.text  # amend the latest version only

        panel = await c.get(f"{DOCS}/{new}/signatures")
        chain = re.search(r'<ol class="emr-chain" id="amendment-chain">(.*?)</ol>', panel.text, re.S)
        assert chain is not None
        links = re.findall(r'data-id="([^"]+)"', chain.group(1))
        assert links == [cid, new]  # the original first
        assert chain.group(1).count("Đã ký, hợp lệ") == 2  # both signed, both valid

        listing = await c.get(DOCS)
        row = re.search(rf'data-id="{cid}">(.*?)</tr>', listing.text, re.S)
        assert row is not None and "Đã được thay thế" in row.group(1)
        # going to amend the original leads to the correction
        again = await c.get(f"{DOCS}/{cid}/amend")
        assert again.status_code == 303 and again.headers["location"] == f"{DOCS}/{new}/amend"

    emr_web.run(scenario)


class CapturedCodes:
    """A one-time-code channel that keeps the messages (as an SMS gateway would deliver them)."""

    def __init__(self) -> None:
        self.messages: list[OtpMessage] = []

    async def send(self, message: OtpMessage) -> None:
        self.messages.append(message)


def test_patient_confirms_a_signed_document_with_a_one_time_code(emr_web: EmrWeb) -> None:
    codes = CapturedCodes()

    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        await doctor(c, s)
        cid = await create_discharge_paper(c)
        page = await c.get(f"{DOCS}/{cid}/sign")
        assert "Người bệnh xác nhận văn bản sau khi người lập đã ký" in page.text
        assert (await sign_as(c, cid)).status_code == 303
        page = await c.get(f"{DOCS}/{cid}/sign")
        sent = await c.post(f"{DOCS}/{cid}/confirm", data={"csrf_token": csrf_of(page.text)})
        assert sent.status_code == 200 and 'id="otp-form"' in sent.text, text_of(sent.text)[:800]
        assert len(codes.messages) == 1 and codes.messages[0].patient == "Patient/p-an"
        assert "Đã gửi mã tới số 09" in text_of(sent.text)
        challenge = re.search(r'name="challenge" value="([^"]+)"', sent.text)
        assert challenge is not None
        wrong = "000000" if codes.messages[0].code != "000000" else "111111"
        form = {"csrf_token": csrf_of(sent.text), "challenge": challenge.group(1)}
        refused = await c.post(f"{DOCS}/{cid}/confirm", data={**form, "code": wrong})
        assert refused.status_code >= 400 and 'id="otp-form"' in refused.text  # try again
        ok = await c.post(f"{DOCS}/{cid}/confirm", data={**form, "code": codes.messages[0].code})
        assert ok.status_code == 303 and ok.headers["location"].endswith("?confirmed=1"), text_of(ok.text)[
            :800
        ]
        panel = await c.get(f"{DOCS}/{cid}/signatures")
        assert "xác nhận điện tử" in panel.text and "Người bệnh" in panel.text

    install_otp_sender(codes)
    try:
        emr_web.run(scenario)
    finally:
        install_otp_sender(None)
