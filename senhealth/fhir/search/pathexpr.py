"""Parser for the subset of FHIRPath that search-parameter expressions use.

Spec: https://hl7.org/fhirpath/N1/ (grammar and operator precedence) and
https://hl7.org/fhir/R4/searchparameter-registry.html (the expressions themselves).

The R4 search parameters are written in a small, regular part of FHIRPath: dotted paths, ``|`` unions,
``ofType(X)`` (``as X``), ``where(resolve() is X)``, ``where(field = 'literal')``, parentheses, an index
(``entry[0]``), ``first()``, ``exists()``, and once ``and`` / ``!=``. This module parses exactly that into
a tiny AST that :mod:`senhealth.fhir.search.compiler` turns into direct dictionary accessors. Anything
else raises :class:`Unsupported`, and the parameter is evaluated by the general FHIRPath engine instead.
Written by hand because the accessor compiler needs the static shape of the path, which a general engine's
AST does not promise to expose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "And",
    "Child",
    "Compare",
    "Exists",
    "First",
    "Index",
    "Literal",
    "Node",
    "OfType",
    "Path",
    "Step",
    "Union",
    "Unsupported",
    "WhereEquals",
    "WhereResolveIs",
    "parse",
]


class Unsupported(ValueError):
    """The expression is outside the subset this parser handles."""


# -- AST ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Child:
    name: str


@dataclass(frozen=True, slots=True)
class OfType:
    type_name: str


@dataclass(frozen=True, slots=True)
class WhereResolveIs:
    type_name: str


@dataclass(frozen=True, slots=True)
class WhereEquals:
    fields: tuple[str, ...]
    value: str | bool | int


@dataclass(frozen=True, slots=True)
class Index:
    index: int


@dataclass(frozen=True, slots=True)
class First:
    pass


@dataclass(frozen=True, slots=True)
class Exists:
    pass


Step: TypeAlias = Child | OfType | WhereResolveIs | WhereEquals | Index | First | Exists


@dataclass(frozen=True, slots=True)
class Path:
    """Steps from the evaluation context (``root == "this"``) or from ``%resource``."""

    root: str  # "this" | "resource"
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Union:
    terms: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | bool | int


@dataclass(frozen=True, slots=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Compare:
    left: Node
    op: str  # "=" | "!="
    right: Node


@dataclass(frozen=True, slots=True)
class _IsType:  # only valid as ``resolve() is X`` inside where()
    operand: Node
    type_name: str


Node: TypeAlias = Path | Union | Literal | And | Compare | _IsType


# -- lexer -------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+)|(?P<id>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)"
    r"|(?P<ext>%[A-Za-z_][A-Za-z0-9_]*)|(?P<op>!=|[.()\[\]|=,]))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Unsupported(f"unexpected character at {pos}: {text[pos : pos + 10]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


# -- parser ------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise Unsupported(f"expected {value or 'a token'} at token {self.pos}")
        self.pos += 1
        return tok

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[1] == value and tok[0] in ("op", "id")

    def ident(self) -> str:
        kind, value = self.take()
        if kind != "id":
            raise Unsupported(f"expected an identifier, got {value!r}")
        return value.strip("`")

    # expression := equality ('and' equality)*
    def expression(self) -> Node:
        node = self.equality()
        while self.at("and"):
            self.take()
            node = And(node, self.equality())
        return node

    # equality := union (('=' | '!=') union)?
    def equality(self) -> Node:
        node = self.union()
        if self.at("=") or self.at("!="):
            op = self.take()[1]
            node = Compare(node, op, self.union())
        return node

    # union := type_expr ('|' type_expr)*
    def union(self) -> Node:
        terms = [self.type_expr()]
        while self.at("|"):
            self.take()
            terms.append(self.type_expr())
        flat: list[Node] = []
        for t in terms:
            flat.extend(t.terms if isinstance(t, Union) else (t,))
        return flat[0] if len(flat) == 1 else Union(tuple(flat))

    # type_expr := postfix (('as' | 'is') TypeName)?
    def type_expr(self) -> Node:
        node = self.postfix()
        if self.at("as"):
            self.take()
            node = _append(node, (OfType(self.type_name()),))
        elif self.at("is"):
            self.take()
            node = _IsType(node, self.type_name())
        return node

    def type_name(self) -> str:
        name = self.ident()
        while self.at("."):  # FHIR.Patient / System.String
            self.take()
            name = self.ident()
        return name

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if self.at("."):
                self.take()
                node = _append(node, (self.step(),))
            elif self.at("["):
                self.take()
                kind, value = self.take()
                if kind != "num":
                    raise Unsupported("only integer indexes are supported")
                self.take("]")
                node = _append(node, (Index(int(value)),))
            else:
                return node

    def primary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise Unsupported("unexpected end of expression")
        kind, value = tok
        if value == "(" and kind == "op":
            self.take()
            node = self.expression()
            self.take(")")
            return node
        if kind == "str":
            self.take()
            return Literal(_unquote(value))
        if kind == "num":
            self.take()
            return Literal(int(value))
        if kind == "ext":
            self.take()
            if value != "%resource":
                raise Unsupported(f"unsupported variable {value}")
            return Path("resource", ())
        if kind == "id" and value in ("true", "false"):
            self.take()
            return Literal(value == "true")
        if kind == "id":
            return Path("this", (self.step(),))
        raise Unsupported(f"unexpected token {value!r}")

    def step(self) -> Step:
        name = self.ident()
        if not self.at("("):
            return Child(name)
        self.take("(")
        if name == "ofType":
            type_name = self.type_name()
            self.take(")")
            return OfType(type_name)
        if name == "where":
            cond = self.expression()
            self.take(")")
            return _where(cond)
        if name in ("first", "exists", "resolve"):
            self.take(")")
            if name == "first":
                return First()
            if name == "exists":
                return Exists()
            return _RESOLVE
        raise Unsupported(f"unsupported function {name}()")


_RESOLVE = Child("resolve()")  # placeholder, only meaningful inside ``where(resolve() is X)``


def _append(node: Node, steps: tuple[Step, ...]) -> Node:
    if isinstance(node, Path):
        return Path(node.root, node.steps + steps)
    if isinstance(node, Union):
        return Union(tuple(_append(t, steps) for t in node.terms))
    raise Unsupported("path step after a non-path expression")


def _where(cond: Node) -> Step:
    if (
        isinstance(cond, _IsType)
        and isinstance(cond.operand, Path)
        and cond.operand.root == "this"
        and cond.operand.steps == (_RESOLVE,)
    ):
        return WhereResolveIs(cond.type_name)
    if (
        isinstance(cond, Compare)
        and cond.op == "="
        and isinstance(cond.left, Path)
        and cond.left.root == "this"
        and cond.left.steps
        and all(isinstance(s, Child) and s is not _RESOLVE for s in cond.left.steps)
        and isinstance(cond.right, Literal)
    ):
        fields = tuple(s.name for s in cond.left.steps if isinstance(s, Child))
        return WhereEquals(fields, cond.right.value)
    raise Unsupported("unsupported where() criteria")


def _unquote(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body)


def _check(node: Node) -> None:
    if isinstance(node, _IsType):
        raise Unsupported("'is' outside where(resolve() is X)")
    if isinstance(node, Path) and _RESOLVE in node.steps:
        raise Unsupported("resolve() outside where(resolve() is X)")
    if isinstance(node, Union):
        for t in node.terms:
            _check(t)
    elif isinstance(node, And | Compare):
        _check(node.left)
        _check(node.right)


def parse(expression: str) -> Node:
    """Parse a search-parameter expression, or raise :class:`Unsupported`."""
    parser = _Parser(expression)
    node = parser.expression()
    if parser.peek() is not None:
        raise Unsupported(f"unexpected trailing input at token {parser.pos}")
    _check(node)
    return node
