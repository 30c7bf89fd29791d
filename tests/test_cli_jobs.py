"""``senhealth worker`` and ``senhealth jobs list|show`` (the Typer app of senhealth.cli_jobs) on a real database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from senhealth.cli_jobs import app
from senhealth.core.config import get_settings
from senhealth.core.db import close_pool, open_pool
from senhealth.core.migrate import migrate
from senhealth.core.queue import JobContext, enqueue, set_progress, task

runner = CliRunner()


@task("test.cli.echo")
async def echo(job: JobContext, **args: Any) -> None:
    await job.progress(2, 4, "một nửa / half")


@pytest.fixture
def cli_db(schema_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    migrate(schema_url)
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", schema_url)
    get_settings.cache_clear()
    yield schema_url
    get_settings.cache_clear()


def _enqueue(url: str, progress: bool) -> int:
    async def main() -> int:
        await open_pool(url, max_size=2)
        try:
            job_id = await enqueue("test.cli.echo", {"n": 1})
            if progress:
                await set_progress(job_id, 1, 4, "bắt đầu / started")
            return job_id
        finally:
            await close_pool()

    return asyncio.run(main())


def test_list_show_and_worker_once(cli_db: str) -> None:
    assert "no jobs" in runner.invoke(app, ["jobs", "list"]).output
    job_id = _enqueue(cli_db, progress=True)
    listed = runner.invoke(app, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    assert "test.cli.echo" in listed.output and "todo" in listed.output
    shown = runner.invoke(app, ["jobs", "show", str(job_id)])
    assert shown.exit_code == 0, shown.output
    assert "todo" in shown.output and "1/4" in shown.output and "bắt đầu / started" in shown.output

    worked = runner.invoke(app, ["worker", "--once"])
    assert worked.exit_code == 0, worked.output
    done = runner.invoke(app, ["jobs", "show", str(job_id)])
    assert "succeeded" in done.output and "2/4" in done.output
    assert "succeeded" in runner.invoke(app, ["jobs", "list", "--status", "succeeded"]).output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["jobs", "show", "999999"], 1, "no such job"),
        (["jobs", "show", "0"], 1, "no such job"),
        (["jobs", "list", "--status", "nonsense"], 2, "unknown status"),
    ],
)
def test_errors(cli_db: str, args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code and message in result.output
