"""Scheduled PDF reports of the province (issue 11, build item 2): every month, the month's indicators
and form 14/BCT rendered as one PDF, stored in the FHIR store and, when configured, e-mailed.

- What: :func:`monthly_report` computes the indicator library (:func:`.indicators.compute_indicators`)
  and form 14/BCT (:func:`.reports.report_14bct`) for a month and a province; :func:`to_pdf` renders them
  (WeasyPrint, A4 landscape, self-contained HTML: nothing fetched).
- Where it is kept: a ``DocumentReference`` (https://hl7.org/fhir/R4/documentreference.html) with no
  subject (no patient's data: counts only), ``type`` ``https://senhealth.vn/fhir/CodeSystem/report-type|
  province-monthly``, ``context.period`` the month, the PDF as an inline attachment (``content[0].
  attachment.data``), an identifier ``https://senhealth.vn/fhir/sid/scheduled-report|<province>-<YYYYMM>``.
  Its id is derived from that identifier (UUID 5), so a second run for the same month replaces the
  document with a new version instead of adding a second one.
- When: the task :data:`TASK` (``analytics.scheduled_report``) on the schedule
  ``SENHEALTH_SCHEDULED_REPORTS_CRON`` (default ``0 0 1 * *``: the first day of each month at 00:00 UTC,
  07:00 in Viet Nam); a scheduled run reports on the month before its scheduled day (Viet Nam time).
  The worker imports this module through ``senhealth.jobs.registry.TASK_MODULES``.
- E-mail: with ``SENHEALTH_SCHEDULED_REPORTS_EMAILS`` (JSON list) and ``..._SMTP_HOST`` set, the PDF is
  sent as an attachment through the SMTP relay (RFC 5321 via :mod:`smtplib`, in a thread).

The check-up indicators (coverage, hypertension and diabetes control) are computed by the check-up
domain, which this domain may not import: :func:`register_providers` lets the application pass them in
(``senhealth.api.reports.checkup_providers``); without them they are marked "not computed" in the PDF.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import smtplib
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from jinja2 import Environment, select_autoescape
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from senhealth.core.db import get_pool
from senhealth.core.queue import JobContext, PermanentFailure, schedule, task
from senhealth.fhir.store import FhirStore

from .indicators import (
    CATALOGUE,
    VIEW_NAMES,
    IndicatorResult,
    Provider,
    compute_indicators,
    ensure_views,
    month,
)
from .indicators.views import SCHEMA
from .reports import COLUMNS, Report14BCT, report_14bct
from .reports.bct14 import KEYS, default_province, province_name
from .reports.bct14 import VIEWS as BCT_VIEWS

__all__ = [
    "IDENTIFIER_SYSTEM",
    "REPORT_CODE",
    "REPORT_TYPE_SYSTEM",
    "TASK",
    "MonthlyReport",
    "ScheduleConfig",
    "analyse_new_views",
    "clear_providers",
    "configure",
    "document_id",
    "get_config",
    "monthly_report",
    "previous_month",
    "produce",
    "register_providers",
    "scheduled_report_job",
    "to_html",
    "to_pdf",
]

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]
ZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")
TASK: Final = "analytics.scheduled_report"
REPORT_TYPE_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/report-type"
REPORT_CODE: Final = "province-monthly"
IDENTIFIER_SYSTEM: Final = "https://senhealth.vn/fhir/sid/scheduled-report"


class ScheduleConfig(BaseSettings):
    """Every value has an environment variable ``SENHEALTH_SCHEDULED_REPORTS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_SCHEDULED_REPORTS_", extra="ignore")

    cron: str = Field(default="0 0 1 * *", description="When the monthly report runs (cron, UTC).")
    province: str | None = Field(default=None, description="Province code; default: the store's province.")
    emails: list[str] = Field(default_factory=list, description="Who receives the PDF by e-mail.")
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "bao-cao@senhealth.invalid"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_s: float = 30.0


@cache
def get_config() -> ScheduleConfig:
    return ScheduleConfig()


def configure(**values: Any) -> ScheduleConfig:
    """Replace configuration values for this process (tests, the application at start-up)."""
    current = get_config()
    for key, value in values.items():
        setattr(current, key, value)
    return current


ProviderFactory = Callable[[FhirStore], Mapping[str, Provider]]
_PROVIDERS: list[ProviderFactory] = []


def register_providers(factory: ProviderFactory) -> None:
    """Indicators computed outside this domain (the check-up rates), given by the application."""
    if factory not in _PROVIDERS:
        _PROVIDERS.append(factory)


def clear_providers() -> None:
    _PROVIDERS.clear()


def _providers(store: FhirStore) -> dict[str, Provider]:
    out: dict[str, Provider] = {}
    for factory in _PROVIDERS:
        out.update(factory(store))
    return out


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    year: int
    month: int
    province: str
    province_name: str
    indicators: list[IndicatorResult]
    bct: Report14BCT
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def period_id(self) -> str:
        return f"{self.year}{self.month:02d}"


def previous_month(when: dt.datetime) -> tuple[int, int]:
    """The month before ``when``'s day in Viet Nam."""
    local = when.astimezone(ZONE).date().replace(day=1) - dt.timedelta(days=1)
    return local.year, local.month


async def analyse_new_views(pool: Pool, schema: str = SCHEMA) -> list[str]:
    """ANALYZE the indicator views' tables that were never analysed (just built); their names.

    Without statistics the planner guesses one row per table and the aggregations' joins become nested
    loops (seconds instead of milliseconds on a 150-citizen province); autovacuum keeps them current
    afterwards. https://www.postgresql.org/docs/current/sql-analyze.html"""
    query = (
        "SELECT relname FROM pg_stat_user_tables WHERE schemaname = %s AND relname = ANY(%s)"
        " AND last_analyze IS NULL AND last_autoanalyze IS NULL"
    )
    async with pool.connection() as conn:
        cur = await conn.execute(query, (schema, list(VIEW_NAMES)))
        names = [str(row[0]) for row in await cur.fetchall()]
        for name in names:
            await conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, name)))
    return names


async def monthly_report(
    store: FhirStore,
    year: int,
    month_: int,
    province: str,
    *,
    schema: str = SCHEMA,
    providers: Mapping[str, Provider] | None = None,
) -> MonthlyReport:
    """The month's indicators and form 14/BCT (views refreshed first)."""
    param_ids = await store.param_ids()
    views = sorted({v for i in CATALOGUE for v in i.views} | set(BCT_VIEWS))
    await ensure_views(store.pool, views, param_ids=param_ids, schema=schema)
    await analyse_new_views(store.pool, schema)
    period = month(year, month_)
    chosen = _providers(store) if providers is None else dict(providers)
    results = await compute_indicators(
        store.pool, period, province, param_ids=param_ids, schema=schema, providers=chosen
    )
    bct = await report_14bct(store.pool, year, month_, province, param_ids=param_ids, schema=schema)
    return MonthlyReport(year, month_, province, province_name(province), results, bct)


def _number(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "ratio":
        return f"{100 * value:.1f}".replace(".", ",") + " %"
    if kind == "per100k":
        return f"{value:.1f}".replace(".", ",")
    return f"{value:,.0f}".replace(",", ".")


_TEMPLATE: Final = """<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
@page { size: A4 landscape; margin: 12mm 10mm; @bottom-right { content: counter(page) "/" counter(pages); font-size: 8pt; } }
body { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 8pt; }
h1 { font-size: 12pt; margin: 0 0 2mm; } h2 { font-size: 10pt; margin: 5mm 0 2mm; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 0.4pt solid #333; padding: 1mm; vertical-align: top; }
th { background: #eee; } td.n { text-align: right; } tr.total td { font-weight: bold; }
.bct { font-size: 6.5pt; } .muted { color: #555; }
</style></head><body>
<h1>{{ title }}</h1>
<p>Tỉnh/thành phố: {{ r.province_name }} ({{ r.province }}) · Kỳ báo cáo: {{ r.period_id }} ·
Lập lúc {{ generated }}</p>
<h2>1. Chỉ số y tế của tháng</h2>
<table><thead><tr><th>Chỉ số</th><th>Mã (phiên bản)</th><th>Giá trị</th><th>Tử số</th><th>Mẫu số</th></tr></thead><tbody>
{% for i in indicators %}<tr><td>{{ i.title }}</td><td>{{ i.id }} ({{ i.version }})</td>
<td class="n">{{ i.value }}</td><td class="n">{{ i.numerator }}</td><td class="n">{{ i.denominator }}</td></tr>
{% endfor %}</tbody></table>
<h2>2. Biểu {{ form }}: tình hình bệnh tật, tử vong theo chương ICD-10</h2>
<table class="bct"><thead><tr><th>Chương</th><th>Mã ICD-10</th><th>Tên chương bệnh</th>
{% for c in columns %}<th>{{ c.label_vi }}</th>{% endfor %}</tr></thead><tbody>
{% for row in bct.rows %}<tr><td>{{ row.chapter }}</td><td>{{ row.icd_range }}</td><td>{{ row.name_vi }}</td>
{% for k in keys %}<td class="n">{{ row[k] }}</td>{% endfor %}</tr>
{% endfor %}<tr class="total"><td></td><td></td><td>Tổng số</td>{% for k in keys %}<td class="n">{{ bct.total[k] }}</td>{% endfor %}</tr>
</tbody></table>
<p class="muted">Số liệu tổng hợp, không chứa thông tin cá nhân. Biểu 14/BCT: các cột theo mẫu của Bộ Y tế
trước đây (xem ghi chú của báo cáo 14/BCT).</p>
</body></html>
"""


@cache
def _template() -> Any:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE)


def title_of(report: MonthlyReport) -> str:
    where = report.province_name or report.province
    return f"Báo cáo y tế tháng {report.month:02d}/{report.year} – {where}"


def to_html(report: MonthlyReport) -> str:
    indicators = [
        {
            "id": r.indicator.id,
            "version": r.indicator.version,
            "title": r.indicator.title_vi,
            "value": _number(r.total.value, r.indicator.kind) if r.available else "chưa tính",
            "numerator": r.total.numerator if r.available else "–",
            "denominator": "–" if r.total.denominator is None or not r.available else r.total.denominator,
        }
        for r in report.indicators
    ]
    generated = report.generated_at.astimezone(ZONE).strftime("%d/%m/%Y %H:%M")
    return str(
        _template().render(
            title=title_of(report),
            r=report,
            generated=generated,
            indicators=indicators,
            bct=report.bct.to_json(),
            columns=COLUMNS,
            keys=KEYS,
            form="14/BCT",
        )
    )


def to_pdf(report: MonthlyReport) -> bytes:
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    pdf: bytes = HTML(string=to_html(report), url_fetcher=fetcher).write_pdf()
    return pdf


def document_id(province: str, period_id: str) -> str:
    """The stored report's id: one document per province and month."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{IDENTIFIER_SYSTEM}/{province}-{period_id}"))


def _filename(report: MonthlyReport) -> str:
    return f"bao-cao-{report.province}-{report.period_id}.pdf"


def document_reference(report: MonthlyReport, pdf: bytes) -> dict[str, Any]:
    start = dt.date(report.year, report.month, 1)
    end = month(report.year, report.month).end - dt.timedelta(days=1)
    return {
        "resourceType": "DocumentReference",
        "id": document_id(report.province, report.period_id),
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": f"{report.province}-{report.period_id}"}],
        "status": "current",
        "type": {
            "coding": [
                {"system": REPORT_TYPE_SYSTEM, "code": REPORT_CODE, "display": "Báo cáo y tế tháng của tỉnh"}
            ],
            "text": "Báo cáo y tế tháng của tỉnh",
        },
        "date": report.generated_at.isoformat(timespec="seconds"),
        "description": title_of(report),
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "language": "vi",
                    "data": base64.b64encode(pdf).decode("ascii"),
                    "size": len(pdf),
                    "title": _filename(report),
                    "creation": report.generated_at.isoformat(timespec="seconds"),
                }
            }
        ],
        "context": {"period": {"start": start.isoformat(), "end": end.isoformat()}},
    }


def _send_mail(config: ScheduleConfig, report: MonthlyReport, pdf: bytes) -> None:
    mail = EmailMessage()
    mail["From"] = config.smtp_from
    mail["To"] = ", ".join(config.emails)
    mail["Subject"] = title_of(report)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=config.smtp_from.rpartition("@")[2] or None)
    mail.set_content(
        f"{title_of(report)}\n\nBáo cáo đính kèm (PDF). Số liệu tổng hợp, không chứa thông tin cá nhân.\n"
    )
    mail.add_attachment(pdf, maintype="application", subtype="pdf", filename=_filename(report))
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config.smtp_ssl:
        smtp = smtplib.SMTP_SSL(
            config.smtp_host, config.smtp_port, timeout=config.smtp_timeout_s, context=context
        )
    else:
        smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.smtp_timeout_s)
    with smtp:
        if config.smtp_starttls and not config.smtp_ssl:
            smtp.starttls(context=context)
        if config.smtp_username:
            smtp.login(config.smtp_username, config.smtp_password)
        smtp.send_message(mail)


async def produce(
    store: FhirStore,
    year: int,
    month_: int,
    province: str | None = None,
    *,
    schema: str = SCHEMA,
    providers: Mapping[str, Provider] | None = None,
    email: bool = True,
) -> dict[str, Any]:
    """Compute, render, store (and e-mail) the report of ``year``-``month_``; a summary."""
    config = get_config()
    code = province or config.province or await default_province(store.pool)
    if code is None:
        raise PermanentFailure("no province: no facility in the store and none configured")
    report = await monthly_report(store, year, month_, code, schema=schema, providers=providers)
    pdf = await asyncio.to_thread(to_pdf, report)
    stored, created = await store.update(document_reference(report, pdf))
    mailed = 0
    if email and config.emails and config.smtp_host:
        await asyncio.to_thread(_send_mail, config, report, pdf)
        mailed = len(config.emails)
    return {
        "document": f"DocumentReference/{stored.res_id}",
        "version": stored.version,
        "created": created,
        "period": report.period_id,
        "province": code,
        "bytes": len(pdf),
        "mailed": mailed,
    }


@task(TASK, retries=2, backoff_s=300)
async def scheduled_report_job(
    job: JobContext,
    *,
    year: int | None = None,
    month: int | None = None,
    province: str | None = None,
    schema: str | None = None,
) -> dict[str, Any]:
    """The monthly report: of ``year``-``month`` when given, else of the month before the run's day;
    ``schema``: where the indicator views' tables are (default ``analytics``)."""
    if year is None or month is None:
        year, month = previous_month(job.scheduled_for or dt.datetime.now(dt.UTC))
    await job.progress(0, 1, f"Báo cáo tháng {month:02d}/{year}")
    summary = await produce(FhirStore(get_pool()), year, month, province, schema=schema or SCHEMA)
    await job.progress(1, 1, summary["document"])
    return summary


schedule(TASK, cron=get_config().cron, args={}, schedule_id="monthly")
