"""End to end, for real (issue 8's must-show): 2,000 dengue case reports arrive through the FHIR store → the
worker's case detection updates the weekly series → the detection run (queued by the series change) runs →
the alert Task of the commune with the burst is in the CDC's inbox (a FHIR search over HTTP, as a CDC
officer); quiet communes get none. The time from the last write to the alert is printed (the issue asks for
under a minute: 15–28 s measured with other work on both cores, README); the test's own bound is a liveness
bound of 3 minutes, so a loaded machine does not fail it (speed targets belong to benchmarks).

Twelve weeks of cases in ten communes of one province (12 to 20 a week each, 1,920 in all), written week by
week as they would arrive, then 80 more in one commune in the current week: 2,000 Conditions. One worker
(four jobs at a time) runs beside the writer, as in production."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from loopback_support import free_port
from surveillance_support import condition, patient

import senhealth.surveillance.tasks  # noqa: F401  (registers the tasks in this process)
from senhealth.api import create_app
from senhealth.core.config import Settings
from senhealth.core.db import close_pool, open_pool
from senhealth.core.geo import province_map
from senhealth.core.migrate import migrate
from senhealth.core.queue import schedule, unschedule
from senhealth.fhir import access
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.jobs.worker import run_worker
from senhealth.security.policy import RolePolicy
from senhealth.surveillance.alerts import configure as configure_alerts
from senhealth.surveillance.alerts import get_config as alerts_config
from senhealth.surveillance.alerts.model import ALERT_SYSTEM
from senhealth.surveillance.alerts.tasks import ESCALATE_CRON, ESCALATE_TASK
from senhealth.surveillance.cases import DETECT_TASK, install_case_detection, uninstall_case_detection
from senhealth.surveillance.detection import (
    RUN_TASK,
    configure,
    get_config,
    install_detection_trigger,
    uninstall_detection_trigger,
)
from senhealth.surveillance.series import weekly_series
from senhealth.surveillance.series.counts import iso_label, week_start
from senhealth.surveillance.tasks import RUN_SCHEDULE_ID

VN = ZoneInfo("Asia/Ho_Chi_Minh")
COMMUNES = [c.code for c in province_map("24").communes[:10]]
BURST = COMMUNES[3]
WEEKS = 12
EXTRA = 80
CODES = ("A90", "A91", "A97.0", "A97.1")
CDC = Principal("user", "cdc-minh", frozenset({"cdc_officer"}))


def weekly(i: int, w: int) -> int:
    """Cases of commune ``i`` in week ``w``: 14 to 18 (mean 16): 1,920 over 10 communes × 12 weeks."""
    return 16 + (i + 3 * w) % 5 - 2


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    saved, saved_alerts = get_config().model_dump(), alerts_config().model_dump()
    configure(debounce_s=2.0)
    configure_alerts(webhook_url="", smtp_host="")
    access.install(policy=RolePolicy())
    install_case_detection()
    install_detection_trigger()
    # nothing on a clock: the run under test is the one the series change queues
    unschedule(RUN_TASK, RUN_SCHEDULE_ID)
    unschedule(ESCALATE_TASK, "every-15-min")
    try:
        yield schema_url
    finally:
        schedule(RUN_TASK, cron=get_config().cron, schedule_id=RUN_SCHEDULE_ID)
        schedule(ESCALATE_TASK, cron=ESCALATE_CRON, schedule_id="every-15-min")
        uninstall_detection_trigger()
        uninstall_case_detection()
        access.install(policy=access.OPEN)
        configure(**saved)
        configure_alerts(**saved_alerts)


@contextlib.asynccontextmanager
async def api_server(url: str) -> AsyncIterator[str]:
    async def authenticate(headers: Mapping[str, str]) -> Principal | None:
        return CDC if headers.get("authorization") == "Bearer cdc" else None

    port = free_port()
    app = create_app(Settings(database_url=url), authenticate=authenticate)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            raise RuntimeError("the API server did not start")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/fhir"
    finally:
        server.should_exit = True
        await asyncio.wait({serving}, timeout=10)


async def inbox(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """The open alerts as the CDC officer's inbox lists them: ``disease|area|week|method`` → Task."""
    r = await client.get("/Task", params={"code": f"{ALERT_SYSTEM}|alert", "_count": "200"})
    assert r.status_code == 200, r.text
    tasks = [e["resource"] for e in r.json().get("entry", [])]
    return {t["identifier"][0]["value"]: t for t in tasks}


async def queue_busy(store: FhirStore) -> int:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name IN (%s, %s) AND status IN ('todo', 'doing')",
            (DETECT_TASK, RUN_TASK),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def test_2000_case_reports_become_an_alert_in_the_inbox_within_a_minute(url: str) -> None:
    today = datetime.now(VN).date()
    this_week = week_start(today)
    mondays = [this_week - timedelta(weeks=WEEKS - 1 - w) for w in range(WEEKS)]
    arrivals: list[tuple[str, str]] = []  # (commune, onset day), in the order they arrive
    for w, monday in enumerate(mondays):
        for i, commune in enumerate(COMMUNES):
            arrivals += [(commune, monday.isoformat())] * weekly(i, w)
    arrivals += [(BURST, this_week.isoformat())] * EXTRA
    assert len(arrivals) == 2000

    async def main() -> None:
        await open_pool(url, max_size=12)
        store = FhirStore()
        try:
            people = [patient(f"Người {n}", commune=c) for n, (c, _) in enumerate(arrivals)]
            for n, p in enumerate(people):
                p["id"] = f"p{n:04d}"
            await store.load(people)  # the population, before the season (the bulk loader calls no hook)
            async with api_server(url) as base:
                worker = asyncio.create_task(
                    run_worker(
                        install_signal_handlers=False,
                        poll_interval_s=0.2,
                        concurrency=4,
                        shutdown_timeout_s=5,
                    )
                )
                try:
                    await season(store, base, arrivals)
                finally:
                    worker.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await worker
        finally:
            await close_pool()

    async def season(store: FhirStore, base: str, arrivals: list[tuple[str, str]]) -> None:
        first = time.monotonic()
        for start in range(0, len(arrivals), 50):
            async with store.transaction() as tx:
                for n in range(start, min(start + 50, len(arrivals))):
                    commune, onset = arrivals[n]
                    recorded = datetime.fromisoformat(onset).replace(hour=0, minute=0, tzinfo=VN)
                    await tx.create(condition(f"p{n:04d}", CODES[n % 4], recorded, onset=onset))
        last_write = time.monotonic()
        key = f"A90|{BURST}|{iso_label(this_week)}|ears-c2"
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer cdc"}, timeout=30) as c:
            found = None
            while found is None:
                if key in await inbox(c):
                    found = time.monotonic()
                elif time.monotonic() - last_write > 180:
                    raise AssertionError(
                        f"no alert {key} 180 s after the last write; inbox: {sorted(await inbox(c))}"
                    )
                else:
                    await asyncio.sleep(0.5)
            elapsed = found - last_write
            print(
                f"\n2,000 writes in {last_write - first:.1f} s; the alert in the inbox {elapsed:.1f} s after the last"
            )
            assert elapsed < 180  # liveness; the measured time is printed above

            # everything done: every case counted, and the quiet communes have no alert
            deadline = time.monotonic() + 120
            while await queue_busy(store):
                assert time.monotonic() < deadline, "the queue did not drain"
                await asyncio.sleep(0.5)
            async with store.pool.connection() as conn:
                counted = 0
                for commune in COMMUNES:
                    counted += sum(
                        w.count
                        for w in await weekly_series(
                            conn, "dengue", start=mondays[0], end=today, commune=commune
                        )
                    )
            assert counted == 2000
            alerts = await inbox(c)
            areas = {k.split("|")[1] for k in alerts}
            assert areas <= {BURST, "24"} and BURST in areas, sorted(alerts)
            task = alerts[key]
            assert task["businessStatus"]["coding"][0]["code"] == "signal" and task["status"] == "requested"
            inputs = {i["type"]["coding"][0]["code"]: i for i in task["input"]}
            assert inputs["observed"]["valueDecimal"] == weekly(3, WEEKS - 1) + EXTRA

    asyncio.run(main())
