"""A small UCUM unit table and parser, enough to compare and convert the units health data uses.

Spec: FHIRPath http://hl7.org/fhirpath/N1/ section 2.1.4 "Quantity" (units are UCUM codes or the
calendar duration keywords) and 6.1 "Equality" (quantities are compared after conversion to a common
unit); UCUM itself: https://ucum.org/ucum (the grammar: ``.`` and ``/`` between terms, exponents,
``{annotations}``, ``10*n``, metric prefixes).

This is not the whole of UCUM: it knows the SI base and derived units clinical data uses (mass, length,
volume, time, amount of substance, pressure including ``mm[Hg]``, energy, frequency, enzyme units),
the customary units ``[in_i] [ft_i] [yd_i] [mi_i] [lb_av] [oz_av] [gr]``, ``%``/``[ppm]``, and treats
``Cel``/``[degF]`` (not proportional scales) and arbitrary units (``[iU]``, ``[IU]``) as comparable only
with themselves. Written by hand: the only Python UCUM libraries are unmaintained or pull in a large
dependency for a table of a few dozen units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Final

# Dimension vector order: length, mass, time, angle, temperature, charge, luminosity, amount,
# calendar month (used only by the FHIRPath calendar keywords year/month).
_NDIM: Final = 9
_ZERO: Final = (0,) * _NDIM


def _dim(i: int, power: int = 1) -> tuple[int, ...]:
    v = [0] * _NDIM
    v[i] = power
    return tuple(v)


@dataclass(frozen=True, slots=True)
class UnitDef:
    """A unit as a factor times a product of base units; ``special`` units convert only to themselves."""

    factor: Decimal
    dims: tuple[int, ...]
    special: str | None = None

    def __mul__(self, other: UnitDef) -> UnitDef:
        return UnitDef(
            self.factor * other.factor, tuple(a + b for a, b in zip(self.dims, other.dims)), _sp(self, other)
        )

    def __truediv__(self, other: UnitDef) -> UnitDef:
        return UnitDef(
            self.factor / other.factor, tuple(a - b for a, b in zip(self.dims, other.dims)), _sp(self, other)
        )

    def __pow__(self, n: int) -> UnitDef:
        return UnitDef(self.factor**n, tuple(a * n for a in self.dims), self.special)


def _sp(a: UnitDef, b: UnitDef) -> str | None:
    if a.special and b.special:
        return f"{a.special}*{b.special}"
    return a.special or b.special


def _u(factor: str | int | Decimal, dims: tuple[int, ...] = _ZERO, special: str | None = None) -> UnitDef:
    return UnitDef(Decimal(factor), dims, special)


_M, _G, _S, _RAD, _K, _C, _CD, _MOL, _CALMO = (_dim(i) for i in range(_NDIM))
_ONE: Final = _u(1)

_PA = _u(1000, (-1, 1, -2, 0, 0, 0, 0, 0, 0))  # g.m-1.s-2
_N = _u(1000, (1, 1, -2, 0, 0, 0, 0, 0, 0))
_J = _u(1000, (2, 1, -2, 0, 0, 0, 0, 0, 0))

# atom -> (definition, accepts metric prefixes)
_ATOMS: Final[dict[str, tuple[UnitDef, bool]]] = {
    "1": (_ONE, False),
    "m": (_u(1, _M), True),
    "g": (_u(1, _G), True),
    "s": (_u(1, _S), True),
    "rad": (_u(1, _RAD), True),
    "K": (_u(1, _K), True),
    "C": (_u(1, _C), True),
    "cd": (_u(1, _CD), True),
    "mol": (_u(1, _MOL), True),
    "eq": (_u(1, _MOL), True),
    "osm": (_u(1, _MOL), True),
    "kat": (UnitDef(Decimal(1), tuple(a - b for a, b in zip(_MOL, _S))), True),
    "U": (UnitDef(Decimal("0.000001") / 60, tuple(a - b for a, b in zip(_MOL, _S))), True),
    "L": (_u("0.001", _dim(0, 3)), True),
    "l": (_u("0.001", _dim(0, 3)), True),
    "t": (_u(1_000_000, _G), True),
    "min": (_u(60, _S), False),
    "h": (_u(3600, _S), False),
    "d": (_u(86400, _S), False),
    "wk": (_u(604800, _S), False),
    "a": (_u(31557600, _S), False),
    "a_j": (_u(31557600, _S), False),
    "a_g": (_u(31556952, _S), False),
    "mo": (_u(2629800, _S), False),
    "mo_j": (_u(2629800, _S), False),
    "mo_g": (_u(2629746, _S), False),
    "Hz": (_u(1, _dim(2, -1)), True),
    "N": (_N, True),
    "Pa": (_PA, True),
    "bar": (_u(100000) * _PA, True),
    "atm": (_u(101325) * _PA, False),
    "m[Hg]": (_u("133322") * _PA, True),
    "m[H2O]": (_u("9806.65") * _PA, True),
    "[psi]": (_u("6894.757293168361") * _PA, False),
    "J": (_J, True),
    "W": (_J / _u(1, _S), True),
    "cal": (_u("4.184") * _J, True),
    "[Cal]": (_u("4184") * _J, False),
    "deg": (_u("0.017453292519943295", _RAD), False),
    "Ao": (_u("1e-10", _M), False),
    "[in_i]": (_u("0.0254", _M), False),
    "[ft_i]": (_u("0.3048", _M), False),
    "[yd_i]": (_u("0.9144", _M), False),
    "[mi_i]": (_u("1609.344", _M), False),
    "[lb_av]": (_u("453.59237", _G), False),
    "[oz_av]": (_u("28.349523125", _G), False),
    "[gr]": (_u("0.06479891", _G), False),
    "[stone_av]": (_u("6350.29318", _G), False),
    "%": (_u("0.01"), False),
    "[ppth]": (_u("0.001"), False),
    "[ppm]": (_u("0.000001"), False),
    "[ppb]": (_u("0.000000001"), False),
    "[pi]": (_u("3.141592653589793"), False),
    "Cel": (_u(1, _K, "Cel"), False),
    "[degF]": (_u(1, _K, "[degF]"), False),
    "[iU]": (_u(1, _ZERO, "[iU]"), True),
    "[IU]": (_u(1, _ZERO, "[iU]"), True),
    "[arb'U]": (_u(1, _ZERO, "[arb'U]"), False),
    "[drp]": (_u("0.05", _dim(0, 3)) * _u("0.000001"), False),
    # Calendar durations as FHIRPath keywords: month and year are calendar months, not UCUM mo / a.
    "year": (_u(12, _CALMO), False),
    "month": (_u(1, _CALMO), False),
    "week": (_u(604800, _S), False),
    "day": (_u(86400, _S), False),
    "hour": (_u(3600, _S), False),
    "minute": (_u(60, _S), False),
    "second": (_u(1, _S), False),
    "millisecond": (_u("0.001", _S), False),
}

_PREFIXES: Final = {
    "Y": 24,
    "Z": 21,
    "E": 18,
    "P": 15,
    "T": 12,
    "G": 9,
    "M": 6,
    "k": 3,
    "h": 2,
    "da": 1,
    "d": -1,
    "c": -2,
    "m": -3,
    "u": -6,
    "n": -9,
    "p": -12,
    "f": -15,
    "a": -18,
    "z": -21,
    "y": -24,
}

CALENDAR_KEYWORDS: Final = {
    "year": "year",
    "years": "year",
    "month": "month",
    "months": "month",
    "week": "week",
    "weeks": "week",
    "day": "day",
    "days": "day",
    "hour": "hour",
    "hours": "hour",
    "minute": "minute",
    "minutes": "minute",
    "second": "second",
    "seconds": "second",
    "millisecond": "millisecond",
    "milliseconds": "millisecond",
}
# The UCUM code each definite calendar keyword stands for (year and month have none).
CALENDAR_TO_UCUM: Final = {
    "week": "wk",
    "day": "d",
    "hour": "h",
    "minute": "min",
    "second": "s",
    "millisecond": "ms",
}

_TOKEN_RE: Final = re.compile(r"\{[^}]*\}|\(|\)|\.|/|[^./(){}]+")
_ATOM_EXP_RE: Final = re.compile(r"^(.*?)([+-]?\d+)?$")


def _atom(sym: str) -> UnitDef | None:
    hit = _ATOMS.get(sym)
    if hit is not None:
        return hit[0]
    for plen in (2, 1):
        p = sym[:plen]
        if p in _PREFIXES and len(sym) > plen:
            base = _ATOMS.get(sym[plen:])
            if base is not None and base[1]:
                return UnitDef(base[0].factor * Decimal(10) ** _PREFIXES[p], base[0].dims, base[0].special)
    return None


def _simple(sym: str) -> UnitDef | None:
    """A unit symbol with an optional exponent (``cm2``, ``s-1``, ``10*3``)."""
    if sym.startswith("10*") or sym.startswith("10^"):
        try:
            return _u(Decimal(10) ** int(sym[3:]))
        except ValueError:
            return None
    if sym.isdigit():
        return _u(int(sym))
    unit = _atom(sym)
    if unit is not None:
        return unit
    m = _ATOM_EXP_RE.match(sym)
    if m is None or m.group(2) is None or not m.group(1):
        return None
    unit = _atom(m.group(1))
    return None if unit is None else unit ** int(m.group(2))


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _TOKEN_RE.findall(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def term(self) -> UnitDef | None:
        if self.peek() == "/":
            self.i += 1
            c = self.component()
            return None if c is None else _ONE / c
        left = self.component()
        while left is not None and self.peek() in (".", "/"):
            op = self.toks[self.i]
            self.i += 1
            right = self.component()
            if right is None:
                return None
            left = left * right if op == "." else left / right
        return left

    def component(self) -> UnitDef | None:
        tok = self.peek()
        if tok is None:
            return None
        self.i += 1
        if tok == "(":
            inner = self.term()
            if self.peek() != ")":
                return None
            self.i += 1
            result = inner
        elif tok.startswith("{"):
            return _ONE
        else:
            result = _simple(tok)
        # an annotation may follow a unit: mL{total}
        if self.peek() is not None and self.peek().startswith("{"):  # type: ignore[union-attr]
            self.i += 1
        return result


@lru_cache(maxsize=1024)
def parse_unit(code: str) -> UnitDef | None:
    """The definition of a UCUM code or calendar keyword; ``None`` when this table cannot read it."""
    if code in CALENDAR_KEYWORDS:
        return _ATOMS[CALENDAR_KEYWORDS[code]][0]
    if not code:
        return _ONE
    p = _Parser(code)
    result = p.term()
    if result is None or p.i != len(p.toks):
        return None
    return result


def conversion_factor(from_unit: str, to_unit: str) -> Decimal | None:
    """Multiply a value in ``from_unit`` by this to express it in ``to_unit``; ``None`` if impossible."""
    if from_unit == to_unit:
        return Decimal(1)
    a = parse_unit(from_unit)
    b = parse_unit(to_unit)
    if a is None or b is None or a.dims != b.dims:
        return None
    if a.special or b.special:
        return Decimal(1) if a.special == b.special and a.factor == b.factor else None
    return a.factor / b.factor


def comparable(u1: str, u2: str) -> bool:
    return conversion_factor(u1, u2) is not None
