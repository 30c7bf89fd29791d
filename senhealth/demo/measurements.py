"""Values of vital signs and common labs for one citizen at one visit.

Values vary around the citizen's baselines (:class:`senhealth.demo.person.Body`), so they depend on the
person's conditions: hypertension raises blood pressure, diabetes glucose and HbA1c, dyslipidaemia
cholesterol, chronic kidney disease creatinine, fever the temperature and heart rate, dengue lowers the
platelet count and raises the haematocrit with its severity.

Children grow along approximate median curves (WHO Child Growth Standards 2006 and Growth Reference
2007, https://www.who.int/tools/child-growth-standards), scaled to the adult height the child will
reach; heart rate by age from paediatric reference ranges. Units are the ones the LOINC codes in
:mod:`senhealth.demo.observations` name (glucose, cholesterol and creatinine in mg/dL). Approximate.
"""

from __future__ import annotations

import bisect
import random
from datetime import date

from senhealth.demo.person import Citizen
from senhealth.demo.streams import truncated_gauss

__all__ = ["Measurer", "height_on", "weight_on"]

# age (years) → median height (cm) and BMI
_AGES = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0)
_HEIGHT = {
    "male": (
        50.0,
        61.0,
        67.5,
        75.5,
        87.5,
        96.0,
        103.0,
        110.0,
        116.0,
        127.5,
        138.0,
        149.0,
        163.0,
        170.0,
        172.0,
    ),
    "female": (
        49.0,
        59.5,
        65.5,
        74.0,
        86.0,
        95.0,
        102.5,
        109.0,
        115.0,
        127.0,
        138.5,
        151.0,
        157.5,
        159.5,
        160.0,
    ),
}
_BMI = (13.4, 16.2, 17.2, 17.0, 16.2, 15.8, 15.4, 15.3, 15.3, 15.6, 16.5, 17.6, 19.0, 20.3, 21.2)
_HEART_RATE = ((0.0, 130.0), (1.0, 115.0), (3.0, 102.0), (6.0, 90.0), (12.0, 80.0), (18.0, 76.0))


def _interpolate(table: tuple[float, ...], age: float) -> float:
    if age >= _AGES[-1]:
        return table[-1]
    i = bisect.bisect_right(_AGES, age) - 1
    a0, a1 = _AGES[i], _AGES[i + 1]
    return table[i] + (table[i + 1] - table[i]) * (age - a0) / (a1 - a0)


def height_on(citizen: Citizen, day: date) -> float:
    """Height in cm on ``day`` (a child's follows the median curve scaled to their adult height)."""
    age = citizen.age_on(day)
    table = _HEIGHT[citizen.sex]
    if age >= 18:
        return citizen.body.adult_height
    return _interpolate(table, age) * citizen.body.adult_height / table[-1]


def weight_on(citizen: Citizen, day: date) -> float:
    """Weight in kg on ``day`` (BMI × height²; a child's BMI follows the median curve)."""
    age = citizen.age_on(day)
    bmi = citizen.body.bmi if age >= 18 else _interpolate(_BMI, age) * citizen.body.bmi / 22.0
    metres = height_on(citizen, day) / 100.0
    return bmi * metres * metres


class Measurer:
    """Draws the values measured at one visit (one random stream, the citizen's)."""

    def __init__(self, citizen: Citizen, rng: random.Random) -> None:
        self.citizen = citizen
        self.rng = rng

    def blood_pressure(self) -> tuple[int, int]:
        body = self.citizen.body
        sbp = round(truncated_gauss(self.rng, body.sbp, 6.0, 80.0, 220.0))
        dbp = round(truncated_gauss(self.rng, body.dbp, 4.0, 45.0, 130.0))
        return sbp, min(dbp, sbp - 20)

    def heart_rate(self, day: date, fever: bool) -> int:
        age = self.citizen.age_on(day)
        base = self.citizen.body.heart_rate
        if age < 18:
            base = next(rate for low, rate in reversed(_HEART_RATE) if age >= low)
        return round(truncated_gauss(self.rng, base + (14.0 if fever else 0.0), 6.0, 45.0, 190.0))

    def temperature(self, fever: bool) -> float:
        if fever:
            return round(truncated_gauss(self.rng, 38.7, 0.5, 37.8, 40.5), 1)
        return round(truncated_gauss(self.rng, 36.8, 0.25, 36.0, 37.4), 1)

    def weight(self, day: date) -> float:
        return round(weight_on(self.citizen, day) * self.rng.gauss(1.0, 0.012), 1)

    def height(self, day: date) -> float:
        return round(height_on(self.citizen, day) + self.rng.gauss(0.0, 0.4), 1)

    def glucose(self) -> int:
        body = self.citizen.body
        spread = 22.0 if self.citizen.has("diabetes") else 6.0
        return round(truncated_gauss(self.rng, body.glucose, spread, 60.0, 400.0))

    def hba1c(self) -> float:
        return round(truncated_gauss(self.rng, self.citizen.body.hba1c, 0.25, 4.2, 14.0), 1)

    def cholesterol(self) -> int:
        return round(truncated_gauss(self.rng, self.citizen.body.cholesterol, 12.0, 100.0, 400.0))

    def creatinine(self, acute_kidney: bool = False) -> float:
        base = self.citizen.body.creatinine * (1.6 if acute_kidney else 1.0)
        return round(truncated_gauss(self.rng, base, 0.06, 0.3, 8.0), 2)

    def platelets(self, code: str | None) -> int:
        """×10³/µL: dengue lowers it with severity (A97.0 mild, A97.1 warning signs, A97.2 severe)."""
        mean, spread = {"A97.0": (120.0, 35.0), "A97.1": (68.0, 22.0), "A97.2": (30.0, 12.0)}.get(
            code or "", (110.0, 35.0) if (code or "").startswith("A9") else (255.0, 50.0)
        )
        return round(truncated_gauss(self.rng, mean, spread, 5.0, 600.0))

    def hematocrit(self, code: str | None, day: date) -> float:
        """Volume %: lower in children, raised by dengue with warning signs (plasma leakage)."""
        if self.citizen.age_on(day) < 12:
            base = 37.0
        else:
            base = 44.0 if self.citizen.sex == "male" else 39.0
        rise = {"A97.1": 5.0, "A97.2": 8.0}.get(code or "", 0.0)
        return round(truncated_gauss(self.rng, base + rise, 2.5, 25.0, 60.0), 1)
