"""Childhood immunisation of the Expanded Programme on Immunization (Tiêm chủng mở rộng, TCMR).

The schedule of Viet Nam's EPI as the Ministry of Health publishes it (Circular 38/2017/TT-BYT on
compulsory vaccines, since updated; National EPI, https://tiemchungmorong.vn), simplified: hepatitis B
at birth, BCG in the first month, the pentavalent DTP-HepB-Hib and bivalent oral polio at 2, 3 and 4
months, inactivated polio at 5 and 9 months, measles at 9 months, measles-rubella and a DTP booster at
18 months, Japanese encephalitis at 1 year (two doses a week or two apart) and 2 years. Each dose is given
with a probability of 95 % and a delay of a few days to weeks. The current schedule is applied to every
child born in the last 15 years (the older schedules differed a little); adults get no records.

Vaccines are coded in CVX (http://hl7.org/fhir/sid/cvx, https://www2.cdc.gov/vaccines/iis/iisstandards/vaccines.asp),
the code system FHIR's Immunization example binding uses, with the Vietnamese name as text.
FHIR Immunization: https://hl7.org/fhir/R4/immunization.html .
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from senhealth.demo.fhir_types import concept, fhir_date, fhir_datetime, narrative

__all__ = ["CVX", "EPI_SCHEDULE", "Dose", "immunization", "scheduled_doses"]

CVX = "http://hl7.org/fhir/sid/cvx"
ROUTE = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
SERIES = "Tiêm chủng mở rộng"
COVERAGE = 0.95
HISTORY_YEARS = 15


@dataclass(frozen=True, slots=True)
class Dose:
    cvx: str
    cvx_display: str
    text: str
    dose_number: int
    age_days: int  # scheduled age
    route: str  # v3 RouteOfAdministration
    route_display: str


def _doses(
    cvx: str, display: str, text: str, route: str, route_display: str, ages: tuple[int, ...]
) -> list[Dose]:
    return [Dose(cvx, display, text, n, age, route, route_display) for n, age in enumerate(ages, 1)]


EPI_SCHEDULE: tuple[Dose, ...] = tuple(
    sorted(
        [
            *_doses(
                "08",
                "Hep B, adolescent or pediatric",
                "Viêm gan B sơ sinh",
                "IM",
                "Injection, intramuscular",
                (0,),
            ),
            *_doses("19", "BCG", "Lao (BCG)", "IDINJ", "Injection, intradermal", (7,)),
            *_doses(
                "102",
                "DTP-Hib-Hep B",
                "Bạch hầu - Ho gà - Uốn ván - Viêm gan B - Hib",
                "IM",
                "Injection, intramuscular",
                (61, 91, 122),
            ),
            *_doses("178", "OPV bivalent", "Bại liệt uống (bOPV)", "PO", "Swallow, oral", (61, 91, 122)),
            *_doses("10", "IPV", "Bại liệt tiêm (IPV)", "IM", "Injection, intramuscular", (152, 274)),
            *_doses("05", "measles", "Sởi", "SQ", "Injection, subcutaneous", (274,)),
            *_doses("04", "M/R", "Sởi - Rubella", "SQ", "Injection, subcutaneous", (548,)),
            *_doses(
                "01", "DTP", "Bạch hầu - Ho gà - Uốn ván (nhắc lại)", "IM", "Injection, intramuscular", (548,)
            ),
            *_doses(
                "39",
                "Japanese encephalitis SC",
                "Viêm não Nhật Bản",
                "SQ",
                "Injection, subcutaneous",
                (365, 375, 730),
            ),
        ],
        key=lambda d: (d.age_days, d.cvx, d.dose_number),
    )
)


def scheduled_doses(rng: random.Random, birth: date, as_of: date) -> Iterator[tuple[Dose, date]]:
    """The doses a child born on ``birth`` has had by ``as_of`` (none for people born earlier than 15 years)."""
    if (as_of - birth).days > HISTORY_YEARS * 365.25:
        return
    for dose in EPI_SCHEDULE:
        if rng.random() >= COVERAGE:
            continue
        delay = 0 if dose.age_days == 0 else min(60, int(rng.expovariate(1 / 8)))
        given = birth + timedelta(days=dose.age_days + delay)
        if given <= as_of:
            yield dose, given


def immunization(
    rng: random.Random,
    imm_id: str,
    dose: Dose,
    given: date,
    patient: dict[str, str],
    station: dict[str, str],
    location: dict[str, str],
) -> dict[str, Any]:
    """A completed Immunization given at the commune station."""
    moment = datetime.combine(
        given, time(hour=rng.choice((7, 8, 9, 10, 14, 15)), minute=rng.choice((0, 15, 30, 45)))
    )
    return {
        "resourceType": "Immunization",
        "id": imm_id,
        "text": narrative(f"{dose.text}, mũi {dose.dose_number}, {given:%d/%m/%Y}"),
        "status": "completed",
        "vaccineCode": concept(CVX, dose.cvx, dose.cvx_display, dose.text),
        "patient": patient,
        "occurrenceDateTime": fhir_datetime(moment),
        "recorded": fhir_date(given),
        "primarySource": True,
        "location": location,
        "lotNumber": f"{given.year % 100:02d}{rng.randrange(10**5):05d}",
        "route": concept(ROUTE, dose.route, dose.route_display),
        "performer": [{"actor": station}],
        "protocolApplied": [{"series": SERIES, "doseNumberPositiveInt": dose.dose_number}],
    }
