"""The batched audit path (``PostgresAuditSink.record_many``, what the read buffer writes with): a
batch's rows are chained by the writer and written in one INSERT, with the same hash as the row-by-row
path (so ``senhealth audit verify`` checks both alike); batches from several processes and connections
on the same chains never fork a chain, and altering, deleting or inserting any row of a batch is found.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from senhealth.api.fhir import auditing
from senhealth.core.migrate import migrate
from senhealth.fhir import access
from senhealth.fhir.access import AccessEvent, Principal
from senhealth.security import audit
from senhealth.security.audit import CHAINS, PostgresAuditSink, _details_json, chain_of, jsonb_text, records
from senhealth.security.audit_verify import verify

SINK = PostgresAuditSink()
DOCTOR = Principal(kind="user", subject="bs.lan", roles=frozenset({"doctor", "cdc_officer"}),
                   facility="Organization/bv-tinh", practitioner="Practitioner/lan",
                   client_id="senhealth-web")  # fmt: skip
T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


@pytest.fixture
def audit_url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def event(i: int, patient: str = "p1", **kw: Any) -> AccessEvent:
    base: dict[str, Any] = {
        "when": T0 + timedelta(milliseconds=i),
        "principal": DOCTOR,
        "action": "read",
        "res_type": "Observation",
        "res_id": f"o{i}",
        "patients": (patient,),
        "source_ip": "10.1.2.3",
    }
    base.update(kw)
    return AccessEvent(**base)


def sql(url: str, statement: str, params: Any = None, *, bypass: bool = False) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        if bypass:
            conn.execute("SET session_replication_role = replica")
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def write_batches(url: str, batches: list[list[AccessEvent]]) -> None:
    async def main() -> None:
        async with await AsyncConnection.connect(url) as conn:
            for batch in batches:
                async with conn.transaction():
                    await SINK.record_many(conn, batch)

    asyncio.run(main())


TRICKY: list[Any] = [
    {},
    {"i": 1},
    {"operation": "$everything", "entries": 12, "ok": True, "none": None, "no": False},
    {"bb": 1, "a": 2, "ccc": [], "é": {}, "z": "", "ab": [1, [2, []]]},
    {"é": 1, "f": 2, "ff": 3, "\u00e9\u00e9": 4, "\U0001d11e": 5, "\x7f": 6},
    {"s": "".join(chr(c) for c in range(0x00, 0x30))},
    {"s": 'quote " backslash \\ slash / \u2028 \u00ff \U0001f600 \ufffd \x7f', "a\x00b": "x\x00"},
    {"\\u0000": "\\u0000 is text", "u": "\\\\"},
    {"big": 2**63 - 1, "small": -(2**63), "u64": 2**64 - 1, "zero": 0, "neg": -17},
    {"nested": {"list": [{"b": 1, "a": [True, None, "x"]}], "tuple": (1, "2")}},
]


def test_jsonb_text_is_postgresqls(audit_url: str) -> None:
    rng = random.Random(7)
    alphabet = 'aZ09 "\\/\x00\x01\x1f\x7f\u00e9\u4e2d\U0001f600\t\n\r\b\f'
    values = list(TRICKY)
    for _ in range(200):
        values.append(
            {
                "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6))): "".join(
                    rng.choice(alphabet) for _ in range(rng.randrange(0, 12))
                )
                for _ in range(rng.randrange(0, 6))
            }
        )
    with psycopg.connect(audit_url) as conn:
        for v in values:
            ((expected,),) = conn.execute("SELECT (%s::jsonb)::text", (_details_json(v),)).fetchall()
            assert jsonb_text(v) == expected, v


@pytest.mark.parametrize(
    "value", [{"n": 1.5}, {"z": [1e2]}, {1: "int key"}, {"a\x00": 1, "a\ufffd": 2}, {"t": T0}, {"x": 2**64}]
)
def test_jsonb_text_declines_what_it_cannot_predict(value: Any) -> None:
    assert jsonb_text(value) is None


def test_a_batch_is_one_chain_and_verifies(audit_url: str) -> None:
    batch = [event(i, f"p{i}", details=TRICKY[i % len(TRICKY)]) for i in range(25)]
    write_batches(audit_url, [batch])
    rows = sql(audit_url, "SELECT chain, pos, res_id FROM audit_event ORDER BY pos")
    assert [r[1] for r in rows] == list(range(1, 26))
    assert {r[0] for r in rows} == {chain_of(batch[0])}
    assert [r[2] for r in rows] == [f"o{i}" for i in range(25)]
    ((pos,),) = sql(audit_url, "SELECT pos FROM audit_chain WHERE chain = %s", (rows[0][0],))
    assert pos == 25
    report = verify(audit_url)
    assert report.ok, report.breaks
    assert report.rows == 25


def test_batch_rows_equal_row_by_row_rows(audit_url: str, schema_url: str) -> None:
    """The same events through record() and record_many() give the same stored columns."""
    events = [event(i, f"p{i % 3}", details=TRICKY[i % len(TRICKY)]) for i in range(12)]
    events.append(event(99, principal=None, patients=(), action="search", res_id=None, query="a=\x00"))
    write_batches(audit_url, [events])

    async def one_by_one(conn: AsyncConnection[Any]) -> list[Any]:
        async with conn.transaction():
            for e in events:
                await SINK.record(conn, e)
        return await records(conn, limit=100)

    async def both() -> tuple[list[Any], list[Any]]:
        async with await AsyncConnection.connect(audit_url) as conn:
            batched = await records(conn, limit=100)
            await conn.commit()
            return batched, await one_by_one(conn)

    batched, single = asyncio.run(both())
    batched_rows = sorted(batched, key=lambda r: r.pos)
    single_rows = sorted(single[: len(events)], key=lambda r: r.pos)
    skip = {"seq", "pos", "prev_hash", "hash"}
    for a, b in zip(batched_rows, single_rows, strict=True):
        for name in a.__slots__:
            if name not in skip:
                assert getattr(a, name) == getattr(b, name), name
    assert verify(audit_url).ok


def test_batch_and_single_records_share_the_transactions_chain(audit_url: str) -> None:
    async def main() -> None:
        async with await AsyncConnection.connect(audit_url) as conn:
            async with conn.transaction():
                await SINK.record(conn, event(0, "first"))
                await SINK.record_many(conn, [event(i, f"other{i}") for i in range(1, 6)])
                await SINK.record(conn, event(6, "last"))
            async with conn.transaction():
                await SINK.record_many(conn, [event(7, "first"), event(8, "x")])
                await SINK.record_many(conn, [event(9, "y")])

    asyncio.run(main())
    assert sql(audit_url, "SELECT count(DISTINCT chain), count(*) FROM audit_event") == [(1, 10)]
    assert verify(audit_url).ok


def test_a_float_in_details_goes_row_by_row_and_verifies(audit_url: str) -> None:
    write_batches(audit_url, [[event(0, details={"n": 1.5}), event(1, details={"z": [1e2]}), event(2)]])
    assert sql(audit_url, "SELECT details->>'n' FROM audit_event WHERE pos = 1") == [("1.5",)]
    assert verify(audit_url).ok


def test_rolled_back_batch_leaves_no_row(audit_url: str) -> None:
    async def main() -> None:
        async with await AsyncConnection.connect(audit_url) as conn:
            await SINK.record_many(conn, [event(i) for i in range(5)])
            await conn.rollback()
            await SINK.record_many(conn, [event(i) for i in range(3)])
            await conn.commit()

    asyncio.run(main())
    assert sql(audit_url, "SELECT count(*), max(pos) FROM audit_event") == [(3, 3)]
    assert verify(audit_url).ok


def _process(url: str, seed: int, connections: int, batches: int) -> None:
    """One writer process: ``connections`` connections writing batches concurrently, on few chains
    (8 patients), with single records (a write's path) mixed in."""

    async def writer(k: int) -> None:
        rng = random.Random(seed * 100 + k)
        # Connection 0 writes as the read buffer does (autocommit: each batch its own transaction), the
        # others in transactions, with a write's single record before the batch now and then.
        async with await AsyncConnection.connect(url, autocommit=k == 0) as conn:
            for b in range(batches):
                size = rng.randrange(1, 30)
                batch = [event(b * 100 + i, f"p{rng.randrange(8)}") for i in range(size)]
                if k == 0:
                    await SINK.record_many(conn, batch, synchronous=False)
                    continue
                async with conn.transaction():
                    if rng.random() < 0.2:
                        await SINK.record(conn, event(b, f"p{rng.randrange(8)}", action="update"))
                    await SINK.record_many(conn, batch)

    async def main() -> None:
        await asyncio.gather(*(writer(k) for k in range(connections)))

    asyncio.run(main())


def test_concurrent_batches_from_two_processes_verify(audit_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process, args=(audit_url, seed, 3, 25)) for seed in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    ((rows, chains),) = sql(audit_url, "SELECT count(*), count(DISTINCT chain) FROM audit_event")
    ((head_total,),) = sql(audit_url, "SELECT sum(pos) FROM audit_chain")
    assert rows == head_total and rows > 150
    assert chains <= 8
    report = verify(audit_url)
    assert report.ok, report.breaks
    assert report.rows == rows and report.chains == CHAINS


def test_an_autocommit_batch_is_its_own_transaction(audit_url: str) -> None:
    async def main() -> list[Any]:
        async with await AsyncConnection.connect(audit_url, autocommit=True) as conn:
            await SINK.record_many(conn, [event(i, "p-a") for i in range(4)], synchronous=False)
            await SINK.record_many(conn, [event(i, "p-b") for i in range(4, 6)])
            cur = await conn.execute("SELECT current_setting('senhealth.audit_chain', true)")
            return list(await cur.fetchall())

    left = asyncio.run(main())
    assert left in ([(None,)], [("",)])  # the chain was the statement's transaction's only
    assert sql(audit_url, "SELECT count(*) FROM audit_event") == [(6,)]
    assert verify(audit_url).ok


def test_a_head_that_moved_is_read_again(audit_url: str) -> None:
    """A batch whose chain is advanced by another transaction between its two statements appends
    after that transaction's row (compare-and-set, then a new attempt), never beside it."""
    chain = chain_of(event(0, "p-busy"))

    async def main() -> None:
        async with (
            await AsyncConnection.connect(audit_url) as writer,
            await AsyncConnection.connect(audit_url, autocommit=True) as reader,
        ):
            await SINK.record(writer, event(0, "p-busy", action="update"))  # holds the head's lock
            batch = asyncio.create_task(SINK.record_many(reader, [event(i, "p-busy") for i in range(1, 6)]))
            await asyncio.sleep(0.3)
            assert not batch.done()  # waiting for the writer's lock
            await writer.commit()
            await batch

    asyncio.run(main())
    rows = sql(audit_url, "SELECT pos, action FROM audit_event WHERE chain = %s ORDER BY pos", (chain,))
    assert rows == [(1, "update")] + [(i, "read") for i in range(2, 7)]
    assert verify(audit_url).ok


def test_a_batch_that_keeps_losing_takes_the_lock(audit_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "CAS_ATTEMPTS", 0)
    write_batches(audit_url, [[event(i, "p1") for i in range(3)], [event(i, "p1") for i in range(3, 5)]])

    async def autocommit() -> None:
        async with await AsyncConnection.connect(audit_url, autocommit=True) as conn:
            await SINK.record_many(conn, [event(9, "p1")], synchronous=False)

    asyncio.run(autocommit())
    assert sql(audit_url, "SELECT count(*), max(pos) FROM audit_event") == [(6, 6)]
    assert verify(audit_url).ok


def _batch_of(url: str, n: int = 12) -> int:
    write_batches(url, [[event(i, "p-batch", details={"i": i}) for i in range(n)]])
    ((chain,),) = sql(url, "SELECT DISTINCT chain FROM audit_event")
    return int(chain)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("principal_subject", "'someone else'"),
        ("details", "'{\"i\": 999}'::jsonb"),
        ("seq", "seq + 100000"),
        ("recorded", "recorded + interval '1 microsecond'"),
        ("patients", "ARRAY['p-other']"),
        ("res_id", "'o-other'"),
    ],
)
def test_altering_any_row_of_a_batch_is_found(audit_url: str, column: str, value: str) -> None:
    chain = _batch_of(audit_url)
    for pos in range(1, 13):
        ((saved, kind),) = sql(
            audit_url,
            f"SELECT {column}::text, pg_typeof({column})::text FROM audit_event WHERE chain = %s AND pos = %s",
            (chain, pos),
        )
        sql(audit_url, f"UPDATE audit_event SET {column} = {value} WHERE chain = %s AND pos = %s",
            (chain, pos), bypass=True)  # fmt: skip
        report = verify(audit_url)
        assert [(b.chain, b.pos) for b in report.breaks] == [(chain, pos)], (column, pos)
        assert "altered" in report.breaks[0].reason
        sql(audit_url, f"UPDATE audit_event SET {column} = %s::{kind} WHERE chain = %s AND pos = %s",
            (saved, chain, pos), bypass=True)  # fmt: skip
        assert verify(audit_url).ok


def test_deleting_or_inserting_a_row_of_a_batch_is_found(audit_url: str) -> None:
    chain = _batch_of(audit_url)
    sql(audit_url, "DELETE FROM audit_event WHERE chain = %s AND pos = 5", (chain,), bypass=True)
    assert [(b.chain, b.pos) for b in verify(audit_url).breaks] == [(chain, 6)]
    # A forged row in the gap, chained to the row before it: its hash cannot match its content.
    sql(
        audit_url,
        "INSERT INTO audit_event SELECT seq + 1, chain, 5, recorded, action, outcome, status,"
        " principal_kind, 'forger', principal_roles, principal_facility, principal_client_id,"
        " principal_practitioner, break_glass, res_type, res_id, query, patients, source_ip, details, hash,"
        " hash FROM audit_event WHERE chain = %s AND pos = 4",
        (chain,),
    )
    report = verify(audit_url)
    assert [(b.chain, b.pos) for b in report.breaks] == [(chain, 5)]
    assert "altered" in report.breaks[0].reason


def test_the_batch_path_respects_append_only(audit_url: str) -> None:
    chain = _batch_of(audit_url, 3)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        sql(audit_url, "UPDATE audit_event SET res_id = 'x' WHERE chain = %s", (chain,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        sql(audit_url, "DELETE FROM audit_event WHERE chain = %s", (chain,))
    assert verify(audit_url).ok


@dataclass
class _Store:
    """What the read buffer uses of a FhirStore: its pool."""

    pool: AsyncConnectionPool[AsyncConnection[TupleRow]]


def test_the_read_buffer_writes_batches_until_nothing_is_left(
    audit_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More than a batch waiting is written batch after batch without a new event to wake the buffer;
    each batch as its own transaction on the pool's connections, which are left as they were."""
    monkeypatch.setattr(auditing, "MAX_BATCH", 10)
    monkeypatch.setattr(auditing, "GATHER_S", 0.01)
    access.install(sink=SINK)

    async def main() -> tuple[int, bool]:
        async with AsyncConnectionPool(audit_url, min_size=1, max_size=2, open=False) as pool:
            buffer = auditing.ReadAuditBuffer(cast(Any, _Store(pool)))
            for i in range(35):
                buffer.add(event(i, f"p{i}"))
            for _ in range(200):
                await asyncio.sleep(0.02)
                if not buffer.events:
                    break
            left = len(buffer.events)
            await buffer.close()
            async with pool.connection() as conn:
                autocommit = conn.autocommit
            return left, autocommit

    try:
        left, autocommit = asyncio.run(main())
    finally:
        access.install(sink=access.NO_AUDIT)
    assert left == 0 and not autocommit
    ((rows, chains),) = sql(audit_url, "SELECT count(*), count(DISTINCT chain) FROM audit_event")
    assert rows == 35 and chains <= 4  # four batches, each on one chain
    assert verify(audit_url).ok


def test_hostile_text_is_recorded_not_stuck(audit_url: str) -> None:
    """A NUL or a lone surrogate (an external token's claim may carry one) in any field or in ``details``
    is replaced, so the record is written, by both paths, and verifies; before, such an event made the
    read buffer retry for ever."""
    odd = Principal("user", "sub\ud800x", frozenset({"doctor\udfff"}), facility="Organization/f\x001")
    events = [
        event(1, principal=odd, query="q=\ud83d", details={"k\ud800": ["v\udc00", {"n": "\x00"}]}),
        event(2, res_id="o\ud800", patients=("p\udfff",)),
    ]
    write_batches(audit_url, [events])

    async def single() -> None:
        async with await AsyncConnection.connect(audit_url) as conn, conn.transaction():
            await PostgresAuditSink().record(conn, event(3, principal=odd, details={"x": "\ud800"}))

    asyncio.run(single())
    rows = sql(
        audit_url,
        "SELECT principal_subject, principal_roles, query, details::text FROM audit_event ORDER BY seq",
    )
    assert len(rows) == 3
    assert rows[0][0] == "sub\ufffdx" and rows[0][1] == ["doctor\ufffd"] and rows[0][2] == "q=\ufffd"
    assert "\ufffd" in rows[0][3]
    assert verify(audit_url).ok
