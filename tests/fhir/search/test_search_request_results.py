"""The search-request parser, result parameters: _count, _sort, _total, _summary, _elements,
_include / _revinclude, _contained, _type, _cursor, and the query fingerprint.

Spec: https://hl7.org/fhir/R4/search.html (§3.1.1.5.4 to §3.1.1.5.10). Pure: no database.
"""

from __future__ import annotations

from typing import Any

import pytest

from senhealth.fhir.search.request import (
    DEFAULT_COUNT,
    MAX_COUNT,
    Include,
    SearchError,
    SortKey,
    parse_search,
)


def error(res_type: str | None, params: list[tuple[str, str]], **kw: Any) -> SearchError:
    with pytest.raises(SearchError) as info:
        parse_search(res_type, params, **kw)
    return info.value


# --- result parameters ----------------------------------------------------------------------------


def test_defaults() -> None:
    req = parse_search("Patient", [])
    assert (req.count, req.total, req.summary, req.sort, req.cursor, req.types) == (
        DEFAULT_COUNT,
        None,
        None,
        (),
        None,
        ("Patient",),
    )


def test_count() -> None:
    assert parse_search("Patient", [("_count", "5")]).count == 5
    assert parse_search("Patient", [("_count", "0")]).count == 0
    big = parse_search("Patient", [("_count", "50000")])
    assert big.count == MAX_COUNT and big.warnings[0]["expression"] == ["_count"]
    for bad in ("-1", "ten", "1.5", ""):
        assert error("Patient", [("_count", bad)]).expression == "_count"


def test_sort() -> None:
    req = parse_search("Patient", [("_sort", "family,-birthdate,_id,-_lastUpdated")])
    assert req.sort == (
        SortKey("family", False),
        SortKey("birthdate", True),
        SortKey("_id", False),
        SortKey("_lastUpdated", True),
    )
    assert parse_search("Patient", [("_sort:desc", "birthdate")]).sort == (SortKey("birthdate", True),)
    assert "composite" in error("Observation", [("_sort", "code-value-quantity")]).message
    assert error("Patient", [("_sort", "colour")], strict=True).expression == "_sort"
    lenient = parse_search("Patient", [("_sort", "colour,gender")])
    assert lenient.sort == (SortKey("gender", False),) and lenient.warnings


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("_total", "accurate", True),
        ("_total", "estimate", True),
        ("_total", "none", True),
        ("_total", "all", False),
        ("_summary", "count", True),
        ("_summary", "true", True),
        ("_summary", "text", True),
        ("_summary", "data", True),
        ("_summary", "false", True),
        ("_summary", "short", False),
        ("_contained", "false", True),
        ("_contained", "maybe", False),
    ],
)
def test_total_summary_contained(name: str, value: str, ok: bool) -> None:
    if ok:
        parse_search("Patient", [(name, value)], strict=name != "_contained" or value == "false")
    else:
        assert error("Patient", [(name, value)]).expression == name


def test_contained_true_is_not_supported() -> None:
    assert error("Patient", [("_contained", "true")], strict=True).code == "not-supported"
    assert parse_search("Patient", [("_contained", "both")]).warnings


def test_elements() -> None:
    assert parse_search("Patient", [("_elements", "name,Patient.birthDate, gender,name")]).elements == (
        "name",
        "birthDate",
        "gender",
    )
    assert error("Patient", [("_elements", "name,9x")]).expression == "_elements"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("_include", "Observation:subject", Include("Observation", "subject")),
        ("_include", "Observation:subject:Patient", Include("Observation", "subject", "Patient")),
        ("_include", "*", Include(None, None)),
        ("_include", "Observation:*", Include("Observation", None)),
        ("_include:iterate", "Patient:organization", Include("Patient", "organization", None, True)),
        ("_include:recurse", "Patient:organization", Include("Patient", "organization", None, True)),
        ("_revinclude", "Provenance:target", Include("Provenance", "target")),
        ("_revinclude:iterate", "Observation:has-member", Include("Observation", "has-member", None, True)),
    ],
)
def test_includes(name: str, value: str, expected: Include) -> None:
    req = parse_search("Observation", [(name, value)])
    got = req.revincludes if name.startswith("_revinclude") else req.includes
    assert got == (expected,)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("_include", "Observation", "SourceType:parameter"),
        ("_include", "Nope:subject", "not a resource type"),
        ("_include", "Observation:subject:Nope", "not a resource type"),
        ("_include", "Observation:patient:Group", "does not reference Group"),
        ("_include:deep", "Observation:subject", ":iterate"),
    ],
)
def test_bad_includes(name: str, value: str, message: str) -> None:
    err = error("Observation", [(name, value)])
    assert message in err.message and err.expression == name


def test_include_of_unknown_parameter() -> None:
    assert error("Observation", [("_include", "Observation:code")], strict=True).code == "not-supported"
    assert parse_search("Observation", [("_include", "Observation:nope")]).warnings


# --- system-level search, cursor, links, fingerprint ----------------------------------------------


def test_system_search_and_type() -> None:
    req = parse_search(None, [("_type", "Patient,Practitioner"), ("name", "tran")])
    assert req.types == ("Patient", "Practitioner") and req.clauses[0].types == ("Patient", "Practitioner")
    everything = parse_search(None, [("_id", "a")])
    assert everything.types == () and everything.clauses[0].types == ()
    assert error(None, [("_type", "Patient,Nope")]).expression == "_type"
    assert error("Patient", [("_type", "Observation")]).expression == "_type"
    assert parse_search("Patient", [("_type", "Patient")]).types == ("Patient",)
    # a parameter not common to every listed type
    assert (
        error(None, [("_type", "Patient,Observation"), ("gender", "male")], strict=True).expression
        == "gender"
    )
    # one code, different types on different resources
    mixed = error(None, [("_type", "ChargeItem,ActivityDefinition"), ("context", "x")])
    assert "different types" in mixed.message and mixed.expression == "context"


def test_cursor_and_link_parameters() -> None:
    req = parse_search("Patient", [("name", "an"), ("_cursor", "abc"), ("_count", "2")])
    assert req.cursor == "abc"
    assert req.params == (("name", "an"), ("_count", "2"))


def test_fingerprint_pins_what_decides_the_rows() -> None:
    a = parse_search("Patient", [("name", "an"), ("_count", "2")])
    b = parse_search("Patient", [("name", "an"), ("_count", "5"), ("_cursor", "x")])
    c = parse_search("Patient", [("name", "binh")])
    d = parse_search("Patient", [("name", "an"), ("_sort", "birthdate")])
    assert a.fingerprint() == b.fingerprint()
    assert len({a.fingerprint(), c.fingerprint(), d.fingerprint()}) == 3


def test_error_is_an_operation_outcome() -> None:
    err = error("Observation", [("date", "gt2020-02-30")])
    outcome = err.outcome()
    assert outcome["issue"][0]["code"] == "invalid"
    assert outcome["issue"][0]["expression"] == ["date"]
