"""The abstract syntax tree of a FHIRPath expression.

Spec: http://hl7.org/fhirpath/N1/ Appendix A (grammar): terms (invocations, literals, external
constants, parenthesised expressions), invocations (member, function, ``$this``/``$index``/``$total``),
indexers, polarity, and the binary operators grouped by precedence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Expr:
    pos: int


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    value: Any  # bool, int, Decimal, str, FPDate, FPDateTime, FPTime, Quantity


@dataclass(frozen=True, slots=True)
class EmptyLiteral(Expr):
    pass


@dataclass(frozen=True, slots=True)
class Member(Expr):
    """``name`` on ``target`` (``target`` is None for a name on the current focus)."""

    target: Expr | None
    name: str


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """``target.name(args)``; ``target`` is None for a function on the current focus."""

    target: Expr | None
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Index(Expr):
    target: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    op: str  # "+" | "-"
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class TypeOp(Expr):
    op: str  # "is" | "as"
    operand: Expr
    type_name: str  # qualified: "Quantity", "FHIR.boolean", "System.Integer"


@dataclass(frozen=True, slots=True)
class Special(Expr):
    name: str  # "this" | "index" | "total"


@dataclass(frozen=True, slots=True)
class External(Expr):
    name: str  # without the %
