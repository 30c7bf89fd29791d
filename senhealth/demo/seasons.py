"""Seasonality: monthly profiles of when illnesses occur, and the months of the generator's window.

Profiles are relative weights for January … December, approximate shapes from Viet Nam's surveillance
reports (Ministry of Health, General Department of Preventive Medicine; WHO Western Pacific dengue
situation updates, https://www.who.int/westernpacific/emergencies/surveillance/dengue):

- dengue in the north rises with the rainy season and peaks from about June to November (highest in
  September–October); the south has cases all year with a flatter mid-year peak; the central coast
  peaks late (September–December);
- hand-foot-and-mouth disease has two peaks, about March–May and September–November;
- respiratory infections and influenza are commoner in the cool, damp northern winter and spring;
  diarrhoea in the hot months.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from senhealth.demo.streams import Weighted

__all__ = ["HFMD_SEASON", "PROFILES", "MonthSlot", "Window", "dengue_profile", "dengue_season"]

PROFILES: dict[str, tuple[float, ...]] = {
    "flat": (1.0,) * 12,
    "respiratory": (1.4, 1.4, 1.3, 1.1, 0.9, 0.8, 0.8, 0.8, 0.9, 1.0, 1.1, 1.3),
    "influenza": (2.0, 2.2, 1.6, 0.9, 0.5, 0.5, 0.6, 0.6, 0.6, 0.7, 0.9, 1.4),
    "diarrhoea": (0.7, 0.7, 0.8, 1.0, 1.2, 1.4, 1.4, 1.3, 1.1, 0.9, 0.8, 0.7),
    "hfmd": (0.3, 0.3, 0.9, 1.5, 1.4, 0.8, 0.5, 0.6, 1.4, 1.9, 1.6, 0.7),
    "dengue-north": (0.3, 0.15, 0.1, 0.1, 0.15, 0.4, 0.8, 1.6, 3.0, 3.5, 2.4, 1.0),
    "dengue-central": (0.8, 0.4, 0.2, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0, 2.8, 2.8, 1.8),
    "dengue-south": (1.0, 0.6, 0.5, 0.5, 0.8, 1.4, 1.8, 2.0, 2.0, 1.8, 1.6, 1.2),
}

HFMD_SEASON = frozenset({3, 4, 5, 9, 10, 11})
"""The months of the two hand-foot-and-mouth peaks."""


def dengue_profile(region: str) -> str:
    return f"dengue-{region}"


def dengue_season(region: str) -> frozenset[int]:
    """The months of the dengue season of a region (north: June–November)."""
    return {
        "north": frozenset(range(6, 12)),
        "central": frozenset(range(8, 13)),
        "south": frozenset(range(5, 12)),
    }[region]


@dataclass(frozen=True, slots=True)
class MonthSlot:
    """A calendar month, clipped to the window."""

    year: int
    month: int
    first: date
    last: date

    @property
    def fraction(self) -> float:
        """The share of the month inside the window."""
        return ((self.last - self.first).days + 1) / calendar.monthrange(self.year, self.month)[1]

    def random_day(self, rng: random.Random) -> date:
        return self.first + timedelta(days=rng.randint(0, (self.last - self.first).days))


@dataclass(frozen=True, slots=True)
class Window:
    """The period whose care the generator writes: from ``start`` to ``end`` (the as-of date), inclusive."""

    start: date
    end: date
    months: tuple[MonthSlot, ...]

    @classmethod
    def of(cls, end: date, years: float) -> Window:
        start = end - timedelta(days=round(years * 365.25) - 1)
        months: list[MonthSlot] = []
        year, month = start.year, start.month
        while (year, month) <= (end.year, end.month):
            last_day = date(year, month, calendar.monthrange(year, month)[1])
            months.append(MonthSlot(year, month, max(start, date(year, month, 1)), min(end, last_day)))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return cls(start, end, tuple(months))

    @property
    def years(self) -> float:
        return ((self.end - self.start).days + 1) / 365.25

    def slot_weights(
        self, profile: str, factor: Callable[[MonthSlot], float] | None = None
    ) -> list[tuple[MonthSlot, float]]:
        """Each month's expected share of a year's cases (sums to about :attr:`years` when flat)."""
        shape = PROFILES[profile]
        total = sum(shape)
        return [
            (slot, shape[slot.month - 1] / total * slot.fraction * (factor(slot) if factor else 1.0))
            for slot in self.months
        ]

    def picker(
        self, profile: str, factor: Callable[[MonthSlot], float] | None = None
    ) -> tuple[float, Weighted[MonthSlot]]:
        """(expected year-equivalents of exposure, a picker of the month a case falls in)."""
        weights = self.slot_weights(profile, factor)
        return sum(w for _, w in weights), Weighted.of(weights)
