"""DHIS2 validation rules: left side, operator, right side, over one form's values.

Spec: https://docs.dhis2.org/en/use/user-guides/dhis-core-version-master/configuring-the-system/about-data-quality.html
(validation rules: expressions of data element operands ``#{dataElement}`` (the total of its category
option combos) and ``#{dataElement.categoryOptionCombo}``, numbers, ``+ - * /`` and parentheses;
operators ``equal_to`` … ``less_than_or_equal_to``, ``compulsory_pair`` (both sides present or both
absent), ``exclusive_pair`` (not both present); missing value strategies ``SKIP_IF_ANY_VALUE_MISSING``,
``SKIP_IF_ALL_VALUES_MISSING`` (the default), ``NEVER_SKIP`` (a missing value counts as 0)).

The expression language is this small subset of DHIS2's, parsed by hand (a tokenizer and a recursive
descent parser: no ``eval``); anything else is a :class:`ValueError` naming the place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .model import DataSet, ValidationRule

__all__ = ["Violation", "evaluate", "operands", "validate"]

_TOKEN: Final = re.compile(r"\s*(?:(#\{[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?\})|(\d+(?:\.\d+)?)|([-+*/()]))")

Values = Mapping[tuple[str, str], float]
"""(data element code, category option combo code) -> value."""


def _tokens(expression: str) -> list[str]:
    out, pos = [], 0
    text = expression.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"biểu thức không hợp lệ / bad expression at {pos}: {expression!r}")
        out.append(m.group(m.lastindex or 0))
        pos = m.end()
    return out


def operands(expression: str) -> list[tuple[str, str | None]]:
    """The ``(data element, combo or None)`` operands of ``expression``."""
    found: list[tuple[str, str | None]] = []
    for t in _tokens(expression):
        if t.startswith("#{"):
            element, _, combo = t[2:-1].partition(".")
            found.append((element, combo or None))
    return found


class _Parser:
    def __init__(self, expression: str, values: Values, data_set: DataSet) -> None:
        self.tokens = _tokens(expression)
        self.pos = 0
        self.values = values
        self.data_set = data_set
        self.expression = expression

    def parse(self) -> float:
        value = self.sum()
        if self.pos != len(self.tokens):
            raise ValueError(
                f"biểu thức không hợp lệ / unexpected {self.tokens[self.pos]!r} in {self.expression!r}"
            )
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def sum(self) -> float:
        value = self.product()
        while self._peek() in ("+", "-"):
            op = self.tokens[self.pos]
            self.pos += 1
            right = self.product()
            value = value + right if op == "+" else value - right
        return value

    def product(self) -> float:
        value = self.atom()
        while self._peek() in ("*", "/"):
            op = self.tokens[self.pos]
            self.pos += 1
            right = self.atom()
            if op == "*":
                value *= right
            else:
                if right == 0:
                    raise ZeroDivisionError(self.expression)
                value /= right
        return value

    def atom(self) -> float:
        token = self._peek()
        if token is None:
            raise ValueError(f"biểu thức không hợp lệ / unexpected end of {self.expression!r}")
        self.pos += 1
        if token == "(":
            value = self.sum()
            if self._peek() != ")":
                raise ValueError(f"biểu thức không hợp lệ / missing ')' in {self.expression!r}")
            self.pos += 1
            return value
        if token == "-":
            return -self.atom()
        if token.startswith("#{"):
            element, _, combo = token[2:-1].partition(".")
            codes = self.data_set.element(element).combo_codes
            if combo and combo not in codes:
                raise ValueError(f"{element} has no category option combo {combo!r}")
            return sum(self.values.get((element, c), 0.0) for c in ([combo] if combo else codes))
        if token in ")+*/":
            raise ValueError(f"biểu thức không hợp lệ / unexpected {token!r} in {self.expression!r}")
        return float(token)


def evaluate(expression: str, values: Values, data_set: DataSet) -> float:
    """The value of ``expression`` (missing values count as 0)."""
    return _Parser(expression, values, data_set).parse()


def _present(expression: str, values: Values, data_set: DataSet) -> tuple[int, int]:
    """How many operands have a value, of how many."""
    ops = operands(expression)
    present = 0
    for element, combo in ops:
        codes = [combo] if combo else list(data_set.element(element).combo_codes)
        present += any((element, c) in values for c in codes)
    return present, len(ops)


@dataclass(frozen=True, slots=True)
class Violation:
    rule: ValidationRule
    left: float | None
    right: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "validationRule": self.rule.code,
            "name_vi": self.rule.name_vi,
            "name_en": self.rule.name_en,
            "importance": self.rule.importance,
            "leftsideValue": self.left,
            "operator": self.rule.operator,
            "rightsideValue": self.right,
        }


_COMPARE: Final = {
    "equal_to": lambda a, b: abs(a - b) < 1e-9,
    "not_equal_to": lambda a, b: abs(a - b) >= 1e-9,
    "greater_than": lambda a, b: a > b,
    "greater_than_or_equal_to": lambda a, b: a >= b,
    "less_than": lambda a, b: a < b,
    "less_than_or_equal_to": lambda a, b: a <= b,
}


def _check(rule: ValidationRule, values: Values, data_set: DataSet) -> Violation | None:
    lp, ln = _present(rule.left, values, data_set)
    rp, rn = _present(rule.right, values, data_set)
    if rule.operator == "compulsory_pair":
        return None if (lp > 0) == (rp > 0) else Violation(rule, None, None)
    if rule.operator == "exclusive_pair":
        return Violation(rule, None, None) if lp > 0 and rp > 0 else None
    if rule.missing == "SKIP_IF_ALL_VALUES_MISSING" and lp + rp == 0:
        return None
    if rule.missing == "SKIP_IF_ANY_VALUE_MISSING" and (lp < ln or rp < rn):
        return None
    try:
        left = evaluate(rule.left, values, data_set)
        right = evaluate(rule.right, values, data_set)
    except ZeroDivisionError:
        return None  # DHIS2 skips a rule whose side divides by zero
    return None if _COMPARE[rule.operator](left, right) else Violation(rule, left, right)


def validate(data_set: DataSet, values: Values) -> list[Violation]:
    """The rules of ``data_set`` that ``values`` break, in the data set's order."""
    return [v for rule in data_set.rules if (v := _check(rule, values, data_set)) is not None]
