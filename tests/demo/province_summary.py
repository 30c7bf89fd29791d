"""A 2,000-citizen province summarised in one pass (used by the ``province`` fixture of ``conftest.py``).

Generating 2,000 citizens takes a couple of seconds; the summary keeps what the tests check (patients,
chronic conditions, epidemic cases by month, unresolved references, codes used) and drops the rest, so
the fixture is as light as the generator.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from senhealth.demo.context import DEFAULT_AS_OF
from senhealth.demo.generator import generate_province

CITIZENS = 2000
SEED = 20251231


def references(value: Any) -> Iterator[str]:
    """Every ``reference`` string inside a resource."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def age_on(birth: str, day: date) -> int:
    born = date.fromisoformat(birth)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@dataclass
class ProvinceSummary:
    seconds: float = 0.0
    network: dict[str, Any] = field(default_factory=dict)
    patients: list[dict[str, Any]] = field(default_factory=list)
    chronic: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    case_months: Counter[tuple[str, int]] = field(default_factory=Counter)
    case_ages: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    icd_codes: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)
    resources: Counter[str] = field(default_factory=Counter)
    encounter_classes: Counter[tuple[str, str]] = field(default_factory=Counter)
    systolic: dict[bool, list[int]] = field(default_factory=lambda: defaultdict(list))
    hba1c: dict[bool, list[float]] = field(default_factory=lambda: defaultdict(list))
    glucose: dict[bool, list[float]] = field(default_factory=lambda: defaultdict(list))
    bundles: int = 0

    def adults(self) -> list[dict[str, Any]]:
        return [p for p in self.patients if age_on(p["birthDate"], DEFAULT_AS_OF) >= 18]


def _network_targets(network: dict[str, Any]) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in network["entry"]}


def summarise(citizens: int = CITIZENS, seed: int = SEED) -> ProvinceSummary:
    summary = ProvinceSummary()
    started = time.perf_counter()
    bundles = generate_province(citizens, seed)
    summary.network = next(bundles)
    shared = _network_targets(summary.network)
    network_urls = {e["fullUrl"] for e in summary.network["entry"]}
    for entry in summary.network["entry"]:
        summary.resources[entry["resource"]["resourceType"]] += 1
        summary.unresolved += [r for r in references(entry["resource"]) if r not in network_urls]
    for bundle in bundles:
        summary.bundles += 1
        own = {e["fullUrl"] for e in bundle["entry"]}
        resources = [e["resource"] for e in bundle["entry"]]
        patient = resources[0]
        summary.patients.append(patient)
        birth = patient["birthDate"]
        pid = patient["id"]
        htn = dia = False
        for resource in resources:
            kind = resource["resourceType"]
            summary.resources[kind] += 1
            for ref in references(resource):
                if not (ref in own or ref in shared):
                    summary.unresolved.append(ref)
            if kind == "Condition":
                code = resource["code"]["coding"][0]["code"]
                summary.icd_codes.add(code)
                category = resource["category"][0]["coding"][0]["code"]
                if category == "problem-list-item":
                    summary.chronic[pid].add(code)
                    htn |= code == "I10"
                    dia |= code.startswith("E11")
                elif code.startswith(("A90", "A97", "B08.4")):
                    key = "hfmd" if code == "B08.4" else "dengue"
                    day = date.fromisoformat(resource["recordedDate"][:10])
                    summary.case_months[(key, day.month)] += 1
                    summary.case_ages[key].append(age_on(birth, day))
            elif kind == "Encounter":
                summary.encounter_classes[(resource["class"]["code"], resource["type"][0]["text"])] += 1
                for reason in resource["reasonCode"]:
                    summary.icd_codes.add(reason["coding"][0]["code"])
            elif kind == "Observation":
                code = resource["code"]["coding"][0]["code"]
                if code == "85354-9":
                    summary.systolic[htn].append(resource["component"][0]["valueQuantity"]["value"])
                elif code == "4548-4":
                    summary.hba1c[dia].append(resource["valueQuantity"]["value"])
                elif code == "2345-7":
                    summary.glucose[dia].append(resource["valueQuantity"]["value"])
    summary.seconds = time.perf_counter() - started
    return summary
