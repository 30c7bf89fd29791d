"""EXPLAIN of the main search shapes on a few thousand resources: the 0002 indexes are used.

Spec: https://hl7.org/fhir/R4/search.html. A synthetic district (300 patients, 2,700 observations, 600
encounters, 20 organizations) is written through the store into a schema of its own and ANALYZEd; each
shape's plan must reach its index table through an index (never a sequential scan of an ``idx_*``
partition) and the page query must stop early (a ``Limit``). ``python -m pytest ... -s`` prints the
plans (docs/search.md quotes them).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from senhealth.core.db import create_pool
from senhealth.core.migrate import migrate
from senhealth.fhir.search import execute
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.search.sql import (
    ParamIds,
    Statement,
    build_count,
    build_include,
    build_page,
    build_revinclude,
)
from senhealth.fhir.store import FhirStore

PATIENTS, OBS_PER_PATIENT, ORGS = 300, 9, 20
LOINC = "http://loinc.org"
CODES = ["8867-4", "2339-0", "29463-7", "8310-5", "4548-4", "8480-6", "8462-4", "39156-5", "2093-3"]
FAMILIES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hương", "Lan", "Minh", "Nam", "Phúc", "Quang", "Thảo"]


def _resources() -> Iterator[dict[str, Any]]:
    for o in range(ORGS):
        yield {"resourceType": "Organization", "id": f"org-{o}", "name": f"Trạm Y tế xã số {o}"}
    for p in range(PATIENTS):
        pid = f"pat-{p:04d}"
        yield {
            "resourceType": "Patient",
            "id": pid,
            "name": [{"family": FAMILIES[p % len(FAMILIES)], "given": ["Văn", GIVEN[p % len(GIVEN)]]}],
            "gender": ["male", "female"][p % 2],
            "birthDate": f"{1940 + p % 70}-{1 + p % 12:02d}-{1 + p % 28:02d}",
            "managingOrganization": {"reference": f"Organization/org-{p % ORGS}"},
            "meta": {"profile": [f"https://senhealth.vn/fhir/StructureDefinition/vn-patient-{p % 10}"]},
        }
        for e in range(2):
            yield {
                "resourceType": "Encounter",
                "id": f"enc-{p}-{e}",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": f"Patient/{pid}"},
                "period": {"start": f"202{e + 2}-0{1 + p % 9}-1{p % 10}"},
                "serviceProvider": {"reference": f"Organization/org-{p % ORGS}"},
            }
        for k in range(OBS_PER_PATIENT):
            yield {
                "resourceType": "Observation",
                "id": f"obs-{p}-{k}",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": CODES[k]}]},
                "subject": {"reference": f"Patient/{pid}"},
                "encounter": {"reference": f"Encounter/enc-{p}-{k % 2}"},
                "effectiveDateTime": f"202{k % 3 + 1}-{1 + (p + k) % 12:02d}-{1 + (p * k) % 28:02d}T08:00:00+07:00",
                "valueQuantity": {
                    "value": 50 + (p * 7 + k * 13) % 150,
                    "unit": "mg/dL",
                    "system": "http://unitsofmeasure.org",
                    "code": "mg/dL",
                },
            }


@dataclass
class Explained:
    url: str
    ids: ParamIds

    def plan(self, stmt: Statement) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(sql.SQL("EXPLAIN (COSTS OFF) ") + stmt.query, stmt.params).fetchall()
        return "\n".join(r[0] for r in rows)

    def page(self, res_type: str, query: str, **kw: Any) -> str:
        params = [tuple(p.split("=", 1)) for p in query.split("&") if p]
        request = parse_search(res_type, params)  # type: ignore[arg-type]
        stmt, _ = build_page(request, self.ids, limit=request.count + 1, **kw)
        return self.plan(stmt)


@pytest.fixture(scope="module")
def explained(database_url: str) -> Iterator[Explained]:
    schema = f"explain_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")

    async def load() -> dict[tuple[str, str], int]:
        pool = create_pool(url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            store = FhirStore(pool)
            ids = await store.param_ids()
            async with store.transaction() as tx:
                for resource in _resources():
                    await tx.update(resource)
            return ids
        finally:
            await pool.close()

    try:
        migrate(url)
        ids = asyncio.run(load())
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
        yield Explained(url, ParamIds(ids))
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def show(name: str, plan: str) -> None:
    if os.environ.get("SENHEALTH_SHOW_PLANS"):
        print(f"\n--- {name}\n{plan}")


def no_seq_scan_of_index_tables(plan: str) -> None:
    assert "Seq Scan on idx_" not in plan, plan


SHAPES = [
    ("token", "Observation", "code=http://loinc.org|2339-0", "idx_token"),
    ("token, one patient", "Observation", "patient=pat-0042&code=2339-0", "idx_reference"),
    ("reference", "Observation", "subject=Patient/pat-0042", "idx_reference"),
    ("string prefix", "Patient", "name=Huỳnh Văn", "idx_string"),
    ("string exact", "Patient", "family:exact=Đặng", "idx_string"),
    ("date eq", "Observation", "date=2021-03-05", "idx_date"),
    ("date gt", "Encounter", "date=gt2023-09-15", "idx_date"),
    ("quantity (UCUM)", "Observation", "value-quantity=lt0.55|http://unitsofmeasure.org|g/L", "idx_quantity"),
    ("chain", "Observation", "subject:Patient.name=Huỳnh&code=2339-0", "idx_string"),
    (
        "reverse chain",
        "Patient",
        "_has:Observation:patient:value-quantity=199|http://unitsofmeasure.org|mg/dL",
        "idx_quantity",
    ),
    ("sorted by a parameter", "Patient", "family=Phan&_sort=-birthdate", "idx_string"),
    ("missing", "Patient", "organization:missing=true", "idx_reference"),
]


@pytest.mark.parametrize(("name", "res_type", "query", "table"), SHAPES, ids=[s[0] for s in SHAPES])
def test_shapes_use_their_indexes(
    explained: Explained, name: str, res_type: str, query: str, table: str
) -> None:
    plan = explained.page(res_type, query)
    show(name, plan)
    no_seq_scan_of_index_tables(plan)
    assert f"on {table}_p" in plan and "Limit" in plan


#: Shapes that match too much of this small dataset for an index to pay: the planner rightly scans;
#: with sequential scans disabled the index must still serve the predicate as written.
WIDE = [
    (
        "quantity gt",
        "Observation",
        "value-quantity=gt1.95|http://unitsofmeasure.org|g/L",
        "idx_quantity_p0_param_id",
    ),
    ("token text", "Observation", "code:text=glu", "idx_token_p0_param_id_text_idx"),
    (
        "uri below",
        "Patient",
        "_profile:below=https://senhealth.vn/fhir/StructureDefinition/vn-patient-3",
        "idx_uri_p0_param_id_value_rid_idx",
    ),
]


@pytest.mark.parametrize(("name", "res_type", "query", "index"), WIDE, ids=[s[0] for s in WIDE])
def test_wide_shapes_can_use_their_indexes(
    explained: Explained, name: str, res_type: str, query: str, index: str
) -> None:
    show(name, explained.page(res_type, query))
    params = [tuple(p.split("=", 1)) for p in query.split("&")]
    stmt, _ = build_page(parse_search(res_type, params), explained.ids, limit=21)  # type: ignore[arg-type]
    with psycopg.connect(explained.url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute(sql.SQL("EXPLAIN (COSTS OFF) ") + stmt.query, stmt.params).fetchall()
    plan = "\n".join(r[0] for r in rows)
    show(name + " (no sequential scans)", plan)
    assert index in plan, plan


def test_contains_can_use_the_trigram_index(explained: Explained) -> None:
    """At this size a (param_id) scan beats the trigram index; the predicate as written must still be
    one the GIN index serves (the bound pattern is folded into the plan)."""
    show("string contains", explained.page("Patient", "name:contains=uynh"))
    with psycopg.connect(explained.url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute(
            "EXPLAIN (COSTS OFF) SELECT * FROM idx_string i WHERE i.value_norm LIKE %(p)s",
            {"p": "%uynh van%"},
        ).fetchall()
    plan = "\n".join(r[0] for r in rows)
    show("string contains, the predicate alone", plan)
    assert "idx_string_p0_value_norm_idx" in plan


def test_unfiltered_page_walks_the_id_index(explained: Explained) -> None:
    plan = explained.page("Observation", "_count=20")
    show("unfiltered page", plan)
    assert "Limit" in plan and "fhir_resource_p0_res_type_res_id_idx" in plan and "Sort" not in plan


def test_last_updated_page_walks_its_index(explained: Explained) -> None:
    plan = explained.page("Observation", "_sort=_lastUpdated&_count=20")
    show("_lastUpdated page", plan)
    assert "fhir_resource_p0_res_type_last_updated_rid_idx" in plan and "Sort" not in plan.split("Limit")[1]


def test_compartment_uses_the_gin_index(explained: Explained) -> None:
    request = parse_search("Observation", [("code", "2339-0")])
    stmt, _ = build_page(request, explained.ids, limit=21, compartment=("Patient", "pat-0042"))
    plan = explained.plan(stmt)
    show("compartment", plan)
    no_seq_scan_of_index_tables(plan)
    assert "compartments" in plan and "Seq Scan on fhir_resource" not in plan


def test_count_and_includes(explained: Explained) -> None:
    count = explained.plan(build_count(parse_search("Observation", [("code", "2339-0")]), explained.ids))
    show("count", count)
    no_seq_scan_of_index_tables(count)
    with psycopg.connect(explained.url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rid, pkey FROM fhir_resource WHERE res_type = 'Observation' ORDER BY rid LIMIT 20"
        ).fetchall()
    ids = explained.ids.ids(("Observation",), "subject")
    include = explained.plan(build_include([(int(r), str(k)) for r, k in rows], ids, None))
    show("_include", include)
    assert "idx_reference_p0_rid_idx" in include and "Seq Scan" not in include
    rev_ids = explained.ids.ids(("Observation",), "subject")
    targets = [("Patient", f"pat-{p:04d}") for p in range(20)]
    revinclude = explained.plan(build_revinclude(targets, rev_ids))
    show("_revinclude", revinclude)
    assert (
        "idx_reference_p0_param_id_target_id_target_type_rid_idx" in revinclude
        and "Seq Scan" not in revinclude
    )


def test_estimates(explained: Explained) -> None:
    request = parse_search("Observation", [("code", "2339-0")])
    stmt = build_count(request, explained.ids, estimate=True)
    with psycopg.connect(explained.url, autocommit=True) as conn:
        (plan,) = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + stmt.query, stmt.params).fetchone()  # type: ignore[misc]
        rows = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]["Plan Rows"]
        assert 1 <= rows <= 300  # the planner underestimates: (param_id, code) and (pkey, rid) are correlated
        capped = build_count(request, explained.ids, cap=100)
        assert conn.execute(capped.query, capped.params).fetchone() == (100,)
        exact = build_count(request, explained.ids)
        assert conn.execute(exact.query, exact.params).fetchone() == (300,)


def test_has_on_a_common_value_probes_in_page_order(explained: Explained) -> None:
    """Every patient has a 2339-0 Observation: probed per patient while walking ``_id``, the page stops
    at its 21st row instead of collecting (and sorting) every match."""
    request = parse_search("Patient", [("_has:Observation:patient:code", "2339-0")])
    stmt, _ = build_page(request, explained.ids, limit=21, probes={0})
    plan = explained.plan(stmt)
    show("_has, probed", plan)
    assert "fhir_resource_p0_res_type_res_id_idx" in plan and "SubPlan" in plan and "Sort" not in plan
    assert "idx_reference_p0_param_id_target_id_target_type_rid_idx" in plan


def test_has_reads_no_resource_row_of_the_other_type(explained: Explained) -> None:
    request = parse_search(
        "Patient", [("_has:Observation:patient:value-quantity", "199|http://unitsofmeasure.org|mg/dL")]
    )
    stmt, _ = build_page(request, explained.ids, limit=21)
    plan = explained.plan(stmt)
    show("_has, collected", plan)
    no_seq_scan_of_index_tables(plan)
    assert plan.count("on fhir_resource_p0") == 2  # the Patient (r) and its content (f), no Observation


def test_has_shape_follows_the_number_of_matches(explained: Explained) -> None:
    """300 patients: a ``_has`` with at least max(PROBE_MIN, sqrt(64 * 300)) = 200 matches is probed."""

    async def main() -> list[frozenset[int]]:
        async with await psycopg.AsyncConnection.connect(explained.url, autocommit=True) as conn:
            out = []
            for params in (
                [("_has:Observation:patient:code", "2339-0")],  # 300 Observations
                [("_has:Observation:patient:value-quantity", "199|http://unitsofmeasure.org|mg/dL")],
                [("gender", "male"), ("_has:Observation:patient:code", "2339-0"), ("_sort", "-_id")],
                [("_has:Observation:patient:code", "2339-0"), ("_sort", "birthdate")],  # not an index walk
                [("_has:Observation:patient:code", "2339-0"), ("_count", "5")],
            ):
                request = parse_search("Patient", params)  # type: ignore[arg-type]
                out.append(await execute._probes(conn, request, explained.ids, None, datetime.now(UTC)))
            return out

    assert asyncio.run(main()) == [
        frozenset({0}),
        frozenset(),
        frozenset({1}),
        frozenset(),
        frozenset({0}),
    ]


def test_fifty_conditions_plan_quickly(explained: Explained) -> None:
    """50 AND-ed conditions: 8 semi-joins, 42 fenced probes (so planning stays far below a second)."""
    request = parse_search("Patient", [("name", f"x{i}") for i in range(50)])
    stmt, _ = build_page(request, explained.ids, limit=21)
    with psycopg.connect(explained.url, autocommit=True) as conn:
        rows = conn.execute(sql.SQL("EXPLAIN (ANALYZE, SUMMARY) ") + stmt.query, stmt.params).fetchall()
    plan = "\n".join(r[0] for r in rows)
    show("50 conditions", plan)
    assert plan.count("Semi Join") <= 8, plan  # 8 semi-joins at most; the rest are per-row probes
