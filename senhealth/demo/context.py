"""The generator's options and the shared, read-only state built from them once per run.

:class:`Options` are what a caller chooses (how many citizens, the seed, the province, the as-of date,
how many years of care, how strong the epidemics). :class:`Context` derives the province, the care
network, the time window and the seasonal pickers, and caches the per-commune epidemic curves; it holds
nothing per citizen, so memory stays flat however many citizens are generated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from senhealth.demo.acute import Epidemic
from senhealth.demo.facilities import Network, build_network
from senhealth.demo.geography import DEFAULT_PROVINCE, Commune, ProvinceInfo, load_province
from senhealth.demo.seasons import MonthSlot, Window, dengue_profile
from senhealth.demo.streams import Weighted, stream

__all__ = ["DEFAULT_AS_OF", "Context", "Options"]

DEFAULT_AS_OF = date(2025, 12, 31)


@dataclass(frozen=True, slots=True)
class Options:
    """What to generate. Same options → byte-identical output."""

    citizens: int
    seed: int = 1
    province: str = DEFAULT_PROVINCE
    as_of: date = DEFAULT_AS_OF
    years: float = 2.0
    epidemic_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.citizens < 0:
            raise ValueError("citizens must be >= 0")
        if not 0 < self.years <= 20:
            raise ValueError("years must be in (0, 20]")
        if self.epidemic_scale < 0:
            raise ValueError("epidemic_scale must be >= 0")


def _lognormal(seed: int, sigma: float, *parts: object) -> float:
    """A log-normal factor with mean 1, drawn from its own stream."""
    return math.exp(stream(seed, *parts).gauss(-sigma * sigma / 2.0, sigma))


@dataclass
class Context:
    options: Options
    province: ProvinceInfo = field(init=False)
    network: Network = field(init=False)
    window: Window = field(init=False)
    communes: Weighted[Commune] = field(init=False)
    _seasons: dict[str, Weighted[MonthSlot]] = field(init=False, default_factory=dict)
    _epidemics: dict[tuple[str, str], tuple[float, Weighted[MonthSlot]]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        opts = self.options
        self.province = load_province(opts.province)
        self.network = build_network(self.province, opts.seed, opts.as_of)
        self.window = Window.of(opts.as_of, opts.years)
        self.communes = Weighted.of(
            [(c, max(c.population, 1)) for c in self.province.communes if c.code in self.network.stations]
        )

    @property
    def seed(self) -> int:
        return self.options.seed

    def season(self, profile: str) -> Weighted[MonthSlot]:
        """A picker of the month an illness with this seasonal profile falls in."""
        picker = self._seasons.get(profile)
        if picker is None:
            picker = self.window.picker(profile)[1]
            self._seasons[profile] = picker
        return picker

    def epidemic(self, epidemic: Epidemic, commune: str) -> tuple[float, Weighted[MonthSlot]]:
        """(expected year-equivalents of exposure, month picker) of ``epidemic`` in ``commune``."""
        key = (epidemic.key, commune)
        found = self._epidemics.get(key)
        if found is None:
            profile = dengue_profile(self.province.region) if epidemic.key == "dengue" else epidemic.key
            province = self.province.code

            def factor(slot: MonthSlot) -> float:
                year = _lognormal(
                    self.seed, epidemic.year_sigma, "epidemic", epidemic.key, province, slot.year
                )
                local = _lognormal(
                    self.seed, epidemic.commune_sigma, "epidemic", epidemic.key, commune, slot.year
                )
                return year * local

            found = self.window.picker(profile, factor)
            self._epidemics[key] = found
        return found
