"""The age and sex structure of the synthetic province.

Shares of the population by five-year age band and the male share within each band, approximating
Viet Nam's 2019 Population and Housing Census (General Statistics Office, "Completed results of the
2019 Viet Nam population and housing census", 2020, https://www.gso.gov.vn/) carried forward to the
mid-2020s: about 24 % under 15, about 12 % aged 60 and over, a sex ratio at birth near 111 boys per
100 girls and more women than men past 60. The figures are approximate (rounded, and the same for
every province); they are meant to give a realistic pyramid, not to reproduce a census table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from senhealth.demo.streams import Weighted

__all__ = ["AGE_BANDS", "AgeBand", "adult_share", "birth_date_for", "sample_age_sex"]


@dataclass(frozen=True, slots=True)
class AgeBand:
    low: int
    high: int  # inclusive
    share: float  # % of the population
    male_share: float  # fraction of the band that is male


AGE_BANDS: tuple[AgeBand, ...] = (
    AgeBand(0, 4, 8.0, 0.525),
    AgeBand(5, 9, 8.5, 0.522),
    AgeBand(10, 14, 7.6, 0.518),
    AgeBand(15, 19, 6.7, 0.515),
    AgeBand(20, 24, 6.9, 0.508),
    AgeBand(25, 29, 8.0, 0.505),
    AgeBand(30, 34, 8.4, 0.503),
    AgeBand(35, 39, 7.8, 0.502),
    AgeBand(40, 44, 7.2, 0.500),
    AgeBand(45, 49, 6.6, 0.497),
    AgeBand(50, 54, 6.0, 0.490),
    AgeBand(55, 59, 5.3, 0.475),
    AgeBand(60, 64, 4.4, 0.465),
    AgeBand(65, 69, 3.2, 0.450),
    AgeBand(70, 74, 2.0, 0.430),
    AgeBand(75, 79, 1.4, 0.400),
    AgeBand(80, 99, 2.0, 0.350),
)

_BANDS = Weighted.of([(band, band.share) for band in AGE_BANDS])


def sample_age_sex(rng: random.Random) -> tuple[int, str]:
    """(age in completed years, "male" | "female") drawn from the pyramid."""
    band = _BANDS.pick(rng)
    if band.high - band.low >= 10:  # the open-ended band: ages thin out with a geometric tail
        age = band.low
        while age < band.high and rng.random() < 0.78:
            age += 1
    else:
        age = rng.randint(band.low, band.high)
    sex = "male" if rng.random() < band.male_share else "female"
    return age, sex


def birth_date_for(rng: random.Random, age: int, as_of: date) -> date:
    """A birth date that makes the person ``age`` full years old on ``as_of``."""
    latest = _years_before(as_of, age)
    earliest = _years_before(as_of, age + 1) + timedelta(days=1)
    return earliest + timedelta(days=rng.randint(0, (latest - earliest).days))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def adult_share() -> float:
    """The share of the population aged 18 and over, from :data:`AGE_BANDS` (about 0.74)."""
    total = sum(b.share for b in AGE_BANDS)
    under_18 = sum(b.share for b in AGE_BANDS if b.high < 15) + 3 / 5 * AGE_BANDS[3].share
    return (total - under_18) / total
