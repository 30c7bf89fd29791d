"""A synthetic citizen: who they are, where they live, their insurance, their body and chronic disease.

Everything about one citizen is drawn from that citizen's own random stream
(``stream(seed, "citizen", index)``), so citizens are independent of each other and of how many are
generated. The personal ID and the social-insurance number are bijections of the index (unique within a
run, see :mod:`senhealth.demo.identifiers`).

Body measurements are baselines around which each visit varies: adult height (Vietnamese adults are
about 165 cm for men and 154 cm for women, taller in younger cohorts; General Nutrition Survey
2019–2020, National Institute of Nutrition), BMI (mean about 22, higher with hypertension or diabetes),
blood pressure (higher with age, about 140/88 for people treated for hypertension), fasting glucose and
HbA1c (diabetes: about 150 mg/dL and 7.5 %), cholesterol, creatinine. All approximate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from senhealth.demo.chronic import CHRONIC_CONDITIONS, assign_chronic
from senhealth.demo.geography import OLD_PROVINCES, Commune
from senhealth.demo.identifiers import BHYT_CATEGORIES, bhyt_number, cccd, mobile_number, serial
from senhealth.demo.names import PersonName, name_tables, sample_name
from senhealth.demo.population import birth_date_for, sample_age_sex
from senhealth.demo.streams import Weighted, new_id, truncated_gauss

__all__ = ["Body", "Chronic", "Citizen", "Contact", "Insurance", "make_citizen"]

_OLD_CODES = tuple(sorted(OLD_PROVINCES))
_ADULT_BHYT = Weighted.of({"DN": 38, "HC": 7, "HX": 2, "GD": 38, "HN": 5, "CN": 4, "DT": 1, "NO": 1, "CC": 1})
_OLDER_BHYT = Weighted.of({"HT": 35, "GD": 45, "HN": 6, "CN": 5, "CC": 5, "TC": 4})
_ELDER_BHYT = Weighted.of({"BT": 55, "HT": 25, "CC": 10, "GD": 10})


@dataclass(frozen=True, slots=True)
class Chronic:
    key: str
    code: str
    onset: date
    condition_id: str


@dataclass(frozen=True, slots=True)
class Insurance:
    number: str
    category: str
    start: date
    end: date


@dataclass(frozen=True, slots=True)
class Contact:
    relationship: str  # "Bố" | "Mẹ"
    name: PersonName
    gender: str
    phone: str


@dataclass(frozen=True, slots=True)
class Body:
    adult_height: float  # cm
    bmi: float  # adult BMI; children follow an age curve scaled by bmi / 22
    sbp: float
    dbp: float
    heart_rate: float
    glucose: float  # mg/dL, fasting
    hba1c: float  # %
    cholesterol: float  # mg/dL
    creatinine: float  # mg/dL


@dataclass(frozen=True, slots=True)
class Citizen:
    index: int
    patient_id: str
    name: PersonName
    sex: str
    birth_date: date
    age: int  # on the as-of date
    cccd: str
    insurance: Insurance | None
    phone: str | None
    commune: Commune
    address_line: str
    contact: Contact | None
    chronic: tuple[Chronic, ...]
    body: Body

    def has(self, key: str) -> bool:
        return any(c.key == key for c in self.chronic)

    def age_on(self, day: date) -> float:
        return (day - self.birth_date).days / 365.25


def _insurance(
    rng: random.Random, age: int, birth: date, province: str, index: int, seed: int, as_of: date
) -> Insurance | None:
    covered = 0.99 if age < 6 or age >= 80 else 0.9
    if rng.random() >= covered:
        return None
    if age < 6:
        category = "TE"
    elif age < 18:
        category = "HS"
    elif age <= 22 and rng.random() < 0.35:
        category = "SV"
    elif age < 60:
        category = _ADULT_BHYT.pick(rng)
    elif age < 80:
        category = _OLDER_BHYT.pick(rng)
    else:
        category = _ELDER_BHYT.pick(rng)
    assert category in BHYT_CATEGORIES
    number = bhyt_number(category, province, int(province) * 10**8 + serial(index, seed, 10**8, salt=2))
    start = date(as_of.year, 1, 1)
    end = date(as_of.year, 12, 31)
    if category == "TE":
        end = min(end, date(birth.year + 6, birth.month, min(birth.day, 28)))
    return Insurance(number, category, start, end)


def _body(rng: random.Random, sex: str, birth: date, age: int, chronic: set[str]) -> Body:
    male = sex == "male"
    height = rng.gauss(164.5 if male else 154.0, 6.0 if male else 5.5) + (2.0 if birth.year >= 1990 else 0.0)
    bmi = rng.gauss(21.8, 2.6) + 2.0 * ("hypertension" in chronic) + 2.5 * ("diabetes" in chronic)
    adult_age = max(age, 20)
    if "hypertension" in chronic:
        sbp = truncated_gauss(rng, 141.0, 13.0, 112.0, 185.0)
        dbp = truncated_gauss(rng, 88.0, 8.0, 68.0, 110.0)
    else:
        sbp = truncated_gauss(rng, 106.0 + 0.35 * (adult_age - 20), 8.0, 92.0, 136.0)
        dbp = truncated_gauss(rng, 68.0 + 0.15 * (adult_age - 20), 6.0, 55.0, 88.0)
    if "diabetes" in chronic:
        glucose = truncated_gauss(rng, 150.0, 30.0, 100.0, 280.0)
        hba1c = 7.5 + (glucose - 150.0) / 30.0 * 0.8 + rng.gauss(0.0, 0.3)
    else:
        glucose = truncated_gauss(rng, 92.0, 7.0, 72.0, 110.0)
        hba1c = truncated_gauss(rng, 5.3, 0.25, 4.6, 6.2)
    cholesterol = rng.gauss(245.0, 28.0) if "dyslipidaemia" in chronic else rng.gauss(188.0, 30.0)
    if "ckd" in chronic:
        creatinine = truncated_gauss(rng, 1.9, 0.45, 1.3, 4.0)
    else:
        creatinine = truncated_gauss(rng, 0.95 if male else 0.74, 0.12, 0.5, 1.25) + (
            0.08 if age >= 70 else 0.0
        )
    return Body(
        adult_height=round(height, 1),
        bmi=min(38.0, max(16.0, bmi)),
        sbp=sbp,
        dbp=dbp,
        heart_rate=rng.gauss(76.0, 7.0),
        glucose=glucose,
        hba1c=min(13.0, max(4.5, hba1c)),
        cholesterol=min(340.0, max(120.0, cholesterol)),
        creatinine=creatinine,
    )


def _address_line(rng: random.Random, commune: Commune) -> str:
    tables = name_tables()
    if commune.kind == "phường":
        if rng.random() < 0.5:
            return f"Số {rng.randint(1, 250)} đường {rng.choice(tables.streets)}"
        return f"Tổ dân phố {rng.randint(1, 30)}"
    if rng.random() < 0.3:
        return f"Thôn {rng.randint(1, 15)}"
    return f"Thôn {rng.choice(tables.hamlets)}"


def make_citizen(
    index: int,
    rng: random.Random,
    *,
    seed: int,
    as_of: date,
    province_code: str,
    region: str,
    old_codes: tuple[str, ...],
    commune: Commune,
) -> Citizen:
    """Draw citizen number ``index`` living in ``commune`` (``rng`` is the citizen's own stream)."""
    patient_id = new_id(rng)
    age, sex = sample_age_sex(rng)
    birth = birth_date_for(rng, age, as_of)
    name = sample_name(rng, sex, birth.year, region)
    born_here = rng.random() < 0.9
    registration = rng.choice(old_codes) if born_here else rng.choice(_OLD_CODES)
    personal_id = cccd(registration, sex, birth, serial(index, seed, 10**6, salt=1))
    insurance = _insurance(rng, age, birth, province_code, index, seed, as_of)
    phone = mobile_number(rng) if age >= 15 and rng.random() < (0.92 if age < 70 else 0.7) else None
    contact = None
    if age < 15:
        father = rng.random() < 0.4
        gender = "male" if father else "female"
        parent_year = birth.year - rng.randint(22, 38)
        parent = sample_name(rng, gender, parent_year, region, family=name.family if father else None)
        contact = Contact("Bố" if father else "Mẹ", parent, gender, mobile_number(rng))
    chronic_draws = assign_chronic(rng, age, sex)
    chronic = tuple(
        Chronic(
            key,
            CHRONIC_CONDITIONS[key].code,
            date.fromordinal(as_of.toordinal() - int(years * 365.25)),
            new_id(rng),
        )
        for key, years in chronic_draws
    )
    body = _body(rng, sex, birth, age, {c.key for c in chronic})
    return Citizen(
        index=index,
        patient_id=patient_id,
        name=name,
        sex=sex,
        birth_date=birth,
        age=age,
        cccd=personal_id,
        insurance=insurance,
        phone=phone,
        commune=commune,
        address_line=_address_line(rng, commune),
        contact=contact,
        chronic=chronic,
        body=body,
    )
