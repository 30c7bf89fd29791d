"""``Composition/[id]/$pdf`` on the assembled platform: sign-in, the role policy, the audit sink, a real
PKI (OCSP, CRL, RFC 3161 TSA on loopback); the signed PDF validated with pyHanko; printed copies logged,
audited and verifiable on the public page ``/verify/{code}``.

Spec: ETSI EN 319 142-1 (PAdES B-T / B-LT), RFC 3161; e-Transactions Law Art. 12 / Decree 137/2024
(printed copies); BALP (the print is an audited access of the patient's record).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pypdf
from emr_pki_support import TestPki
from printing_support import (
    CLINICAL_TEXT,
    COMPOSITION,
    DOCTOR,
    FACILITY,
    PATIENT,
    PATIENT_NAME,
    composition,
    ref,
    seed,
    sign,
)

from senhealth.core import db
from senhealth.emr.printing import register_printing_operations
from senhealth.emr.printing.pades import validate_pdf
from senhealth.emr.signatures import Signer, amend_document, pki_services
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore

Scenario = Callable[
    [httpx.AsyncClient, httpx.AsyncClient, dict[str, dict[str, str]], FhirStore], Awaitable[Any]
]


async def _display_name(principal: Principal) -> str | None:
    from senhealth.security.accounts import get_user

    user = await get_user(principal.subject)
    return user.display_name if user is not None else None


def run_platform(settings: Any, scenario: Scenario) -> Any:
    """The platform app (``build_app``) with $pdf registered and the verification routes on its pages;
    ``scenario(api, web, tokens, store)``."""
    from senhealth.app import build_app
    from senhealth.cli_token import mint_user_token
    from senhealth.fhir import subscriptions
    from senhealth.fhir.operations.registry import all_operations, unregister
    from senhealth.mpi.operations import unregister_mpi_operations
    from senhealth.security import accounts
    from senhealth.security.directory import user_info
    from senhealth.security.oauth.config import OAuthConfig
    from senhealth.web.views import verification

    settings.auth_required = True
    before = {op.name for op in all_operations()}
    register_printing_operations(settings, person_name=_display_name)

    async def main() -> Any:
        app = build_app(settings)
        web = app.state.senhealth_web
        web.router.routes.extend(verification.ROUTES)
        async with app.router.lifespan_context(app):
            config = OAuthConfig.from_settings(settings)
            tokens: dict[str, dict[str, str]] = {}
            for key, name, roles, kw in (
                ("doctor", "bs.lan", ["doctor"], {"facility": f"Organization/{FACILITY}", "practitioner": f"Practitioner/{DOCTOR}",
                                                 "display_name": "BS. Lê Văn Lân"}),
                ("nurse", "dd.mai", ["nurse"], {"facility": f"Organization/{FACILITY}", "display_name": "ĐD. Trần Thị Mai"}),
                ("other", "bs.khac", ["doctor"], {"facility": "Organization/bv-khac"}),
            ):  # fmt: skip
                user = await accounts.create_user(name, "mat-khau-rat-dai-123", roles, **kw)
                tokens[key] = {"Authorization": f"Bearer {mint_user_token(user_info(user), config=config)}"}
            store = FhirStore(db.get_pool(), base_urls=("http://test/fhir",))
            async with (
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as api,
                httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://test") as page,
            ):
                return await scenario(api, page, tokens, store)

    try:
        return asyncio.run(main())
    finally:  # what build_app installed in this process (operations, hooks) goes, as other tests expect
        subscriptions.uninstall()
        unregister_mpi_operations()
        for op in list(all_operations()):
            if op.name not in before:
                unregister(op.name)


def _text(pdf: bytes) -> str:
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", " ".join(p.extract_text() for p in pages)))


async def _rows(store: FhirStore, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


def test_printed_copy_signed_logged_audited_and_verifiable(settings: Any, pki: TestPki) -> None:
    author = pki.issue_user("bs.lan", "BS. Lê Văn Lân")
    org = pki.issue_organization(FACILITY, "Bệnh viện Đa khoa tỉnh Quảng Ninh")

    async def scenario(
        api: httpx.AsyncClient, page: httpx.AsyncClient, tokens: Any, store: FhirStore
    ) -> None:
        await seed(store)
        await sign(store, settings, COMPOSITION, author=author, organization=org)
        r = await api.get(
            f"/fhir/Composition/{COMPOSITION}/$pdf", params={"print": "true"}, headers=tokens["nurse"]
        )
        assert r.status_code == 200, r.text[:800]
        assert r.headers["content-type"] == "application/pdf"
        pdf = r.content
        code = r.headers["x-lookup-code"]
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{12}", code)
        # PAdES: valid, trusted, timestamped, with the facility's certificate (the preferred signature)
        checks = await asyncio.to_thread(validate_pdf, pdf, pki.trust_roots)
        assert len(checks) == 1 and checks[0].valid and checks[0].intact and checks[0].trusted, checks
        assert checks[0].signer_serial == org.certificate.serial_number
        assert checks[0].timestamp is not None and checks[0].timestamp_valid
        # any byte of the signed range changed: the signature fails
        bad = bytearray(pdf)
        bad[pdf.index(b"stream", 1000) + 20] ^= 0x01
        assert not (await asyncio.to_thread(validate_pdf, bytes(bad), pki.trust_roots))[0].valid
        # the marking, the code, the person who printed, the time
        text = _text(pdf)
        assert "Bản giấy chuyển đổi từ hồ sơ bệnh án điện tử" in text
        assert f"{code[:4]}-{code[4:8]}-{code[8:]}" in text
        assert "ĐD. Trần Thị Mai" in text and "In lúc / Printed at:" in text
        assert PATIENT_NAME in text and CLINICAL_TEXT in text  # the paper copy is the whole document
        # the print log
        rows = await _rows(store, "SELECT composition, printed_by_name, patient, patient_initials, birth_year, "
                                  "pdf_sha256, pdf_pages FROM emr_print WHERE code = %s", code)  # fmt: skip
        assert rows == [
            (COMPOSITION, "ĐD. Trần Thị Mai", PATIENT, "N.T.H.Đ.", 1985, hashlib.sha256(pdf).digest(), 1)
        ]
        # the audit: the print, with the patient and the code, in the same transaction as the log
        audit = await _rows(store, "SELECT action, res_type, res_id, patients, principal_roles, details->>'lookup_code' "
                                   "FROM audit_event WHERE details->>'event' = 'print'")  # fmt: skip
        assert audit == [("operation", "Composition", COMPOSITION, [PATIENT], ["nurse"], code)]

        # the public page: no sign-in, signatures verified, no clinical content
        v = await page.get(f"/verify/{code}")
        assert v.status_code == 200, v.text[:500]
        assert v.headers["cache-control"] == "no-store" and "noindex" in v.headers["x-robots-tag"]
        html = v.text
        assert "khớp với hồ sơ bệnh án điện tử đã được ký số" in html
        assert hashlib.sha256(pdf).hexdigest() in html
        assert "N.T.H.Đ." in html and "1985" in html
        assert "BS. Lê Văn Lân" in html and "Hợp lệ" in html and "Giấy ra viện" in html
        assert html.count('class="signature valid"') == 2
        for secret in (CLINICAL_TEXT, PATIENT_NAME, "022185004321", "J13", "CRP", "Trần Thị Mai"):
            assert secret not in html, secret
        # the same in English; a code typed with hyphens and lower case
        en = await page.get(f"/verify/{code.lower()[:4]}-{code.lower()[4:]}", params={"lang": "en"})
        assert en.status_code == 200 and "matches a digitally signed electronic medical record" in en.text
        form = await page.get("/verify", params={"code": f" {code[:6]} {code[6:]} "}, follow_redirects=False)
        assert form.status_code == 303 and form.headers["location"] == f"/verify/{code}"
        # unknown and malformed codes: a 404 page
        for unknown in ("0000-0000-0000", "not-a-code", "%3Cscript%3E"):
            missing = await page.get(f"/verify/{unknown}", params={"lang": "vi"})
            assert missing.status_code == 404 and "Mã tra cứu không tồn tại" in missing.text
            assert "<script>" not in missing.text

        # a correction: the copy of the original now says it was replaced
        services = pki_services(settings)
        corrected = composition(COMPOSITION)
        del corrected["id"]
        corrected["section"][2]["text"]["div"] = corrected["section"][2]["text"]["div"].replace(
            "thở oxy", "thở oxy 2 L/phút"
        )
        await amend_document(store, COMPOSITION, corrected,
                             Signer("author", author, ref("Practitioner", DOCTOR, "BS. Lê Văn Lân")), services)  # fmt: skip
        v = await page.get(f"/verify/{code}")
        assert v.status_code == 200 and "đã được đính chính" in v.text and 'id="corrections"' in v.text

    run_platform(settings, scenario)


def test_electronic_copy_and_refusals(settings: Any, pki: TestPki) -> None:
    """Without ``print``: the signed electronic PDF, no print logged; an unsigned document is refused
    (409), a document outside the caller's access is unknown (404), a bad flag is a 400."""
    author = pki.issue_user("bs.lan", "BS. Lê Văn Lân")

    async def scenario(
        api: httpx.AsyncClient, page: httpx.AsyncClient, tokens: Any, store: FhirStore
    ) -> None:
        await seed(store)
        await seed(store, "comp-pr-unsigned")
        r = await api.get("/fhir/Composition/comp-pr-unsigned/$pdf", headers=tokens["doctor"])
        assert r.status_code == 409 and r.json()["resourceType"] == "OperationOutcome"
        assert "$sign" in r.text
        await sign(store, settings, COMPOSITION, author=author)
        r = await api.get(f"/fhir/Composition/{COMPOSITION}/$pdf", headers=tokens["doctor"])
        assert r.status_code == 200 and "x-lookup-code" not in r.headers
        checks = await asyncio.to_thread(validate_pdf, r.content, pki.trust_roots)
        assert checks[0].valid and checks[0].signer_serial == author.certificate.serial_number
        text = _text(r.content)
        assert "Tài liệu điện tử đã ký số" in text and "Bản giấy chuyển đổi" not in text
        assert await _rows(store, "SELECT code FROM emr_print") == []
        r = await api.get(
            f"/fhir/Composition/{COMPOSITION}/$pdf", params={"print": "maybe"}, headers=tokens["doctor"]
        )
        assert r.status_code == 400 and "print" in r.text
        r = await api.get(
            f"/fhir/Composition/{COMPOSITION}/$pdf", params={"print": "true"}, headers=tokens["other"]
        )
        assert r.status_code == 404
        r = await api.get("/fhir/Composition/no-such/$pdf", headers=tokens["doctor"])
        assert r.status_code == 404
        r = await api.get(f"/fhir/Composition/{COMPOSITION}/$pdf", params={"print": "true"})
        assert r.status_code == 401
        assert await _rows(store, "SELECT count(*) FROM emr_print") == [(0,)]

    run_platform(settings, scenario)
