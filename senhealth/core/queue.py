"""Background jobs on the platform's PostgreSQL: enqueue in the writer's transaction, tasks, schedules, progress.

Built on procrastinate (https://procrastinate.readthedocs.io/en/stable/) with its psycopg 3 connector,
not written by hand: it has the queue (``FOR UPDATE SKIP LOCKED`` plus LISTEN/NOTIFY), retries, locks,
periodic tasks, stalled-worker recovery and graceful shutdown. Since 3.10, ``configure(connection=...)``
defers a job on a connection the caller holds (https://github.com/procrastinate-org/procrastinate/pull/1508),
so :func:`enqueue` inside :func:`senhealth.core.db.transaction` inserts the job on that connection, in a
savepoint of that transaction: the job exists only if the writer commits, and its NOTIFY is sent at COMMIT.
Its schema is migration ``0003_jobs.sql`` (procrastinate's ``schema.sql`` verbatim, plus our progress table).

Usage, in a domain (domains sit above core, so the registry is here; ``senhealth.jobs`` only runs it)::

    @task("mpi.deduplicate", retries=3)
    async def deduplicate(job: JobContext, *, facility: str) -> None:
        await job.progress(10, 200, "Đang so khớp / matching")

    schedule("mpi.deduplicate", cron="0 2 * * *", args={"facility": "all"}, schedule_id="nightly")

    async with transaction() as conn:
        ...                                             # the writer's own statements
        job_id = await enqueue("mpi.deduplicate", {"facility": "Organization/bv-tinh"})

A handler gets a :class:`JobContext` and the job's arguments (JSON values) as keyword arguments; the name
``timestamp`` is reserved (a scheduled run's time, in :attr:`JobContext.scheduled_for`). A failing handler is
retried ``retries`` times with exponential back-off (``backoff_s * 2**attempt``, at most ``max_backoff_s``)
and then marked ``failed``; raising :class:`PermanentFailure` fails it at once. :func:`set_progress` writes on
its own pooled connection, outside any transaction of the caller, so progress is visible while the job runs.

- procrastinate: https://procrastinate.readthedocs.io/en/stable/reference.html
- retries: https://procrastinate.readthedocs.io/en/stable/howto/advanced/retry.html
- periodic tasks (cron, optional 6th field for seconds): https://procrastinate.readthedocs.io/en/stable/howto/advanced/cron.html
- SKIP LOCKED: https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import croniter  # type: ignore[import-untyped]
import procrastinate
from procrastinate import exceptions as pexc
from procrastinate.jobs import Job as _ProcJob
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.db import get_pool, transaction
from senhealth.core.errors import SenHealthError

__all__ = [
    "DEFAULT_QUEUE",
    "STATUSES",
    "AlreadyQueued",
    "ExponentialBackoff",
    "JobContext",
    "JobInfo",
    "PermanentFailure",
    "Progress",
    "QueueError",
    "TaskSpec",
    "enqueue",
    "get_job",
    "list_jobs",
    "procrastinate_app",
    "register",
    "registered_tasks",
    "schedule",
    "set_progress",
    "task",
    "unschedule",
]

DEFAULT_QUEUE = "default"
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
_NAME_MAX = 128  # procrastinate_jobs.task_name / queue_name are varchar(128)

Handler = Callable[..., Awaitable[Any]]
H = TypeVar("H", bound=Handler)


class QueueError(SenHealthError):
    """A task or job request that cannot be done as asked."""

    code = "invalid"


class AlreadyQueued(QueueError):
    """A job with the same ``dedupe_key`` is already waiting."""

    code = "duplicate"


class PermanentFailure(Exception):
    """Raise from a handler to fail the job at once, without the remaining retries."""


@dataclass(frozen=True)
class Progress:
    """How far a job is: ``done`` of ``total`` (None: unknown), with a message for people."""

    done: int
    total: int | None
    message: str
    updated_at: dt.datetime

    @property
    def fraction(self) -> float | None:
        """0.0 to 1.0, or None when the total is unknown (or zero)."""
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


@dataclass(frozen=True)
class JobInfo:
    """One job as the queue holds it; timestamps from procrastinate's event log."""

    id: int
    task: str
    queue: str
    status: str
    attempts: int
    priority: int
    args: dict[str, Any]
    scheduled_at: dt.datetime | None
    created_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    progress: Progress | None

    def to_json(self, *, with_args: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (arguments left out unless asked: they may name patients)."""
        p = self.progress

        def iso(t: dt.datetime | None) -> str | None:
            return t.isoformat() if t is not None else None

        out: dict[str, Any] = {
            "id": self.id,
            "task": self.task,
            "queue": self.queue,
            "status": self.status,
            "attempts": self.attempts,
            "priority": self.priority,
            "scheduledAt": iso(self.scheduled_at),
            "createdAt": iso(self.created_at),
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
            "progress": None
            if p is None
            else {
                "done": p.done,
                "total": p.total,
                "fraction": p.fraction,
                "message": p.message,
                "updatedAt": iso(p.updated_at),
            },
        }
        if with_args:
            out["args"] = self.args
        return out


@dataclass(frozen=True)
class JobContext:
    """What a handler knows about the job it runs."""

    job_id: int
    task: str
    attempt: int  # 1 for the first run
    max_attempts: int
    queue: str
    scheduled_for: dt.datetime | None = None  # a scheduled run: the schedule's time

    async def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Record progress of this job (see :func:`set_progress`)."""
        await set_progress(self.job_id, done, total, message)


class ExponentialBackoff(BaseRetryStrategy):
    """Retry ``retries`` times, waiting ``base_s * 2**attempt`` seconds (at most ``max_s``) before each."""

    def __init__(self, retries: int, base_s: float, max_s: float) -> None:
        self.retries = retries
        self.base_s = base_s
        self.max_s = max_s

    def delay(self, attempts_done: int) -> float:
        """Seconds to wait after ``attempts_done`` failed runs (1 after the first)."""
        return float(min(self.max_s, self.base_s * 2 ** max(0, attempts_done - 1)))

    def get_retry_decision(self, *, exception: BaseException, job: _ProcJob) -> RetryDecision | None:
        # job.attempts: runs before this one (0 on the first run)
        if isinstance(exception, PermanentFailure) or job.attempts >= self.retries:
            return None
        wait = dt.timedelta(seconds=self.delay(job.attempts + 1))
        return RetryDecision(retry_at=dt.datetime.now(dt.UTC) + wait)


@dataclass(frozen=True)
class TaskSpec:
    """A registered task."""

    name: str
    handler: Handler = field(repr=False)
    retries: int
    backoff_s: float
    max_backoff_s: float
    queue: str
    priority: int
    schedules: tuple[tuple[str, str], ...] = ()  # (schedule_id, cron)


_app = procrastinate.App(connector=procrastinate.PsycopgConnector())
_tasks: dict[str, TaskSpec] = {}


def procrastinate_app() -> procrastinate.App:
    """The procrastinate App holding every registered task (for ``senhealth.jobs``: open it and run a worker)."""
    return _app


def registered_tasks() -> dict[str, TaskSpec]:
    """The registered tasks by name."""
    return dict(_tasks)


def _check_name(kind: str, name: str) -> None:
    if not name or len(name) > _NAME_MAX or not name.isascii() or any(c.isspace() for c in name):
        raise QueueError(
            f"tên {kind} không hợp lệ / invalid {kind} name {name!r}: 1-{_NAME_MAX} ASCII characters, no spaces"
        )


def register(
    name: str,
    handler: Handler,
    *,
    retries: int = 0,
    backoff_s: float = 10.0,
    max_backoff_s: float = 3600.0,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
) -> TaskSpec:
    """Register ``handler`` (``async def h(job: JobContext, **args)``) as task ``name``."""
    _check_name("tác vụ / task", name)
    _check_name("hàng đợi / queue", queue)
    if name in _tasks:
        raise QueueError(f"tác vụ đã đăng ký / task already registered: {name}")
    if retries < 0 or backoff_s < 0 or max_backoff_s < 0:
        raise QueueError("retries, backoff_s and max_backoff_s must not be negative")
    attempts = retries + 1

    async def run(context: procrastinate.JobContext, /, **kwargs: Any) -> Any:
        job = context.job
        assert job.id is not None
        stamp = kwargs.pop("timestamp", None)
        scheduled_for = dt.datetime.fromtimestamp(stamp, dt.UTC) if isinstance(stamp, int) else None
        ctx = JobContext(job.id, name, job.attempts + 1, attempts, job.queue, scheduled_for)
        return await handler(ctx, **kwargs)

    run.__name__ = run.__qualname__ = name.replace(".", "_")
    _app.task(
        name=name,
        pass_context=True,
        queue=queue,
        priority=priority,
        retry=ExponentialBackoff(retries, backoff_s, max_backoff_s),
    )(run)
    spec = TaskSpec(name, handler, retries, backoff_s, max_backoff_s, queue, priority)
    _tasks[name] = spec
    return spec


def task(
    name: str,
    *,
    retries: int = 0,
    backoff_s: float = 10.0,
    max_backoff_s: float = 3600.0,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
) -> Callable[[H], H]:
    """Decorator form of :func:`register`; the function is returned unchanged."""

    def decorate(fn: H) -> H:
        register(
            name,
            fn,
            retries=retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            queue=queue,
            priority=priority,
        )
        return fn

    return decorate


def schedule(name: str, *, cron: str, args: Mapping[str, Any] | None = None, schedule_id: str = "") -> None:
    """Enqueue task ``name`` on a cron schedule (5 fields, or 6 with seconds last), in the zone of UTC.

    Running workers enqueue each due run once (the database keeps two workers from both doing it);
    runs missed by more than ten minutes while no worker ran are skipped. ``schedule_id`` tells apart
    several schedules of one task.
    """
    spec = _tasks.get(name)
    if spec is None:
        raise QueueError(f"tác vụ chưa đăng ký / task not registered: {name}")
    if not croniter.croniter.is_valid(cron):
        raise QueueError(f"lịch cron không hợp lệ / invalid cron expression: {cron!r}")
    if args and "timestamp" in args:
        raise QueueError("'timestamp' is reserved for the scheduled time")
    proc_task = _app.tasks[name]
    _app.periodic_registry.register_task(
        task=proc_task,
        cron=cron,
        periodic_id=schedule_id,
        configure_kwargs={"task_kwargs": dict(args or {})},
    )
    _tasks[name] = replace(spec, schedules=(*spec.schedules, (schedule_id, cron)))


def unschedule(name: str, schedule_id: str = "") -> bool:
    """Remove a schedule registered by :func:`schedule` in this process; True if there was one."""
    removed = _app.periodic_registry.periodic_tasks.pop((name, schedule_id), None) is not None
    spec = _tasks.get(name)
    if removed and spec is not None:
        kept = tuple(s for s in spec.schedules if s[0] != schedule_id)
        _tasks[name] = replace(spec, schedules=kept)
    return removed


async def enqueue(
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    conn: AsyncConnection[TupleRow] | None = None,
    run_at: dt.datetime | None = None,
    priority: int | None = None,
    queue: str | None = None,
    dedupe_key: str | None = None,
) -> int:
    """Add a job for task ``name`` and return its id.

    The job is written on ``conn`` if given, else in the current :func:`~senhealth.core.db.transaction`
    (a savepoint of it) or, outside one, in a transaction of its own, committed before this returns.
    ``run_at`` (timezone-aware) delays it; ``priority`` (higher first) and ``queue`` default to the
    task's; ``dedupe_key`` refuses a second waiting job with the same key (:class:`AlreadyQueued`).
    Tasks need not be registered in the enqueuing process; the worker fails jobs of unknown tasks.
    """
    _check_name("tác vụ / task", name)
    if run_at is not None and run_at.tzinfo is None:
        raise QueueError("run_at must be timezone-aware")
    spec = _tasks.get(name)
    chosen_queue = queue or (spec.queue if spec else DEFAULT_QUEUE)
    _check_name("hàng đợi / queue", chosen_queue)
    chosen_priority = priority if priority is not None else (spec.priority if spec else 0)
    values = dict(args or {})

    async def defer(c: AsyncConnection[TupleRow]) -> int:
        deferrer = _app.configure_task(
            name,
            allow_unknown=True,
            schedule_at=run_at,
            priority=chosen_priority,
            queue=chosen_queue,
            queueing_lock=dedupe_key,
            connection=c,
        )
        return await deferrer.defer_async(**values)

    try:
        if conn is not None:
            async with conn.transaction():
                return await defer(conn)
        async with transaction() as c:
            return await defer(c)
    except pexc.AlreadyEnqueued:
        raise AlreadyQueued(
            f"đã có việc đang chờ với khóa này / a job with this key is already waiting: {dedupe_key}"
        ) from None


async def set_progress(job_id: int, done: int, total: int | None = None, message: str = "") -> None:
    """Record how far job ``job_id`` is; written at once on its own connection, visible to readers."""
    if done < 0 or (total is not None and total < 0):
        raise QueueError("progress must not be negative")
    async with get_pool().connection() as c:  # autocommit: not part of any transaction of the caller
        await c.execute(
            """INSERT INTO senhealth_job_progress (job_id, done, total, message)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (job_id) DO UPDATE SET done = excluded.done, total = excluded.total,
                   message = excluded.message, updated_at = now()""",
            (job_id, done, total, message),
        )


_SELECT = """
SELECT j.id, j.task_name, j.queue_name, j.status::text, j.attempts, j.priority, j.args, j.scheduled_at,
       e.created_at, e.started_at, e.finished_at, p.done, p.total, p.message, p.updated_at
FROM procrastinate_jobs j
LEFT JOIN senhealth_job_progress p ON p.job_id = j.id
LEFT JOIN LATERAL (
    SELECT min(ev.at) FILTER (WHERE ev.type = 'deferred') AS created_at,
           max(ev.at) FILTER (WHERE ev.type = 'started') AS started_at,
           max(ev.at) FILTER (WHERE ev.type IN ('succeeded', 'failed', 'cancelled', 'aborted')) AS finished_at
    FROM procrastinate_events ev WHERE ev.job_id = j.id
) e ON true
"""


def _info(row: tuple[Any, ...]) -> JobInfo:
    progress = None if row[11] is None else Progress(row[11], row[12], row[13], row[14])
    return JobInfo(
        id=row[0],
        task=row[1],
        queue=row[2],
        status=row[3],
        attempts=row[4],
        priority=row[5],
        args=row[6],
        scheduled_at=row[7],
        created_at=row[8],
        started_at=row[9],
        finished_at=row[10],
        progress=progress,
    )


async def get_job(job_id: int, *, conn: AsyncConnection[TupleRow] | None = None) -> JobInfo | None:
    """Job ``job_id`` with its progress, or None if there is no such job."""
    if conn is not None:
        cur = await conn.execute(_SELECT + " WHERE j.id = %s", (job_id,))
        row = await cur.fetchone()
    else:
        async with get_pool().connection() as c:
            cur = await c.execute(_SELECT + " WHERE j.id = %s", (job_id,))
            row = await cur.fetchone()
    return None if row is None else _info(row)


async def list_jobs(
    *, status: str | None = None, task_name: str | None = None, limit: int = 50
) -> list[JobInfo]:
    """The newest jobs first, optionally of one status or task."""
    if status is not None and status not in STATUSES:
        raise QueueError(f"trạng thái không hợp lệ / unknown status {status!r}: one of {', '.join(STATUSES)}")
    query = (
        _SELECT
        + """ WHERE (%(status)s::text IS NULL OR j.status::text = %(status)s)
              AND (%(task)s::text IS NULL OR j.task_name = %(task)s)
            ORDER BY j.id DESC LIMIT %(limit)s"""
    )
    params = {"status": status, "task": task_name, "limit": max(1, min(limit, 1000))}
    async with get_pool().connection() as c:
        cur = await c.execute(query, params)
        rows = await cur.fetchall()
    return [_info(r) for r in rows]
