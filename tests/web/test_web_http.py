"""The web application over HTTP (in-process): sign-in, sessions, CSRF, headers, rate limits, language,
and the access rules seen through the pages (the FHIR API decides what a user sees).
"""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pyotp
from web_dataset import PASSWORD, Seeded, system_token
from web_support import RunWeb, csrf_of, sign_in

from senhealth.core.config import Settings
from senhealth.core.db import transaction
from senhealth.security.login_rate import LoginLimit
from senhealth.web.sessions import SessionLimits


def test_sign_in_with_totp_search_and_chart_of_own_facility_only(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        r = await sign_in(c, "bs.binh", PASSWORD, totp_secret=s.totp["bs.binh"])
        assert r.status_code == 200 and r.url.path == "/app/patients", r.text[:500]
        assert "Tìm người bệnh" in r.text  # Vietnamese by default
        r = await c.get("/app/patients", params={"q": "nguyen van an", "year": "1980"})
        assert "Nguyễn Văn An" in r.text and "/app/patients/p-an" in r.text
        r = await c.get("/app/patients", params={"q": "001080012345"}, headers={"HX-Request": "true"})
        assert "Nguyễn Văn An" in r.text and "<html" not in r.text  # the htmx partial
        r = await c.get("/app/patients", params={"q": "le thi hoa"})
        assert "Lê Thị Hoa" not in r.text  # another facility's patient: not found
        assert (await c.get("/app/patients/p-hoa")).status_code == 404
        r = await c.get("/app/patients/p-an")
        assert r.status_code == 200 and "Nguyễn Văn An" in r.text
        assert r.headers["cache-control"] == "no-store"

    run_web(scenario)


def test_security_headers_and_cookie_flags_over_https(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        r = await c.get("/app/login")
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "camera=()" in r.headers["permissions-policy"]
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert r.headers["cache-control"] == "no-store"
        r = await c.post(
            "/app/login",
            data={"username": "dd.lan", "password": PASSWORD, "csrf_token": csrf_of(r.text)},
        )
        cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie" and "senhealth_session" in v]
        assert len(cookies) == 1, r.headers
        cookie = cookies[0].lower()
        assert cookie.startswith("__host-senhealth_session=")
        for flag in ("httponly", "secure", "samesite=lax", "path=/"):
            assert flag in cookie
        static = await c.get("/static/web/app.css")
        assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")

    run_web(scenario, base_url="https://test", client_ip="10.1.2.3")  # inside the facility network: no TOTP


def test_forms_without_the_csrf_token_are_refused(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        await c.get("/app/login")
        r = await c.post("/app/login", data={"username": "dd.lan", "password": PASSWORD})
        assert r.status_code == 403 and "Biểu mẫu đã hết hạn" in r.text
        r = await c.post(
            "/app/login", data={"username": "dd.lan", "password": PASSWORD, "csrf_token": "forged"}
        )
        assert r.status_code == 403
        r = await sign_in(c, "nv.an", PASSWORD, path="/portal/login")
        assert r.url.path == "/portal", r.text[:300]
        r = await c.post("/portal/consents", data={"purpose": "HRESCH", "choice": "permit"})
        assert r.status_code == 403
        r = await c.post(
            "/portal/consents",
            data={"purpose": "HRESCH", "choice": "permit"},
            headers={"X-CSRF-Token": "x" * 64},
        )
        assert r.status_code == 403
        r = await c.post("/app/logout", data={})
        assert r.status_code == 403  # even signing out needs the token (no forced sign-out from elsewhere)

    run_web(scenario, client_ip="10.1.2.3")


def test_sign_in_rate_limited_per_client_address(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        page = await c.get("/app/login")
        token = csrf_of(page.text)
        for i in range(3):
            r = await c.post(
                "/app/login",
                data={"username": f"nobody{i}", "password": "sai-mat-khau-1", "csrf_token": token},
            )
            assert r.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in r.text
        r = await c.post("/app/login", data={"username": "dd.lan", "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) > 0
        assert "Thử lại sau" in r.text

    run_web(scenario, login_limit=LoginLimit(limit=3))


def test_a_locked_account_answers_429(run_web: RunWeb) -> None:
    async def lockout(c: httpx.AsyncClient, s: Seeded) -> None:
        token = csrf_of((await c.get("/app/login")).text)
        for _ in range(5):
            r = await c.post(
                "/app/login", data={"username": "dd.lan", "password": "sai-mat-khau-1", "csrf_token": token}
            )
            assert r.status_code == 401
        r = await c.post("/app/login", data={"username": "dd.lan", "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 429 and "retry-after" in r.headers
        assert "Tài khoản này" in r.text

    run_web(lockout, client_ip="10.1.2.4")


def test_english_switch_and_patient_kept_out_of_staff_pages(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        r = await c.get("/app/login", params={"lang": "en"})
        assert "Sign in" in r.text and 'lang="en"' in r.text
        assert "lang=en" in r.headers["set-cookie"]
        r = await c.get("/app/login")
        assert 'lang="en"' in r.text  # remembered
        r = await c.get("/app/login", params={"lang": "vi"})
        assert "Đăng nhập" in r.text
        r = await sign_in(c, "nv.an", PASSWORD, path="/portal/login")
        assert r.url.path == "/portal"
        assert "Sổ sức khỏe" in r.text or "Hồ sơ sức khỏe của tôi" in r.text
        r = await c.get("/app/patients")
        assert r.status_code == 403
        r = await c.get("/app/review")
        assert r.status_code == 403
        r = await c.get("/portal", params={"lang": "en"})
        assert "My health record" in r.text and "Administrative data" in r.text and "Mar 15, 1980" in r.text
        r = await c.get("/portal/consents")
        assert "Scientific research (de-identified data)" in r.text

    run_web(scenario, client_ip="10.1.2.3")


def test_anonymous_is_sent_to_sign_in_and_sign_out_revokes_the_token(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        assert (await c.get("/app/login", params={"next": "//evil.example/"})).status_code == 200
        assert "senhealth_next" not in c.cookies  # not a local page: not remembered
        r = await c.get("/app/patients/p-an")
        assert r.status_code == 303 and r.headers["location"] == "/app/login?next=%2Fapp%2Fpatients%2Fp-an"
        assert (await c.get("/portal")).status_code == 303
        await c.get(r.headers["location"])
        r = await sign_in(c, "dd.lan", PASSWORD)
        assert r.url.path == "/app/patients/p-an"  # back where the nurse wanted to go
        r = await c.post("/app/logout", data={"csrf_token": csrf_of(r.text)})
        assert r.status_code == 303
        assert (await c.get("/app/patients")).status_code == 303

    run_web(scenario, client_ip="10.1.2.3")


def test_enrolment_of_a_required_second_factor_then_a_merge(run_web: RunWeb, web_settings: Settings) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        page = await c.get("/app/login")
        r = await c.post(
            "/app/login",
            data={"username": "qt.bvtinh", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
            follow_redirects=True,
        )
        assert r.url.path == "/app/login/enrol" and "<svg" in r.text
        secret = r.text.split('class="secret">')[1].split("<")[0]
        bad = await c.post("/app/login/enrol", data={"code": "000000", "csrf_token": csrf_of(r.text)})
        assert bad.status_code == 401
        r = await c.post(
            "/app/login/enrol",
            data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(r.text)},
            follow_redirects=True,
        )
        assert r.url.path == "/app/login/role", r.text[:300]
        assert "Quản trị cơ sở" in r.text and "Bác sĩ" in r.text
        r = await c.post(
            "/app/login/role",
            data={"role": "facility_admin", "csrf_token": csrf_of(r.text)},
            follow_redirects=True,
        )
        assert r.url.path == "/app/patients"
        r = await c.get("/app/review")
        assert r.status_code == 200 and "Nguyễn Văn Ân" in r.text
        r = await c.post(
            f"/app/review/{s.pair_id}",
            data={"decision": "linked", "survivor": "p-an"},
            headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(r.text)},
        )
        assert r.status_code == 200 and "Đã gộp" in r.text, r.text
        system = {"Authorization": f"Bearer {system_token(web_settings)}"}
        merged = (await c.get("/fhir/Patient/p-an2", headers=system)).json()
        assert merged["active"] is False
        assert merged["link"] == [{"other": {"reference": "Patient/p-an"}, "type": "replaced-by"}]
        async with transaction() as conn:
            cur = await conn.execute("SELECT status, decided_by FROM mpi_review WHERE id = %s", (s.pair_id,))
            status, by = await cur.fetchone() or (None, None)
            assert status == "linked" and by is not None and by.startswith("qt.bvtinh")
            cur = await conn.execute(
                "SELECT principal_subject, source_ip FROM audit_event WHERE query = 'mpi-merge' OR query LIKE 'mpi-%'"
            )
            rows = await cur.fetchall()
        assert rows and all(subject == s.accounts["qt.bvtinh"] for subject, _ in rows), rows

    run_web(scenario, client_ip="10.1.2.3")  # inside the network, but the administrator needs TOTP anyway


def test_review_queue_hides_pairs_of_other_facilities(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        r = await sign_in(c, "bs.hoa", PASSWORD, totp_secret=s.totp["bs.hoa"])
        assert r.url.path == "/app/patients"
        r = await c.get("/app/review")
        assert r.status_code == 200 and "Nguyễn Văn Ân" not in r.text
        assert "Không có cặp hồ sơ nào chờ rà soát" in r.text
        r = await c.post(
            f"/app/review/{s.pair_id}", data={"decision": "distinct", "csrf_token": csrf_of(r.text)}
        )
        assert r.status_code == 404

    run_web(scenario)


def test_idle_sessions_end_and_tokens_are_renewed(run_web: RunWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        r = await sign_in(c, "dd.lan", PASSWORD)
        assert r.url.path == "/app/patients"
        async with transaction() as conn:
            first = await (await conn.execute("SELECT token_jti FROM web_session")).fetchone()
        r = await c.get("/app/patients", params={"q": "nguyen van an"})
        assert "Nguyễn Văn An" in r.text  # the FHIR API accepted the renewed token
        async with transaction() as conn:
            second = await (await conn.execute("SELECT token_jti FROM web_session")).fetchone()
        assert first != second  # a token living less than the renewal margin is renewed on use
        await asyncio.sleep(2.2)
        r = await c.get("/app/patients")
        assert r.status_code == 303 and r.headers["location"].startswith("/app/login")  # idle too long

    limits = SessionLimits(idle=dt.timedelta(seconds=2), absolute=dt.timedelta(seconds=90))
    run_web(scenario, client_ip="10.1.2.3", limits=limits)
