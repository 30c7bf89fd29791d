"""The province's public care network: one provincial hospital, regional hospitals, a station per commune.

The three levels of care of the Law on Medical Examination and Treatment 2023 (Art. 104: initial,
basic and specialised levels) as a province organises them after the 2025 reform: a provincial general
hospital (Bệnh viện Đa khoa tỉnh) in the most populous commune, regional general hospitals (Bệnh viện
Đa khoa khu vực, about one for 20 communes) spread over the province, and a commune health station
(Trạm Y tế) in every inhabited commune. Each facility has a 5-character code
(:func:`senhealth.demo.identifiers.facility_code`), a location at its commune's centroid and a staff of
synthetic practitioners. Every commune is served by its nearest regional hospital.

This is a model, not a registry: the real facilities of a province, their codes and staff differ.
FHIR: Organization https://hl7.org/fhir/R4/organization.html, Location https://hl7.org/fhir/R4/location.html,
Practitioner https://hl7.org/fhir/R4/practitioner.html, PractitionerRole
https://hl7.org/fhir/R4/practitionerrole.html (built in :mod:`senhealth.demo.facility_resources`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from senhealth.demo.geography import Commune, ProvinceInfo
from senhealth.demo.identifiers import facility_code
from senhealth.demo.names import PersonName, sample_name
from senhealth.demo.streams import new_id, stream

__all__ = ["Facility", "Network", "Staff", "build_network"]

COMMUNES_PER_REGIONAL_HOSPITAL = 20

# (role, count) per level; roles: doctor (bác sĩ), assistant (y sĩ), nurse (điều dưỡng), midwife (hộ sinh)
STAFFING: dict[str, tuple[tuple[str, int], ...]] = {
    "provincial": (("doctor", 16), ("nurse", 8)),
    "regional": (("doctor", 8), ("nurse", 4)),
    "commune": (("doctor", 1), ("assistant", 1), ("midwife", 1)),
}
SPECIALTIES = ("Nội khoa", "Nhi khoa", "Ngoại khoa", "Truyền nhiễm", "Sản khoa", "Hồi sức cấp cứu")


@dataclass(frozen=True, slots=True)
class Staff:
    """A synthetic practitioner and the role they hold at one facility."""

    id: str
    role_id: str
    role: str
    name: PersonName
    gender: str
    birth_date: date
    licence: str
    specialty: str | None

    @property
    def prescribes(self) -> bool:
        """Doctors and assistant physicians (y sĩ) see patients on their own."""
        return self.role in ("doctor", "assistant")


@dataclass(frozen=True, slots=True)
class Facility:
    key: str
    level: str  # "provincial" | "regional" | "commune"
    code: str
    name: str
    commune: Commune
    organization_id: str
    location_id: str
    staff: tuple[Staff, ...]
    clinicians: tuple[Staff, ...] = field(default=())

    def clinician(self, rng: random.Random) -> Staff:
        """A clinician of this facility who sees the patient."""
        return rng.choice(self.clinicians)


@dataclass(frozen=True, slots=True)
class Network:
    province: ProvinceInfo
    department_id: str
    department_location: Commune
    provincial: Facility
    regional: tuple[Facility, ...]
    stations: dict[str, Facility]  # by commune code
    regional_of: dict[str, Facility]  # commune code → its regional hospital

    def facilities(self) -> list[Facility]:
        """Every facility: the provincial hospital, the regional hospitals, the stations by commune code."""
        return [self.provincial, *self.regional, *(self.stations[c] for c in sorted(self.stations))]

    def station_of(self, commune_code: str) -> Facility:
        return self.stations[commune_code]

    def facility_at(self, level: str, commune_code: str) -> Facility:
        """The facility of ``level`` that serves the commune."""
        if level == "commune":
            return self.stations[commune_code]
        if level == "regional":
            return self.regional_of[commune_code]
        return self.provincial


def _distance(a: Commune, b: Commune) -> float:
    """Equirectangular distance in km: enough to rank nearby communes."""
    x = math.radians(b.longitude - a.longitude) * math.cos(math.radians((a.latitude + b.latitude) / 2))
    y = math.radians(b.latitude - a.latitude)
    return 6371.0 * math.hypot(x, y)


def _hubs(communes: list[Commune], capital: Commune, count: int) -> list[Commune]:
    """Regional-hospital communes: farthest-point picks among the more populous half, from the capital."""
    by_population = sorted(communes, key=lambda c: (-c.population, c.code))
    candidates = by_population[: max(count, len(communes) // 2)]
    centres = [capital]
    hubs: list[Commune] = []
    for _ in range(count):
        best = max(
            (c for c in candidates if c not in centres),
            key=lambda c: (min(_distance(c, h) for h in centres) * math.sqrt(c.population + 1), c.code),
        )
        centres.append(best)
        hubs.append(best)
    return sorted(hubs, key=lambda c: c.code)


def _staff(
    rng: random.Random, level: str, province: ProvinceInfo, as_of: date, start: int
) -> tuple[Staff, ...]:
    members: list[Staff] = []
    number = start
    for role, count in STAFFING[level]:
        for _ in range(count):
            female_share = {"doctor": 0.45, "assistant": 0.5, "nurse": 0.85, "midwife": 1.0}[role]
            gender = "female" if rng.random() < female_share else "male"
            age = rng.randint(25, 59)
            birth = as_of - timedelta(days=int(age * 365.25) + rng.randint(0, 364))
            name = sample_name(rng, gender, birth.year, province.region)
            specialty = rng.choice(SPECIALTIES) if role == "doctor" and level != "commune" else None
            number += 1
            members.append(
                Staff(
                    id=new_id(rng),
                    role_id=new_id(rng),
                    role=role,
                    name=name,
                    gender=gender,
                    birth_date=birth,
                    licence=f"{number:06d}/{province.abbreviation}-CCHN",
                    specialty=specialty,
                )
            )
    return tuple(members)


def _facility(
    rng: random.Random,
    key: str,
    level: str,
    sequence: int,
    name: str,
    commune: Commune,
    province: ProvinceInfo,
    as_of: date,
) -> Facility:
    staff = _staff(rng, level, province, as_of, start=sequence * 100)
    return Facility(
        key=key,
        level=level,
        code=facility_code(province.code, sequence),
        name=name,
        commune=commune,
        organization_id=new_id(rng),
        location_id=new_id(rng),
        staff=staff,
        clinicians=tuple(s for s in staff if s.prescribes),
    )


def build_network(province: ProvinceInfo, seed: int, as_of: date) -> Network:
    """The facilities of ``province`` (deterministic for ``seed``); communes with no population get none."""
    rng = stream(seed, "network", province.code)
    inhabited = [c for c in province.communes if c.population > 0] or list(province.communes)
    capital = max(inhabited, key=lambda c: (c.kind == "phường", c.population, c.code))
    count = max(1, round(len(inhabited) / COMMUNES_PER_REGIONAL_HOSPITAL))
    hubs = _hubs(inhabited, capital, count)
    unit = province.full_name[:1].lower() + province.full_name[1:]
    department_id = new_id(rng)
    provincial = _facility(
        rng, "provincial", "provincial", 1, f"Bệnh viện Đa khoa {unit}", capital, province, as_of
    )
    regional = tuple(
        _facility(
            rng,
            f"regional-{hub.code}",
            "regional",
            2 + i,
            f"Bệnh viện Đa khoa khu vực {hub.short_name}",
            hub,
            province,
            as_of,
        )
        for i, hub in enumerate(hubs)
    )
    stations = {
        commune.code: _facility(
            rng,
            f"station-{commune.code}",
            "commune",
            101 + i,
            f"Trạm Y tế {commune.name[:1].lower()}{commune.name[1:]}",
            commune,
            province,
            as_of,
        )
        for i, commune in enumerate(inhabited)
    }
    regional_of = {
        commune.code: min(regional, key=lambda f: (_distance(commune, f.commune), f.code))
        for commune in inhabited
    }
    return Network(province, department_id, capital, provincial, regional, stations, regional_of)
