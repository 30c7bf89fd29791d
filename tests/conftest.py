"""Shared fixtures: a real PostgreSQL for the tests that need one.

The server is ``SENHEALTH_TEST_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
the machine's PostgreSQL); it is used only to create and drop test databases. Without a server that
answers, every test that asks for a database is skipped with the reason; the others run as usual.

Fixtures:

- ``server_url`` (session): the server's URL, checked once.
- ``database_url`` (session): this pytest-xdist worker's own database, ``senhealth_test_<worker>_<run>``,
  created fresh and migrated at session start, dropped at the end. The session keeps one connection
  open to it, so a later run can tell a live database from one left by a killed run, and drop only
  the latter.
- ``db`` (function): a sync connection inside a transaction that is rolled back after the test: the
  default isolation. Use ``with db.transaction():`` for savepoints; ``db.commit()`` is refused.
- ``schema_url`` (function): a conninfo whose ``search_path`` is a new, empty schema, dropped after
  the test: for tests that must commit (pools, ``on_commit`` hooks, several connections, migrations).
  It has no tables: call ``migrate(schema_url)`` for the platform's.

Async tests run their coroutine with ``asyncio.run(...)``: no event-loop plugin is needed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from senhealth.core.config import Settings
from senhealth.core.migrate import migrate

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:  # helpers shared across test folders (store_runner_support)
    sys.path.insert(0, _TESTS)

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX = "senhealth_test_"
LOCK_KEY = 0x53454E_54455354  # "SENTEST": held while creating or cleaning up test databases


@pytest.fixture(scope="session")
def server_url() -> str:
    url = os.environ.get("SENHEALTH_TEST_DATABASE_URL", DEFAULT_SERVER)
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        pytest.skip(f"no PostgreSQL answers at SENHEALTH_TEST_DATABASE_URL ({url}): {e}")
    return url


def _drop_abandoned(admin: psycopg.Connection[TupleRow]) -> None:
    """Drop test databases nobody is connected to: left by killed runs (live runs hold a connection)."""
    rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",))
    for (name,) in rows.fetchall():
        # another session may drop its own database between the listing and this DROP
        with contextlib.suppress(psycopg.errors.ObjectInUse, psycopg.errors.InvalidCatalogName):
            admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)[:8]
    name = f"{PREFIX}{worker}_{run}"
    ident = sql.Identifier(name)
    url = make_conninfo(server_url, dbname=name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))  # vs. other workers' clean-up
        _drop_abandoned(admin)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(ident))
        holder = psycopg.connect(url, autocommit=True)
        admin.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    try:
        migrate(url)
        yield url
    finally:
        holder.close()
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[TupleRow]]:
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        conn.transaction(force_rollback=True),
    ):
        yield conn


@pytest.fixture
def schema_url(database_url: str) -> Iterator[str]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield make_conninfo(database_url, options=f"-c search_path={schema}")
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def platform_settings(schema_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings of the assembled platform (``senhealth.app.build_app``: sign-in required, the role policy,
    the audit sink) on a migrated schema of its own; the FHIR core's open policy is put back afterwards."""
    from senhealth.fhir import access

    migrate(schema_url)
    yield Settings(database_url=schema_url, data_dir=tmp_path, auth_required=True)
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)  # build_app installed the platform's
