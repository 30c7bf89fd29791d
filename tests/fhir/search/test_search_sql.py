"""The SQL builder without a database: parameterisation, join shapes, keyset conditions, parameter ids.

Spec: https://hl7.org/fhir/R4/search.html. The SQL text must never contain a user value; every index
table is reached on ``(pkey, rid)`` with ``param_id`` first.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from psycopg import sql

from senhealth.fhir.search.cursor import Position, decode_cursor, encode_cursor
from senhealth.fhir.search.request import SearchError, parse_search
from senhealth.fhir.search.sql import ParamIds, SortColumn, SqlBuilder, build_count, build_page
from senhealth.fhir.store.params import shipped_params

IDS = ParamIds({(t, c): i + 1 for i, (t, c, _, _) in enumerate(shipped_params())})
NOW = datetime(2024, 6, 1, tzinfo=UTC)

HOSTILE = "x'); DROP TABLE fhir_resource; --"
QUERIES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Patient", [("name", HOSTILE)]),
    ("Patient", [("name:exact", HOSTILE)]),
    ("Patient", [("name:contains", HOSTILE)]),
    ("Patient", [("identifier", f"{HOSTILE}|{HOSTILE}")]),
    ("Patient", [("identifier:of-type", f"{HOSTILE}|{HOSTILE}|{HOSTILE}")]),
    ("Observation", [("code:text", HOSTILE)]),
    ("Observation", [("subject:Patient", HOSTILE)]),
    ("Observation", [("subject", HOSTILE)]),
    ("Observation", [("subject:identifier", HOSTILE)]),
    ("Observation", [("subject:Patient.name", HOSTILE)]),
    ("Patient", [("_has:Observation:patient:code", HOSTILE)]),
    ("Patient", [("_id", HOSTILE)]),
    ("Patient", [("_list", HOSTILE)]),
    ("ValueSet", [("url:above", f"http://x/{HOSTILE}")]),
    ("ValueSet", [("url:below", HOSTILE)]),
    ("Observation", [("value-quantity", f"5|{HOSTILE}|{HOSTILE}")]),
    ("Observation", [("code-value-quantity", f"{HOSTILE}$5||{HOSTILE}")]),
]


def text(stmt_query: sql.Composable) -> str:
    return stmt_query.as_string(None)


@pytest.mark.parametrize(("res_type", "params"), QUERIES)
def test_user_values_are_only_bind_parameters(res_type: str, params: list[tuple[str, str]]) -> None:
    request = parse_search(res_type, params)
    for stmt in (build_page(request, IDS, limit=21, now=NOW)[0], build_count(request, IDS, now=NOW)):
        query = text(stmt.query)
        assert "DROP" not in query and "x'" not in query
        assert any("drop table" in str(v).lower() for v in stmt.params.values())
        placeholders = set(re.findall(r"%\((p\d+)\)s", query))
        assert placeholders == set(stmt.params)


def test_index_tables_join_on_partition_and_row_and_lead_with_param_id() -> None:
    request = parse_search(
        "Observation",
        [
            ("code", "a"),
            ("date", "ge2020"),
            ("subject:Patient.name", "an"),
            ("_has:DiagnosticReport:result:status", "final"),
            ("_has:DiagnosticReport:result:_id", "dr-1"),
        ],
    )
    query = text(build_page(request, IDS, limit=21, now=NOW)[0].query)
    for alias in re.findall(r'FROM "idx_\w+" "(\w+)"', query):
        assert re.search(
            rf'"{alias}"\.pkey = "\w+"\.pkey AND "{alias}"\.rid = "\w+"\.rid AND "{alias}"\."param_id" =',
            query,
        )
    # _has on an index condition tests the reference row's own (pkey, rid): no fhir_resource row needed
    assert re.search(r'"i\d+"\.pkey = "h\d+"\.pkey AND "i\d+"\.rid = "h\d+"\.rid', query)
    # ... one on _id reads the other resource's row, joined on (pkey, rid) too
    assert query.count("JOIN fhir_resource") == 2  # that one, and the page's content
    assert re.search(
        r'JOIN fhir_resource "o\d+" ON "o\d+"\.pkey = "h\d+"\.pkey AND "o\d+"\.rid = "h\d+"\.rid', query
    )


def test_compartment_and_types() -> None:
    one = text(build_count(parse_search("Observation", []), IDS, compartment=("Patient", "p1")).query)
    assert '"r"."res_type" = %(p0)s' in one and '"r"."compartments" @> %(p1)s::text[]' in one
    many = build_count(parse_search(None, [("_type", "Patient,Group")]), IDS)
    assert "= ANY(%(p0)s::text[])" in text(many.query) and many.params["p0"] == ["Patient", "Group"]
    everything = text(build_count(parse_search(None, []), IDS).query)
    assert "res_type" not in everything


def test_multi_type_conditions_use_every_types_param_id() -> None:
    stmt = build_count(parse_search(None, [("_type", "Patient,Practitioner"), ("name", "an")]), IDS)
    (ids,) = [v for v in stmt.params.values() if isinstance(v, list) and v and isinstance(v[0], int)]
    assert sorted(ids) == sorted(IDS.ids(("Patient", "Practitioner"), "name")) and len(ids) == 2


def test_param_ids_fall_back_to_resource_level_registration() -> None:
    ids = ParamIds({("Resource", "_tag"): 7, ("Patient", "name"): 3, ("Practitioner", "name"): 4})
    assert ids.ids(("Patient",), "_tag") == [7]
    assert ids.ids(("Patient", "Practitioner"), "name") == [3, 4]
    assert ids.ids((), "name") == [3, 4]
    assert ids.ids(("Patient",), "gender") == []


def test_unindexed_parameter_matches_nothing_or_everything() -> None:
    ids = ParamIds({})
    for params, ending in (
        ([("gender", "male")], "AND FALSE)"),
        ([("gender:missing", "true")], 'WHERE "r"."res_type" = %(p0)s'),  # TRUE: left out
        ([("gender:not", "male")], 'WHERE "r"."res_type" = %(p0)s'),
    ):
        query = text(build_count(parse_search("Patient", params), ids).query)
        assert query.endswith(ending), query


def test_default_and_explicit_order() -> None:
    stmt, sort = build_page(parse_search("Patient", []), IDS, limit=3)
    assert [s.kind for s in sort] == ["text"]  # _id alone: unique within a type
    assert 'ORDER BY "q"."k0" ASC NULLS LAST LIMIT' in text(stmt.query)
    _, sort = build_page(parse_search(None, [("_type", "Patient,Group")]), IDS, limit=3)
    assert [s.kind for s in sort] == ["text", "bigint"]  # ids repeat across types: rid breaks ties
    _, sort = build_page(parse_search("Patient", [("_sort", "-birthdate,family")]), IDS, limit=3)
    assert [(s.kind, s.descending, s.nullable) for s in sort] == [
        ("timestamptz", True, True),
        ("text", False, True),
        ("bigint", False, False),
    ]


def _after(sort: list[SortColumn], values: tuple[object, ...]) -> str:
    b = SqlBuilder(IDS)
    cols = [sql.Identifier(f"k{i}") for i in range(len(sort))]
    out = text(b.after(cols, sort, Position(values)))  # type: ignore[arg-type]
    for name, value in b.p.values.items():
        out = out.replace(f"%({name})s", repr(value))
    return out


def test_keyset_condition_row_comparison_for_plain_columns() -> None:
    cols = [
        SortColumn(sql.SQL("x"), False, "timestamptz", False),
        SortColumn(sql.SQL("y"), False, "bigint", False),
    ]
    assert _after(cols, ("t", 5)) == '("k0", "k1") > (\'t\'::timestamptz, 5::bigint)'
    desc = [SortColumn(sql.SQL("x"), True, "text", False), SortColumn(sql.SQL("y"), True, "bigint", False)]
    assert _after(desc, ("t", 5)) == '("k0", "k1") < (\'t\'::text, 5::bigint)'


def test_keyset_condition_with_nulls_last_and_mixed_directions() -> None:
    cols = [
        SortColumn(sql.SQL("a"), False, "text", True),
        SortColumn(sql.SQL("b"), True, "numeric", True),
        SortColumn(sql.SQL("rid"), True, "bigint", False),
    ]
    assert _after(cols, ("m", Decimal(2), 9)) == (
        '(("k0" > \'m\'::text OR "k0" IS NULL)'
        ' OR ("k0" = \'m\'::text AND ("k1" < Decimal(\'2\')::numeric OR "k1" IS NULL))'
        ' OR ("k0" = \'m\'::text AND "k1" = Decimal(\'2\')::numeric AND "k2" < 9::bigint))'
    )
    # after a row without a first key only rows without it come (NULLs sort last)
    assert _after(cols, (None, None, 9)) == '("k0" IS NULL AND "k1" IS NULL AND "k2" < 9::bigint)'


# --- cursors --------------------------------------------------------------------------------------------


def test_cursor_round_trip() -> None:
    values = ("nguyen", datetime(2024, 1, 15, 1, 30, tzinfo=UTC), Decimal("97.50"), None, 12345678901)
    token = encode_cursor("abc", values)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert (
        decode_cursor(token, "abc", ("text", "timestamptz", "numeric", "numeric", "bigint")).values == values
    )


@pytest.mark.parametrize(
    ("fingerprint", "kinds", "why"),
    [
        ("other", ("text",), "another query"),
        ("abc", ("text", "text"), "wrong number"),
        ("abc", ("bigint",), "wrong type"),
    ],
)
def test_cursor_mismatch(fingerprint: str, kinds: tuple[str, ...], why: str) -> None:
    token = encode_cursor("abc", ("x",))
    with pytest.raises(SearchError) as info:
        decode_cursor(token, fingerprint, kinds)
    assert why in info.value.message and info.value.expression == "_cursor"


def test_a_probed_has_fences_its_inner_condition_too() -> None:
    """Walking the page order, ``_has`` is a per-row test, and so is its inner value condition: each
    reference row is checked with one index lookup on its ``(pkey, rid)``. Joined instead, PostgreSQL
    scanned the whole E78.5 range for every reference row when it took that range for one row."""
    request = parse_search("Patient", [("_has:Condition:patient:code", "http://x|E78.5")])
    probed, _ = build_page(request, IDS, limit=21, probes={0})
    joined, _ = build_page(request, IDS, limit=21)
    assert probed.query.as_string(None).count(" OFFSET 0)") == 2
    assert joined.query.as_string(None).count(" OFFSET 0)") == 0
