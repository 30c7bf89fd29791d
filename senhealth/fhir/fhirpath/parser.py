"""Parser: tokens to an abstract syntax tree, by precedence climbing.

Spec: http://hl7.org/fhirpath/N1/ Appendix A (grammar) and section 9 "Operator precedence", from
tightest to loosest: ``.`` and ``[]``; unary ``+ -``; ``* / div mod``; ``+ - &``; ``is as``; ``|``;
``< > <= >=``; ``= ~ != !~``; ``in contains``; ``and``; ``xor or``; ``implies``. All binary operators
associate to the left. A number followed by a string or a calendar keyword is a Quantity literal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from senhealth.fhir.ucum import CALENDAR_KEYWORDS

from . import lexer as lx
from .ast_nodes import (
    Binary,
    Call,
    EmptyLiteral,
    Expr,
    External,
    Index,
    Literal,
    Member,
    Special,
    TypeOp,
    Unary,
)
from .errors import FHIRPathSyntaxError
from .quantity import Quantity
from .temporal import FPDate, FPDateTime, FPTime

PRECEDENCE: Final = {
    "implies": 1,
    "or": 2,
    "xor": 2,
    "and": 3,
    "in": 4,
    "contains": 4,
    "=": 5,
    "~": 5,
    "!=": 5,
    "!~": 5,
    "<": 6,
    ">": 6,
    "<=": 6,
    ">=": 6,
    "|": 7,
    "is": 8,
    "as": 8,
    "+": 9,
    "-": 9,
    "&": 9,
    "*": 10,
    "/": 10,
    "div": 10,
    "mod": 10,
}
_WORD_OPS: Final = frozenset(k for k in PRECEDENCE if k.isalpha())
# Keywords that may still be used as identifiers (grammar rule ``identifier``).
_IDENT_KEYWORDS: Final = frozenset({"as", "contains", "in", "is"})
_RESERVED: Final = frozenset({"and", "or", "xor", "implies", "div", "mod", "true", "false"})


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = lx.tokenize(text)
        self.i = 0

    # -- helpers -----------------------------------------------------------------------------------

    def peek(self, k: int = 0) -> lx.Token:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else self.toks[-1]

    def next(self) -> lx.Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at_op(self, text: str) -> bool:
        t = self.toks[self.i]
        return t.kind == lx.OP and t.text == text

    def expect_op(self, text: str) -> lx.Token:
        t = self.toks[self.i]
        if t.kind != lx.OP or t.text != text:
            raise FHIRPathSyntaxError(f"expected {text!r}, found {_describe(t)}", t.pos)
        self.i += 1
        return t

    # -- grammar -----------------------------------------------------------------------------------

    def parse(self) -> Expr:
        e = self.expression(0)
        t = self.peek()
        if t.kind != lx.EOF:
            raise FHIRPathSyntaxError(f"unexpected {_describe(t)}", t.pos)
        return e

    def _binary_op(self) -> str | None:
        t = self.toks[self.i]
        if t.kind == lx.OP and t.text in PRECEDENCE:
            return t.text
        if t.kind == lx.IDENT and t.text in _WORD_OPS:
            return t.text
        return None

    def expression(self, min_prec: int) -> Expr:
        left = self.unary()
        while True:
            op = self._binary_op()
            if op is None:
                return left
            prec = PRECEDENCE[op]
            if prec < min_prec:
                return left
            tok = self.next()
            if op in ("is", "as"):
                left = TypeOp(tok.pos, op, left, self.type_specifier())
            else:
                right = self.expression(prec + 1)
                left = Binary(tok.pos, op, left, right)

    def unary(self) -> Expr:
        t = self.toks[self.i]
        if t.kind == lx.OP and t.text in ("+", "-"):
            self.i += 1
            operand = self.unary()
            if t.text == "-" and isinstance(operand, Literal):
                v = operand.value
                if v.__class__ in (int, Decimal):
                    return Literal(t.pos, -v)
                if isinstance(v, Quantity):
                    return Literal(t.pos, Quantity(-v.value, v.unit))
            return Unary(t.pos, t.text, operand)
        return self.postfix()

    def postfix(self) -> Expr:
        e = self.term()
        while True:
            t = self.toks[self.i]
            if t.kind != lx.OP:
                return e
            if t.text == ".":
                self.i += 1
                e = self.invocation(e)
            elif t.text == "[":
                self.i += 1
                idx = self.expression(0)
                self.expect_op("]")
                e = Index(t.pos, e, idx)
            else:
                return e

    def invocation(self, target: Expr | None) -> Expr:
        t = self.next()
        if t.kind == lx.IDENT or t.kind == lx.DIDENT:
            if t.kind == lx.IDENT and t.text in ("true", "false"):
                raise FHIRPathSyntaxError(f"unexpected {_describe(t)}", t.pos)
            if self.at_op("("):
                return Call(t.pos, target, t.text, self.arguments())
            return Member(t.pos, target, t.text)
        if t.kind == lx.SPECIAL and target is None:
            return Special(t.pos, t.text)
        raise FHIRPathSyntaxError(f"expected a name, found {_describe(t)}", t.pos)

    def arguments(self) -> tuple[Expr, ...]:
        self.expect_op("(")
        args: list[Expr] = []
        if self.at_op(")"):
            self.i += 1
            return ()
        while True:
            args.append(self.expression(0))
            if self.at_op(","):
                self.i += 1
                continue
            self.expect_op(")")
            return tuple(args)

    def type_specifier(self) -> str:
        parts = [self._type_part()]
        while self.at_op(".") and self.peek(1).kind in (lx.IDENT, lx.DIDENT):
            self.i += 1
            parts.append(self._type_part())
        return ".".join(parts)

    def _type_part(self) -> str:
        t = self.next()
        if t.kind == lx.DIDENT or (t.kind == lx.IDENT and t.text not in _RESERVED):
            return t.text
        raise FHIRPathSyntaxError(f"expected a type name, found {_describe(t)}", t.pos)

    def term(self) -> Expr:
        t = self.toks[self.i]
        k = t.kind
        if k == lx.NUMBER:
            self.i += 1
            value: int | Decimal = Decimal(t.text) if "." in t.text else int(t.text)
            u = self.toks[self.i]
            if u.kind == lx.STRING:
                self.i += 1
                return Literal(t.pos, Quantity(Decimal(value), u.text))
            if u.kind == lx.IDENT and u.text in CALENDAR_KEYWORDS:
                self.i += 1
                return Literal(t.pos, Quantity(Decimal(value), u.text))
            return Literal(t.pos, value)
        if k == lx.STRING:
            self.i += 1
            return Literal(t.pos, t.text)
        if k == lx.DATE:
            self.i += 1
            d = FPDate.parse(t.text)
            if d is None:
                raise FHIRPathSyntaxError(f"invalid date @{t.text}", t.pos)
            return Literal(t.pos, d)
        if k == lx.DATETIME:
            self.i += 1
            dt = FPDateTime.parse(t.text.rstrip("T") if t.text.endswith("T") else t.text)
            if dt is None:
                raise FHIRPathSyntaxError(f"invalid date-time @{t.text}", t.pos)
            return Literal(t.pos, dt)
        if k == lx.TIME:
            self.i += 1
            tm = FPTime.parse(t.text)
            if tm is None:
                raise FHIRPathSyntaxError(f"invalid time @T{t.text}", t.pos)
            return Literal(t.pos, tm)
        if k == lx.IDENT:
            if t.text in ("true", "false"):
                self.i += 1
                return Literal(t.pos, t.text == "true")
            if t.text in _RESERVED or (t.text in _WORD_OPS and t.text not in _IDENT_KEYWORDS):
                raise FHIRPathSyntaxError(f"unexpected {_describe(t)}", t.pos)
            return self.invocation(None)
        if k == lx.DIDENT or k == lx.SPECIAL:
            return self.invocation(None)
        if k == lx.EXTERNAL:
            self.i += 1
            return External(t.pos, t.text)
        if k == lx.OP:
            if t.text == "(":
                self.i += 1
                e = self.expression(0)
                self.expect_op(")")
                return e
            if t.text == "{":
                self.i += 1
                self.expect_op("}")
                return EmptyLiteral(t.pos)
        raise FHIRPathSyntaxError(f"unexpected {_describe(t)}", t.pos)


def _describe(t: lx.Token) -> str:
    if t.kind == lx.EOF:
        return "end of expression"
    if t.kind == lx.STRING:
        return f"string {t.text!r}"
    return repr(t.text)


def parse(text: str) -> Expr:
    """Parse ``text``; raises :class:`FHIRPathSyntaxError` with the position of the fault."""
    try:
        return Parser(text).parse()
    except FHIRPathSyntaxError as e:
        raise e.with_expression(text) from None
