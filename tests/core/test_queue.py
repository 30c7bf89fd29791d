"""The job queue's enqueue side on a real PostgreSQL: the job exists only if the writer commits."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from senhealth.core.db import close_pool, open_pool, transaction
from senhealth.core.migrate import migrate
from senhealth.core.queue import (
    AlreadyQueued,
    ExponentialBackoff,
    JobContext,
    QueueError,
    enqueue,
    get_job,
    list_jobs,
    register,
    registered_tasks,
    schedule,
    set_progress,
    task,
)


@task("test.queue.noop", retries=2, queue="q_test", priority=3)
async def noop(job: JobContext, **args: Any) -> None:
    return None


def run(url: str, body: Callable[[], Awaitable[None]]) -> None:
    migrate(url)

    async def main() -> None:
        await open_pool(url, max_size=4)
        try:
            await body()
        finally:
            await close_pool()

    asyncio.run(main())


def test_rolled_back_writer_leaves_no_job(schema_url: str) -> None:
    async def body() -> None:
        with pytest.raises(RuntimeError):
            async with transaction() as conn:
                await conn.execute("INSERT INTO platform_info (key, value) VALUES ('t', '1')")
                await enqueue("test.queue.noop", {"n": 1})
                raise RuntimeError("writer failed")
        assert await list_jobs() == []
        async with transaction() as conn, conn.transaction(force_rollback=True):  # explicit connection
            await enqueue("test.queue.noop", {"n": 2}, conn=conn)
        assert await list_jobs() == []

    run(schema_url, body)


def test_committed_job_is_queued_with_task_defaults(schema_url: str) -> None:
    async def body() -> None:
        async with transaction():
            job_id = await enqueue("test.queue.noop", {"patient": "Patient/p1"})
            inside = await list_jobs()
            assert inside == []  # another connection: not visible before COMMIT
        job = await get_job(job_id)
        assert job is not None
        assert (job.task, job.queue, job.priority, job.status, job.attempts) == (
            "test.queue.noop",
            "q_test",
            3,
            "todo",
            0,
        )
        assert job.args == {"patient": "Patient/p1"} and job.created_at is not None
        assert "args" not in job.to_json() and job.to_json(with_args=True)["args"] == job.args
        outside = await enqueue("test.queue.noop", queue="other", priority=-1)  # own transaction
        assert [j.id for j in await list_jobs()] == [outside, job_id]
        assert [j.id for j in await list_jobs(status="todo", task_name="test.queue.noop")] == [
            outside,
            job_id,
        ]
        assert await list_jobs(status="failed") == []
        assert await get_job(10**12) is None

    run(schema_url, body)


def test_run_at_dedupe_key_and_unknown_task(schema_url: str) -> None:
    async def body() -> None:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        job_id = await enqueue("test.queue.noop", run_at=later, dedupe_key="k1")
        job = await get_job(job_id)
        assert job is not None and job.scheduled_at == later
        async with transaction() as conn:
            with pytest.raises(AlreadyQueued):
                await enqueue("test.queue.noop", dedupe_key="k1")
            await conn.execute("SELECT 1")  # the writer's transaction is still usable (savepoint)
        unknown = await enqueue("test.queue.not_registered_here")
        got = await get_job(unknown)
        assert got is not None and got.queue == "default"
        with pytest.raises(QueueError, match="timezone"):
            await enqueue("test.queue.noop", run_at=dt.datetime(2030, 1, 1))

    run(schema_url, body)


def test_progress_is_visible_at_once(schema_url: str) -> None:
    async def body() -> None:
        job_id = await enqueue("test.queue.noop")
        job = await get_job(job_id)
        assert job is not None and job.progress is None
        async with transaction():  # written on its own connection: visible although this rolls on
            await set_progress(job_id, 5, 20, "Đang xử lý / working")
            seen = await get_job(job_id)
        assert seen is not None and seen.progress is not None
        assert (seen.progress.done, seen.progress.total, seen.progress.fraction) == (5, 20, 0.25)
        await set_progress(job_id, 7)
        again = await get_job(job_id)
        assert again is not None and again.progress is not None
        assert (again.progress.done, again.progress.total, again.progress.fraction) == (7, None, None)
        with pytest.raises(QueueError):
            await set_progress(job_id, -1)

    run(schema_url, body)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: register("test.queue.noop", noop), "already registered"),
        (lambda: register("bad name", noop), "invalid"),
        (lambda: register("x" * 129, noop), "invalid"),
        (lambda: register("test.queue.neg", noop, retries=-1), "negative"),
        (lambda: schedule("test.queue.unknown", cron="* * * * *"), "not registered"),
        (lambda: schedule("test.queue.noop", cron="every day"), "cron"),
        (lambda: schedule("test.queue.noop", cron="* * * * *", args={"timestamp": 1}), "reserved"),
    ],
)
def test_registration_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(QueueError, match=message):
        call()


def test_registry_and_backoff() -> None:
    spec = registered_tasks()["test.queue.noop"]
    assert (spec.retries, spec.queue, spec.priority) == (2, "q_test", 3)
    backoff = ExponentialBackoff(retries=5, base_s=10, max_s=60)
    assert [backoff.delay(n) for n in range(1, 6)] == [10, 20, 40, 60, 60]
