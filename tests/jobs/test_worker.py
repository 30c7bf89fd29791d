"""The worker on a real PostgreSQL: committed jobs run, failures are retried with back-off, schedules fire,
and progress shows through the API router."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from senhealth.api.jobs import router
from senhealth.core.db import close_pool, open_pool, transaction
from senhealth.core.queue import JobContext, enqueue, get_job, list_jobs, schedule, task, unschedule
from senhealth.jobs.worker import run_worker

seen: list[dict[str, Any]] = []


@task("test.worker.record")
async def record(job: JobContext, **args: Any) -> str:
    seen.append({"job": job.job_id, "attempt": job.attempt, "scheduled": job.scheduled_for, **args})
    await job.progress(3, 3, "Xong / done")
    return "ok"


@task("test.worker.flaky", retries=2, backoff_s=0.3)
async def flaky(job: JobContext) -> None:
    raise RuntimeError(f"attempt {job.attempt} of {job.max_attempts} fails")


@task("test.worker.scheduled")
async def scheduled(job: JobContext, *, label: str) -> None:
    seen.append({"job": job.job_id, "label": label, "scheduled": job.scheduled_for})


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout} s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def worker_running() -> AsyncIterator[None]:
    """A worker in the background, stopped (cancelled: procrastinate shuts down gracefully) at the end."""
    runner = asyncio.create_task(run_worker(install_signal_handlers=False, poll_interval_s=0.1))
    try:
        yield
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner


def run(url: str, body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        await open_pool(url, max_size=8)
        try:
            await body()
        finally:
            await close_pool()

    asyncio.run(main())


def test_committed_job_runs_and_rolled_back_one_never_exists(jobs_url: str) -> None:
    seen.clear()

    async def body() -> None:
        async with transaction():
            job_id = await enqueue("test.worker.record", {"who": "committed"})
        with pytest.raises(RuntimeError):
            async with transaction():
                await enqueue("test.worker.record", {"who": "rolled back"})
                raise RuntimeError
        await run_worker(wait=False, install_signal_handlers=False)  # until the queue is empty
        job = await get_job(job_id)
        assert job is not None and job.status == "succeeded" and job.attempts == 1
        assert job.started_at is not None and job.finished_at is not None
        assert job.progress is not None and job.progress.fraction == 1.0
        assert [(s["job"], s["who"], s["attempt"], s["scheduled"]) for s in seen] == [
            (job_id, "committed", 1, None)
        ]
        # scheduled tasks of other modules (view refresh, subscription sweep) may add their own jobs
        assert len(await list_jobs(task_name="test.worker.record")) == 1

    run(jobs_url, body)


def test_failing_job_is_retried_with_backoff_then_failed(jobs_url: str) -> None:
    async def body() -> None:
        job_id = await enqueue("test.worker.flaky")

        async def finished() -> bool:
            job = await get_job(job_id)
            return job is not None and job.status == "failed"

        async with worker_running():
            await wait_for(finished)
        job = await get_job(job_id)
        assert job is not None and job.attempts == 3
        async with transaction() as conn:
            cur = await conn.execute(
                "SELECT type::text, at FROM procrastinate_events WHERE job_id = %s ORDER BY id", (job_id,)
            )
            events = await cur.fetchall()
        kinds = [k for k, _ in events]
        assert kinds.count("started") == 3 and kinds.count("deferred_for_retry") == 2
        assert kinds[-1] == "failed"
        starts = [at for k, at in events if k == "started"]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        assert gaps[0] >= 0.3 and gaps[1] >= 0.6  # 0.3 s, then 0.6 s: exponential

    run(jobs_url, body)


def test_scheduled_task_is_enqueued_on_its_schedule(jobs_url: str) -> None:
    seen.clear()
    schedule("test.worker.scheduled", cron="* * * * * *", args={"label": "every second"}, schedule_id="t")

    async def body() -> None:
        async def ran() -> bool:
            done = await list_jobs(status="succeeded", task_name="test.worker.scheduled")
            return len(done) >= 1

        try:
            async with worker_running():
                await wait_for(ran)
        finally:
            assert unschedule("test.worker.scheduled", "t")
        first = next(s for s in seen if s.get("label") == "every second")
        assert first["scheduled"] is not None  # the schedule's time reached the handler

    run(jobs_url, body)
    assert not unschedule("test.worker.scheduled", "t")


def test_progress_through_the_api(jobs_url: str) -> None:
    app = FastAPI()
    app.include_router(router)

    async def body() -> None:
        job_id = await enqueue("test.worker.record", {"who": "api"})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            before = (await client.get(f"/api/jobs/{job_id}")).json()
            assert before["status"] == "todo" and before["progress"] is None and "args" not in before
            await run_worker(wait=False, install_signal_handlers=False)
            response = await client.get(f"/api/jobs/{job_id}")
            assert response.status_code == 200 and response.headers["content-type"] == "application/json"
            body = response.json()
            assert body["status"] == "succeeded" and body["attempts"] == 1
            assert body["progress"]["done"] == 3 and body["progress"]["total"] == 3
            assert body["progress"]["fraction"] == 1.0 and body["progress"]["message"] == "Xong / done"
            for missing in (job_id + 1000, 2**70, 0):
                assert (await client.get(f"/api/jobs/{missing}")).status_code == 404
            assert (await client.get("/api/jobs/abc")).status_code == 422

    run(jobs_url, body)


def test_schema_is_procrastinates(jobs_url: str) -> None:
    with psycopg.connect(jobs_url) as conn:
        names = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'procrastinate%'")
        }
    assert {"procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers"} <= names
