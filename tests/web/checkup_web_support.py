"""The platform as the station pages' tests need it, and their data.

``install_checkup(app)`` adds ``senhealth.web.views.checkup_station.ROUTES`` to the web application when
the platform does not route them yet (the same tests run before and after the lead's one-line wiring).
``build_checkup_app()`` is a factory for ``uvicorn --factory`` (the browser test's live server).

``run_station(settings, scenario)``: the platform in-process (``build_app``, the pages, the station's routes),
the synthetic dataset and the station seeded, the worker signed in from outside the facility (two-factor);
``scenario(client)``'s result.

``seed_station(client, settings)`` (after ``web_dataset.seed``): the packaged check-up forms installed in
the store, the station ``tyt-hoabinh``'s commune health worker ``yt.xa`` (password ``PASSWORD``, with a
two-factor secret, returned), Mr. Đỗ Văn Minh (``p-minh``), 55 years old today, registered at the station,
and his check-up Appointment for today. Synthetic data only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from web_dataset import JSON, PASSWORD, seed, system_token
from web_support import sign_in

from senhealth.core.config import Settings
from senhealth.fhir.store import FhirStore
from senhealth.security import accounts

__all__ = ["MINH", "STATION", "WORKER", "build_checkup_app", "install_checkup", "run_station", "seed_station"]

T = TypeVar("T")

STATION: Final = "tyt-hoabinh"
WORKER: Final = "yt.xa"
MINH: Final = "p-minh"
ZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")


def install_checkup(app: FastAPI) -> None:
    """See the module docstring."""
    from senhealth.web.views import checkup_station

    routes = app.state.senhealth_web.router.routes
    if not any(getattr(r, "path", None) == checkup_station.ROUTES[0].path for r in routes):
        routes[0:0] = list(checkup_station.ROUTES)


def build_checkup_app() -> FastAPI:
    """``uvicorn --factory checkup_web_support:build_checkup_app``."""
    from senhealth.app import build_app
    from senhealth.core.config import get_settings

    app = build_app(get_settings())
    install_checkup(app)
    return app


def run_station(settings: Settings, scenario: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """See the module docstring."""
    from senhealth.app import build_app
    from senhealth.web import install_web

    async def main() -> T:
        app = build_app(settings)
        install_web(app, settings)
        install_checkup(app)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as client:
                await seed(client, settings, with_clinical=False)
                secret = await seed_station(client, settings)
                r = await sign_in(client, WORKER, PASSWORD, totp_secret=secret)
                assert r.status_code == 200, r.text[:300]
                return await scenario(client)

    return asyncio.run(main())


def _born_years_ago(years: int) -> str:
    today = dt.datetime.now(ZONE).date()
    born = today.replace(year=today.year - years) - dt.timedelta(days=40)
    return born.isoformat()


async def seed_station(client: httpx.AsyncClient, settings: Settings) -> str:
    """See the module docstring; returns the worker's TOTP secret."""
    from senhealth.checkup.forms import install_forms
    from senhealth.core.db import get_pool

    await install_forms(FhirStore(get_pool()))
    headers = {"Authorization": f"Bearer {system_token(settings)}", **JSON}
    now = dt.datetime.now(ZONE).replace(hour=9, minute=0, second=0, microsecond=0)
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": MINH,
            "identifier": [{"system": "https://senhealth.vn/fhir/sid/cccd", "value": "027071000555"}],
            "name": [{"use": "official", "family": "Đỗ", "given": ["Văn", "Minh"], "text": "Đỗ Văn Minh"}],
            "gender": "male",
            "birthDate": _born_years_ago(55),
            "telecom": [{"system": "phone", "value": "0912000555"}],
            "managingOrganization": {"reference": f"Organization/{STATION}"},
        },
        {
            "resourceType": "Appointment",
            "id": "appt-minh",
            "status": "booked",
            "serviceType": [
                {
                    "coding": [
                        {"system": "https://senhealth.vn/fhir/CodeSystem/encounter-type", "code": "checkup"}
                    ]
                }
            ],
            "start": now.isoformat(),
            "end": (now + dt.timedelta(minutes=15)).isoformat(),
            "participant": [
                {"actor": {"reference": f"Patient/{MINH}"}, "status": "accepted"},
            ],
        },
    ]
    for resource in resources:
        r = await client.put(
            f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=headers
        )
        assert r.status_code in (200, 201), r.text[:300]
    await accounts.create_user(
        WORKER,
        PASSWORD,
        ["commune_health_worker"],
        display_name="YS. Hoàng Thị Thu",
        facility=f"Organization/{STATION}",
    )
    uri = await accounts.enroll_totp(WORKER)
    return parse_qs(urlparse(uri).query)["secret"][0]
