"""Materialised views in PostgreSQL and Parquet, refreshed from the store's change feed: after writes,
updates and deletes, a refresh leaves the target equal to a full re-run of the view.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html; the change order:
:mod:`senhealth.fhir.store.change_feed`. Real PostgreSQL, a migrated schema per test.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg.types.json import set_json_loads

from senhealth.analytics import materialise_parquet
from senhealth.analytics.materialise import (
    RESOURCE_ID,
    MaterialiseError,
    MaterialiseReport,
    Target,
    drop_materialisation,
    list_materialisations,
    materialise,
    parquet_target,
    postgres_target,
    refresh,
    refresh_all,
)
from senhealth.analytics.tasks import TASK, refresh_view_job
from senhealth.analytics.view_store import create_view, delete_view, put_view
from senhealth.analytics.viewdef import compile_view, run_view
from senhealth.analytics.viewdef.formats import arrow_value
from senhealth.core import db
from senhealth.core.migrate import migrate
from senhealth.core.queue import JobContext, registered_tasks
from senhealth.fhir.store import FhirStore

T = TypeVar("T")

VIEW: dict[str, Any] = {
    "resourceType": "ViewDefinition",
    "name": "obs_flat",
    "status": "active",
    "resource": "Observation",
    "select": [
        {
            "column": [
                {"name": "id", "path": "getResourceKey()", "type": "id"},
                {"name": "patient", "path": "subject.getReferenceKey(Patient)", "type": "id"},
                {"name": "value", "path": "value.ofType(Quantity).value", "type": "decimal"},
                {"name": "final", "path": "status = 'final'", "type": "boolean"},
                {"name": "unit", "path": "value.ofType(Quantity).unit"},
                {"name": "notes", "path": "note.text", "collection": True},
            ]
        },
        {"forEach": "code.coding", "column": [{"name": "code", "path": "code", "type": "code"}]},
    ],
}


def obs(patient: str, value: Any, *codes: str, status: str = "final", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": c} for c in codes or ("4548-4",)]},
        "subject": {"reference": f"Patient/{patient}"},
        "valueQuantity": {"value": value, "unit": "%"},
        **extra,
    }


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def run(url: str, body: Callable[[FhirStore], Awaitable[T]]) -> T:
    async def main() -> T:
        await db.open_pool(url, max_size=4)
        try:
            return await body(FhirStore(db.get_pool()))
        finally:
            await db.close_pool()

    return asyncio.run(main())


async def expected(store: FhirStore, view: dict[str, Any]) -> list[dict[str, Any]]:
    """A full re-run of ``view`` over every current resource, each row with its resource's id."""
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT coalesce(content_raw, content::text) FROM fhir_resource WHERE res_type = %s",
            (view["resource"],),
        )
        from senhealth.fhir.store import content_from_text

        resources = [content_from_text(r[0]) for r in await cur.fetchall()]
    return [{RESOURCE_ID: r["id"], **row} for r in resources for row in run_view(view, [r])]


def _key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return sorted(map(_key, a)) == sorted(map(_key, b))


async def table_rows(store: FhirStore, target: Target) -> list[dict[str, Any]]:
    schema, _, table = target.location.partition(".")
    async with store.pool.connection() as conn:
        set_json_loads(lambda s: json.loads(s, parse_float=Decimal), conn)
        cur = await conn.execute(
            psycopg.sql.SQL("SELECT * FROM {}.{}").format(
                psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
            )
        )
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]


def normalised(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decimals by value (numeric 1.50 == 1.5), as the JSON of the comparison writes them."""
    return [{k: (v.normalize() if isinstance(v, Decimal) else v) for k, v in r.items()} for r in rows]


async def schema_of(store: FhirStore) -> str:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT current_schema()")
        row = await cur.fetchone()
        assert row is not None
        return str(row[0])


async def settle(store: FhirStore, target: Target) -> MaterialiseReport:
    """Refresh until the target has caught up with every version written in this schema.

    The feed's horizon is conservative: other tests' schemas in the same database announce their
    seqs in the same lock space, so a write transaction open there can hold this refresh back for a
    moment (never make it skip anything); the counts add up over the calls."""
    param_ids = await store.param_ids()
    total = MaterialiseReport(target.id)
    deadline = time.monotonic() + 30
    while True:
        r = await refresh(store.pool, target, param_ids=param_ids)
        total.built = total.built or r.built
        total.changed += r.changed
        total.deleted += r.deleted
        total.inserted += r.inserted
        total.rows, total.position = r.rows, r.position
        async with store.pool.connection() as conn:
            cur = await conn.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM fhir_seq")
            row = await cur.fetchone()
        if row is not None and r.position >= int(row[0]):
            return total
        assert time.monotonic() < deadline, f"the refresh did not catch up: {r}"
        await asyncio.sleep(0.05)


async def write_changes(store: FhirStore, ids: dict[str, str]) -> None:
    """An update, a delete, a new resource, a resource of another type, and a no-op update."""
    current = (await store.read("Observation", ids["o1"])).content
    assert current is not None
    await store.update(
        {**current, "valueQuantity": {"value": Decimal("9.75"), "unit": "%"}, "status": "amended"}
    )
    await store.delete("Observation", ids["o2"])
    await store.create(obs(ids["p2"], 4, "2345-7", "718-7", note=[{"text": 'mới, "new"'}]))
    await store.create({"resourceType": "Patient", "gender": "female"})
    same_again = (await store.read("Observation", ids["o3"])).content
    assert same_again is not None
    await store.update(same_again)  # identical: no new version


async def load(store: FhirStore) -> dict[str, str]:
    ids = {}
    for key in ("p1", "p2"):
        ids[key] = (await store.create({"resourceType": "Patient", "gender": "male"})).res_id
    ids["o1"] = (await store.create(obs(ids["p1"], Decimal("1.50")))).res_id
    ids["o2"] = (await store.create(obs(ids["p1"], 7, "4548-4", "17856-6"))).res_id
    ids["o3"] = (await store.create(obs(ids["p2"], 120, status="preliminary"))).res_id
    ids["o4"] = (await store.create(obs(ids["p2"], 5, note=[{"text": "a"}, {"text": "b"}]))).res_id
    return ids


def test_postgres_table_follows_the_store(url: str) -> None:
    async def body(store: FhirStore) -> None:
        ids = await load(store)
        param_ids = await store.param_ids()
        target = postgres_target(schema=await schema_of(store), table="obs_flat")
        report = await materialise(store.pool, target, view=VIEW, param_ids=param_ids, batch=2)
        assert report.built and report.rows == 5
        assert same(normalised(await table_rows(store, target)), normalised(await expected(store, VIEW)))
        await settle(store, target)

        await write_changes(store, ids)
        report = await settle(store, target)
        assert not report.built
        assert report.changed == 3  # o1 updated, o2 deleted, one created; the Patient is not the view's
        assert report.deleted == 3 and report.inserted == 3
        rows = normalised(await table_rows(store, target))
        assert same(rows, normalised(await expected(store, VIEW)))
        assert report.rows == len(rows) == 5
        assert not [r for r in rows if r[RESOURCE_ID] == ids["o2"]]

        again = await settle(store, target)
        assert (again.changed, again.inserted, again.deleted) == (0, 0, 0)
        assert again.position == report.position

        # a column type the view declares wrongly fails the build and leaves the old table
        wrong = json.loads(json.dumps(VIEW))
        wrong["select"][0]["column"][2]["type"] = "boolean"
        with pytest.raises(Exception, match="declared boolean"):
            await materialise(store.pool, target, view=wrong, param_ids=param_ids)
        assert len(await table_rows(store, target)) == 5

        [listed] = await list_materialisations(store.pool)
        assert listed["id"] == target.id and listed["rows"] == 5 and listed["name"] == "obs_flat"
        assert await drop_materialisation(store.pool, target)
        with pytest.raises(MaterialiseError):
            await refresh(store.pool, target, param_ids=param_ids)

    run(url, body)


def test_refresh_waits_for_a_transaction_still_open(url: str) -> None:
    """A version written by a transaction that commits after a later one (a smaller seq committed
    later) is not skipped: the feed's horizon holds the refresh back until it commits."""

    async def body(store: FhirStore) -> None:
        ids = await load(store)
        param_ids = await store.param_ids()
        target = postgres_target(schema=await schema_of(store), table="obs_flat")
        await materialise(store.pool, target, view=VIEW, param_ids=param_ids)
        await settle(store, target)
        async with store.transaction() as tx:
            slow = await tx.create(obs(ids["p1"], 11))  # takes its seq first, commits last
            fast = await store.create(obs(ids["p2"], 12))  # its own transaction, committed now
            report = await refresh(store.pool, target, param_ids=param_ids)
            assert report.changed == 0  # the horizon is below the open transaction's seq
        report = await settle(store, target)
        assert report.changed == 2
        found = {r[RESOURCE_ID] for r in await table_rows(store, target)}
        assert {slow.res_id, fast.res_id} <= found
        assert same(normalised(await table_rows(store, target)), normalised(await expected(store, VIEW)))

    run(url, body)


def test_a_stored_view_that_changes_rebuilds_its_table(url: str) -> None:
    async def body(store: FhirStore) -> None:
        await load(store)
        param_ids = await store.param_ids()
        async with store.pool.connection() as conn:
            stored = await create_view(conn, VIEW)
        target = postgres_target(schema=await schema_of(store), table="followed")
        await materialise(store.pool, target, view_id=stored.id, param_ids=param_ids)
        finals = {**VIEW, "where": [{"path": "status = 'final'"}]}
        async with store.pool.connection() as conn:
            await put_view(conn, stored.id, finals)
        report = await refresh(store.pool, target, param_ids=param_ids)
        assert report.built
        assert same(normalised(await table_rows(store, target)), normalised(await expected(store, finals)))
        await settle(store, target)
        assert (await settle(store, target)).changed == 0
        # the job refreshes every target; one whose stored view is gone fails, the others go on
        reports = await refresh_all(store.pool, param_ids=param_ids)
        assert [r.target for r in reports] == [target.id]
        other = postgres_target(schema=target.location.partition(".")[0], table="inline_copy")
        await materialise(store.pool, other, view=VIEW, param_ids=param_ids)
        async with store.pool.connection() as conn:
            await delete_view(conn, stored.id)
        await store.create(obs("p9", 1))
        with pytest.raises(MaterialiseError, match="is not known"):
            await refresh_view_job(_Job(1, TASK, 1, 4, "default"))
        reports = await refresh_all(store.pool, param_ids=param_ids)
        assert [(r.target, r.error is None) for r in reports] == [(target.id, False), (other.id, True)]

    run(url, body)
    assert TASK in registered_tasks()


class _Job(JobContext):
    async def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        return None


def _arrow_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    columns = compile_view(VIEW).columns
    return [
        {RESOURCE_ID: r[RESOURCE_ID], **{c.name: arrow_value(c, r.get(c.name)) for c in columns}}
        for r in rows
    ]


def test_parquet_directory_follows_the_store(url: str, tmp_path: Path) -> None:
    directory = tmp_path / "obs"

    async def body(store: FhirStore) -> None:
        ids = await load(store)
        param_ids = await store.param_ids()
        target = parquet_target(directory)
        report = await materialise(store.pool, target, view=VIEW, param_ids=param_ids)
        assert report.rows == 5 and len(materialise_parquet.parts(directory)) == 1
        assert same(materialise_parquet.read_rows(directory), _arrow_rows(await expected(store, VIEW)))
        await settle(store, target)

        await write_changes(store, ids)
        report = await settle(store, target)
        assert (report.changed, report.deleted, report.inserted) == (3, 3, 3)
        assert same(materialise_parquet.read_rows(directory), _arrow_rows(await expected(store, VIEW)))

        # many small refreshes: the parts are merged before they pile up
        for i in range(materialise_parquet.MAX_PARTS + 3):
            await store.create(obs(ids["p1"], i))
            await settle(store, target)
        assert len(materialise_parquet.parts(directory)) <= materialise_parquet.MAX_PARTS
        rows = materialise_parquet.read_rows(directory)
        assert same(rows, _arrow_rows(await expected(store, VIEW)))
        [listed] = await list_materialisations(store.pool)
        assert listed["rows"] == len(rows)
        assert await drop_materialisation(store.pool, target)
        assert not directory.exists()

    run(url, body)
