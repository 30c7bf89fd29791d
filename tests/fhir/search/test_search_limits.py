"""What a search may not ask: NUL characters, numbers beyond PostgreSQL's numeric, too many conditions,
statements that run too long. Each is a 400 OperationOutcome, never a 500 or a query left running.

Spec: https://hl7.org/fhir/R4/search.html#errors (a search the server cannot run is an error with an
OperationOutcome), https://hl7.org/fhir/R4/valueset-issue-type.html (``too-costly``: "the operation was
not attempted because it would take too long or use too many resources"),
https://hl7.org/fhir/R4/search.html#number (numbers and their implicit precision).

Three roads: the parser alone (pure), ``execute.search`` on the hand-made dataset, and the real app over
HTTP (``search_http``), including the conditional interactions (If-None-Exist, conditional update and
delete), which parse their criteria with the same parser.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from unittest import mock
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from test_search_execute_data import (  # noqa: F401  (fixtures)
    SearchDb,
    search_data_fixture,
    search_http_fixture,
)

from senhealth.fhir.search import execute
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.query.values import MAX_EXPONENT
from senhealth.fhir.search.request import (
    MAX_CLAUSES,
    MAX_INCLUDES,
    MAX_VALUES,
    NumberQuery,
    QuantityQuery,
    SearchError,
    parse_search,
)
from senhealth.fhir.search.sql import JOINED_CLAUSES, ParamIds, Statement, build_page

FHIR = "application/fhir+json"
NUL_WORDS = ("U+0000", "NUL", "0x00")

# --- NUL ---------------------------------------------------------------------------------------------

#: (resource type, name, value): every kind of parameter, each with a U+0000 somewhere in its value
NUL_VALUES = [
    ("Patient", "name", "a\x00b"),
    ("Patient", "identifier", "a\x00"),
    ("Patient", "_id", "a\x00"),
    ("Patient", "_tag", "\x00"),
    ("Patient", "name:contains", "\x00"),
    ("Patient", "_has:Observation:subject:code", "\x00"),
    ("Patient", "_profile", "\x00"),
    (None, "_id", "\x00"),
    (None, "_type", "Patient,\x00"),
    ("Observation", "subject:Patient.name", "x\x00"),
    ("Observation", "value-quantity", "5|http://unitsofmeasure.org|m\x00g"),
    ("Observation", "date", "2020\x00"),
    ("Patient", "_sort", "name\x00"),
    ("Patient", "_include", "Patient:organization\x00"),
    ("Patient", "_elements", "name\x00"),
    ("Patient", "_cursor", "\x00"),
    ("Patient", "_count", "1\x00"),
    ("Patient", "unknown-parameter", "\x00"),  # even one that lenient handling would ignore
]


def said(exc: SearchError) -> str:
    return exc.message


@pytest.mark.parametrize(("res_type", "name", "value"), NUL_VALUES)
def test_a_nul_in_a_value_is_rejected_by_the_parser(res_type: str | None, name: str, value: str) -> None:
    with pytest.raises(SearchError) as caught:
        parse_search(res_type, [("_count", "5"), (name, value)])
    assert "U+0000" in said(caught.value) and caught.value.code == "invalid"
    assert caught.value.expression == name


@pytest.mark.parametrize("name", ["na\x00me", "\x00", "_has:Observation:subject:co\x00de", "_sort\x00"])
def test_a_nul_in_a_name_is_rejected_by_the_parser(name: str) -> None:
    with pytest.raises(SearchError) as caught:
        parse_search("Patient", [(name, "x")], strict=False)
    assert "U+0000" in said(caught.value)
    assert "\x00" not in said(caught.value) and "\x00" not in (caught.value.expression or "")


# --- numbers -----------------------------------------------------------------------------------------

OUT_OF_RANGE = [
    ("Observation", "value-quantity", "1e999999"),
    ("Observation", "value-quantity", "1e-16384|http://unitsofmeasure.org|mg"),
    ("Observation", "value-quantity", "ap1e131072"),
    ("Observation", "value-quantity", f"1e{MAX_EXPONENT + 1}"),
    ("Observation", "value-quantity", f"gt1e-{MAX_EXPONENT + 1}"),
    ("Observation", "value-quantity", "0e-20000"),  # zero, but its precision range is not
    ("Observation", "value-quantity", "1" * (MAX_EXPONENT + 2)),
    ("Observation", "value-quantity", "0." + "0" * MAX_EXPONENT + "1"),
    ("MolecularSequence", "variant-start", "1e999999"),
    ("ChargeItem", "factor-override", "le-1e5000"),
    ("Observation", "component-code-value-quantity", "http://loinc.org|8480-6$1e999999"),
]


@pytest.mark.parametrize(("res_type", "name", "value"), OUT_OF_RANGE)
def test_a_number_out_of_range_is_rejected_by_the_parser(res_type: str, name: str, value: str) -> None:
    with pytest.raises(SearchError) as caught:
        parse_search(res_type, [(name, value)])
    assert "number" in said(caught.value) and "out of range" in said(caught.value)
    assert caught.value.expression == name and len(said(caught.value)) < 300


@pytest.mark.parametrize(
    "value", ["1e-10", "5.4e3", "1e100", f"1e{MAX_EXPONENT}", f"1e-{MAX_EXPONENT}", "ap1e-999", "-1e1000"]
)
def test_reasonable_numbers_are_kept(value: str) -> None:
    (q,) = parse_search("Observation", [("value-quantity", value)]).clauses[0].values
    assert isinstance(q, QuantityQuery) and q.value == Decimal(value.removeprefix("ap"))
    (n,) = parse_search("ChargeItem", [("factor-override", value)]).clauses[0].values
    assert isinstance(n, NumberQuery) and n.low < n.value < n.high


# --- how many conditions -----------------------------------------------------------------------------


def names(n: int, name: str = "name") -> list[tuple[str, str]]:
    return [(name, str(i)) for i in range(n)]


def test_at_most_max_clauses_conditions() -> None:
    assert len(parse_search("Patient", names(MAX_CLAUSES)).clauses) == MAX_CLAUSES
    with pytest.raises(SearchError) as caught:
        parse_search("Patient", names(MAX_CLAUSES + 1))
    assert caught.value.code == "too-costly" and caught.value.expression == "name"
    assert "too many search parameters" in said(caught.value) and str(MAX_CLAUSES) in said(caught.value)
    with pytest.raises(SearchError, match="too many search parameters"):
        parse_search(None, [("_type", "Patient"), *names(200, "_id")])


def test_repeated_conditions_count_once() -> None:
    """``name=x&name=x`` is ``name=x``: the AND of a condition with itself adds nothing."""
    request = parse_search("Patient", [("name", "nguyen")] * 200 + [("gender", "male")] * 3)
    assert [c.param for c in request.clauses] == ["name", "gender"]


def test_ignored_and_result_parameters_do_not_count() -> None:
    params = [*names(MAX_CLAUSES), ("unknown", "1"), ("name", ""), ("_count", "3"), ("_sort", "name")]
    assert len(parse_search("Patient", params).clauses) == MAX_CLAUSES


def test_at_most_max_values_alternatives() -> None:
    values = ",".join(str(i) for i in range(MAX_VALUES))
    assert len(parse_search("Patient", [("name", values)]).clauses[0].values) == MAX_VALUES
    for name in ("name", "_id", "_list", "_has:Observation:subject:code"):
        with pytest.raises(SearchError) as caught:
            parse_search("Patient", [(name, values + ",x")])
        assert caught.value.code == "too-costly" and caught.value.expression == name
        assert "too many search parameter values" in said(caught.value) and str(MAX_VALUES) in said(
            caught.value
        )


def test_at_most_max_includes() -> None:
    params = [("_include", "Patient:organization")] * MAX_INCLUDES
    assert len(parse_search("Patient", params).includes) == MAX_INCLUDES
    with pytest.raises(SearchError, match="too many search parameters") as caught:
        parse_search("Patient", [*params, ("_revinclude", "Observation:subject")])
    assert caught.value.code == "too-costly"


def test_conditions_beyond_the_joined_ones_are_probes() -> None:
    """The first JOINED_CLAUSES conditions are semi-joins for the planner; the rest are fenced."""
    request = parse_search("Patient", names(MAX_CLAUSES))
    ids = ParamIds({("Patient", "name"): 1})
    stmt, _ = build_page(request, ids, limit=21)
    query = stmt.query.as_string(None)
    assert query.count("EXISTS (") == MAX_CLAUSES
    assert query.count(" OFFSET 0)") == MAX_CLAUSES - JOINED_CLAUSES


# --- on the database ---------------------------------------------------------------------------------


def test_many_conditions_are_planned_and_answered_quickly(search_data: SearchDb) -> None:
    """50 AND-ed name conditions (each a semi-join, before) took 1.2 s to plan on 20,000 patients and
    grew steeply (100: 11 s; 200: minutes); now planning stays small."""
    request = parse_search("Patient", [("name", f"n{i}") for i in range(MAX_CLAUSES)])
    stmt, _ = build_page(request, ParamIds(search_data.param_ids), limit=21)

    async def explain(conn: psycopg.AsyncConnection[Any]) -> list[str]:
        cur = await conn.execute(
            sql.SQL("EXPLAIN (ANALYZE, SUMMARY) ") + stmt.query, stmt.params, prepare=False
        )
        return [str(r[0]) for r in await cur.fetchall()]

    plan = search_data.run(explain)
    joins = sum(1 for line in plan if "Semi Join" in line)
    assert joins <= JOINED_CLAUSES, plan  # the rest are fenced per-row tests, not more joins
    result = search_data.search([("name", f"n{i}") for i in range(MAX_CLAUSES)], "Patient")
    assert result.matches == [] and result.total == 0


def _sleeping_page(*args: Any, **kwargs: Any) -> tuple[Statement, list[Any]]:
    return Statement(sql.SQL("SELECT pg_sleep(5)"), {}), []


def test_a_statement_that_runs_too_long_is_too_costly(search_data: SearchDb) -> None:
    request = parse_search("Observation", [("code", "2339-0")])
    with mock.patch.object(execute, "build_page", _sleeping_page), pytest.raises(SearchError) as caught:
        search_data.run(lambda conn: search(conn, request, search_data.param_ids, timeout_s=0.2))
    assert caught.value.code == "too-costly" and "narrow" in said(caught.value)


def test_the_timeout_is_the_searchs_own(search_data: SearchDb) -> None:
    """Inside a caller's transaction the timeout is set for the search only, the caller's kept (a lower
    one wins); on a connection outside a transaction the search runs in one of its own."""
    request = parse_search("Observation", [("code", "2339-0")])

    real = execute._search
    spied: list[str] = []

    async def spy(conn: psycopg.AsyncConnection[Any], *args: Any) -> Any:
        spied.append(await shown(conn))
        return await real(conn, *args)

    async def shown(conn: psycopg.AsyncConnection[Any]) -> str:
        cur = await conn.execute("SHOW statement_timeout")
        row = await cur.fetchone()
        assert row is not None
        return str(row[0])

    async def inside(conn: psycopg.AsyncConnection[Any]) -> list[str]:
        seen: list[str] = []
        for caller in ("0", "5min", "100ms"):
            async with conn.transaction():
                await conn.execute(f"SET LOCAL statement_timeout = '{caller}'")
                with mock.patch.object(execute, "_search", spy):
                    result = await search(conn, request, search_data.param_ids, timeout_s=30)
                assert len(result.matches) == 2
                seen.append(f"{spied.pop()} {await shown(conn)}")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        seen.append(await shown(conn))
        with mock.patch.object(execute, "_search", spy):
            await search(conn, request, search_data.param_ids, timeout_s=30)  # autocommit: a transaction
        seen.append(f"{spied.pop()} {await shown(conn)}")
        return seen

    assert search_data.run(inside) == ["30s 0", "30s 5min", "100ms 100ms", "0", "30s 0"]


# --- over HTTP ---------------------------------------------------------------------------------------


def _outcome(response: Any, status: int = 400) -> tuple[str, str]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(FHIR)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    issue = body["issue"][0]
    return str(issue.get("diagnostics", "")), str(issue.get("code", ""))


NUL_PATHS = [
    "/fhir/Patient?name=a%00b",
    "/fhir/Patient?identifier=a%00",
    "/fhir/Patient?_id=a%00",
    "/fhir/Patient?_tag=%00",
    "/fhir/Patient?name:contains=%00",
    "/fhir/Patient?_has:Observation:subject:code=%00",
    "/fhir/Patient?_profile=%00",
    "/fhir?_id=%00",
    "/fhir/Patient?na%00me=x",
    "/fhir/Patient/pat-1/Observation?code=%00",
]


@pytest.mark.parametrize("path", NUL_PATHS)
def test_http_nul_in_a_search(search_http: Any, path: str) -> None:
    diagnostics, code = _outcome(search_http.runner.run(search_http.client.get(path)))
    assert any(w in diagnostics for w in NUL_WORDS) and code == "invalid"


def test_http_nul_in_a_form_search(search_http: Any) -> None:
    response = search_http.runner.run(
        search_http.client.post(
            "/fhir/Patient/_search",
            content=b"name=%00",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    )
    diagnostics, _ = _outcome(response)
    assert "U+0000" in diagnostics


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/fhir/Patient", {"If-None-Exist": "identifier=%00"}),
        ("PUT", "/fhir/Patient?identifier=%00", {}),
        ("DELETE", "/fhir/Patient?identifier=%00", {}),
    ],
)
def test_http_nul_in_conditional_criteria(
    search_http: Any, method: str, path: str, headers: dict[str, str]
) -> None:
    body = b'{"resourceType": "Patient"}' if method != "DELETE" else None
    response = search_http.runner.run(
        search_http.client.request(
            method, path, content=body, headers={"Content-Type": FHIR, "Accept": FHIR, **headers}
        )
    )
    diagnostics, _ = _outcome(response)
    assert "U+0000" in diagnostics


@pytest.mark.parametrize(
    "query",
    [
        "Observation?value-quantity=1e999999",
        "Observation?value-quantity=1e-16384|http://unitsofmeasure.org|mg",
        "Observation?value-quantity=ap1e131072",
        "MolecularSequence?variant-start=1e999999",
        "Observation?component-code-value-quantity=http://loinc.org|8480-6$1e999999",
    ],
)
def test_http_number_out_of_range(search_http: Any, query: str) -> None:
    res_type, _, params = query.partition("?")
    name, _, value = params.partition("=")
    url = f"/fhir/{res_type}?{name}={quote(value, safe=':|$')}"
    diagnostics, code = _outcome(search_http.runner.run(search_http.client.get(url)))
    assert "number" in diagnostics and "range" in diagnostics and code == "invalid"


@pytest.mark.parametrize("value", ["1e-10", "5.4e3", "1e100", "ap1e-3|http://unitsofmeasure.org|mg"])
def test_http_reasonable_numbers(search_http: Any, value: str) -> None:
    url = f"/fhir/Observation?value-quantity={quote(value, safe=':|')}"
    response = search_http.runner.run(search_http.client.get(url))
    assert response.status_code == 200 and response.json()["total"] == 0, response.text[:300]


def test_http_too_many_conditions_is_answered_at_once(search_http: Any) -> None:
    query = "&".join(f"name={i}" for i in range(200))
    response = search_http.runner.run(search_http.client.get(f"/fhir/Patient?{query}"))
    diagnostics, code = _outcome(response)
    assert code == "too-costly" and "too many search parameters" in diagnostics and "50" in diagnostics


def test_http_a_search_that_runs_too_long(search_http: Any) -> None:
    with (
        mock.patch.object(execute, "build_page", _sleeping_page),
        mock.patch.object(execute, "_default_timeout", lambda: 0.2),
    ):
        response = search_http.runner.run(search_http.client.get("/fhir/Observation?code=2339-0"))
    diagnostics, code = _outcome(response)
    assert code == "too-costly" and "narrow" in diagnostics
    after = search_http.runner.run(search_http.client.get("/fhir/Observation?code=2339-0"))
    assert after.status_code == 200 and after.json()["total"] == 2  # the pool's connection is fine
