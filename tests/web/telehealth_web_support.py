"""The platform as the telemedicine pages' tests need it, and their synthetic data.

``install_telehealth(app)`` adds the telemedicine pages' routes (consult inbox, calendar, referral board,
the portal's remote visits, the room's files and recording consent) to the web application when the
platform does not route them yet, so the same tests run before and after the lead's wiring.
``build_telehealth_app()`` is the factory of the browser test's live server (``uvicorn --factory``).

``seed(client, settings)`` writes through the FHIR API with a system token the referral tests' dataset
(``tests/telehealth/referral_support.py``: the commune station ``tyt-hoa-binh`` partOf the provincial
hospital ``bv-tinh``, Dr Phạm Văn An at the station, Dr Trần Thị Bình and Dr Lý Văn Tâm at the hospital,
Mrs Nguyễn Thị Hoa with an open visit at the station (I63.9, I10), Dr Bình's telehealth Schedule with
four free Slots tomorrow), plus the station's role for Dr An, an ECG Observation and a chest X-ray
ImagingStudy of Mrs Hoa, and the accounts (password :data:`PASSWORD`, no second factor inside the
facility network 10.0.0.0/8 / 127.0.0.0/8): ``bs.an`` (commune health worker, station), ``bs.binh`` and
``bs.tam`` (doctors, hospital), ``nt.hoa`` (the citizen Mrs Hoa), ``cdc.ha`` (a CDC officer). Synthetic only.

``tele_environment(schema_url, tmp_path)`` gives settings on a migrated schema, a running test PKI with
signing certificates for ``bs.binh`` and ``bs.an``, and ``run(scenario)`` (the platform in-process,
seeded, ``scenario(client)`` from the address 10.1.2.3).
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
from fastapi import FastAPI
from web_dataset import system_token
from web_support import csrf_of

from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.security import accounts

_TESTS = Path(__file__).resolve().parents[1]
for _folder in (_TESTS / "telehealth", _TESTS / "emr"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from emr_pki_support import TestPki, make_test_pki  # type: ignore[import-not-found,unused-ignore]  # noqa: E402
from referral_support import resources as referral_resources  # type: ignore[import-not-found,unused-ignore]  # noqa: E402

__all__ = [
    "HOSPITAL",
    "PASSWORD",
    "STATION",
    "Tele",
    "TestPki",
    "build_telehealth_app",
    "install_telehealth",
    "login",
    "make_test_pki",
    "seed",
    "tele_environment",
    "text_of",
]

PASSWORD: Final = "mat-khau-tu-xa-2026"  # synthetic test password
JSON: Final = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
HOSPITAL: Final = "Bệnh viện Đa khoa tỉnh Sen Hồng"
STATION: Final = "Trạm Y tế xã Hòa Bình"
USERS: Final = (  # username, roles, facility, practitioner, patient, display
    ("bs.an", ["commune_health_worker"], "Organization/tyt-hoa-binh", "Practitioner/bs-an", None, "BS. Phạm Văn An"),
    ("bs.binh", ["doctor"], "Organization/bv-tinh", "Practitioner/bs-binh", None, "BS. Trần Thị Bình"),
    ("bs.tam", ["doctor"], "Organization/bv-tinh", "Practitioner/bs-tam", None, "BS. Lý Văn Tâm"),
    ("nt.hoa", ["patient"], None, None, "Patient/p-hoa", "Nguyễn Thị Hoa"),
    ("cdc.ha", ["cdc_officer"], "Organization/bv-tinh", None, None, "Đỗ Thu Hà"),
)  # fmt: skip


def _modules() -> list[Any]:
    from senhealth.web.views import (
        telehealth_calendar,
        telehealth_consults,
        telehealth_portal,
        telehealth_recording,
        telehealth_referrals,
    )

    return [
        telehealth_recording,
        telehealth_consults,
        telehealth_calendar,
        telehealth_referrals,
        telehealth_portal,
    ]


def install_telehealth(app: FastAPI) -> None:
    """Add the telemedicine pages' routes when the web application does not have them yet."""
    web = app.state.senhealth_web
    routes = web.router.routes
    paths = {getattr(r, "path", None) for r in routes}
    for module in reversed(_modules()):
        if module.ROUTES[0].path not in paths:
            routes[0:0] = list(module.ROUTES)


def build_telehealth_app() -> FastAPI:
    """``uvicorn --factory telehealth_web_support:build_telehealth_app``."""
    from senhealth.app import build_app
    from senhealth.core.config import get_settings

    app = build_app(get_settings())
    install_telehealth(app)
    return app


def _at(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def extra_resources() -> list[dict[str, Any]]:
    pat = {"reference": "Patient/p-hoa"}
    return [
        {"resourceType": "PractitionerRole", "id": "pr-an", "active": True,
         "practitioner": {"reference": "Practitioner/bs-an"}, "organization": {"reference": "Organization/tyt-hoa-binh"}},
        {"resourceType": "PractitionerRole", "id": "pr-tam", "active": True,
         "practitioner": {"reference": "Practitioner/bs-tam"}, "organization": {"reference": "Organization/bv-tinh"}},
        {"resourceType": "Observation", "id": "ecg-hoa", "status": "final", "subject": pat,
         "encounter": {"reference": "Encounter/enc-tyt-1"},
         "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6"}], "text": "Điện tim"},
         "effectiveDateTime": _at(datetime.now(UTC) - timedelta(hours=1)),
         "valueString": "Rung nhĩ, tần số thất 110 l/ph"},
        {"resourceType": "ImagingStudy", "id": "xq-hoa", "status": "available", "subject": pat,
         "started": _at(datetime.now(UTC) - timedelta(hours=1)), "description": "X-quang ngực thẳng",
         "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "DX"}]},
    ]  # fmt: skip


async def seed(client: httpx.AsyncClient, settings: Settings) -> None:
    """See the module docstring."""
    headers = {"Authorization": f"Bearer {system_token(settings)}", **JSON}
    for resource in [*referral_resources(), *extra_resources()]:
        r = await client.put(
            f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=headers
        )
        assert r.status_code in (200, 201), (resource["resourceType"], r.text[:300])
    for username, roles, facility, practitioner, patient, display in USERS:
        await accounts.create_user(
            username, PASSWORD, roles, display_name=display, facility=facility, practitioner=practitioner,
            patient=patient,
        )  # fmt: skip


async def login(client: httpx.AsyncClient, username: str) -> None:
    """Sign in through the forms (staff at ``/app``, the citizen at ``/portal``), inside the facility network."""
    path = "/portal/login" if username == "nt.hoa" else "/app/login"
    await client.post("/app/logout", data={"csrf_token": ""})  # whoever was signed in: the cookie is replaced
    client.cookies.clear()
    page = await client.get(path)
    r = await client.post(
        path,
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=True,
    )
    assert r.status_code == 200, (username, r.status_code, r.text[:300])
    assert "/login" not in r.url.path, (username, r.url)


def text_of(html: str) -> str:
    """A page's text, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


Scenario = Callable[[httpx.AsyncClient, FastAPI], Awaitable[Any]]


@dataclass
class Tele:
    settings: Settings
    pki: TestPki

    def run(self, scenario: Scenario) -> Any:
        from senhealth.app import build_app
        from senhealth.web import install_web

        async def main() -> Any:
            app = build_app(self.settings)
            install_web(app, self.settings)
            install_telehealth(app)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://test", timeout=120
                ) as client:
                    await seed(client, self.settings)
                    return await scenario(client, app)

        return asyncio.run(main())


def _reset() -> None:
    from senhealth.emr.signatures import install_otp_sender, remove_immutability_guard
    from senhealth.fhir import access

    remove_immutability_guard()
    install_otp_sender(None)
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)


@contextmanager
def tele_environment(schema_url: str, tmp_path: Path) -> Iterator[Tele]:
    """See the module docstring; what the platform installed process-wide is put back on exit."""
    migrate(schema_url)
    settings = Settings(
        database_url=schema_url, data_dir=tmp_path, auth_required=True, facility_networks=["10.0.0.0/8"]
    )
    pki = make_test_pki(tmp_path, settings)
    try:
        pki.issue_user("bs.binh", "BS. Trần Thị Bình", organization=HOSPITAL)
        pki.issue_user("bs.an", "BS. Phạm Văn An", organization=STATION)
        yield Tele(settings, pki)
    finally:
        pki.close()
        _reset()
