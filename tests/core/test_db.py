"""The pool, transactions and after-commit hooks against the real PostgreSQL; the ``db`` CLI on a server."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow
from typer.testing import CliRunner

from senhealth.cli_db import db_app
from senhealth.core import db
from senhealth.core.config import get_settings
from senhealth.core.db import (
    DatabaseNotConfigured,
    close_pool,
    connect,
    display_url,
    ensure_database,
    in_transaction,
    on_commit,
    open_pool,
    transaction,
)
from senhealth.core.migrate import load_migrations

pytestmark = pytest.mark.filterwarnings("error")

N_MIGRATIONS = len(load_migrations())


def names(conninfo: str) -> list[str]:
    """What another connection sees: only committed rows."""
    with psycopg.connect(conninfo) as conn:
        return [n for (n,) in conn.execute("SELECT name FROM t ORDER BY name").fetchall()]


@pytest.fixture
def table_url(schema_url: str) -> str:
    with psycopg.connect(schema_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (name text PRIMARY KEY)")
    return schema_url


def run_with_pool(conninfo: str, body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` with the process pool open on ``conninfo`` (no event-loop plugin needed)."""

    async def main() -> None:
        await open_pool(conninfo, min_size=1, max_size=4)
        try:
            await body()
        finally:
            await close_pool()

    asyncio.run(main())


def test_display_url_never_shows_the_password() -> None:
    assert display_url("postgresql://sen:bí-mật@db.so-y-te.vn:5433/senhealth") == (
        "postgresql://sen@db.so-y-te.vn:5433/senhealth"
    )
    assert display_url("host=/var/lib/senhealth/postgres port=5432 user=senhealth dbname=senhealth") == (
        "postgresql://senhealth@/senhealth?host=/var/lib/senhealth/postgres&port=5432"
    )
    assert "z" not in display_url("postgresql://u@[::1]/x?sslmode=require&password=z")


def test_no_url_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENHEALTH_DATABASE_URL", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    get_settings.cache_clear()
    try:
        with pytest.raises(DatabaseNotConfigured, match="SENHEALTH_DATABASE_URL"):
            connect()
    finally:
        get_settings.cache_clear()


def test_sync_connect(database_url: str) -> None:
    with connect(database_url) as conn:
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("senhealth",)


def test_commit_and_rollback(table_url: str) -> None:
    async def body() -> None:
        async with transaction() as conn:
            await conn.execute("INSERT INTO t VALUES ('committed')")
            assert names(table_url) == []  # not visible before the commit
            assert in_transaction()
        assert not in_transaction()
        with pytest.raises(ZeroDivisionError):
            async with transaction() as conn:
                await conn.execute("INSERT INTO t VALUES ('rolled back')")
                raise ZeroDivisionError
        async with transaction() as conn:
            await conn.execute("INSERT INTO t VALUES ('explicit rollback')")
            raise psycopg.Rollback

    run_with_pool(table_url, body)
    assert names(table_url) == ["committed"]


def test_on_commit_runs_after_commit_only(table_url: str) -> None:
    seen: list[str] = []

    async def async_hook() -> None:
        seen.append(f"async sees {names(table_url)}")

    async def body() -> None:
        async with transaction() as conn:
            await conn.execute("INSERT INTO t VALUES ('a')")
            on_commit(lambda: seen.append(f"sync sees {names(table_url)}"))
            on_commit(async_hook)
            assert seen == []
        with pytest.raises(RuntimeError):
            async with transaction() as conn:
                on_commit(lambda: seen.append("after an error"))
                raise RuntimeError
        async with transaction() as conn:
            on_commit(lambda: seen.append("after Rollback"))
            raise psycopg.Rollback
        with pytest.raises(psycopg.errors.UniqueViolation):
            async with transaction() as conn:
                on_commit(lambda: seen.append("after a failed statement"))
                await conn.execute("INSERT INTO t VALUES ('a')")

    run_with_pool(table_url, body)
    assert seen == ["sync sees ['a']", "async sees ['a']"]


def test_nested_transaction_is_a_savepoint(table_url: str) -> None:
    seen: list[str] = []

    async def body() -> None:
        async with transaction() as outer:
            await outer.execute("INSERT INTO t VALUES ('outer')")
            on_commit(lambda: seen.append("outer"))
            async with transaction() as inner:
                assert inner is outer
                await inner.execute("INSERT INTO t VALUES ('kept')")
                on_commit(lambda: seen.append("kept"))
            with pytest.raises(KeyError):
                async with transaction() as inner:
                    await inner.execute("INSERT INTO t VALUES ('dropped')")
                    on_commit(lambda: seen.append("dropped"))
                    raise KeyError
            assert seen == []

    run_with_pool(table_url, body)
    assert names(table_url) == ["kept", "outer"]
    assert seen == ["outer", "kept"]


def test_failing_hook_is_logged_and_the_others_run(table_url: str, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken() -> None:
        raise ValueError("hook bug")

    async def body() -> None:
        async with transaction() as conn:
            await conn.execute("INSERT INTO t VALUES ('x')")
            on_commit(broken)
            on_commit(lambda: seen.append("second"))

    with caplog.at_level(logging.ERROR, logger="senhealth.core.db"):
        run_with_pool(table_url, body)
    assert seen == ["second"] and names(table_url) == ["x"]
    assert "after-commit hook" in caplog.text and "hook bug" in caplog.text


def test_on_commit_needs_a_transaction() -> None:
    with pytest.raises(RuntimeError, match="outside a transaction"):
        on_commit(lambda: None)


def test_a_task_started_inside_a_transaction_has_its_own(table_url: str) -> None:
    async def body() -> None:
        async with transaction() as conn:
            await conn.execute("INSERT INTO t VALUES ('parent')")

            async def child() -> object:
                assert not in_transaction()
                async with transaction() as own:
                    return own

            own = await asyncio.create_task(child())
            assert own is not conn

    run_with_pool(table_url, body)
    assert names(table_url) == ["parent"]


def test_pool_keeps_postgresql_durability_defaults(database_url: str) -> None:
    async def body() -> None:
        async with transaction() as conn:
            cur = await conn.execute(
                "SELECT current_setting('synchronous_commit'), current_setting('fsync'), "
                "current_setting('full_page_writes')"
            )
            assert await cur.fetchone() == ("on", "on", "on")

    run_with_pool(database_url, body)


def test_pool_needs_opening_once() -> None:
    with pytest.raises(RuntimeError, match="not open"):
        db.get_pool()


def test_ensure_database_creates_once(server_url: str) -> None:
    url = make_conninfo(server_url, dbname=f"senhealth_ensure_{uuid.uuid4().hex[:8]}")
    try:
        assert ensure_database(url) is True
        assert ensure_database(url) is False
        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
    finally:
        drop(server_url, url)


# -- the `senhealth db` commands, in a subprocess, on a server URL -------------------------------------


def drop(server_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name))))


def senhealth_db(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SENHEALTH_DATABASE_URL": url}
    cmd = [sys.executable, "-m", "senhealth.cli_db", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture
def cli_url(server_url: str) -> Iterator[str]:
    """A URL with a password (the server ignores it: trust) for a database that does not exist yet."""
    params = psycopg.conninfo.conninfo_to_dict(server_url)
    host, port, user = (
        params.get("host", "127.0.0.1"),
        params.get("port", 5432),
        params.get("user", "postgres"),
    )
    url = f"postgresql://{user}:s3cret@{host}:{port}/senhealth_clitest_{uuid.uuid4().hex[:8]}"
    yield url
    drop(server_url, url)


def test_cli_init_migrate_status_on_a_server(cli_url: str, tmp_path: Path) -> None:
    before = senhealth_db(cli_url, "status", cwd=tmp_path)
    assert before.returncode == 2 and "senhealth db init" in before.stderr

    init = senhealth_db(cli_url, "init", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "Đã tạo / created" in init.stdout
    assert f"Đã áp dụng {N_MIGRATIONS} migration / applied {N_MIGRATIONS} migration(s)" in init.stdout

    again = senhealth_db(cli_url, "migrate", cwd=tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout

    text = senhealth_db(cli_url, "status", cwd=tmp_path)
    assert text.returncode == 0 and "máy chủ / server" in text.stdout and "0001_platform" in text.stdout
    assert "s3cret" not in text.stdout + text.stderr

    doc = json.loads(senhealth_db(cli_url, "status", "--json", cwd=tmp_path).stdout)
    assert doc["mode"] == "server" and doc["pending"] == [] and "s3cret" not in doc["url"]
    assert [a["name"] for a in doc["applied"]] == [m.name for m in load_migrations()]


def test_cli_init_without_migrate_then_migrate(cli_url: str, tmp_path: Path) -> None:
    init = senhealth_db(cli_url, "init", "--no-migrate", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert json.loads(senhealth_db(cli_url, "status", "--json", cwd=tmp_path).stdout)["pending"]
    applied = senhealth_db(cli_url, "migrate", cwd=tmp_path)
    assert f"Đã áp dụng {N_MIGRATIONS} migration / applied {N_MIGRATIONS} migration(s)" in applied.stdout


def test_cli_says_what_to_do_when_no_server_answers(tmp_path: Path) -> None:
    r = senhealth_db("postgresql://postgres@127.0.0.1:1/x", "migrate", cwd=tmp_path)
    assert r.returncode == 2
    assert "cannot connect" in r.stderr and "SENHEALTH_DATABASE_URL" in r.stderr


def test_cli_help_everywhere() -> None:
    runner = CliRunner()
    for args in ([], ["init"], ["migrate"], ["status"], ["start"], ["stop"]):
        r = runner.invoke(db_app, [*args, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output, r.output


def test_cli_fails_cleanly_on_a_changed_migration(cli_url: str, tmp_path: Path) -> None:
    assert senhealth_db(cli_url, "init", cwd=tmp_path).returncode == 0
    with psycopg.connect(cli_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    r = senhealth_db(cli_url, "migrate", cwd=tmp_path)
    assert r.returncode == 1 and "0001_platform" in r.stderr and "new migration" in r.stderr
    s = senhealth_db(cli_url, "status", cwd=tmp_path)
    assert s.returncode == 1 and "changed after it was applied" in s.stderr


def test_db_fixture_rolls_back_and_refuses_commits(db: psycopg.Connection[TupleRow]) -> None:
    db.execute("INSERT INTO platform_info (key, value) VALUES ('test_only', '1')")
    with pytest.raises(psycopg.ProgrammingError):
        db.commit()


def test_db_fixture_left_nothing_behind(db: psycopg.Connection[TupleRow]) -> None:
    assert db.execute("SELECT count(*) FROM platform_info WHERE key = 'test_only'").fetchone() == (0,)
