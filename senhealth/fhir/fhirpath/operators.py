"""The operators of FHIRPath on collections: equality, comparison, membership, Boolean logic, math.

Spec: http://hl7.org/fhirpath/N1/ section 6 "Operations": 6.1 Equality (``= ~ != !~``), 6.2
Comparison, 6.3 Types (``is``/``as`` are compiled in :mod:`.compiler`), 6.4 Collections (``| in
contains``), 6.5 Boolean logic (three-valued ``and or xor implies``), 6.6 Math (``* / + - div mod &``)
and 6.6 Date/Time arithmetic; section 4.5 "Singleton Evaluation of Collections".
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any

from . import quantity as q
from .equality import as_quantity, compare, equal, equivalent
from .errors import FHIRPathEvaluationError
from .quantity import Quantity
from .temporal import FPDate, FPDateTime, FPTime, add_duration
from .values import Collection, system_value, type_of

BinaryOp = Callable[[Collection, Collection], Collection]

_TRUE: Collection = [True]
_FALSE: Collection = [False]


def _tn(v: Any) -> str:
    return ".".join(type_of(v))


def singleton(c: Collection, what: str = "operand") -> Any:
    """The System value of the single item of ``c``, ``None`` when empty; raises when many."""
    n = len(c)
    if n == 0:
        return None
    if n > 1:
        raise FHIRPathEvaluationError(f"{what} must be a single item, got {n}")
    return system_value(c[0])


def to_boolean(c: Collection, what: str = "operand") -> bool | None:
    """Singleton evaluation of a collection as a Boolean (4.5): empty -> None, one item -> its value
    if Boolean, otherwise true; several items -> error."""
    n = len(c)
    if n == 0:
        return None
    if n > 1:
        raise FHIRPathEvaluationError(f"{what} must be a single Boolean, got {n} items")
    v = system_value(c[0])
    if v.__class__ is bool:
        return bool(v)
    return True


# --- equality ---------------------------------------------------------------------------------------


def op_equal(left: Collection, right: Collection) -> Collection:
    if not left or not right:
        return []
    if len(left) != len(right):
        return _FALSE
    unknown = False
    for a, b in zip(left, right):
        r = equal(a, b)
        if r is False:
            return _FALSE
        if r is None:
            unknown = True
    return [] if unknown else _TRUE


def op_not_equal(left: Collection, right: Collection) -> Collection:
    r = op_equal(left, right)
    return [not r[0]] if r else r


def op_equivalent(left: Collection, right: Collection) -> Collection:
    if len(left) != len(right):
        return _FALSE
    for a in left:
        if not any(equivalent(a, b) for b in right):
            return _FALSE
    return _TRUE


def op_not_equivalent(left: Collection, right: Collection) -> Collection:
    return [not op_equivalent(left, right)[0]]


# --- comparison -------------------------------------------------------------------------------------


def _comparison(test: Callable[[int], bool]) -> BinaryOp:
    def op(left: Collection, right: Collection) -> Collection:
        if not left or not right:
            return []
        if len(left) > 1 or len(right) > 1:
            raise FHIRPathEvaluationError("comparison operands must be single items")
        c = compare(left[0], right[0])
        return [] if c is None else [test(c)]

    return op


op_lt = _comparison(lambda c: c < 0)
op_le = _comparison(lambda c: c <= 0)
op_gt = _comparison(lambda c: c > 0)
op_ge = _comparison(lambda c: c >= 0)


# --- collections ------------------------------------------------------------------------------------


def contains_item(c: Collection, item: Any) -> bool:
    return any(equal(x, item) is True for x in c)


def _hash_key(item: Any) -> tuple[str, Any] | None:
    """A hashable key equal items share, for strings, numbers and Booleans (None for the rest)."""
    v = system_value(item)
    c = v.__class__
    if c is str:
        return ("s", v)
    if c is bool:
        return ("b", v)
    if c is int or c is Decimal:
        return ("n", v)
    return None


def distinct(c: Collection) -> Collection:
    """Items of ``c`` without repeats (by ``=``), in order; hashing where the type allows."""
    out: Collection = []
    seen: set[tuple[str, Any]] = set()
    others: Collection = []
    for x in c:
        k = _hash_key(x)
        if k is not None:
            if k not in seen:
                seen.add(k)
                out.append(x)
        elif not contains_item(others, x):
            others.append(x)
            out.append(x)
    return out


def op_union(left: Collection, right: Collection) -> Collection:
    if not right:
        return distinct(left)
    return distinct(left + right)


def op_in(left: Collection, right: Collection) -> Collection:
    if not left:
        return []
    if len(left) > 1:
        raise FHIRPathEvaluationError("the left operand of 'in' must be a single item")
    return [contains_item(right, left[0])]


def op_contains(left: Collection, right: Collection) -> Collection:
    return op_in(right, left)


# --- arithmetic -------------------------------------------------------------------------------------

_NUM = (int, Decimal)
_TEMPORAL = (FPDate, FPDateTime, FPTime)


def _operands(left: Collection, right: Collection, op: str) -> tuple[Any, Any] | None:
    a = singleton(left, f"left operand of {op}")
    b = singleton(right, f"right operand of {op}")
    if a is None or b is None:
        return None
    return a, b


def _bad(op: str, a: Any, b: Any) -> FHIRPathEvaluationError:
    return FHIRPathEvaluationError(f"cannot apply {op} to {_tn(a)} and {_tn(b)}")


def _is_num(v: Any) -> bool:
    return v.__class__ is not bool and isinstance(v, _NUM)


def _dec(v: Any) -> Decimal:
    return v if v.__class__ is Decimal else Decimal(v)


def op_add(left: Collection, right: Collection) -> Collection:
    ab = _operands(left, right, "+")
    if ab is None:
        return []
    a, b = ab
    if _is_num(a) and _is_num(b):
        if a.__class__ is int and b.__class__ is int:
            return [a + b]
        return [_dec(a) + _dec(b)]
    if a.__class__ is str and b.__class__ is str:
        return [a + b]
    return _add_sub(a, b, 1, "+")


def op_sub(left: Collection, right: Collection) -> Collection:
    ab = _operands(left, right, "-")
    if ab is None:
        return []
    a, b = ab
    if _is_num(a) and _is_num(b):
        if a.__class__ is int and b.__class__ is int:
            return [a - b]
        return [_dec(a) - _dec(b)]
    return _add_sub(a, b, -1, "-")


def _add_sub(a: Any, b: Any, sign: int, op: str) -> Collection:
    a = as_quantity(a)
    b = as_quantity(b)
    if isinstance(a, _TEMPORAL) and b.__class__ is Quantity:
        try:
            return [add_duration(a, sign * b.value, b.unit)]
        except ValueError as e:
            raise FHIRPathEvaluationError(str(e)) from None
    if a.__class__ is Quantity and b.__class__ is Quantity:
        r = q.add(a, b, sign)
        return [] if r is None else [r]
    raise _bad(op, a, b)


def op_mul(left: Collection, right: Collection) -> Collection:
    ab = _operands(left, right, "*")
    if ab is None:
        return []
    a, b = ab
    if _is_num(a) and _is_num(b):
        if a.__class__ is int and b.__class__ is int:
            return [a * b]
        return [_dec(a) * _dec(b)]
    a = as_quantity(a)
    b = as_quantity(b)
    if a.__class__ is Quantity and b.__class__ is Quantity:
        return [q.multiply(a, b)]
    if a.__class__ is Quantity and _is_num(b):
        return [Quantity(a.value * _dec(b), a.unit)]
    if b.__class__ is Quantity and _is_num(a):
        return [Quantity(b.value * _dec(a), b.unit)]
    raise _bad("*", a, b)


def op_div(left: Collection, right: Collection) -> Collection:
    ab = _operands(left, right, "/")
    if ab is None:
        return []
    a, b = ab
    if _is_num(a) and _is_num(b):
        if b == 0:
            return []
        try:
            return [_dec(a) / _dec(b)]
        except (DivisionByZero, InvalidOperation):
            return []
    a = as_quantity(a)
    b = as_quantity(b)
    if a.__class__ is Quantity and b.__class__ is Quantity:
        r = q.divide(a, b)
        return [] if r is None else [r]
    if a.__class__ is Quantity and _is_num(b):
        return [] if b == 0 else [Quantity(a.value / _dec(b), a.unit)]
    raise _bad("/", a, b)


def op_intdiv(left: Collection, right: Collection) -> Collection:
    ab = _operands(left, right, "div")
    if ab is None:
        return []
    a, b = ab
    if not (_is_num(a) and _is_num(b)):
        raise _bad("div", a, b)
    if b == 0:
        return []
    if a.__class__ is int and b.__class__ is int:
        r = abs(a) // abs(b)
        return [r if (a >= 0) == (b >= 0) else -r]
    return [(_dec(a) / _dec(b)).to_integral_value(rounding="ROUND_DOWN")]


def op_mod(left: Collection, right: Collection) -> Collection:
    ab = _operands(left, right, "mod")
    if ab is None:
        return []
    a, b = ab
    if not (_is_num(a) and _is_num(b)):
        raise _bad("mod", a, b)
    if b == 0:
        return []
    if a.__class__ is int and b.__class__ is int:
        r = abs(a) % abs(b)
        return [r if a >= 0 else -r]
    return [_dec(a) % _dec(b)]


def op_concat(left: Collection, right: Collection) -> Collection:
    a = singleton(left, "left operand of &")
    b = singleton(right, "right operand of &")
    a = "" if a is None else a
    b = "" if b is None else b
    if a.__class__ is not str or b.__class__ is not str:
        raise _bad("&", a, b)
    return [a + b]


def negate(c: Collection) -> Collection:
    v = singleton(c, "operand of unary -")
    if v is None:
        return []
    if _is_num(v):
        return [-v]
    if v.__class__ is Quantity:
        return [Quantity(-v.value, v.unit)]
    raise FHIRPathEvaluationError(f"cannot negate {_tn(v)}")


def positive(c: Collection) -> Collection:
    v = singleton(c, "operand of unary +")
    if v is None:
        return []
    if _is_num(v) or v.__class__ is Quantity:
        return [v]
    raise FHIRPathEvaluationError(f"cannot apply unary + to {_tn(v)}")


BINARY_OPS: dict[str, BinaryOp] = {
    "=": op_equal,
    "!=": op_not_equal,
    "~": op_equivalent,
    "!~": op_not_equivalent,
    "<": op_lt,
    "<=": op_le,
    ">": op_gt,
    ">=": op_ge,
    "|": op_union,
    "in": op_in,
    "contains": op_contains,
    "+": op_add,
    "-": op_sub,
    "*": op_mul,
    "/": op_div,
    "div": op_intdiv,
    "mod": op_mod,
    "&": op_concat,
}
