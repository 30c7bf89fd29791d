"""What one audit row costs, measured in-process (docs/audit.md "Cost"): a read-like transaction with and
without its audit INSERT, on one connection (wall time, Python CPU, PostgreSQL backend CPU from
/proc/<pid>/stat) and with 32 concurrent writers, each with ``synchronous_commit`` on and off.

Run with ``-s`` to see the table. It asserts no timings (the machine is shared); it asserts that every
event was recorded and that the chains verify. ``SENHEALTH_AUDIT_COST_N`` sets the transactions per case.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.migrate import migrate
from senhealth.fhir.access import AccessEvent, Principal
from senhealth.security.audit import PostgresAuditSink
from senhealth.security.audit_verify import verify

N = int(os.environ.get("SENHEALTH_AUDIT_COST_N", "1500"))
WRITERS = 32
SINK = PostgresAuditSink()
DOCTOR = Principal(kind="user", subject="bs.lan", roles=frozenset({"doctor"}), facility="Organization/bv-tinh",
                   practitioner="Practitioner/lan", client_id="senhealth-web")  # fmt: skip
TICK = os.sysconf("SC_CLK_TCK")


@pytest.fixture
def audit_url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def _event(i: int) -> AccessEvent:
    return AccessEvent(datetime.now(UTC), DOCTOR, "read", "Observation", f"o{i}", None, (f"p{i % 5000}",),
                       source_ip="10.1.2.3")  # fmt: skip


def _backend_cpu(pid: int) -> float:
    """User + system CPU seconds of a PostgreSQL backend (same machine), or NaN when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Case:
    wall_us: float
    py_us: float
    pg_us: float


Txn = Callable[[AsyncConnection[TupleRow], int], Awaitable[None]]


async def _plain(conn: AsyncConnection[TupleRow], i: int) -> None:
    await conn.execute("SELECT %s::int", (i,))  # stands for the read itself
    await conn.commit()


async def _audited(conn: AsyncConnection[TupleRow], i: int) -> None:
    await conn.execute("SELECT %s::int", (i,))
    await SINK.record(conn, _event(i))
    await conn.commit()


async def _connect(url: str, sync: str) -> AsyncConnection[TupleRow]:
    conn = await AsyncConnection.connect(url)
    await conn.execute("SELECT set_config('synchronous_commit', %s, false)", (sync,))
    await conn.commit()
    return conn


async def _one_connection(url: str, txn: Txn, sync: str) -> Case:
    async with await _connect(url, sync) as conn:
        row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        pid = row[0]
        for i in range(50):  # warm up: prepared statements, caches
            await txn(conn, i)
        pg0, py0, w0 = _backend_cpu(pid), time.process_time(), time.perf_counter()
        for i in range(N):
            await txn(conn, i)
        wall, py, pg = time.perf_counter() - w0, time.process_time() - py0, _backend_cpu(pid) - pg0
    return Case(wall / N * 1e6, py / N * 1e6, pg / N * 1e6)


async def _concurrent(url: str, txn: Txn, sync: str) -> float:
    conns = [await _connect(url, sync) for _ in range(WRITERS)]
    per = max(N // WRITERS * 2, 20)

    async def work(k: int, conn: AsyncConnection[TupleRow]) -> None:
        for i in range(per):
            await txn(conn, k * per + i)

    try:
        await asyncio.gather(*(work(k, c) for k, c in enumerate(conns)))  # warm up
        t0 = time.perf_counter()
        await asyncio.gather(*(work(k, c) for k, c in enumerate(conns)))
        return WRITERS * per / (time.perf_counter() - t0)
    finally:
        for c in conns:
            await c.close()


def test_cost_per_audit_event(audit_url: str) -> None:
    lines = [
        "",
        f"audit cost, {N} transactions per case (µs per transaction; per-second with {WRITERS} writers)",
    ]
    lines.append(f"{'case':<28}{'wall':>8}{'python':>8}{'postgres':>10}{'32 writers/s':>14}")
    for sync in ("on", "off"):
        plain = asyncio.run(_one_connection(audit_url, _plain, sync))
        audited = asyncio.run(_one_connection(audit_url, _audited, sync))
        plain_rate = asyncio.run(_concurrent(audit_url, _plain, sync))
        audited_rate = asyncio.run(_concurrent(audit_url, _audited, sync))
        for name, c, rate in (
            ("read, no audit", plain, plain_rate),
            ("read + audit row", audited, audited_rate),
        ):
            lines.append(
                f"{name + f' (sync {sync})':<28}{c.wall_us:>8.0f}{c.py_us:>8.0f}{c.pg_us:>10.0f}{rate:>14.0f}"
            )
        lines.append(
            f"{'  audit row costs':<28}{audited.wall_us - plain.wall_us:>8.0f}{audited.py_us - plain.py_us:>8.0f}"
            f"{audited.pg_us - plain.pg_us:>10.0f}{audited_rate / plain_rate:>13.0%}"
        )
    print("\n".join(lines))
    report = verify(audit_url)
    assert report.ok, report.breaks
    expected = 2 * (N + 50 + 2 * WRITERS * max(N // WRITERS * 2, 20))
    assert report.rows == expected
