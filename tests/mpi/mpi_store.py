"""Synthetic Patients in a real FHIR store, for the patient-index tests (the job, ``$everything``, the CLI).

:func:`patient_resource` writes a :class:`senhealth.mpi.record.Candidate` as the FHIR Patient the demo
generator would (https://hl7.org/fhir/R4/patient.html): official name, gender, birth date, the commune
in the administrative-unit extension, a mobile phone and the personal-ID identifier. Synthetic only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.db import close_pool, get_pool, open_pool
from senhealth.fhir.access import AccessEvent
from senhealth.fhir.store import FhirStore
from senhealth.mpi.identifiers import CCCD_SYSTEM
from senhealth.mpi.record import ADMIN_UNIT_EXTENSION, Candidate

T = TypeVar("T")
SYNTHETIC = {"system": "https://senhealth.vn/fhir/tag", "code": "synthetic"}


def patient_resource(c: Candidate) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": c.id,
        "meta": {"tag": [SYNTHETIC]},
        "active": True,
        "name": [{"use": "official", "family": c.family, "given": list(c.given)}],
    }
    if c.sex:
        out["gender"] = c.sex
    if c.birth_date:
        out["birthDate"] = c.birth_date.isoformat()
    if c.cccd:
        out["identifier"] = [{"system": CCCD_SYSTEM, "value": c.cccd}]
    if c.phone:
        out["telecom"] = [{"system": "phone", "value": c.phone, "use": "mobile"}]
    if c.commune:
        unit = {"url": "commune", "valueCoding": {"code": c.commune}}
        out["address"] = [{"use": "home", "extension": [{"url": ADMIN_UNIT_EXTENSION, "extension": [unit]}]}]
    return out


def run_with_store(url: str, body: Callable[[FhirStore], Awaitable[T]]) -> T:
    """Run ``body(store)`` with the process pool open on ``url`` (as the worker and the CLI have it)."""

    async def main() -> T:
        await open_pool(url, max_size=8)
        try:
            return await body(FhirStore(get_pool()))
        finally:
            await close_pool()

    return asyncio.run(main())


class Recorder:
    """An audit sink that keeps the events in memory (what the patient index's work recorded)."""

    def __init__(self) -> None:
        self.events: list[AccessEvent] = []

    async def record(self, conn: AsyncConnection[TupleRow], event: AccessEvent) -> None:
        self.events.append(event)
