"""A small synthetic province in a migrated schema, and helpers the campaign tests share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from store_runner_support import run_with_store

from senhealth.core.migrate import migrate
from senhealth.demo.generator import generate_resources
from senhealth.fhir.store import FhirStore

T = TypeVar("T")

CITIZENS = 90
SEED = 7
CCCD = "https://senhealth.vn/fhir/sid/cccd"
ENCOUNTER_TYPE = "https://senhealth.vn/fhir/CodeSystem/encounter-type"
SOCIAL = "https://senhealth.vn/fhir/CodeSystem/social-status"


def run_async(url: str, fn: Callable[[FhirStore], Awaitable[T]]) -> T:
    """Run ``fn(store)`` on a pool opened on ``url`` (a migrated schema)."""
    return run_with_store(url, fn)


@dataclass
class Province:
    resources: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, res_type: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["resourceType"] == res_type]

    def station_of(self, patient: dict[str, Any]) -> str:
        return str(patient["managingOrganization"]["reference"].split("/")[1])

    def cccd(self, patient: dict[str, Any]) -> str:
        return next(str(i["value"]) for i in patient["identifier"] if i["system"] == CCCD)

    def busiest_station(self) -> str:
        counts: dict[str, int] = {}
        for p in self.of_type("Patient"):
            counts[self.station_of(p)] = counts.get(self.station_of(p), 0) + 1
        return max(sorted(counts), key=lambda k: counts[k])

    def hospital(self) -> str:
        stations = {self.station_of(p) for p in self.of_type("Patient")}
        return next(
            str(o["id"]) for o in self.of_type("Organization") if o["id"] not in stations and o.get("partOf")
        )


def load_province(url: str) -> Province:
    migrate(url)
    province = Province(list(generate_resources(CITIZENS, SEED)))

    async def load(store: FhirStore) -> None:
        report = await store.load(province.resources, on_error="raise")
        assert report.total == len(province.resources)

    run_async(url, load)
    return province


def checkup_encounter(
    enc_id: str, patient: str, org: str, start: str, *, status: str = "finished"
) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": enc_id,
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": ENCOUNTER_TYPE, "code": "checkup"}]}],
        "subject": {"reference": f"Patient/{patient}"},
        "period": {"start": start, "end": start},
        "serviceProvider": {"reference": f"Organization/{org}"},
    }


def social_status(obs_id: str, patient: str, code: str, start: str, end: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "social-history",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": SOCIAL, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectivePeriod": {"start": start, "end": end},
        "valueBoolean": True,
    }
