"""The platform as the consult tests need it: a migrated schema, a test PKI, the assembled app
(``senhealth.app.build_app``: sign-in, the role policy, the audit log, ``$sign``) with the consult operations
and topics added when the platform does not have them yet, served by uvicorn on loopback in the test's event
loop, a job worker (rest-hook delivery) and a rest-hook receiver.

Synthetic data (Vietnamese names, invented): a commune station ``tyt-xa`` (Trạm Y tế xã Tân Phú), the
provincial hospital ``bv-tinh``, a district centre ``ttyt-huyen`` that is not in the consult; Dr An
(``bs-an``, commune health worker at the station), Dr Bình (``bs-binh``, cardiologist at the hospital),
Dr Cường (``bs-cuong``, another doctor at the hospital), Dr Dũng (``bs-dung``, at the district centre);
Mrs Lan, recorded at the station (``p-lan``) and at the hospital (``p-lan-bv``, linked through the patient
index with ``seealso``), her encounter at the station, an ECG Observation and a troponin result.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

_TESTS = Path(__file__).resolve().parents[1]
for _folder in (_TESTS / "emr", _TESTS / "fhir" / "subscriptions"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from emr_pki_support import TestPki, make_test_pki  # noqa: E402
from subscriptions_support import LoopServer, Receiver  # noqa: E402

from senhealth.core.config import Settings  # noqa: E402
from senhealth.core.db import close_pool, open_pool  # noqa: E402
from senhealth.fhir import access, subscriptions  # noqa: E402
from senhealth.fhir.operations.registry import get_operation  # noqa: E402
from senhealth.fhir.store import FhirStore  # noqa: E402
from senhealth.fhir.subscriptions import topics as topic_registry  # noqa: E402
from senhealth.fhir.subscriptions.config import configure as configure_subscriptions  # noqa: E402
from senhealth.fhir.subscriptions.config import get_config as subscription_config  # noqa: E402
from senhealth.security import accounts  # noqa: E402
from senhealth.security.directory import user_info  # noqa: E402
from senhealth.security.oauth.config import OAuthConfig  # noqa: E402
from senhealth.security.oauth.tokens import TokenService  # noqa: E402

__all__ = ["Live", "consult_topics", "live_platform", "params"]

PASSWORD: Final = "mat-khau-hoi-chan-42"  # synthetic test password
FHIR: Final = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
STATION, HOSPITAL, DISTRICT = "tyt-xa", "bv-tinh", "ttyt-huyen"
PATIENT, PATIENT_AT_HOSPITAL = "p-lan", "p-lan-bv"
USERS: Final = {  # username: (role, facility, practitioner, display)
    "bs.an": ("commune_health_worker", STATION, "bs-an", "BS. Nguyễn Văn An"),
    "bs.binh": ("doctor", HOSPITAL, "bs-binh", "BS CKII. Trần Thị Bình"),
    "bs.cuong": ("doctor", HOSPITAL, "bs-cuong", "BS. Lê Văn Cường"),
    "bs.dung": ("doctor", DISTRICT, "bs-dung", "BS. Phạm Văn Dũng"),
}


def _ref(ref: str) -> dict[str, str]:
    return {"reference": ref}


def resources() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": STATION, "name": "Trạm Y tế xã Tân Phú"},
        {"resourceType": "Organization", "id": HOSPITAL, "name": "Bệnh viện Đa khoa tỉnh"},
        {"resourceType": "Organization", "id": DISTRICT, "name": "Trung tâm Y tế huyện Đông Sơn"},
    ]
    for role, facility, practitioner, display in USERS.values():
        family, *given = display.split(". ", 1)[1].split(" ")
        out.append(
            {
                "resourceType": "Practitioner",
                "id": practitioner,
                "name": [{"family": family, "given": given, "text": display}],
            }
        )
        out.append(
            {
                "resourceType": "PractitionerRole",
                "id": f"pr-{practitioner}",
                "practitioner": _ref(f"Practitioner/{practitioner}"),
                "organization": _ref(f"Organization/{facility}"),
                "code": [{"text": role}],
            }
        )
    lan = {"family": "Hoàng", "given": ["Thị", "Lan"], "text": "Hoàng Thị Lan"}
    out += [
        {
            "resourceType": "Patient",
            "id": PATIENT,
            "name": [lan],
            "gender": "female",
            "birthDate": "1958-04-12",
            "managingOrganization": _ref(f"Organization/{STATION}"),
            "link": [{"other": _ref(f"Patient/{PATIENT_AT_HOSPITAL}"), "type": "seealso"}],
        },
        {
            "resourceType": "Patient",
            "id": PATIENT_AT_HOSPITAL,
            "name": [lan],
            "gender": "female",
            "birthDate": "1958-04-12",
            "managingOrganization": _ref(f"Organization/{HOSPITAL}"),
            "link": [{"other": _ref(f"Patient/{PATIENT}"), "type": "seealso"}],
        },
        {
            "resourceType": "Encounter",
            "id": "enc-lan-1",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": _ref(f"Patient/{PATIENT}"),
            "serviceProvider": _ref(f"Organization/{STATION}"),
            "period": {"start": "2026-03-02T08:00:00+07:00"},
        },
        {
            "resourceType": "Observation",
            "id": "ecg-lan-1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6"}], "text": "Điện tim / ECG"},
            "subject": _ref(f"Patient/{PATIENT}"),
            "encounter": _ref("Encounter/enc-lan-1"),
            "valueString": "Nhịp xoang 98 l/ph, ST chênh lên 1 mm V2–V4",
        },
        {
            "resourceType": "Observation",
            "id": "trop-lan-1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "6598-7"}], "text": "Troponin T"},
            "subject": _ref(f"Patient/{PATIENT}"),
            "valueQuantity": {
                "value": 0.08,
                "unit": "ng/mL",
                "system": "http://unitsofmeasure.org",
                "code": "ng/mL",
            },
        },
        {  # another patient of the district centre: not the station's
            "resourceType": "Patient",
            "id": "p-khac",
            "name": [{"family": "Đỗ", "given": ["Văn", "Khác"]}],
            "managingOrganization": _ref(f"Organization/{DISTRICT}"),
        },
    ]
    return out


def params(**values: Any) -> dict[str, Any]:
    """A Parameters body: a dict with ``reference`` → valueReference, ``data`` → valueAttachment, ``coding``
    → valueCodeableConcept, a list → repeated, an int → valueInteger, other text → valueString."""
    out: list[dict[str, Any]] = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and "reference" in item:
                out.append({"name": name, "valueReference": item})
            elif isinstance(item, dict) and "data" in item:
                out.append({"name": name, "valueAttachment": item})
            elif isinstance(item, dict):
                out.append({"name": name, "valueCodeableConcept": item})
            elif isinstance(item, int):
                out.append({"name": name, "valueInteger": item})
            else:
                out.append({"name": name, "valueString": item})
    return {"resourceType": "Parameters", "parameter": out}


def out(body: dict[str, Any], name: str) -> list[Any]:
    """The values of parameter ``name`` in an operation's answer."""
    found = []
    for p in body.get("parameter", []):
        if p["name"] == name:
            found.append(p.get("resource") or next(v for k, v in p.items() if k.startswith("value")))
    return found


@contextmanager
def consult_topics() -> Iterator[None]:
    """The consult topics in the FHIR core's topic registry, and the subscriptions' hook on their types, for
    as long as the platform does not register them itself; everything put back afterwards."""
    from senhealth.telehealth.consults import CONSULT_TOPICS

    saved = (topic_registry.TOPICS, dict(topic_registry._BY_URL), dict(topic_registry._BY_ID))
    missing = tuple(t for t in CONSULT_TOPICS if topic_registry.topic_by_url(t.url) is None)
    mp = pytest.MonkeyPatch()
    try:
        if missing:
            mp.setattr(topic_registry, "TOPICS", saved[0] + missing)
            mp.setattr(topic_registry, "_BY_URL", {**saved[1], **{t.url: t for t in missing}})
            mp.setattr(topic_registry, "_BY_ID", {**saved[2], **{t.id: t for t in missing}})
        subscriptions.uninstall()
        subscriptions.install()  # the hook again, now on the Task and Communication types too
        yield
    finally:
        subscriptions.uninstall()
        mp.undo()


@dataclass
class Live:
    url: str
    settings: Settings
    store: FhirStore
    client: httpx.AsyncClient
    tokens: dict[str, str]
    receiver: Receiver

    def auth(self, username: str) -> dict[str, str]:
        return {**FHIR, "Authorization": f"Bearer {self.tokens[username]}"}

    async def op(self, username: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(f"/fhir/{path}", json=body, headers=self.auth(username))

    async def get(self, username: str, path: str, **query: str) -> httpx.Response:
        return await self.client.get(f"/fhir/{path}", params=query, headers=self.auth(username))


async def _seed(settings: Settings, store: FhirStore, pki: TestPki) -> dict[str, str]:
    for resource in resources():
        await store.update(resource)
    service = TokenService.from_config(OAuthConfig.from_settings(settings))
    tokens = {}
    for username, (role, facility, practitioner, display) in USERS.items():
        user = await accounts.create_user(
            username, PASSWORD, [role], display_name=display, facility=f"Organization/{facility}",
            practitioner=f"Practitioner/{practitioner}",
        )  # fmt: skip
        await accounts.enroll_totp(username)
        pki.issue_user(username, display)
        tokens[username] = service.mint(
            service.access_claims(client_id="consult-test", scope="user/*.cruds", user=user_info(user))
        )
    return tokens


@asynccontextmanager
async def live_platform(url: str, data_dir: Path) -> AsyncIterator[Live]:
    """The platform on ``url`` (a migrated schema) with everything the consults need (module docstring)."""
    from senhealth.app import build_app
    from senhealth.jobs.worker import run_worker
    from senhealth.telehealth.consults import register_consult_operations, unregister_consult_operations

    saved = subscription_config().model_dump()
    configure_subscriptions(backoff_base_s=0.1, backoff_max_s=0.4)
    settings = Settings(
        database_url=url, data_dir=data_dir, auth_required=True, facility_networks=["127.0.0.0/8"]
    )
    added = get_operation("consult-request") is None
    with make_test_pki(data_dir) as pki, consult_topics():
        if added:
            register_consult_operations()
        await open_pool(url, max_size=12)
        worker: asyncio.Task[None] | None = None
        api: LoopServer | None = None
        receiver = Receiver()
        try:
            store = FhirStore()
            tokens = await _seed(settings, store, pki)
            app = build_app(settings)
            api = LoopServer(app)
            await api.start()
            await receiver.start()
            from senhealth.fhir.subscriptions import delivery  # noqa: F401  (the worker's tasks)

            worker = asyncio.create_task(
                run_worker(
                    install_signal_handlers=False, poll_interval_s=0.1, concurrency=2, shutdown_timeout_s=5
                )
            )
            async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
                yield Live(api.url, settings, store, client, tokens, receiver)
        finally:
            if worker is not None:
                worker.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await worker
            await receiver.stop()
            if api is not None:
                await api.stop()
            await close_pool()
            if added:
                unregister_consult_operations()
            access.install(policy=access.OPEN, sink=access.NO_AUDIT)  # build_app installed the platform's
            configure_subscriptions(**saved)
