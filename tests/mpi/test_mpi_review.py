"""The review queue (senhealth.mpi.review, migration 0007_mpi.sql) on a migrated schema of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.migrate import migrate
from senhealth.mpi.match import ScoredPair
from senhealth.mpi.review import ReviewError, decide, enqueue_pairs, get_pair, list_open, ordered

T = TypeVar("T")
Conn = AsyncConnection[TupleRow]


@pytest.fixture
def run_conn(schema_url: str) -> Callable[[Callable[[Conn], Awaitable[Any]]], Any]:
    migrate(schema_url)

    def run(fn: Callable[[Conn], Awaitable[T]]) -> T:
        async def main() -> T:
            async with await AsyncConnection.connect(schema_url, autocommit=True) as conn:
                return await fn(conn)

        return asyncio.run(main())

    return run


def test_enqueue_is_idempotent_and_ordered(run_conn: Any) -> None:
    async def scenario(conn: Conn) -> None:
        pairs = [
            ScoredPair("p-b", "p-a", 0.7, ("same family name", "different phone")),
            ScoredPair("p-c", "p-d", 0.6, ()),
        ]
        assert await enqueue_pairs(conn, pairs) == 2
        assert await enqueue_pairs(conn, pairs) == 0
        # the same pair in the other order, newer score: updated in place while open
        assert await enqueue_pairs(conn, [ScoredPair("p-a", "p-b", 0.8, ("same phone",))]) == 0
        items = await list_open(conn)
        assert [(i.patient_a, i.patient_b) for i in items] == [("p-a", "p-b"), ("p-c", "p-d")]
        assert items[0].score == pytest.approx(0.8)
        assert items[0].reasons == ("same phone",)
        assert items[0].status == "open" and items[0].decided_by is None

    run_conn(scenario)


def test_code_point_order_matches_the_table(run_conn: Any) -> None:
    # Upper case sorts before lower case in code points (not in a linguistic collation).
    assert ordered("a1", "B2") == ("B2", "a1")

    async def scenario(conn: Conn) -> None:
        assert await enqueue_pairs(conn, [ScoredPair("a1", "B2", 0.55, ())]) == 1
        (item,) = await list_open(conn)
        assert (item.patient_a, item.patient_b) == ("B2", "a1")

    run_conn(scenario)


def test_paging_and_decisions(run_conn: Any) -> None:
    async def scenario(conn: Conn) -> None:
        await enqueue_pairs(conn, [ScoredPair(f"x{i:02d}", f"y{i:02d}", 0.5 + i / 100, ()) for i in range(5)])
        first = await list_open(conn, limit=2)
        second = await list_open(conn, limit=2, after=first[-1].id)
        rest = await list_open(conn, limit=10, after=second[-1].id)
        assert [i.patient_a for i in first + second + rest] == [f"x{i:02d}" for i in range(5)]

        decided = await decide(conn, first[0].id, "linked", "reviewer-1", "same person, typo in given name")
        assert (decided.status, decided.decided_by, decided.note) == (
            "linked",
            "reviewer-1",
            "same person, typo in given name",
        )
        assert decided.decided_at is not None
        await decide(conn, first[1].id, "distinct", "reviewer-2")
        assert [i.patient_a for i in await list_open(conn)] == ["x02", "x03", "x04"]

        # a decided pair is never re-opened by a later run of the matcher
        assert await enqueue_pairs(conn, [ScoredPair("y00", "x00", 0.99, ("new",))]) == 0
        again = await get_pair(conn, first[0].id)
        assert again is not None and again.status == "linked" and again.score == pytest.approx(0.5)

        with pytest.raises(ReviewError) as conflict:
            await decide(conn, first[0].id, "distinct", "reviewer-2")
        assert conflict.value.status == 409
        with pytest.raises(ReviewError) as missing:
            await decide(conn, 999_999, "linked", "reviewer-1")
        assert missing.value.status == 404
        with pytest.raises(ReviewError):
            await decide(conn, second[0].id, "maybe", "reviewer-1")  # type: ignore[arg-type]
        with pytest.raises(ReviewError):
            await decide(conn, second[0].id, "linked", " ")

    run_conn(scenario)


def test_bad_pairs_are_refused(run_conn: Any, schema_url: str) -> None:
    async def scenario(conn: Conn) -> None:
        with pytest.raises(ReviewError):
            await enqueue_pairs(conn, [ScoredPair("same", "same", 0.7, ())])
        with pytest.raises(ReviewError):
            await enqueue_pairs(conn, [ScoredPair("a", "b", 1.5, ())])
        assert await enqueue_pairs(conn, []) == 0

    run_conn(scenario)
    # the table itself refuses unordered pairs and undecided rows with a reviewer
    with psycopg.connect(schema_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO mpi_review (patient_a, patient_b, score) VALUES ('b', 'a', 0.5)")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO mpi_review (patient_a, patient_b, score, decided_by) VALUES ('a', 'b', 0.5, 'x')"
            )
