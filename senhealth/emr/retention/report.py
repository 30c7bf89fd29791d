"""The retention report: how many documents become destroyable in which year, by type and facility.

Counts every stored Composition once (:func:`senhealth.emr.retention.scan.retention_status`) and
groups them by the year from which they may be destroyed (``purgeable_from``; those already due on
``as_of`` are the rows of that year or earlier), the document type and the custodian facility. Documents
that may not be destroyed at all are counted apart: on legal hold, kept permanently, episode still open,
no rule. The report reads only; it destroys nothing and records nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from senhealth.emr.retention.scan import all_compositions, retention_status
from senhealth.fhir.store import FhirStore

__all__ = ["ReportRow", "RetentionReport", "format_report", "retention_report"]


@dataclass(frozen=True, slots=True, order=True)
class ReportRow:
    year: int  # the year from which the documents may be destroyed
    doc_type: str
    facility: str
    count: int
    due: bool  # already destroyable on the report's date


@dataclass(slots=True)
class RetentionReport:
    as_of: date
    rows: list[ReportRow] = field(default_factory=list)
    kept: Counter[str] = field(default_factory=Counter)  # decision -> count (legal-hold, permanent...)
    total: int = 0

    @property
    def due(self) -> int:
        return sum(r.count for r in self.rows if r.due)

    def by_year(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for r in self.rows:
            out[r.year] = out.get(r.year, 0) + r.count
        return dict(sorted(out.items()))

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "total": self.total,
            "due": self.due,
            "by_year": {str(k): v for k, v in self.by_year().items()},
            "rows": [
                {"year": r.year, "type": r.doc_type, "facility": r.facility, "count": r.count, "due": r.due}
                for r in self.rows
            ],
            "kept": dict(sorted(self.kept.items())),
        }


async def retention_report(
    store: FhirStore,
    *,
    as_of: date | None = None,
    zone: str = "Asia/Ho_Chi_Minh",
    until_year: int | None = None,
) -> RetentionReport:
    """The report (see the module docstring); ``until_year``: leave out documents destroyable only later."""
    when = as_of or datetime.now(UTC).date()
    report = RetentionReport(when)
    groups: Counter[tuple[int, str, str]] = Counter()
    async for ids in all_compositions(store):
        for cid in ids:
            status = await retention_status(store, cid, zone=zone)
            if status is None:
                continue
            report.total += 1
            decision = status.decision(when)
            if decision not in ("purgeable", "under-retention"):
                report.kept[decision] += 1
                continue
            start = status.purgeable_from
            assert start is not None
            if until_year is not None and start.year > until_year:
                continue
            groups[(start.year, status.doc_type or "?", status.facility or "?")] += 1
    for (year, doc_type, facility), count in sorted(groups.items()):
        report.rows.append(ReportRow(year, doc_type, facility, count, date(year, 1, 1) <= when))
    return report


def format_report(report: RetentionReport) -> str:
    """The report as a plain-text table (Vietnamese, then English headings)."""
    lines = [
        f"Báo cáo lưu trữ / retention report — {report.as_of.isoformat()}",
        f"Tổng số hồ sơ / documents: {report.total}; đã hết hạn lưu trữ / destroyable now: {report.due}",
        "",
        f"{'Năm / year':<12}{'Loại / type':<22}{'Cơ sở / facility':<28}{'Số / count':>10}",
    ]
    for r in report.rows:
        mark = " *" if r.due else ""
        lines.append(f"{r.year:<12}{r.doc_type:<22}{r.facility:<28}{r.count:>10}{mark}")
    if report.kept:
        lines.append("")
        lines.append(
            "Không được hủy / kept: " + ", ".join(f"{k}: {v}" for k, v in sorted(report.kept.items()))
        )
    lines.append("")
    lines.append("* đã được hủy / destroyable now")
    return "\n".join(lines)
