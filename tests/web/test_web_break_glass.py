"""Break-the-glass from the pages (https://hl7.org/fhir/R4/security.html#break-glass), its review by the
facility administrator, and the web's polish: the role link only for several roles, 500 pages with the
security headers, documents of the chart opened and their attachments downloaded through the FHIR API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from web_dataset import DISCHARGE_TEXT, PASSWORD, TINY_PDF, Seeded
from web_support import RunWeb, csrf_of, sign_in

from senhealth.core.config import Settings
from senhealth.core.db import transaction
from senhealth.security import accounts
from senhealth.web.keys import load_keys
from senhealth.web.views import portal, staff

REASON = "Người bệnh hôn mê chuyển đến cấp cứu, cần xem dị ứng"


async def _audit_reasons(patient: str) -> list[str]:
    for _ in range(100):  # reads are written by the audit's background task
        async with transaction() as conn:
            cur = await conn.execute(
                "SELECT break_glass FROM audit_event WHERE patients @> ARRAY[%s] AND break_glass IS NOT NULL",
                (patient,),
            )
            rows = [r[0] for r in await cur.fetchall()]
        if rows:
            return rows
        await asyncio.sleep(0.05)
    return []


async def _emergency_token(settings: Settings, account_id: str) -> tuple[str, str]:
    async with transaction() as conn:
        cur = await conn.execute(
            "SELECT break_glass_sealed, break_glass_jti FROM web_session WHERE account_id = %s"
            " AND break_glass_sealed IS NOT NULL",
            (account_id,),
        )
        row = await cur.fetchone()
    assert row is not None
    raw = load_keys(settings).decrypt(bytes(row[0]), "break-glass:" + account_id)
    assert raw is not None
    return raw.decode(), str(row[1])


def test_break_glass_form_banner_audit_and_early_end(run_web: RunWeb, web_settings: Settings) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        r = await sign_in(c, "bs.binh", PASSWORD, totp_secret=s.totp["bs.binh"])
        assert r.url.path == "/app/patients"
        assert "Đổi vai trò" not in r.text  # one role: nothing to change
        assert "Xem xét truy cập khẩn cấp" not in r.text  # the review is the administrators'
        r = await c.get("/app/patients", params={"q": "le thi hoa"})
        assert "Lê Thị Hoa" not in r.text and "Truy cập khẩn cấp" in r.text
        assert 'action="/app/break-glass/start"' in r.text and "được ghi vào nhật ký" in r.text
        r = await c.get("/app/patients/p-hoa")
        assert r.status_code == 404 and "Truy cập khẩn cấp" in r.text
        assert 'name="patient" value="p-hoa"' in r.text
        token = csrf_of(r.text)

        r = await c.post("/app/break-glass/start", data={"patient": "p-hoa", "reason": REASON})
        assert r.status_code == 403  # no CSRF token
        r = await c.post(
            "/app/break-glass/start", data={"patient": "p-hoa", "reason": " cấp cứu ", "csrf_token": token}
        )
        assert r.status_code == 400 and "ít nhất 10 ký tự" in r.text
        assert (await c.get("/app/patients/p-hoa")).status_code == 404  # nothing was granted

        r = await c.post(
            "/app/break-glass/start", data={"patient": "p-hoa", "reason": REASON, "csrf_token": token}
        )
        assert r.status_code == 303 and r.headers["location"] == "/app/patients/p-hoa"
        r = await c.get("/app/patients/p-hoa")
        assert r.status_code == 200 and "Lê Thị Hoa" in r.text
        assert "break-glass-banner" in r.text and "Đang truy cập khẩn cấp" in r.text
        assert "Kết thúc truy cập khẩn cấp" in r.text and REASON in r.text
        assert "Còn lại" in r.text and ("29:" in r.text or "30:00" in r.text)
        assert REASON in await _audit_reasons("p-hoa")
        emergency, jti = await _emergency_token(web_settings, s.accounts["bs.binh"])
        bearer = {"Authorization": f"Bearer {emergency}"}
        assert (await c.get("/fhir/Patient/p-hoa", headers=bearer)).status_code == 200

        r = await c.post("/app/break-glass/end", data={})
        assert r.status_code == 403  # ending needs the form's token too
        r = await c.post("/app/break-glass/end", data={"csrf_token": csrf_of(r.text)})
        assert r.status_code == 303
        r = await c.get(r.headers["location"])
        assert "break-glass-banner" not in r.text and "Đã kết thúc truy cập khẩn cấp" in r.text
        assert (await c.get("/app/patients/p-hoa")).status_code == 404
        assert (await c.get("/fhir/Patient/p-hoa", headers=bearer)).status_code == 401  # revoked
        async with transaction() as conn:
            cur = await conn.execute(
                "SELECT ended_at IS NOT NULL FROM break_glass_grant WHERE jti = %s", (jti,)
            )
            assert await cur.fetchone() == (True,)
            cur = await conn.execute("SELECT 1 FROM oauth_revoked_token WHERE jti = %s", (jti,))
            assert await cur.fetchone() is not None
        # the review page is not a doctor's
        assert (await c.get("/app/break-glass")).status_code == 403

    run_web(scenario)


def test_only_care_roles_may_break_the_glass(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        r = await sign_in(c, "nv.an", PASSWORD, path="/portal/login")
        assert r.url.path == "/portal"
        r = await c.get("/app/break-glass/start")
        assert r.status_code == 403
        r = await c.post("/app/logout", data={"csrf_token": csrf_of((await c.get("/portal")).text)})
        r = await sign_in(c, "dd.lan", PASSWORD)  # a nurse may
        r = await c.get("/app/break-glass/start", params={"patient": "p-hoa"})
        assert r.status_code == 200 and "Lý do truy cập khẩn cấp" in r.text

    run_web(scenario, client_ip="10.1.2.3")


def test_administrator_reviews_the_emergency_accesses(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        r = await sign_in(c, "bs.binh", PASSWORD, totp_secret=s.totp["bs.binh"])
        r = await c.post(
            "/app/break-glass/start",
            data={"q": "le thi hoa", "reason": REASON, "csrf_token": csrf_of(r.text)},
        )
        assert r.status_code == 303 and r.headers["location"] == "/app/patients?q=le+thi+hoa"
        r = await c.get(r.headers["location"])
        assert "Lê Thị Hoa" in r.text  # the whole province is searchable now
        assert (await c.get("/app/patients/p-hoa")).status_code == 200
        await _audit_reasons("p-hoa")
        r = await c.post("/app/logout", data={"csrf_token": csrf_of(r.text)})

        uri = await accounts.enroll_totp("qt.bvtinh")
        secret = uri.split("secret=")[1].split("&")[0]
        r = await sign_in(c, "qt.bvtinh", PASSWORD, totp_secret=secret, role="facility_admin")
        assert r.url.path == "/app/patients", r.text[:300]
        assert "Đổi vai trò" in r.text  # two roles
        assert "Xem xét truy cập khẩn cấp" in r.text and 'class="badge danger"' in r.text
        r = await c.get("/app/break-glass")
        assert r.status_code == 200
        assert "BS. Trần Thị Bình" in r.text and REASON in r.text and "p-hoa" in r.text
        assert "chưa xem xét" in r.text and "1 lần chờ xem xét" in r.text
        key = r.text.split('name="session" value="')[1].split('"')[0]
        subject = r.text.split('name="subject" value="')[1].split('"')[0]
        assert subject == s.accounts["bs.binh"]
        form = {"session": key, "subject": subject, "note": "Đã xác minh với khoa cấp cứu"}
        assert (await c.post("/app/break-glass/review", data=form)).status_code == 403  # CSRF
        bad = {**form, "session": "no-such", "csrf_token": csrf_of(r.text)}
        assert (await c.post("/app/break-glass/review", data=bad)).status_code == 404
        r = await c.post("/app/break-glass/review", data={**form, "csrf_token": csrf_of(r.text)})
        assert r.status_code == 303
        r = await c.get(r.headers["location"])
        assert "Đã đánh dấu đã xem xét" in r.text and "Đã xác minh với khoa cấp cứu" in r.text
        assert "0 lần chờ xem xét" in r.text and 'class="badge danger"' not in r.text
        async with transaction() as conn:
            cur = await conn.execute("SELECT reviewed_by, note FROM break_glass_review")
            assert await cur.fetchall() == [(s.accounts["qt.bvtinh"], "Đã xác minh với khoa cấp cứu")]

    run_web(scenario)


def test_server_errors_carry_the_security_headers(run_web: RunWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("synthetic failure")

    monkeypatch.setattr(staff, "build_record", broken)
    monkeypatch.setattr(portal, "build_record", broken)

    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        r = await sign_in(c, "dd.lan", PASSWORD)
        for path, user in (("/app/patients/p-an", "dd.lan"), ("/portal", "nv.an")):
            if user == "nv.an":
                await c.post("/app/logout", data={"csrf_token": csrf_of(r.text)})
                await sign_in(c, "nv.an", PASSWORD, path="/portal/login")
            r = await c.get(path)
            assert r.status_code == 500, path
            assert "Đã có lỗi xảy ra" in r.text and "synthetic failure" not in r.text
            for header in ("content-security-policy", "x-frame-options", "x-content-type-options"):
                assert header in r.headers, (path, header)
            assert r.headers["cache-control"] == "no-store"
            r = await c.get("/portal" if user == "nv.an" else "/app/patients")

    run_web(scenario, client_ip="10.1.2.3")


def test_documents_open_and_attachments_download_through_the_api(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        r = await sign_in(c, "dd.lan", PASSWORD)
        r = await c.get("/app/patients/p-an")
        base = "/app/patients/p-an/documents"
        assert f'href="{base}/DocumentReference/p-an-doc1"' in r.text
        assert f'href="{base}/DiagnosticReport/p-an-rep1"' in r.text
        r = await c.get(f"{base}/DiagnosticReport/p-an-rep1")
        assert r.status_code == 200
        assert "Glucose máu giảm so với lần trước" in r.text and "HbA1c: 6,8 %." in r.text
        assert "<p>HbA1c" not in r.text.replace("<p>HbA1c: 6,8 %.</p>", "")  # narrative shown as text
        r = await c.get(f"{base}/DocumentReference/p-an-doc1")
        assert r.status_code == 200 and "Giấy ra viện (bản in)" in r.text and "application/pdf" in r.text
        assert "Ảnh chụp" in r.text and f"{base}/DocumentReference/p-an-doc1/attachments/2" not in r.text
        r = await c.get(f"{base}/DocumentReference/p-an-doc1/attachments/0")
        assert r.status_code == 200 and r.text == DISCHARGE_TEXT
        assert r.headers["content-type"].startswith("text/plain")
        assert r.headers["content-disposition"].startswith("attachment;")
        assert "sandbox" in r.headers["content-security-policy"]
        r = await c.get(f"{base}/DocumentReference/p-an-doc1/attachments/1")
        assert r.status_code == 200 and r.content == TINY_PDF
        assert r.headers["content-type"] == "application/pdf"
        assert (await c.get(f"{base}/DocumentReference/p-an-doc1/attachments/2")).status_code == 404
        assert (await c.get(f"{base}/DocumentReference/p-an-doc1/attachments/9")).status_code == 404
        # a document under another patient's path, an unknown type: not found
        assert (await c.get("/app/patients/p-an2/documents/DocumentReference/p-an-doc1")).status_code == 404
        assert (await c.get(f"{base}/Observation/p-an-wt0")).status_code == 404
        async with transaction() as conn:  # the download was a read through the API, audited
            for _ in range(100):
                cur = await conn.execute(
                    "SELECT count(*) FROM audit_event WHERE res_type = 'DocumentReference' AND action = 'read'"
                )
                row = await cur.fetchone()
                if row is not None and row[0] >= 4:
                    break
                await asyncio.sleep(0.05)
            assert row is not None and row[0] >= 4
        await c.post("/app/logout", data={"csrf_token": csrf_of((await c.get("/app/patients")).text)})
        # another facility's doctor: the document is not theirs to see
        await sign_in(c, "bs.hoa", PASSWORD, totp_secret=s.totp["bs.hoa"])
        assert (await c.get(f"{base}/DocumentReference/p-an-doc1")).status_code == 404
        assert (await c.get(f"{base}/DocumentReference/p-an-doc1/attachments/0")).status_code == 404

    run_web(scenario, client_ip="10.1.2.3", clinical=True)
