"""The indicator library: what each indicator counts, its version, the views and tables it reads.

An indicator is either **SQL-on-FHIR views + an aggregation** (``sql/<file>.sql`` over the views'
materialised tables, :mod:`.views`) or **computed elsewhere** (``provider``: the check-up dashboard's
coverage and control rates, which the caller passes in, as domains do not import each other: the API and
the CLI wire :func:`senhealth.checkup.dashboard.checkup_dashboard`). Every result row has a ``key`` (a
facility code, a commune code, a level, a disease), a ``label``, a ``numerator`` and, for ratios and
rates, a ``denominator``; ``value`` is computed from them by :attr:`Indicator.kind`.

Versions follow semantic versioning: a change of definition (what is counted) raises the minor or
major number, and the version is part of every result, so numbers of different definitions are never
compared unknowingly. docs/indicators.md describes each indicator.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final, Literal

__all__ = ["CATALOGUE", "Indicator", "Kind", "get_indicator", "indicator_sql"]

Kind = Literal["count", "ratio", "per100k"]


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator of the library (see the module docstring)."""

    id: str
    version: str
    kind: Kind
    title_vi: str
    title_en: str
    dimension: str
    """What ``key`` is: ``facility`` (facility code), ``commune``, ``level``, ``disease``, ``flow``."""
    views: tuple[str, ...] = ()
    sql: str | None = None
    """The aggregation's file under ``sql/``; None for an indicator computed by a provider."""
    tables: tuple[str, ...] = ()
    """Platform tables read besides the views (derived data kept by other modules)."""
    period_bound: bool = True
    """False for a state measured now whatever the period (pending duplicates)."""

    def value(self, numerator: int, denominator: int | None) -> float | None:
        """The indicator's value: a count, a ratio (0–1) or a rate per 100,000; None without denominator."""
        if self.kind == "count":
            return float(numerator)
        if not denominator:
            return None
        scale = 100_000 if self.kind == "per100k" else 1
        return numerator * scale / denominator


_ENC: Final = ("ind_encounter", "ind_organization")

CATALOGUE: Final[tuple[Indicator, ...]] = (
    Indicator(
        "emr-adoption",
        "1.0.0",
        "ratio",
        "Tỷ lệ lượt khám có hồ sơ bệnh án điện tử đã ký số",
        "Share of encounters with a signed electronic record",
        "facility",
        views=(*_ENC, "ind_composition", "ind_signature"),
        sql="emr_adoption.sql",
    ),
    Indicator(
        "visits-by-level",
        "1.0.0",
        "count",
        "Lượt khám chữa bệnh theo tuyến",
        "Visits by level of care",
        "level",
        views=_ENC,
        sql="visits_by_level.sql",
    ),
    Indicator(
        "checkup-coverage",
        "1.0.0",
        "ratio",
        "Tỷ lệ người dân được khám sức khỏe định kỳ trong năm",
        "Check-up coverage of the year",
        "commune",
    ),
    Indicator(
        "htn-control",
        "1.0.0",
        "ratio",
        "Tỷ lệ người tăng huyết áp được kiểm soát (< 140/90 mmHg)",
        "Hypertension control rate (< 140/90 mmHg)",
        "commune",
    ),
    Indicator(
        "dm-control",
        "1.0.0",
        "ratio",
        "Tỷ lệ người đái tháo đường được kiểm soát (HbA1c < 7 %)",
        "Diabetes control rate (HbA1c < 7 %)",
        "commune",
    ),
    Indicator(
        "notifiable-incidence",
        "1.0.0",
        "per100k",
        "Tỷ lệ mắc bệnh truyền nhiễm phải báo cáo trên 100.000 dân",
        "Notifiable-disease incidence per 100,000",
        "disease",
        sql="notifiable_incidence.sql",
        tables=("surveillance_count_day", "surveillance_population"),
    ),
    Indicator(
        "referral-flows",
        "1.0.0",
        "count",
        "Luồng chuyển tuyến giữa các cơ sở",
        "Referral flows between facilities",
        "flow",
        views=(*_ENC, "ind_referral"),
        sql="referral_flows.sql",
    ),
    Indicator(
        "telemedicine-volume",
        "1.0.0",
        "count",
        "Số lượt khám chữa bệnh từ xa",
        "Telemedicine volume",
        "facility",
        views=(*_ENC, "ind_appointment", "ind_location"),
        sql="telemedicine_volume.sql",
    ),
    Indicator(
        "dq-missing-personal-id",
        "1.0.0",
        "ratio",
        "Tỷ lệ người bệnh thiếu số định danh cá nhân",
        "Share of patients seen without a personal ID",
        "facility",
        views=(*_ENC, "ind_patient"),
        sql="dq_missing_personal_id.sql",
    ),
    Indicator(
        "dq-pending-duplicates",
        "1.0.0",
        "ratio",
        "Cặp hồ sơ nghi trùng đang chờ xử lý",
        "Candidate duplicate records pending review",
        "commune",
        views=("ind_patient",),
        sql="dq_pending_duplicates.sql",
        tables=("mpi_review",),
        period_bound=False,
    ),
    Indicator(
        "dq-late-reports",
        "1.0.0",
        "ratio",
        "Tỷ lệ ca bệnh truyền nhiễm báo cáo muộn",
        "Share of notifiable-disease reports made late",
        "disease",
        sql="dq_late_reports.sql",
        tables=("surveillance_case",),
    ),
)

_BY_ID: Final = {i.id: i for i in CATALOGUE}


def get_indicator(indicator_id: str) -> Indicator:
    """The indicator ``indicator_id``; KeyError naming the known ones otherwise."""
    try:
        return _BY_ID[indicator_id]
    except KeyError:
        raise KeyError(f"no indicator {indicator_id!r}: one of {', '.join(_BY_ID)}") from None


@cache
def indicator_sql(file: str) -> str:
    """The text of the aggregation ``sql/<file>``."""
    return (resources.files(__package__) / "sql" / file).read_text(encoding="utf-8")
