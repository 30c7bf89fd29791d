"""The platform as the video-room tests need it, its synthetic data, and a live server on loopback.

``build_rooms_app()`` (a factory for ``uvicorn --factory``) is ``senhealth.app.build_app`` with the room
routes (``senhealth.api.telehealth_rooms``) and the room pages (``senhealth.web.views.telehealth_room``)
added when the platform does not route them yet: the same tests run before and after the lead's wiring.

``seed(settings)`` writes, through the FHIR API with a system token, a provincial hospital and a commune
station, Dr Trần Thị Bình (``Practitioner/bs-binh``, also as ``PractitionerRole/pr-binh``), Dr Lý Văn Tâm
(``bs-tam``, in no appointment), Mr Nguyễn Văn An (``p-an``) and Mrs Lê Thị Hoa (``p-hoa``), and these
Appointments, relative to now:

- ``appt-now``: booked, started 5 minutes ago, Dr Bình and Mr An;
- ``appt-role``: arrived, starting in 10 minutes, ``PractitionerRole/pr-binh`` and Mr An;
- ``appt-cancelled``: cancelled, now, Dr Bình and Mr An;
- ``appt-later``: booked, in two days;
- ``appt-other``: booked, now, Dr Bình and Mrs Hoa (its tokens are "another room's" for ``appt-now``).

Accounts (password ``PASSWORD``): ``bs.binh`` (doctor, two-factor secret returned), ``bs.tam`` (doctor),
``nv.an`` and ``nv.hoa`` (citizens). Synthetic data only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlparse

import httpx
import live_web_support as live_web
from fastapi import FastAPI

from senhealth.core.config import Settings
from senhealth.security import accounts
from senhealth.security.directory import user_info
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.tokens import TokenService
from senhealth.telehealth.rooms import RoomTokens

__all__ = ["PASSWORD", "Live", "build_rooms_app", "live_server", "seed"]

PASSWORD: Final = "mat-khau-rat-dai-1"  # synthetic test password
JSON: Final = {"Content-Type": "application/fhir+json"}
HERE: Final = Path(__file__).resolve().parent


def install_rooms(app: FastAPI) -> None:
    """Add the room routes and pages when ``app`` does not have them yet."""
    from senhealth.api.telehealth_rooms import TOKEN_PATH, telehealth_rooms_router

    if not any(getattr(r, "path", None) == TOKEN_PATH for r in app.router.routes):
        app.include_router(telehealth_rooms_router())
    web = getattr(app.state, "senhealth_web", None)
    if web is not None:
        from senhealth.web.views import telehealth_room

        routes = web.router.routes
        if not any(getattr(r, "path", None) == telehealth_room.ROUTES[0].path for r in routes):
            routes[0:0] = list(telehealth_room.ROUTES)


def build_rooms_app() -> FastAPI:
    """``uvicorn --factory rooms_support:build_rooms_app``."""
    from senhealth.app import build_app
    from senhealth.core.config import get_settings

    app = build_app(get_settings())
    install_rooms(app)
    return app


def _tokens(settings: Settings) -> TokenService:
    return TokenService.from_config(OAuthConfig.from_settings(settings))


def room_tokens(settings: Settings) -> RoomTokens:
    """Room tokens signed with the live server's key (same data directory)."""
    service = _tokens(settings)
    return RoomTokens(service.key, service.config.issuer)


def _at(minutes: float) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _appointment(aid: str, status: str, start_min: float, actors: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        "description": "Khám từ xa: tăng huyết áp (I10)",
        "start": _at(start_min),
        "end": _at(start_min + 30),
        "participant": [{"actor": {"reference": a}, "status": "accepted"} for a in actors],
    }


@dataclass
class Seeded:
    totp: dict[str, str] = field(default_factory=dict)
    access: dict[str, str] = field(default_factory=dict)  # username -> access token


async def seed(client: httpx.AsyncClient, settings: Settings) -> Seeded:
    """See the module docstring."""
    service = _tokens(settings)
    system = service.mint(
        service.access_claims(client_id="rooms-test-seed", scope="system/*.cruds", user=None)
    )
    headers = {"Authorization": f"Bearer {system}", **JSON}
    resources: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": "bv-tinh", "name": "Bệnh viện Đa khoa tỉnh"},
        {"resourceType": "Organization", "id": "tyt-hoabinh", "name": "Trạm Y tế xã Hòa Bình"},
        {
            "resourceType": "Practitioner",
            "id": "bs-binh",
            "name": [{"family": "Trần", "given": ["Thị", "Bình"], "text": "BS. Trần Thị Bình"}],
        },
        {
            "resourceType": "Practitioner",
            "id": "bs-tam",
            "name": [{"family": "Lý", "given": ["Văn", "Tâm"], "text": "BS. Lý Văn Tâm"}],
        },
        {
            "resourceType": "PractitionerRole",
            "id": "pr-binh",
            "active": True,
            "practitioner": {"reference": "Practitioner/bs-binh"},
            "organization": {"reference": "Organization/bv-tinh"},
        },
        {
            "resourceType": "Patient",
            "id": "p-an",
            "name": [{"family": "Nguyễn", "given": ["Văn", "An"], "text": "Nguyễn Văn An"}],
            "gender": "male",
            "birthDate": "1962-03-15",
            "managingOrganization": {"reference": "Organization/tyt-hoabinh"},
        },
        {
            "resourceType": "Patient",
            "id": "p-hoa",
            "name": [{"family": "Lê", "given": ["Thị", "Hoa"], "text": "Lê Thị Hoa"}],
            "gender": "female",
            "birthDate": "1975-07-02",
            "managingOrganization": {"reference": "Organization/tyt-hoabinh"},
        },
        _appointment("appt-now", "booked", -5, ["Practitioner/bs-binh", "Patient/p-an"]),
        _appointment("appt-role", "arrived", 10, ["PractitionerRole/pr-binh", "Patient/p-an"]),
        _appointment("appt-cancelled", "cancelled", 0, ["Practitioner/bs-binh", "Patient/p-an"]),
        _appointment("appt-later", "booked", 2 * 24 * 60, ["Practitioner/bs-binh", "Patient/p-an"]),
        _appointment("appt-other", "booked", 0, ["Practitioner/bs-binh", "Patient/p-hoa"]),
    ]
    for resource in resources:
        r = await client.put(
            f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=headers
        )
        assert r.status_code in (200, 201), (resource["resourceType"], r.text)
    seeded = Seeded()
    users = [
        ("bs.binh", ["doctor"], "Organization/bv-tinh", "Practitioner/bs-binh", None, "BS. Trần Thị Bình"),
        ("bs.tam", ["doctor"], "Organization/bv-tinh", "Practitioner/bs-tam", None, "BS. Lý Văn Tâm"),
        ("nv.an", ["patient"], None, None, "Patient/p-an", "Nguyễn Văn An"),
        ("nv.hoa", ["patient"], None, None, "Patient/p-hoa", "Lê Thị Hoa"),
    ]
    for username, roles, facility, practitioner, patient, display in users:
        user = await accounts.create_user(
            username,
            PASSWORD,
            roles,
            display_name=display,
            facility=facility,
            practitioner=practitioner,
            patient=patient,
        )
        if "doctor" in roles:
            uri = await accounts.enroll_totp(username)
            seeded.totp[username] = parse_qs(urlparse(uri).query)["secret"][0]
        seeded.access[username] = service.mint(
            service.access_claims(client_id="rooms-test", scope="user/*.cruds", user=user_info(user))
        )
    return seeded


@dataclass
class Live:
    url: str
    settings: Settings
    seeded: Seeded
    system: str  # a system access token, for the test's own look at the store

    def token(self, username: str, appointment: str) -> httpx.Response:
        """``POST /api/telehealth/rooms/{appointment}/token`` as ``username`` (real HTTP)."""
        headers = {"Authorization": f"Bearer {self.seeded.access[username]}"}
        return httpx.post(f"{self.url}/api/telehealth/rooms/{appointment}/token", headers=headers, timeout=30)

    def fhir(self, path: str, **params: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.system}", "Accept": "application/fhir+json"}
        r = httpx.get(f"{self.url}/fhir/{path}", params=params, headers=headers, timeout=30)
        assert r.status_code == 200, r.text[:300]
        body: dict[str, Any] = r.json()
        return body


@contextmanager
def live_server(database_url: str, data_dir: Path, env: dict[str, str] | None = None) -> Iterator[Live]:
    """A schema of its own, seeded, and ``uvicorn --factory rooms_support:build_rooms_app`` serving it on
    a free loopback port; everything is dropped afterwards."""
    with live_web.scratch_platform(database_url, "test_rooms", data_dir) as settings:
        seeded = live_web.seed_platform(settings, lambda client: seed(client, settings))
        # the server imports this module, and this module imports live_web_support from tests/
        with live_web.serve("rooms_support:build_rooms_app", settings, [HERE, HERE.parent], env=env) as base:
            service = _tokens(settings)
            system = service.mint(
                service.access_claims(client_id="rooms-test", scope="system/*.cruds", user=None)
            )
            yield Live(base, settings, seeded, system)
