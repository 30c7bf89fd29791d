"""What the scheduled detection run runs: the methods per disease, and its settings (``SENHEALTH_DETECTION_*``).

Its own pydantic-settings class (https://docs.pydantic.dev/latest/concepts/pydantic_settings/), as the alerts
have. A *plan* is the list of detectors one disease is watched with, each a :class:`MethodPlan`: the method's
command-line name (:data:`senhealth.surveillance.detectors.METHODS`), its parameters with the R package's names
(``["b=5", "w=3"]``, as ``senhealth surveillance detect --param`` takes them), the levels it runs at (commune,
province) and, for charts that accumulate (CUSUM, GLR), how many weeks the chart runs over before the
monitored ones.

Default plans (:func:`default_plan`), from docs/surveillance-detectors.md:

- every disease: **EARS C2** (R's defaults: baseline 7 weeks, a 2-week guard band, alpha 0.001): needs ten
  weeks of data, so it works from the platform's first months and for diseases without a season;
- dengue and hand-foot-and-mouth disease (seasonal, with years of history): also **Farrington flexible** with
  the settings of Noufaily et al. (2013) (``b=5, w=3, noPeriods=10, pastWeeksNotIncluded=26,
  pThresholdTrend=1, thresholdMethod=nbPlugin``) and the **endemic channel** (mean + 2 SD of the same week ±1
  in the past 5 years), the channel the province's CDC reads for dengue;
- measles and influenza (yearly or multi-year waves): EARS C2 and Farrington flexible.

Methods that need years of history (``b`` years back) run with fewer years when the data hold fewer (at least
one; two for the endemic channel without neighbouring weeks), and are skipped before that: see
:mod:`.methods`. ``min_cases`` per disease group keeps a week with fewer cases from opening a signal (a group-A
disease: one case is enough).

List and mapping values are JSON in the environment, for example
``SENHEALTH_DETECTION_DISEASES='["dengue", "hfmd"]'`` or
``SENHEALTH_DETECTION_PLANS='{"dengue": [{"method": "ears-c3"}, {"method": "endemic-channel", "params": ["b=3"]}]}'``.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "LEVELS",
    "NOUFAILY",
    "DetectionConfig",
    "MethodPlan",
    "configure",
    "default_plan",
    "get_config",
    "plan_for",
]

Level = Literal["commune", "province"]
LEVELS: tuple[Level, ...] = ("commune", "province")

NOUFAILY: tuple[str, ...] = (
    "b=5",
    "w=3",
    "noPeriods=10",
    "pastWeeksNotIncluded=26",
    "pThresholdTrend=1",
    "thresholdMethod=nbPlugin",
)
"""Farrington flexible as Noufaily et al. (2013) recommend (R's ``farringtonFlexible`` help page example)."""


class MethodPlan(BaseModel):
    """One detector of a disease's plan."""

    model_config = {"frozen": True}

    method: str = Field(description="The detector's command-line name: ears-c2, farrington-flexible, ...")
    params: tuple[str, ...] = Field(default=(), description="NAME=VALUE with the R package's names.")
    levels: tuple[Level, ...] = Field(default=LEVELS, description="Where it runs: commune, province or both.")
    chart_weeks: int = Field(
        default=0,
        ge=0,
        le=520,
        description="Weeks a cumulative chart (cusum, glrnb) runs over before the monitored weeks (0: none).",
    )

    @field_validator("params")
    @classmethod
    def _pairs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            name, sep, _ = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"parameter {item!r}: write NAME=VALUE (for example alpha=0.05)")
        return value

    @property
    def label(self) -> str:
        """``farrington-flexible(b=5, w=3)``: how reports name it."""
        return f"{self.method}({', '.join(self.params)})" if self.params else self.method


EARS_C2 = MethodPlan(method="ears-c2")
FARRINGTON_NOUFAILY = MethodPlan(method="farrington-flexible", params=NOUFAILY)
ENDEMIC_CHANNEL = MethodPlan(method="endemic-channel", params=("b=5", "w=1", "k=2"))

SEASONAL: frozenset[str] = frozenset({"dengue", "hfmd"})
WAVES: frozenset[str] = frozenset({"measles", "influenza"})


def default_plan(disease: str) -> tuple[MethodPlan, ...]:
    """The built-in plan of ``disease`` (its key in the notifiable list): see the module docstring."""
    if disease in SEASONAL:
        return (EARS_C2, FARRINGTON_NOUFAILY, ENDEMIC_CHANNEL)
    if disease in WAVES:
        return (EARS_C2, FARRINGTON_NOUFAILY)
    return (EARS_C2,)


class DetectionConfig(BaseSettings):
    """Every value has an environment variable ``SENHEALTH_DETECTION_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_DETECTION_", extra="ignore")

    enabled: bool = Field(
        default=True, description="Run the scheduled and triggered runs (on demand always runs)."
    )
    diseases: list[str] = Field(
        default_factory=list,
        description="Disease keys to watch (dengue, hfmd, ...); empty: every notifiable disease with cases.",
    )
    plans: dict[str, list[MethodPlan]] = Field(
        default_factory=dict, description="Plans by disease key, replacing the built-in plan of that disease."
    )
    default_methods: list[MethodPlan] | None = Field(
        default=None, description="Plan of the diseases without one of their own (default: EARS C2)."
    )
    levels: list[Level] = Field(
        default_factory=lambda: list(LEVELS), description="commune, province or both."
    )
    monitored_weeks: int = Field(
        default=2,
        ge=1,
        le=52,
        description="Weeks a scheduled run monitors, ending with the current one: the current week and the "
        "week before (whose late reports still arrive).",
    )
    min_cases: dict[str, int] = Field(
        default_factory=lambda: {"A": 1, "B": 3, "C": 3},
        description="Fewest cases in a week for a signal, by disease group (A, B, C).",
    )
    history_start: str = Field(
        default="",
        description="First ISO week of the platform's data (2024-W01); empty: the earliest week in the series.",
    )
    cron: str = Field(default="7 * * * *", description="The scheduled full run (cron, UTC): hourly.")
    debounce_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="After a case report changes, the run waits this long (later changes join the same run).",
    )

    @field_validator("min_cases")
    @classmethod
    def _groups(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = set(value) - {"A", "B", "C"}
        if unknown:
            raise ValueError(f"min_cases: groups are A, B and C, not {', '.join(sorted(unknown))}")
        if any(v < 1 for v in value.values()):
            raise ValueError("min_cases: at least 1 case")
        return value


def plan_for(disease: str, config: DetectionConfig | None = None) -> tuple[MethodPlan, ...]:
    """The plan ``disease`` runs with: its configured plan, else the configured default, else the built-in."""
    config = config or get_config()
    if disease in config.plans:
        return tuple(config.plans[disease])
    if config.default_methods is not None and disease not in SEASONAL | WAVES:
        return tuple(config.default_methods)
    return default_plan(disease)


@cache
def get_config() -> DetectionConfig:
    """The process's detection settings (from the environment, once)."""
    return DetectionConfig()


def configure(**values: Any) -> DetectionConfig:
    """Replace settings in this process (validated); returns the configuration."""
    current = get_config()
    updated = DetectionConfig.model_validate({**current.model_dump(), **values})
    for name in DetectionConfig.model_fields:
        setattr(current, name, getattr(updated, name))
    return current
