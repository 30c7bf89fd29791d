"""A small synthetic province loaded once per test module (indicators, 14/BCT, DHIS2 tests).

``loaded_province(database_url)`` makes a schema of its own in the session's test database, migrates it,
loads a 150-citizen demo province of Bắc Ninh (``senhealth.demo.generate_resources``) with a few edits
that the reports must see (deaths, a diagnosis that differs from the reason code, a facility of another
province), and drops the schema afterwards.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from senhealth.core.db import create_pool
from senhealth.core.migrate import migrate
from senhealth.demo.generator import generate_resources
from senhealth.fhir.store import FhirStore

T = TypeVar("T")

CITIZENS = 150
PROVINCE = "24"
UNIT = "https://senhealth.vn/fhir/StructureDefinition/administrative-unit"


@dataclass
class Province:
    url: str
    schema: str
    year: int
    month: int
    resources: list[dict[str, Any]] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)  # encounter ids discharged as expired
    foreign_org: str = ""  # an Organization of province 01 with encounters of the month

    def run(self, work: Callable[[FhirStore], Awaitable[T]]) -> T:
        async def main() -> T:
            pool = create_pool(self.url, min_size=1, max_size=3)
            await pool.open(wait=True)
            try:
                return await work(FhirStore(pool))
            finally:
                await pool.close()

        return asyncio.run(main())


def _month_key(start: str) -> tuple[int, int]:
    return int(start[:4]), int(start[5:7])


def _edit(resources: list[dict[str, Any]]) -> tuple[int, int, list[str], dict[str, Any]]:
    """Pick the month with the most inpatient discharges; make deaths, a differing diagnosis, a foreign facility."""
    encounters = [r for r in resources if r["resourceType"] == "Encounter"]
    inpatient = [e for e in encounters if e["class"]["code"] == "IMP" and e.get("period", {}).get("end")]
    year, month = Counter(_month_key(e["period"]["end"]) for e in inpatient).most_common(1)[0][0]
    dead = []
    for e in [e for e in inpatient if _month_key(e["period"]["end"]) == (year, month)][:2]:
        e["hospitalization"]["dischargeDisposition"] = {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/discharge-disposition", "code": "exp"}
            ]
        }
        dead.append(e["id"])
    # an emergency visit of the month that ends in death too (counted as an outpatient death)
    month_amb = [
        e
        for e in encounters
        if e["class"]["code"] in ("AMB", "EMER") and _month_key(e["period"]["start"]) == (year, month)
    ]
    if month_amb:
        month_amb[0]["hospitalization"] = {
            "dischargeDisposition": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/discharge-disposition", "code": "exp"}
                ]
            }
        }
        dead.append(month_amb[0]["id"])
    # a visit whose principal diagnosis (rank 1) differs from its reason code: the diagnosis wins
    with_dx = [e for e in month_amb[1:] if e.get("diagnosis")]
    conditions = {r["id"]: r for r in resources if r["resourceType"] == "Condition"}
    if with_dx:
        cond_id = with_dx[0]["diagnosis"][0]["condition"]["reference"].split("/")[1]
        conditions[cond_id]["code"]["coding"][0]["code"] = "K29.7"
    # a facility of another province (Hà Nội, 01) that saw some of the month's patients
    hospital = next(r for r in resources if r["resourceType"] == "Organization" and r.get("identifier"))
    foreign = copy.deepcopy(hospital)
    foreign["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "senhealth-test/foreign-hospital"))
    foreign["identifier"][0]["value"] = "01001"
    foreign["name"] = "Bệnh viện ngoài tỉnh"
    for ext in foreign["address"][0]["extension"][0]["extension"]:
        if ext["url"] == "province":
            ext["valueCoding"] = {"system": ext["valueCoding"]["system"], "code": "01", "display": "Hà Nội"}
        if ext["url"] == "commune":
            ext["valueCoding"] = {
                "system": ext["valueCoding"]["system"],
                "code": "00004",
                "display": "Ba Đình",
            }
    resources.append(foreign)
    for e in month_amb[-3:]:
        e["serviceProvider"] = {"reference": f"Organization/{foreign['id']}"}
    return year, month, dead, foreign


@contextmanager
def loaded_province(database_url: str, extra: Callable[[Province], None] | None = None) -> Iterator[Province]:
    """See the module docstring; ``extra(province)`` may edit ``province.resources`` before they are loaded."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    try:
        migrate(url)
        resources = list(generate_resources(CITIZENS, seed=5))
        year, month, dead, foreign = _edit(resources)
        province = Province(url, schema, year, month, resources, dead, foreign["id"])
        if extra is not None:
            extra(province)

        async def load(store: FhirStore) -> None:
            report = await store.load(resources)
            assert not report.rejected, report

        province.run(load)
        yield province
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
