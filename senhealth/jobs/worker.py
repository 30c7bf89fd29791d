"""The background worker (``senhealth worker``): runs the jobs of :mod:`senhealth.core.queue`.

It opens the process's database pool (unless one is open: the handlers' transactions and progress use it)
and runs procrastinate's worker on a small pool of its own on the same database (procrastinate's LISTEN
connection cannot be made from a pool whose connections are already in autocommit, as ours are): jobs are fetched with ``FOR UPDATE SKIP LOCKED``, woken by LISTEN/NOTIFY with
polling as a fall-back, retried as each task says, and the registered schedules are enqueued by every
running worker (the database keeps each due run to one job). SIGINT or SIGTERM stops it gracefully: no
new job is fetched, running ones finish (or are aborted after ``shutdown_timeout_s``).

- worker: https://procrastinate.readthedocs.io/en/stable/howto/basics/worker.html
- shutdown: https://procrastinate.readthedocs.io/en/stable/howto/production/shutdown.html
- stalled jobs: https://procrastinate.readthedocs.io/en/stable/howto/production/retry_stalled_jobs.html
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import procrastinate
from procrastinate.app import WorkerOptions

from senhealth.core import db
from senhealth.core.queue import procrastinate_app
from senhealth.jobs.registry import import_task_modules

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


async def run_worker(
    *,
    conninfo: str | None = None,
    queues: Iterable[str] | None = None,
    concurrency: int = 1,
    name: str | None = None,
    wait: bool = True,
    install_signal_handlers: bool = True,
    poll_interval_s: float = 5.0,
    shutdown_timeout_s: float | None = None,
    task_modules: Iterable[str] = (),
) -> None:
    """Run jobs until stopped (``wait``) or until the queues are empty (``wait=False``).

    ``conninfo`` is used only when no pool is open yet (then this opens and closes one);
    ``queues`` None means every queue; ``task_modules`` are imported besides the registry's.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    import_task_modules(task_modules)
    try:
        pool = db.get_pool()
        owned = False
    except RuntimeError:
        pool = await db.open_pool(conninfo, min_size=1, max_size=concurrency + 2)
        owned = True
    options: WorkerOptions = {
        "concurrency": concurrency,
        "wait": wait,
        "install_signal_handlers": install_signal_handlers,
        "fetch_job_polling_interval": poll_interval_s,
    }
    if queues is not None:
        options["queues"] = list(queues)
    if name is not None:
        options["name"] = name
    if shutdown_timeout_s is not None:
        options["shutdown_graceful_timeout"] = shutdown_timeout_s
    pool_kwargs: dict[str, Any] = {"application_name": f"{db.APPLICATION_NAME}-worker"}
    connector = procrastinate.PsycopgConnector(
        conninfo=pool.conninfo, min_size=1, max_size=concurrency + 2, kwargs=pool_kwargs
    )
    try:
        with procrastinate_app().replace_connector(connector) as app:
            async with app.open_async():
                await app.run_worker_async(**options)
    finally:
        if owned:
            await db.close_pool()
