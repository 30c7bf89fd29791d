"""The detection run: each plan's batch path equals the one-series detector, history fitting, and on a real
PostgreSQL the run over seeded series (alerts for the burst only, idempotent, the group floor, a range on
demand, too little history), the trigger hook, the job through the worker and the command line."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import typer
from surveillance_support import VN
from typer.testing import CliRunner

import senhealth.surveillance.tasks  # noqa: F401  (registers the tasks in this process)
from senhealth.cli_surveillance_run import run_command
from senhealth.core.config import get_settings
from senhealth.core.db import close_pool, open_pool
from senhealth.core.geo import province_map
from senhealth.core.migrate import migrate
from senhealth.core.queue import registered_tasks
from senhealth.fhir.store import FhirStore
from senhealth.jobs.worker import run_worker
from senhealth.surveillance.alerts import configure as configure_alerts
from senhealth.surveillance.alerts import get_config as alerts_config
from senhealth.surveillance.alerts import read_alert, signal_id
from senhealth.surveillance.detection import (
    RUN_TASK,
    MethodPlan,
    configure,
    detection_run,
    fit_history,
    get_config,
    history_needed,
    install_detection_trigger,
    monitored_weeks,
    read_series,
    run_plan,
    uninstall_detection_trigger,
)
from senhealth.surveillance.detectors import Params, method
from senhealth.surveillance.notifiable.forms import QUESTIONNAIRE_URL
from senhealth.surveillance.series import weekly_series
from senhealth.surveillance.series.counts import iso_label, week_start

NOW = datetime(2026, 3, 12, 10, 0, tzinfo=VN)  # a Thursday of 2026-W11
WEEK = week_start(NOW.date())  # Monday 2026-03-09
COMMUNES = [c.code for c in province_map("24").communes[:4]]
BURST, QUIET = COMMUNES[0], COMMUNES[1:]
OTHER = province_map("01").communes[0].code  # a commune of another province
WEEKS = 14


# -- pure: the batch path, the history ---------------------------------------------------------------------


def _one_by_one(
    plan: MethodPlan, counts: np.ndarray, first: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    spec = method(plan.method)
    start = first - plan.chart_weeks + 1
    rows = [spec.run(row.tolist(), Params.parse(plan.method, plan.params), start, 52) for row in counts]
    keep = [[d for d in r if d.index >= first] for r in rows]
    nan = math.nan
    expected = np.array([[nan if d.expected is None else d.expected for d in r] for r in keep])
    upper = np.array([[nan if d.upperbound is None else d.upperbound for d in r] for r in keep])
    alarm = np.array([[d.alarm for d in r] for r in keep])
    return expected, upper, alarm


@pytest.mark.parametrize(
    "plan",
    [
        MethodPlan(method="ears-c1"),
        MethodPlan(method="ears-c2", params=("minSigma=1",)),
        MethodPlan(method="ears-c3", params=("mode=cdc",)),
        MethodPlan(method="cusum", params=("m=glm", "trans=rossi"), chart_weeks=20),
        MethodPlan(method="glrnb", params=("c.ARL=4",), chart_weeks=10),
        MethodPlan(method="glrnb", params=("alpha=0.2",)),  # negative binomial: row by row
        MethodPlan(method="endemic-channel", params=("b=3", "w=1", "method=nbquantile")),
        MethodPlan(method="farrington", params=("b=3", "w=2")),
        MethodPlan(
            method="farrington-flexible",
            params=("b=3", "w=3", "noPeriods=10", "pastWeeksNotIncluded=26", "thresholdMethod=nbPlugin"),
        ),
        MethodPlan(method="bayes", params=("b=1",)),  # no batch variant: row by row
    ],
    ids=lambda p: p.label,
)
def test_a_plan_over_many_series_equals_the_detector_one_series_at_a_time(plan: MethodPlan) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(3 * 52 + 12)
    mean = 4 * (1 + 0.6 * np.cos(2 * math.pi * t / 52))
    counts = rng.negative_binomial(3, 3 / (3 + mean), size=(5, t.size)).astype(float)
    counts[2, -3:] += 25  # an outbreak
    first = t.size - 6
    got = run_plan(plan, counts, first)
    expected, upper, alarm = _one_by_one(plan, counts, first)
    assert got.alarm.shape == (5, 6)
    np.testing.assert_allclose(got.expected, expected, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got.upperbound, upper, rtol=1e-9, equal_nan=True)
    assert (got.alarm == alarm).all()
    if plan.method != "bayes":
        assert got.alarm[2].any() and not got.alarm[[0, 1, 3, 4]][:, :3].all()


def test_bad_parameters_are_refused_by_name() -> None:
    counts = np.ones((2, 60))
    with pytest.raises(ValueError, match=r"unknown parameter.*lambda"):
        run_plan(MethodPlan(method="ears-c2", params=("lambda=3",)), counts, 50)
    with pytest.raises(ValueError, match="unknown method"):
        run_plan(MethodPlan(method="ears-c9"), counts, 50)
    with pytest.raises(ValueError, match="NAME=VALUE"):
        MethodPlan(method="ears-c2", params=("alpha",))


def test_history_needed_and_fewer_years_when_the_data_hold_fewer() -> None:
    noufaily = MethodPlan(method="farrington-flexible", params=("b=5", "w=3", "noPeriods=10"))
    assert history_needed(noufaily) == 263
    assert history_needed(MethodPlan(method="ears-c2")) == 9
    assert history_needed(MethodPlan(method="ears-c3", params=("baseline=10",))) == 14
    assert history_needed(MethodPlan(method="cusum", chart_weeks=52)) == 53
    assert fit_history(noufaily, 263) == (noufaily, "")
    lowered, note = fit_history(noufaily, 200)
    assert lowered is not None and "b=3" in lowered.params and "b=5" not in lowered.params
    assert note.endswith("b=5 → b=3 (200 weeks of data)")
    assert fit_history(noufaily, 54)[0] is None  # not one full year after the window
    channel = MethodPlan(method="endemic-channel", params=("b=5",))
    assert fit_history(channel, 103)[0] is None  # one year without neighbouring weeks: no SD
    fitted = fit_history(channel, 104)[0]
    assert fitted is not None and "b=2" in fitted.params
    ears = MethodPlan(method="ears-c2")
    assert fit_history(ears, 9) == (ears, "")
    none, why = fit_history(ears, 8)
    assert none is None and "needs 9 weeks" in why


def test_monitored_weeks() -> None:
    config = get_config()
    assert monitored_weeks(now=NOW, config=config) == (WEEK - timedelta(weeks=1), WEEK)
    assert monitored_weeks(start="2026-W02", end="2026-W05") == (date(2026, 1, 5), date(2026, 1, 26))
    with pytest.raises(ValueError, match="backwards"):
        monitored_weeks(start="2026-W05", end="2026-W02")
    with pytest.raises(ValueError, match="ISO weeks"):
        monitored_weeks(start="last week")


# -- on a real PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    saved, saved_alerts = get_config().model_dump(), alerts_config().model_dump()
    configure_alerts(webhook_url="", smtp_host="")
    try:
        yield schema_url
    finally:
        configure(**saved)
        configure_alerts(**saved_alerts)


def run(url: str, body: Any) -> None:
    async def main() -> None:
        await open_pool(url, max_size=4)
        try:
            await body(FhirStore())
        finally:
            await close_pool()

    asyncio.run(main())


def pattern(i: int, w: int) -> int:
    """A quiet commune's weekly cases: 12 to 16."""
    return 14 + (i + 3 * w) % 5 - 2


async def seed(store: FhirStore, rows: list[tuple[str, str, str, date, int]]) -> None:
    """(disease, province, commune, Monday, cases) straight into the weekly series."""
    async with store.pool.connection() as conn:
        for disease, province, commune, monday, cases in rows:
            year, week, _ = monday.isocalendar()
            await conn.execute(
                "INSERT INTO surveillance_count_week (disease, province, commune, week_start, iso_year, iso_week,"
                " cases) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (disease, province, commune, monday, year, week, cases),
            )


def dengue_season() -> list[tuple[str, str, str, date, int]]:
    rows = []
    for w in range(WEEKS):
        monday = WEEK - timedelta(weeks=WEEKS - 1 - w)
        for i, commune in enumerate(COMMUNES):
            cases = pattern(i, w) + (40 if commune == BURST and monday == WEEK else 0)
            rows.append(("dengue", "24", commune, monday, cases))
        rows.append(("dengue", "01", OTHER, monday, 3))
    return rows


async def alert_ids(store: FhirStore) -> set[str]:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT res_id FROM fhir_locator WHERE res_type = 'Task' AND NOT deleted")
        return {r[0] for r in await cur.fetchall()}


def test_the_run_opens_alerts_for_the_burst_only_and_again_changes_nothing(url: str) -> None:
    async def body(store: FhirStore) -> None:
        await seed(store, dengue_season())
        # the series as the run reads them are the series weekly_series returns
        first, last = WEEK - timedelta(weeks=WEEKS - 1), WEEK
        read = await read_series(store, "dengue", first=first, last=last)
        assert read["commune"].areas == tuple(sorted([*COMMUNES, OTHER]))
        assert read["province"].areas == ("01", "24")
        async with store.pool.connection() as conn:
            for level, area in (("commune", BURST), ("commune", OTHER), ("province", "24")):
                series = await weekly_series(
                    conn,
                    "dengue",
                    start=first,
                    end=last,
                    commune=area if level == "commune" else None,
                    province=area if level == "province" else None,
                )
                row = read[level].areas.index(area)
                assert read[level].counts[row].tolist() == [float(w.count) for w in series]

        report = await detection_run(store, now=NOW)
        week = iso_label(WEEK)
        assert (report.start, report.end, report.diseases) == (
            iso_label(WEEK - timedelta(weeks=1)),
            week,
            ["dengue"],
        )
        assert report.series == 5 + 2 and report.results == 2 * 7  # 7 series × 2 weeks × EARS C2
        burst = signal_id("A90", BURST, week, "ears-c2")
        province = signal_id("A90", "24", week, "ears-c2")
        assert set(report.opened) == {burst, province} == await alert_ids(store)
        assert any("farrington-flexible" in s and "needs 263 weeks" in s for s in report.skipped)
        assert any("endemic-channel" in s for s in report.skipped)
        alert = await read_alert(store, burst)
        assert (alert.disease, alert.area, alert.week, alert.method, alert.observed) == (
            "A90", BURST, week, "ears-c2", float(pattern(0, WEEKS - 1) + 40),
        )  # fmt: skip
        task = (await store.read("Task", burst)).content
        assert task is not None and province_map("24").commune(BURST).name in task["description"]  # type: ignore[union-attr]

        again = await detection_run(store, now=NOW)
        assert again.opened == [] and again.updated == [] and again.unchanged == 2
        dry = await detection_run(store, now=NOW + timedelta(days=7), open_alerts=False)
        assert dry.alarms == 2 and dry.opened == []  # the burst week is now the week before
        assert await alert_ids(store) == {burst, province}

    run(url, body)


def test_the_group_floor_a_range_on_demand_and_a_configured_plan(url: str) -> None:
    async def body(store: FhirStore) -> None:
        rows = dengue_season()
        earlier = WEEK - timedelta(weeks=3)
        rows = [(d, p, c, m, n + (30 if c == QUIET[0] and m == earlier else 0)) for d, p, c, m, n in rows]
        for w in range(WEEKS):
            monday = WEEK - timedelta(weeks=WEEKS - 1 - w)
            if monday == WEEK:
                rows.append(("cholera", "24", QUIET[1], monday, 1))  # group A: one case is a signal
                rows.append(("measles", "24", QUIET[2], monday, 2))  # group B: below the floor of 3
            else:
                rows.append(("measles", "24", QUIET[0], monday, 0))
        await seed(store, rows)
        report = await detection_run(store, now=NOW, diseases=["cholera", "measles", "no-such-disease"])
        assert report.diseases == ["cholera", "measles"]
        assert any(s.startswith("no-such-disease:") for s in report.skipped)
        week = iso_label(WEEK)
        assert set(report.opened) == {
            signal_id("A00", QUIET[1], week, "ears-c2"),
            signal_id("A00", "24", week, "ears-c2"),
        }
        assert report.alarms == 2  # measles: EARS alarms on 2 cases after zeros, the floor keeps it quiet

        past = await detection_run(
            store, start=iso_label(earlier), end=iso_label(earlier), diseases=["dengue"], now=NOW
        )
        assert signal_id("A90", QUIET[0], iso_label(earlier), "ears-c2") in past.opened

        configure(plans={"dengue": [{"method": "ears-c1", "levels": ["province"]}]}, min_cases={"B": 50})
        planned = await detection_run(store, now=NOW, diseases=["dengue"], open_alerts=False)
        assert planned.results == 2 * 2 and planned.alarms == 1  # provinces only; 24 has 96 cases ≥ 50

    run(url, body)


def test_a_case_report_write_queues_one_delayed_run(url: str) -> None:
    configure(debounce_s=30)
    install_detection_trigger()

    async def body(store: FhirStore) -> None:
        async def waiting() -> list[tuple[Any, ...]]:
            async with store.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT args, scheduled_at > now() + interval '20 seconds' FROM procrastinate_jobs "
                    "WHERE task_name = %s AND status = 'todo'",
                    (RUN_TASK,),
                )
                return list(await cur.fetchall())

        other = {"resourceType": "QuestionnaireResponse", "status": "completed", "questionnaire": "urn:x"}
        await store.create(other)
        assert await waiting() == []
        case = {
            "resourceType": "QuestionnaireResponse",
            "status": "in-progress",
            "questionnaire": QUESTIONNAIRE_URL + "|1",
        }
        await store.create(case)
        await store.create(case)
        assert await waiting() == [({"trigger": "series"}, True)]  # one run, due in 30 s, for both
        configure(enabled=False)
        async with store.pool.connection() as conn:
            await conn.execute("DELETE FROM procrastinate_jobs")
        await store.create(case)
        assert await waiting() == []

    try:
        run(url, body)
    finally:
        uninstall_detection_trigger()


def test_the_job_runs_on_demand_in_the_worker_and_is_scheduled_hourly(url: str) -> None:
    assert ("hourly", "7 * * * *") in registered_tasks()[RUN_TASK].schedules

    async def body(store: FhirStore) -> None:
        await seed(store, dengue_season())
        from senhealth.core.queue import enqueue

        job = await enqueue(
            RUN_TASK,
            {"start": iso_label(WEEK), "end": iso_label(WEEK), "requested_by": "cdc-minh", "trigger": "cli"},
        )
        bad = await enqueue(RUN_TASK, {"start": "2026-W09", "end": "2026-W02", "requested_by": "cdc-minh"})
        await run_worker(wait=False, install_signal_handlers=False)
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, status::text FROM procrastinate_jobs WHERE id IN (%s, %s)", (job, bad)
            )
            assert dict(await cur.fetchall()) == {job: "succeeded", bad: "failed"}
        assert signal_id("A90", BURST, iso_label(WEEK), "ears-c2") in await alert_ids(store)

    run(url, body)


def test_the_command_line(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", url)
    get_settings.cache_clear()
    run(url, lambda store: seed(store, dengue_season()))
    app = typer.Typer()
    app.command("run")(run_command)
    app.command("noop")(lambda: None)
    cli = CliRunner()
    week = iso_label(WEEK)
    try:
        dry = cli.invoke(app, ["run", "--from", week, "--to", week, "--dry-run", "--json"])
        assert dry.exit_code == 0, dry.output
        assert '"alarms": 2' in dry.output and '"opened": []' in dry.output
        done = cli.invoke(
            app, ["run", "--from", week, "--to", week, "--disease", "dengue", "--by", "cdc-lan"]
        )
        assert done.exit_code == 0, done.output
        assert "mở / opened 2" in done.output and "bỏ qua / skipped" in done.output
        queued = cli.invoke(app, ["run", "--queue"])
        assert queued.exit_code == 0 and "queued: job" in queued.output
        bad = cli.invoke(app, ["run", "--from", "W7"])
        assert bad.exit_code == 2 and "ISO weeks" in bad.output
    finally:
        get_settings.cache_clear()
