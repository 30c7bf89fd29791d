"""Fixtures for the store tests: a migrated schema of its own per test, and a runner for async code.

``store_url`` is a conninfo whose ``search_path`` is a fresh schema holding the platform's tables
(``schema_url`` + ``migrate``): tests commit, use several connections, and count rows in every table
without seeing each other's data. ``run_store(fn)`` opens a pool on it, gives ``fn`` a ``FhirStore``
and returns its result (``asyncio.run``, as the other async tests do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest

from senhealth.core.db import create_pool
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore

T = TypeVar("T")
RunStore = Callable[[Callable[[FhirStore], Awaitable[Any]]], Any]


@pytest.fixture
def store_url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


@pytest.fixture
def run_store(store_url: str) -> RunStore:
    def run(fn: Callable[[FhirStore], Awaitable[T]], max_size: int = 4) -> T:
        async def main() -> T:
            pool = create_pool(store_url, min_size=1, max_size=max_size)
            await pool.open(wait=True)
            try:
                return await fn(FhirStore(pool))
            finally:
                await pool.close()

        return asyncio.run(main())

    return run


@pytest.fixture
def sql(store_url: str) -> Callable[..., list[tuple[Any, ...]]]:
    """Run one query on the test's schema (autocommit) and return its rows."""

    def query(statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(store_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    return query
