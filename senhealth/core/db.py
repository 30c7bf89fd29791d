"""Database access: the async connection pool, transactions with after-commit hooks, a sync connect().

Usage::

    await open_pool()                      # once at start-up: SENHEALTH_DATABASE_URL, or a conninfo
    async with transaction() as conn:      # one transaction: committed at the end, rolled back on error
        await conn.execute("INSERT ...")
        on_commit(notify_subscribers)      # runs after the COMMIT succeeded; dropped on rollback
    await close_pool()

A ``transaction()`` opened inside another one in the same task becomes a savepoint of it: its hooks
join the outer transaction's if it succeeds and are dropped if it fails. Hooks run in registration
order once the connection is back in the pool; a hook that fails is logged and the others still run
(the data is committed by then). A task started inside a transaction does not share it: its own
``transaction()`` takes another connection. PostgreSQL's durability settings are left as they are (``fsync``,
``synchronous_commit`` on), so a transaction acknowledged here survives a crash.

- psycopg 3: https://www.psycopg.org/psycopg3/docs/
- async connections: https://www.psycopg.org/psycopg3/docs/advanced/async.html
- the pool: https://www.psycopg.org/psycopg3/docs/advanced/pool.html
- transactions and savepoints: https://www.psycopg.org/psycopg3/docs/basic/transactions.html
- durability: https://www.postgresql.org/docs/current/wal-async-commit.html
"""

from __future__ import annotations

import asyncio
import getpass
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from senhealth.core.config import get_settings
from senhealth.core.errors import SenHealthError

__all__ = [
    "APPLICATION_NAME",
    "DatabaseNotConfigured",
    "Hook",
    "Pool",
    "close_pool",
    "connect",
    "create_pool",
    "database_url",
    "display_url",
    "ensure_database",
    "get_pool",
    "in_transaction",
    "on_commit",
    "open_pool",
    "transaction",
]

APPLICATION_NAME = "senhealth"

Hook = Callable[[], Awaitable[None] | None]
Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]

log = logging.getLogger(__name__)


class DatabaseNotConfigured(SenHealthError):
    """No database to connect to: neither a conninfo was given nor ``SENHEALTH_DATABASE_URL`` set."""


@dataclass
class _Transaction:
    conn: AsyncConnection[TupleRow]
    pool: Pool
    task: asyncio.Task[Any] | None = field(default_factory=asyncio.current_task)
    hooks: list[Hook] = field(default_factory=list)


_current: ContextVar[_Transaction | None] = ContextVar("senhealth_transaction", default=None)
_pool: Pool | None = None


def database_url(conninfo: str | None = None) -> str:
    """``conninfo`` when given, else ``SENHEALTH_DATABASE_URL``."""
    url = conninfo or get_settings().database_url
    if not url:
        raise DatabaseNotConfigured(
            "no database: set SENHEALTH_DATABASE_URL=postgresql://..., or start the embedded server "
            "(senhealth.core.embedded_postgres.database_conninfo) and pass its conninfo"
        )
    return url


def display_url(conninfo: str) -> str:
    """``conninfo`` (URL or ``key=value``) as a ``postgresql://`` URL without its password, to show or log."""
    params = {k: str(v) for k, v in conninfo_to_dict(conninfo).items() if v is not None and v != ""}
    params.pop("password", None)
    host, port = params.pop("host", ""), params.pop("port", "")
    user, dbname = params.pop("user", ""), params.pop("dbname", "")
    if host.startswith("/") or "," in host:  # a socket directory, or several hosts
        params = {"host": host, **({"port": port} if port else {}), **params}
        netloc = ""
    else:
        netloc = f"[{host}]" if ":" in host else host
        netloc += f":{port}" if port else ""
    if user:
        netloc = f"{quote(user, safe='')}@{netloc}"
    query = f"?{urlencode(params, safe='/')}" if params else ""
    return f"postgresql://{netloc}/{quote(dbname, safe='')}{query}"


def ensure_database(conninfo: str) -> bool:
    """Create the database named in ``conninfo`` if it is missing (UTF-8, C collation); True if created.

    The server's ``postgres`` database is used to create it, with the same user and host.
    """
    try:
        with psycopg.connect(conninfo, connect_timeout=10):
            return False
    except psycopg.OperationalError as first:
        if "does not exist" not in str(first):
            raise
    params = conninfo_to_dict(conninfo)
    name = str(params.get("dbname") or params.get("user") or getpass.getuser())  # libpq's defaults
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' ").format(sql.Identifier(name))
    with psycopg.connect(make_conninfo(conninfo, dbname="postgres"), autocommit=True) as conn:
        try:
            conn.execute(statement + sql.SQL("LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"))
        except psycopg.errors.DuplicateDatabase:
            return False  # made by a process racing us
        except psycopg.errors.InvalidParameterValue:  # no C.UTF-8 locale on the server
            conn.execute(statement + sql.SQL("LOCALE 'C'"))
    return True


def connect(conninfo: str | None = None, *, autocommit: bool = False) -> psycopg.Connection[TupleRow]:
    """A plain synchronous connection (CLI, migrations, scripts); use it as a context manager."""
    return psycopg.connect(database_url(conninfo), autocommit=autocommit, application_name=APPLICATION_NAME)


def create_pool(conninfo: str | None = None, *, min_size: int = 1, max_size: int = 10) -> Pool:
    """A new, not yet opened pool; connections are in autocommit and get transactions from ``transaction()``."""
    return AsyncConnectionPool(
        database_url(conninfo),
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=APPLICATION_NAME,
        kwargs={"autocommit": True, "application_name": APPLICATION_NAME},
    )


async def open_pool(
    conninfo: str | None = None, *, min_size: int = 1, max_size: int = 10, timeout: float = 30.0
) -> Pool:
    """Open the process's pool (waiting until ``min_size`` connections work); it becomes :func:`get_pool`."""
    global _pool
    if _pool is not None:
        raise RuntimeError("the pool is already open: close_pool() first")
    pool = create_pool(conninfo, min_size=min_size, max_size=max_size)
    await pool.open(wait=True, timeout=timeout)
    _pool = pool
    return pool


async def close_pool() -> None:
    """Close the process's pool, if open."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        await pool.close()


def get_pool() -> Pool:
    """The process's open pool."""
    if _pool is None:
        raise RuntimeError("the database pool is not open: await open_pool() at start-up")
    return _pool


def _active() -> _Transaction | None:
    """This task's transaction: a task started inside one (which copies the context) does not share it."""
    current = _current.get()
    return current if current is not None and current.task is asyncio.current_task() else None


def in_transaction() -> bool:
    """Whether this task is inside ``transaction()``."""
    return _active() is not None


def on_commit(hook: Hook) -> None:
    """Run ``hook`` (sync or async, no arguments) after the current transaction commits; never on rollback."""
    current = _active()
    if current is None:
        raise RuntimeError("on_commit() outside a transaction(): there is nothing to wait for")
    current.hooks.append(hook)


@asynccontextmanager
async def transaction(pool: Pool | None = None) -> AsyncIterator[AsyncConnection[TupleRow]]:
    """One database transaction on a pooled connection (a savepoint when nested); see the module docstring."""
    outer = _active()
    if outer is not None and (pool is None or pool is outer.pool):
        inner = _Transaction(outer.conn, outer.pool)
        token = _current.set(inner)
        try:
            async with outer.conn.transaction() as tx:
                yield outer.conn
        finally:
            _current.reset(token)
        if tx.status == tx.Status.COMMITTED:
            outer.hooks.extend(inner.hooks)
        return
    chosen = pool if pool is not None else get_pool()
    async with chosen.connection() as conn:
        current = _Transaction(conn, chosen)
        token = _current.set(current)
        try:
            async with conn.transaction() as tx:
                yield conn
        finally:
            _current.reset(token)
    if tx.status == tx.Status.COMMITTED:
        await _run_hooks(current.hooks)


async def _run_hooks(hooks: list[Hook]) -> None:
    for hook in hooks:
        try:
            result: Any = hook()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("after-commit hook %r failed (the transaction is committed)", hook)
