"""The search-request parser: values per type, prefixes, modifiers, chains, _has, errors, handling.

Spec: https://hl7.org/fhir/R4/search.html. Pure: no database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from senhealth.fhir.search.query.values import split_escaped, unescape
from senhealth.fhir.search.request import (
    CompositeQuery,
    Condition,
    DateQuery,
    NearQuery,
    NumberQuery,
    QuantityQuery,
    ReferenceQuery,
    SearchError,
    StringQuery,
    TokenQuery,
    UriQuery,
    parse_search,
)


def one(res_type: str | None, name: str, value: str, **kw: Any) -> Condition:
    req = parse_search(res_type, [(name, value)], **kw)
    assert len(req.clauses) == 1, req
    return req.clauses[0]


def values(res_type: str, name: str, value: str, **kw: Any) -> tuple[Any, ...]:
    return one(res_type, name, value, **kw).values


def error(res_type: str | None, params: list[tuple[str, str]], **kw: Any) -> SearchError:
    with pytest.raises(SearchError) as info:
        parse_search(res_type, params, **kw)
    return info.value


# --- escaping -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sep", "parts"),
    [
        ("a,b", ",", ["a", "b"]),
        (r"a\,b", ",", [r"a\,b"]),
        (r"a\\,b", ",", [r"a\\", "b"]),
        ("a|b|c", "|", ["a", "b", "c"]),
        (r"a\|b|c", "|", [r"a\|b", "c"]),
        (r"x$y\$z", "$", ["x", r"y\$z"]),
        ("", ",", [""]),
        ("a,", ",", ["a", ""]),
        ("trailing\\", ",", ["trailing\\"]),
    ],
)
def test_split_escaped(text: str, sep: str, parts: list[str]) -> None:
    assert split_escaped(text, sep) == parts


@pytest.mark.parametrize(
    ("text", "out"),
    [
        (r"a\,b", "a,b"),
        (r"a\|b", "a|b"),
        (r"a\$b", "a$b"),
        (r"a\\b", "a\\b"),
        (r"a\nb", r"a\nb"),
        ("plain", "plain"),
    ],
)
def test_unescape(text: str, out: str) -> None:
    assert unescape(text) == out


def test_or_by_comma_and_escaped_comma() -> None:
    assert values("Patient", "name", "an,binh") == (StringQuery("an", "an"), StringQuery("binh", "binh"))
    assert values("Patient", "name", r"Nguyễn\, Văn") == (StringQuery("Nguyễn, Văn", "nguyen, van"),)
    assert values("Patient", "name", "an,,") == (StringQuery("an", "an"),)


def test_and_by_repetition() -> None:
    req = parse_search("Patient", [("name", "an"), ("name", "binh"), ("gender", "male")])
    assert [c.param for c in req.clauses] == ["name", "name", "gender"]


def test_empty_value_is_ignored() -> None:
    req = parse_search("Patient", [("name", ""), ("gender", ","), ("_list", ""), ("birthdate:missing", "")])
    assert req.clauses == () and req.warnings == []


# --- prefixes and ordered types ------------------------------------------------------------------

PREFIXES = ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix_on_number_date_quantity(prefix: str) -> None:
    (n,) = values("ChargeItem", "factor-override", f"{prefix}1.5")
    assert n == NumberQuery(prefix, Decimal("1.5"), Decimal("1.45"), Decimal("1.55"))
    (d,) = values("Observation", "date", f"{prefix}2020-03")
    assert isinstance(d, DateQuery) and d.prefix == prefix
    (q,) = values("Observation", "value-quantity", f"{prefix}5.4|http://unitsofmeasure.org|mg")
    assert isinstance(q, QuantityQuery) and (q.prefix, q.value, q.system, q.code) == (
        prefix,
        Decimal("5.4"),
        "http://unitsofmeasure.org",
        "mg",
    )


@pytest.mark.parametrize(
    ("text", "value", "low", "high"),
    [
        ("100", "100", "99.5", "100.5"),
        ("100.0", "100.0", "99.95", "100.05"),
        ("100.00", "100.00", "99.995", "100.005"),
        ("1e2", "1E+2", "50", "150"),
        ("1.0e2", "1.0E+2", "95", "105"),
        ("0.1", "0.1", "0.05", "0.15"),
        ("-3", "-3", "-3.5", "-2.5"),
        ("+7", "7", "6.5", "7.5"),
        (".5", "0.5", "0.45", "0.55"),
    ],
)
def test_number_implicit_precision(text: str, value: str, low: str, high: str) -> None:
    (n,) = values("ChargeItem", "factor-override", text)
    assert n == NumberQuery("eq", Decimal(value), Decimal(low), Decimal(high))


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        (
            "2020",
            datetime(2019, 12, 31, 17, tzinfo=UTC),
            datetime(2020, 12, 31, 16, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "2020-03",
            datetime(2020, 2, 29, 17, tzinfo=UTC),
            datetime(2020, 3, 31, 16, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "1990-05-17",
            datetime(1990, 5, 16, 17, tzinfo=UTC),
            datetime(1990, 5, 17, 16, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "2024-01-15T08:30:00+07:00",
            datetime(2024, 1, 15, 1, 30, tzinfo=UTC),
            datetime(2024, 1, 15, 1, 30, 0, 999999, tzinfo=UTC),
        ),
        (
            "2024-01-15T08:30:00 07:00",  # '+' decoded as a space by a careless client
            datetime(2024, 1, 15, 1, 30, tzinfo=UTC),
            datetime(2024, 1, 15, 1, 30, 0, 999999, tzinfo=UTC),
        ),
        (
            "2024-01-15T08:30Z",
            datetime(2024, 1, 15, 8, 30, tzinfo=UTC),
            datetime(2024, 1, 15, 8, 30, 59, 999999, tzinfo=UTC),
        ),
    ],
)
def test_date_ranges_in_the_server_zone(text: str, low: datetime, high: datetime) -> None:
    (d,) = values("Observation", "date", text)
    assert isinstance(d, DateQuery) and (d.prefix, d.low, d.high) == ("eq", low, high)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("factor-override", "xx1", "unknown prefix 'xx'"),
        ("factor-override", "abc", "not a number"),
        ("factor-override", "1.2.3", "not a number"),
        ("factor-override", "gt", "not a number"),
        ("date", "2020-13", "not a FHIR date"),
        ("date", "yesterday", "not a FHIR date"),
        ("date", "zz2020", "unknown prefix 'zz'"),
        ("value-quantity", "5|mg", "a quantity is"),
        ("value-quantity", "five||mg", "not a number"),
    ],
)
def test_bad_values_always_raise(name: str, value: str, message: str) -> None:
    res_type = "ChargeItem" if name == "factor-override" else "Observation"
    for strict in (False, True):
        err = error(res_type, [(name, value)], strict=strict)
        assert message in err.message and err.expression == name and err.code == "invalid"


def test_quantity_forms() -> None:
    assert values("Observation", "value-quantity", "5.4||mg") == (
        QuantityQuery("eq", Decimal("5.4"), Decimal("5.35"), Decimal("5.45"), None, "mg"),
    )
    assert values("Observation", "value-quantity", "5.4") == (
        QuantityQuery("eq", Decimal("5.4"), Decimal("5.35"), Decimal("5.45")),
    )
    (q,) = values("Observation", "value-quantity", r"ap5|http://x\|y|mg")
    assert isinstance(q, QuantityQuery) and (q.prefix, q.system, q.code) == ("ap", "http://x|y", "mg")


# --- tokens ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8867-4", TokenQuery("8867-4")),
        ("http://loinc.org|8867-4", TokenQuery("8867-4", "http://loinc.org", True)),
        ("|8867-4", TokenQuery("8867-4", None, True)),
        ("http://loinc.org|", TokenQuery(None, "http://loinc.org", True)),
        (r"a\|b", TokenQuery("a|b")),
        (r"http://x|a\|b", TokenQuery("a|b", "http://x", True)),
        (r"a\,b", TokenQuery("a,b")),
    ],
)
def test_token_forms(value: str, expected: TokenQuery) -> None:
    assert values("Observation", "code", value) == (expected,)


@pytest.mark.parametrize("value", ["a|b|c", "|"])
def test_bad_tokens(value: str) -> None:
    assert error("Observation", [("code", value)]).expression == "code"


def test_token_modifiers() -> None:
    assert values("Observation", "code:text", "Nhịp  Tim") == (TokenQuery(None, text="nhip tim"),)
    assert one("Observation", "code:not", "x").modifier == "not"
    (t,) = values("Patient", "identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|NI|0011")
    assert t == TokenQuery(
        "0011", type_system="http://terminology.hl7.org/CodeSystem/v2-0203", type_code="NI"
    )
    assert "type-system|type-code|value" in error("Patient", [("identifier:of-type", "NI|0011")]).message


# --- every modifier, allowed or not ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("res_type", "name", "ok"),
    [
        ("Patient", "name:exact", True),
        ("Patient", "name:contains", True),
        ("Patient", "name:missing", True),
        ("Patient", "name:text", False),
        ("Patient", "name:not", False),
        ("Patient", "gender:not", True),
        ("Patient", "gender:text", True),
        ("Patient", "gender:exact", False),
        ("Patient", "gender:contains", False),
        ("Patient", "birthdate:missing", True),
        ("Patient", "birthdate:exact", False),
        ("Observation", "subject:Patient", True),
        ("Observation", "subject:Group", True),
        ("Observation", "subject:identifier", True),
        ("Observation", "subject:Organization", False),
        ("Observation", "patient:Group", False),
        ("Observation", "subject:exact", False),
        ("Observation", "value-quantity:missing", True),
        ("Observation", "value-quantity:not", False),
        ("ValueSet", "url:below", True),
        ("ValueSet", "url:above", True),
        ("ValueSet", "url:contains", False),
        ("Observation", "code-value-quantity:missing", True),
        ("Observation", "code-value-quantity:exact", False),
        ("Location", "near:missing", False),
        ("Patient", "_id:not", True),
        ("Patient", "_id:text", False),
        ("Patient", "_lastUpdated:missing", True),
        ("Patient", "name:bogus", False),
    ],
)
def test_modifiers(res_type: str, name: str, ok: bool) -> None:
    value = "true" if name.endswith(":missing") else "x"
    if name.startswith("birthdate") or name.startswith("_lastUpdated"):
        value = "true" if name.endswith(":missing") else "2020"
    if name.startswith("value-quantity") and not name.endswith(":missing"):
        value = "5"
    if name.startswith("code-value") and not name.endswith(":missing"):
        value = "a$5"
    if name.startswith("near"):
        value = "1|2"
    if ok:
        cond = one(res_type, name, value)
        assert cond.modifier == name.split(":")[1]
    else:
        err = error(res_type, [(name, value)])
        assert err.expression == name


def test_missing_takes_a_boolean() -> None:
    assert one("Patient", "name:missing", "true").missing is True
    assert one("Patient", "name:missing", "false").missing is False
    assert "true or false" in error("Patient", [("name:missing", "yes")]).message


# --- references, uri, composite, near, _list ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("subject", "Patient/p1", ReferenceQuery("Patient", "p1")),
        ("subject", "p1", ReferenceQuery(None, "p1")),
        ("subject:Patient", "p1", ReferenceQuery("Patient", "p1")),
        ("subject:Patient", "Patient/p1", ReferenceQuery("Patient", "p1")),
        ("subject", "Patient/p1/_history/3", ReferenceQuery("Patient", "p1", "3")),
        (
            "subject",
            "http://other.vn/fhir/Patient/p1",
            ReferenceQuery(None, None, None, "http://other.vn/fhir/Patient/p1"),
        ),
        ("subject", "https://ours.vn/fhir/Patient/p1", ReferenceQuery("Patient", "p1")),
        ("subject", "urn:uuid:0a1b", ReferenceQuery(None, None, None, "urn:uuid:0a1b")),
        (
            "subject:identifier",
            "https://senhealth.vn/fhir/sid/cccd|001",
            TokenQuery("001", "https://senhealth.vn/fhir/sid/cccd", True),
        ),
    ],
)
def test_reference_forms(name: str, value: str, expected: Any) -> None:
    assert values("Observation", name, value, base_urls=("https://ours.vn/fhir/",)) == (expected,)


def test_canonical_reference() -> None:
    (q,) = values("QuestionnaireResponse", "questionnaire", "http://x.vn/Questionnaire/q|2.0")
    assert q == ReferenceQuery(None, None, "2.0", "http://x.vn/Questionnaire/q")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("subject", "Foo/1", "not a reference"),
        ("subject:Patient", "Group/1", "does not point at a Patient"),
        ("patient", "Group/1", "references Patient"),
    ],
)
def test_bad_references(name: str, value: str, message: str) -> None:
    err = error("Observation", [(name, value)])
    assert message in err.message and err.expression == name


def test_uri_composite_near_list() -> None:
    assert values("ValueSet", "url", r"http://x.vn/a\,b") == (UriQuery("http://x.vn/a,b"),)
    (c,) = values(
        "Observation", "code-value-quantity", "http://loinc.org|8480-6$gt100|http://unitsofmeasure.org|mm[Hg]"
    )
    assert c == CompositeQuery(
        (
            TokenQuery("8480-6", "http://loinc.org", True),
            QuantityQuery(
                "gt", Decimal(100), Decimal("99.5"), Decimal("100.5"), "http://unitsofmeasure.org", "mm[Hg]"
            ),
        )
    )
    assert one("Observation", "code-value-quantity", "a$1").components == ("token", "quantity")
    assert "2 components" in error("Observation", [("code-value-quantity", "a")]).message
    assert values("Location", "near", "22.3|103.8|10|km") == (NearQuery(22.3, 103.8, 10000.0),)
    assert values("Location", "near", "22.3|103.8") == (NearQuery(22.3, 103.8, 5000.0),)
    assert values("Location", "near", "22.3|103.8|500|m") == (NearQuery(22.3, 103.8, 500.0),)
    for bad in ("22.3", "x|1", "91|0", "1|2|3|furlong"):
        assert error("Location", [("near", bad)]).expression == "near"
    lst = one("Observation", "_list", "l1,l2")
    assert lst.type == "list" and lst.values == (ReferenceQuery("List", "l1"), ReferenceQuery("List", "l2"))
    assert error("Observation", [("_list", "$current-problems")]).code == "not-supported"


# --- chains and _has ------------------------------------------------------------------------------


def test_chain_with_type() -> None:
    cond = one("Observation", "subject:Patient.name", "nguyen")
    assert cond.chain is not None and cond.chain.target_types == ("Patient",)
    inner = cond.chain.condition
    assert (inner.param, inner.types, inner.values) == (
        "name",
        ("Patient",),
        (StringQuery("nguyen", "nguyen"),),
    )


def test_chain_without_type_uses_every_target_having_the_parameter() -> None:
    cond = one("Observation", "subject.name", "nguyen")
    assert cond.chain is not None
    # subject targets Group, Device, Patient, Location: only Patient and Location have `name`
    assert cond.chain.target_types == ("Patient", "Location")


def test_chain_to_any_depth_with_modifier_on_the_last_link() -> None:
    cond = one("Observation", "patient.organization.partof.name:exact", "Trung tâm")
    assert cond.chain is not None and cond.chain.target_types == ("Patient",)
    org = cond.chain.condition
    assert (
        org.param == "organization" and org.chain is not None and org.chain.target_types == ("Organization",)
    )
    parent = org.chain.condition
    assert parent.param == "partof" and parent.chain is not None
    leaf = parent.chain.condition
    assert (leaf.param, leaf.modifier, leaf.values) == (
        "name",
        "exact",
        (StringQuery("Trung tâm", "trung tam"),),
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("code.name", "only references can be chained"),
        ("subject:Foo.name", "resource type modifier"),
        ("patient:Group.name", "does not reference Group"),
    ],
)
def test_bad_chains(name: str, message: str) -> None:
    assert message in error("Observation", [(name, "x")]).message


def test_chain_to_unknown_parameter_is_strict_or_lenient() -> None:
    err = error("Observation", [("subject:Patient.colour", "x")], strict=True)
    assert err.code == "not-supported" and err.expression == "subject:Patient.colour"
    req = parse_search("Observation", [("subject:Patient.colour", "x")])
    assert req.clauses == () and req.warnings[0]["expression"] == ["subject:Patient.colour"]


def test_has() -> None:
    cond = one("Patient", "_has:Observation:patient:code", "1234-5")
    assert cond.type == "has" and cond.has is not None
    assert (cond.has.res_type, cond.has.reference) == ("Observation", "patient")
    assert cond.has.condition.param == "code" and cond.has.condition.values == (TokenQuery("1234-5"),)


def test_nested_has_and_has_with_modifier_or_chain() -> None:
    cond = one("Patient", "_has:Observation:patient:_has:DiagnosticReport:result:status", "final")
    assert cond.has is not None and cond.has.condition.has is not None
    assert cond.has.condition.has.res_type == "DiagnosticReport"
    assert one("Patient", "_has:Observation:patient:code:text", "glucose").has.condition.modifier == "text"  # type: ignore[union-attr]
    chained = one("Patient", "_has:Observation:patient:performer:Practitioner.name", "Minh")
    assert chained.has is not None and chained.has.condition.chain is not None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("_has:Observation:patient", "_has:Type:reference:parameter"),
        ("_has:Nope:patient:code", "not a resource type"),
        ("_has:Observation:code:status", "no reference parameter"),
        ("_has:Observation:patient:code:bogus", "unknown modifier"),
        ("_has:Encounter:service-provider:status", "does not reference Patient"),
    ],
)
def test_bad_has(name: str, message: str) -> None:
    err = error("Patient", [(name, "x")])
    assert message in err.message and err.expression == name


# --- strict and lenient handling ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["colour", "_text", "_content", "_query", "_filter", "name-of-cat"])
def test_unknown_parameters(name: str) -> None:
    err = error("Patient", [(name, "x")], strict=True)
    assert err.expression == name and err.code == "not-supported"
    req = parse_search("Patient", [(name, "x"), ("gender", "male")])
    assert [c.param for c in req.clauses] == ["gender"]
    (warning,) = req.warnings
    assert warning["severity"] == "warning" and warning["expression"] == [name]


def test_unknown_modifier_raises_even_when_lenient() -> None:
    err = error("Patient", [("name:fuzzy", "x")], strict=False)
    assert err.expression == "name:fuzzy" and "unknown modifier :fuzzy" in err.message


def test_transport_parameters_are_left_to_http() -> None:
    assert parse_search("Patient", [("_format", "json"), ("_pretty", "true")], strict=True).warnings == []


def test_unknown_resource_type() -> None:
    assert error("Patients", []).code == "not-supported"
