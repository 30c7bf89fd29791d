"""The database a CLI command works on: the configured PostgreSQL (or the embedded one the CLI starts),
migrated, with the process's connection pool open while the command's coroutine runs.

Shared by the ``senhealth`` sub-commands (``mpi``, ``views``, ``bulk``, ``users``, ``pki``, ``claims``...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_command", "run_on_database", "with_database", "with_pool"]

T = TypeVar("T")


def with_database(work: Callable[[str], Coroutine[Any, Any, T]]) -> T:
    """Run ``work(url)`` on the configured (or embedded) database, migrated first."""
    from senhealth.core.embedded_postgres import database_conninfo
    from senhealth.core.migrate import migrate

    with database_conninfo() as url:
        migrate(url)
        return asyncio.run(work(url))


async def with_pool(url: str, work: Callable[[], Awaitable[T]], *, max_size: int = 4) -> T:
    """Await ``work()`` with the process's pool open on ``url``, closed afterwards."""
    from senhealth.core import db

    await db.open_pool(url, max_size=max_size)
    try:
        return await work()
    finally:
        await db.close_pool()


def run_on_database(work: Callable[[], Awaitable[T]], *, max_size: int = 4) -> T:
    """Run ``work()`` with the pool open on the configured (or embedded) database, migrated."""

    async def main(url: str) -> T:
        return await with_pool(url, work, max_size=max_size)

    return with_database(main)


def run_command(work: Callable[[], Awaitable[T]], *, max_size: int = 2) -> T:
    """:func:`run_on_database` for a command: a refusal of the platform (``SenHealthError``) is printed in
    red on stderr and the command exits with status 1."""
    import typer
    from rich.console import Console

    from senhealth.core.errors import SenHealthError

    try:
        return run_on_database(work, max_size=max_size)
    except SenHealthError as e:
        Console(stderr=True).print(f"[red]{e.message}[/]")
        raise typer.Exit(1) from None
