"""Lexer and parser: tokens, precedence, literals, and syntax errors with their position."""

from __future__ import annotations

from decimal import Decimal

import pytest

from senhealth.fhir.fhirpath import FHIRPathSyntaxError
from senhealth.fhir.fhirpath import ast_nodes as a
from senhealth.fhir.fhirpath.lexer import tokenize
from senhealth.fhir.fhirpath.parser import parse
from senhealth.fhir.fhirpath.quantity import Quantity
from senhealth.fhir.fhirpath.temporal import FPDate, FPDateTime, FPTime


def test_tokens() -> None:
    kinds = [(t.kind, t.text) for t in tokenize("Patient.name.where(use = 'usual') // comment")]
    assert kinds == [
        ("IDENT", "Patient"),
        ("OP", "."),
        ("IDENT", "name"),
        ("OP", "."),
        ("IDENT", "where"),
        ("OP", "("),
        ("IDENT", "use"),
        ("OP", "="),
        ("STRING", "usual"),
        ("OP", ")"),
        ("EOF", ""),
    ]


def test_string_escapes_and_delimited_identifiers() -> None:
    toks = tokenize(r"'a\'b\u0065\n' `given name`")
    assert toks[0].text == "a'be\n"
    assert (toks[1].kind, toks[1].text) == ("DIDENT", "given name")


def test_external_constants() -> None:
    toks = tokenize("%ucum %`vs-administrative-gender` %'x'")
    assert [(t.kind, t.text) for t in toks[:3]] == [
        ("EXTERNAL", "ucum"),
        ("EXTERNAL", "vs-administrative-gender"),
        ("EXTERNAL", "x"),
    ]


def test_literals() -> None:
    lit = parse("@2019-01")
    assert isinstance(lit, a.Literal) and lit.value == FPDate(2019, 1)
    dt = parse("@2019-01-02T10:30:00.123+07:00")
    assert isinstance(dt, a.Literal) and dt.value == FPDateTime(2019, 1, 2, 10, 30, 0, "123", 420)
    year_dt = parse("@2015T")
    assert isinstance(year_dt, a.Literal) and year_dt.value == FPDateTime(2015)
    t = parse("@T14:30")
    assert isinstance(t, a.Literal) and t.value == FPTime(14, 30)
    q = parse("5.5 'mg'")
    assert isinstance(q, a.Literal) and q.value == Quantity(Decimal("5.5"), "mg")
    d = parse("4 days")
    assert isinstance(d, a.Literal) and d.value == Quantity(Decimal(4), "days")
    assert parse("1.0") == a.Literal(0, Decimal("1.0"))
    assert parse("-3") == a.Literal(0, -3)


def test_precedence() -> None:
    e = parse("1 + 2 * 3 = 7 and true")
    assert isinstance(e, a.Binary) and e.op == "and"
    eq = e.left
    assert isinstance(eq, a.Binary) and eq.op == "="
    plus = eq.left
    assert isinstance(plus, a.Binary) and plus.op == "+"
    assert isinstance(plus.right, a.Binary) and plus.right.op == "*"
    # 'is' binds tighter than '>' and '|'
    e2 = parse("1 > 2 is Boolean")
    assert isinstance(e2, a.Binary) and e2.op == ">" and isinstance(e2.right, a.TypeOp)
    # unary minus applies to the whole invocation chain
    e3 = parse("-1.convertsToInteger()")
    assert isinstance(e3, a.Unary) and isinstance(e3.operand, a.Call)


def test_invocations() -> None:
    e = parse("name[0].given.where($this = 'x').exists()")
    assert isinstance(e, a.Call) and e.name == "exists" and e.args == ()
    where = e.target
    assert isinstance(where, a.Call) and where.name == "where"
    assert isinstance(where.args[0], a.Binary)
    assert isinstance(where.args[0].left, a.Special)
    # keywords usable as names
    c = parse("'abc'.contains('b')")
    assert isinstance(c, a.Call) and c.name == "contains"
    t = parse("value.as(Quantity)")
    assert isinstance(t, a.Call) and t.name == "as"
    op = parse("value as FHIR.Quantity")
    assert isinstance(op, a.TypeOp) and op.type_name == "FHIR.Quantity"


@pytest.mark.parametrize(
    ("expression", "line", "col"),
    [
        ("2 + 2 /", 1, 8),
        ("name.", 1, 6),
        ("name.given)", 1, 11),
        ("'unterminated", 1, 1),
        ("1 +\n  /* open", 2, 3),
        ("name.where(given = 'x'", 1, 23),
        ("@T14:30Z", 1, 1),
        ("a ? b", 1, 3),
        ("and", 1, 1),
    ],
)
def test_syntax_errors_have_positions(expression: str, line: int, col: int) -> None:
    with pytest.raises(FHIRPathSyntaxError) as info:
        parse(expression)
    err = info.value
    assert err.position is not None
    assert f"line {line}, column {col}" in str(err)


def test_comments() -> None:
    e = parse("2 + /* x */ 2 // y")
    assert isinstance(e, a.Binary) and e.op == "+"
    assert e.right == a.Literal(12, 2)
