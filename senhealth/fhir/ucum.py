"""UCUM for the FHIR core: one table of the units health data uses, and one parser for unit codes.

Spec: https://ucum.org/ucum (the Unified Code for Units of Measure: atoms, metric prefixes, ``.`` and
``/`` between terms, integer exponents, ``10*n``, ``{annotations}``); FHIRPath
http://hl7.org/fhirpath/N1/ sections 2.1.4 "Quantity" (units are UCUM codes or the calendar duration
keywords) and 6.1 "Equality" (quantities compare after conversion to a common unit); FHIR search
https://hl7.org/fhir/R4/search.html#quantity ("the server SHOULD canonicalise UCUM units").

Written by hand: the Python UCUM packages either need the full UCUM XML essence at run time, pull in a
large dependency, or are unmaintained, for what is here a table of a few dozen units that is easy to
extend.

The table knows the SI base and derived units clinical data uses (mass, length, volume, time, amount of
substance, pressure, energy, frequency, enzyme units), the customary units (``[in_i] [ft_i] [yd_i]
[mi_i] [lb_av] [oz_av] [gr]``), ``%``/``[ppm]``, ``Cel``/``[degF]``, arbitrary units (``[iU]``,
``[IU]``) and the FHIRPath calendar keywords (``year``, ``months``, ...). It is read two ways:

* FHIRPath (:func:`parse_unit`, :func:`conversion_factor`, :func:`comparable`): every atom, reduced to
  base units, so ``1 'mm[Hg]'`` converts to ``Pa``.
* The search index (:func:`canonical`): ``(factor, offset, code)`` with canonical value = value * factor
  + offset, and ``code`` the base units in alphabetical order with exponents (``mg/dL`` -> ``10``,
  ``g.m-3``). Only the atoms marked ``indexed`` or given an ``index_base`` below have a canonical form. The store holds rows with
  these codes, so this reading must not change: adding an atom to it, or changing how one reduces,
  needs a reindex of the quantity tables.

Where the two readings differ, each keeps what its callers have always seen:

* ``mm[Hg]``, ``m[H2O]``: FHIRPath converts them to pascal (``1 'mm[Hg]'`` is 133.322 ``Pa``); search
  keeps them as base units, as clinicians write pressure (``mm[Hg]`` -> 0.001 ``m[Hg]``).
* ``U``: FHIRPath reads umol/min (it converts to ``kat``); search keeps the base unit ``U``.
* ``[IU]``, ``[iU]``: FHIRPath compares an arbitrary unit only with the same reduction (``[iU]/L`` and
  ``[iU]/mL`` are not comparable); search keeps the base unit ``[IU]`` and scales it like any other
  (``m[IU]/L`` -> 1 ``[IU].m-3``).
* ``Cel``, ``[degF]``: FHIRPath compares them only with themselves; search converts them to ``K`` with
  an offset, when they are the whole unit.
* Atoms not marked ``indexed`` (``Pa``, ``J``, ``Hz``, ``kat``, ``osm``, ``[gr]``, the calendar
  keywords...) and the prefixes ``a``, ``z``, ``y``: FHIRPath only; search gives no canonical form.
* The empty code: FHIRPath reads the unit ``1``; search gives no canonical form.
* Grammar: FHIRPath reads parentheses and ``{annotations}`` after a unit or alone, and a leading ``/``
  divides by the one term after it (``/min``). Search rejects parentheses, removes annotations anywhere
  (``mL/min/{1.73_m2}``), counts an empty term as 1 (``mg//dL`` is ``mg/dL``) and reads ``/a.b`` as
  (1/a).b.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Final

__all__ = [
    "CALENDAR_KEYWORDS",
    "CALENDAR_TO_UCUM",
    "UCUM_SYSTEM",
    "Unit",
    "canonical",
    "comparable",
    "conversion_factor",
    "parse_unit",
]

UCUM_SYSTEM: Final = "http://unitsofmeasure.org"

Dims = tuple[tuple[str, int], ...]
"""Base unit -> exponent, sorted by base unit, zero exponents left out: ``(("g", 1), ("m", -3))``."""


def _join(a: Dims, b: Dims, sign: int) -> Dims:
    acc = dict(a)
    for base, power in b:
        acc[base] = acc.get(base, 0) + sign * power
    return tuple(sorted((k, v) for k, v in acc.items() if v))


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit as a factor times a product of base units; ``special`` units convert only to themselves."""

    factor: Decimal
    dims: Dims = ()
    special: str | None = None

    def __mul__(self, other: Unit) -> Unit:
        return Unit(self.factor * other.factor, _join(self.dims, other.dims, 1), _sp(self, other))

    def __truediv__(self, other: Unit) -> Unit:
        return Unit(self.factor / other.factor, _join(self.dims, other.dims, -1), _sp(self, other))

    def __pow__(self, n: int) -> Unit:
        dims = tuple((k, v * n) for k, v in self.dims) if n else ()
        return Unit(self.factor**n, dims, self.special)


def _sp(a: Unit, b: Unit) -> str | None:
    if a.special and b.special:
        return f"{a.special}*{b.special}"
    return a.special or b.special


def _u(
    factor: str | int | Decimal, base: str | None = None, power: int = 1, special: str | None = None
) -> Unit:
    return Unit(Decimal(factor), ((base, power),) if base else (), special)


_ONE: Final = _u(1)
_MOL_PER_S: Final = Unit(Decimal(1), (("mol", 1), ("s", -1)))
_PA: Final = Unit(Decimal(1000), (("g", 1), ("m", -1), ("s", -2)))
_N: Final = Unit(Decimal(1000), (("g", 1), ("m", 1), ("s", -2)))
_J: Final = Unit(Decimal(1000), (("g", 1), ("m", 2), ("s", -2)))


@dataclass(frozen=True, slots=True)
class _Atom:
    unit: Unit  # the definition FHIRPath uses
    prefixable: bool = False  # takes metric prefixes (mg, kPa, m[IU])
    indexed: bool = False  # search: canonicalised to ``unit``
    index_base: str | None = None  # search: kept as this base unit instead (implies indexed)


# Calendar month: a pseudo base unit for the FHIRPath keywords year/month, which are not UCUM a/mo.
_CALENDAR_MONTH: Final = "{month}"

_ATOMS: Final[dict[str, _Atom]] = {
    "1": _Atom(_ONE),  # search reads the code 1 as a number only: 1-1 has no canonical form there
    "m": _Atom(_u(1, "m"), True, indexed=True),
    "g": _Atom(_u(1, "g"), True, indexed=True),
    "s": _Atom(_u(1, "s"), True, indexed=True),
    "rad": _Atom(_u(1, "rad"), True),
    "K": _Atom(_u(1, "K"), True, indexed=True),
    "C": _Atom(_u(1, "C"), True),
    "cd": _Atom(_u(1, "cd"), True),
    "mol": _Atom(_u(1, "mol"), True, indexed=True),
    "eq": _Atom(_u(1, "mol"), True, indexed=True),
    "osm": _Atom(_u(1, "mol"), True),
    "kat": _Atom(_MOL_PER_S, True),
    "U": _Atom(Unit(Decimal("0.000001") / 60, _MOL_PER_S.dims), True, index_base="U"),
    "L": _Atom(_u("0.001", "m", 3), True, indexed=True),
    "l": _Atom(_u("0.001", "m", 3), True, indexed=True),
    "t": _Atom(_u(1_000_000, "g"), True),
    "min": _Atom(_u(60, "s"), indexed=True),
    "h": _Atom(_u(3600, "s"), indexed=True),
    "d": _Atom(_u(86400, "s"), indexed=True),
    "wk": _Atom(_u(604800, "s"), indexed=True),
    "a": _Atom(_u(31557600, "s"), indexed=True),  # Julian year
    "a_j": _Atom(_u(31557600, "s")),
    "a_g": _Atom(_u(31556952, "s")),
    "mo": _Atom(_u(2629800, "s"), indexed=True),  # mean Julian month
    "mo_j": _Atom(_u(2629800, "s")),
    "mo_g": _Atom(_u(2629746, "s")),
    "Hz": _Atom(_u(1, "s", -1), True),
    "N": _Atom(_N, True),
    "Pa": _Atom(_PA, True),
    "bar": _Atom(_u(100000) * _PA, True),
    "atm": _Atom(_u(101325) * _PA),
    "m[Hg]": _Atom(_u("133322") * _PA, True, index_base="m[Hg]"),
    "m[H2O]": _Atom(_u("9806.65") * _PA, True, index_base="m[H2O]"),
    "[psi]": _Atom(_u("6894.757293168361") * _PA),
    "J": _Atom(_J, True),
    "W": _Atom(_J / _u(1, "s"), True),
    "cal": _Atom(_u("4.184") * _J, True),
    "[Cal]": _Atom(_u("4184") * _J),
    "deg": _Atom(_u("0.017453292519943295", "rad")),
    "Ao": _Atom(_u("1e-10", "m")),
    "[in_i]": _Atom(_u("0.0254", "m"), indexed=True),
    "[ft_i]": _Atom(_u("0.3048", "m"), indexed=True),
    "[yd_i]": _Atom(_u("0.9144", "m")),
    "[mi_i]": _Atom(_u("1609.344", "m")),
    "[lb_av]": _Atom(_u("453.59237", "g"), indexed=True),
    "[oz_av]": _Atom(_u("28.349523125", "g"), indexed=True),
    "[gr]": _Atom(_u("0.06479891", "g")),
    "[stone_av]": _Atom(_u("6350.29318", "g")),
    "%": _Atom(_u("0.01"), indexed=True),
    "[ppth]": _Atom(_u("0.001")),
    "[ppm]": _Atom(_u("0.000001"), indexed=True),
    "[ppb]": _Atom(_u("0.000000001")),
    "[pi]": _Atom(_u("3.141592653589793")),
    # Not proportional scales: FHIRPath compares them only with themselves; search converts a whole
    # unit Cel or [degF] to kelvin with an offset (_AFFINE).
    "Cel": _Atom(_u(1, "K", special="Cel")),
    "[degF]": _Atom(_u(1, "K", special="[degF]")),
    "[iU]": _Atom(_u(1, special="[iU]"), True, index_base="[IU]"),
    "[IU]": _Atom(_u(1, special="[iU]"), True, index_base="[IU]"),
    "[arb'U]": _Atom(_u(1, special="[arb'U]")),
    "[drp]": _Atom(_u("0.05", "m", 3) * _u("0.000001")),
    # FHIRPath calendar durations (singular keywords): month and year are calendar months.
    "year": _Atom(_u(12, _CALENDAR_MONTH)),
    "month": _Atom(_u(1, _CALENDAR_MONTH)),
    "week": _Atom(_u(604800, "s")),
    "day": _Atom(_u(86400, "s")),
    "hour": _Atom(_u(3600, "s")),
    "minute": _Atom(_u(60, "s")),
    "second": _Atom(_u(1, "s")),
    "millisecond": _Atom(_u("0.001", "s")),
}

# prefix -> power of ten; the search index never knew a (atto), z, y.
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
_NOT_INDEXED_PREFIXES: Final = frozenset({"a", "z", "y"})

# Search: scales with an offset, converted only when they are the whole unit -> (factor, offset) to K.
_AFFINE: Final = {
    "Cel": (Decimal(1), Decimal("273.15")),
    "[degF]": (Decimal(5) / Decimal(9), Decimal("273.15") - Decimal(32) * Decimal(5) / Decimal(9)),
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


@dataclass(frozen=True, slots=True)
class _Reading:
    """One way of reading the table: which atoms and prefixes exist, and the grammar's edge cases.

    ``index`` is the search index's reading, kept exactly as the stored rows were computed: an empty
    term is 1 (``mg//dL``, ``/min``, a code that was only an annotation), the value is built left to
    right starting from 1, exponents and ``10*n`` take only plain integers (no blanks, ``_`` or line
    ends), and prefix factors are ``Decimal("1E+3")`` where FHIRPath has ``Decimal(1000)`` (equal
    values, different ``str()``).
    """

    atoms: dict[str, tuple[Unit, bool]]
    prefixes: dict[str, Decimal]
    index: bool


_FHIRPATH: Final = _Reading(
    {sym: (a.unit, a.prefixable) for sym, a in _ATOMS.items()},
    {p: Decimal(10) ** e for p, e in _PREFIXES.items()},
    index=False,
)
_INDEX: Final = _Reading(
    {
        sym: (_u(1, a.index_base) if a.index_base else Unit(a.unit.factor, a.unit.dims), a.prefixable)
        for sym, a in _ATOMS.items()
        if a.indexed or a.index_base
    },
    {p: Decimal(1).scaleb(e) for p, e in _PREFIXES.items() if p not in _NOT_INDEXED_PREFIXES},
    index=True,
)

_TOKEN_RE: Final = re.compile(r"\{[^}]*\}|\(|\)|\.|/|[^./(){}]+")
_ATOM_EXP_RE: Final = re.compile(r"(.*?)([+-]?\d+)?$")
_ANNOTATION_RE: Final = re.compile(r"\{[^}]*\}")
_INT_RE: Final = re.compile(r"[+-]?\d+")


def _atom(sym: str, reading: _Reading) -> Unit | None:
    hit = reading.atoms.get(sym)
    if hit is not None:
        return hit[0]
    for plen in (2, 1):
        p = sym[:plen]
        if p in reading.prefixes and len(sym) > plen:
            base = reading.atoms.get(sym[plen:])
            if base is not None and base[1]:
                return Unit(base[0].factor * reading.prefixes[p], base[0].dims, base[0].special)
    return None


def _simple(sym: str, reading: _Reading) -> Unit | None:
    """A unit symbol with an optional exponent (``cm2``, ``s-1``), a power of ten (``10*3``) or a number."""
    if sym.startswith(("10*", "10^")):
        if reading.index and not _INT_RE.fullmatch(sym[3:]):
            return None
        try:
            return _u(Decimal(10) ** int(sym[3:]))
        except ValueError:
            return None
    if sym.isdecimal():
        return _u(int(sym))
    unit = _atom(sym, reading)
    if unit is not None:
        return unit
    m = _ATOM_EXP_RE.fullmatch(sym) if reading.index else _ATOM_EXP_RE.match(sym)
    if m is None or m.group(2) is None or not m.group(1):
        return None
    unit = _atom(m.group(1), reading)
    return None if unit is None else unit ** int(m.group(2))


class _Parser:
    """``term := ["/"] component (("." | "/") component)*``, ``component := "(" term ")" | symbol``,
    each optionally followed by an ``{annotation}``; an annotation alone is 1."""

    def __init__(self, text: str, reading: _Reading) -> None:
        self.toks: list[str] = _TOKEN_RE.findall(text)
        self.i = 0
        self.reading = reading

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def term(self) -> Unit | None:
        left: Unit | None
        if self.reading.index:
            first = self.component()  # the search index built every value up from 1
            left = None if first is None else _ONE * first
        elif self.peek() == "/":
            self.i += 1
            c = self.component()
            return None if c is None else _ONE / c
        else:
            left = self.component()
        while left is not None and self.peek() in (".", "/"):
            op = self.toks[self.i]
            self.i += 1
            right = self.component()
            if right is None:
                return None
            left = left * right if op == "." else left / right
        return left

    def component(self) -> Unit | None:
        tok = self.peek()
        if self.reading.index and tok in (None, ".", "/"):
            return _ONE  # an empty term
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
            result = _simple(tok, self.reading)
        # an annotation may follow a unit: mL{total}
        nxt = self.peek()
        if nxt is not None and nxt.startswith("{"):
            self.i += 1
        return result


def _parse(code: str, reading: _Reading) -> Unit | None:
    p = _Parser(code, reading)
    result = p.term()
    if result is None or p.i != len(p.toks):
        return None
    return result


@lru_cache(maxsize=1024)
def parse_unit(code: str) -> Unit | None:
    """FHIRPath: the definition of a UCUM code or calendar keyword; ``None`` when the table cannot read it."""
    if code in CALENDAR_KEYWORDS:
        return _ATOMS[CALENDAR_KEYWORDS[code]].unit
    if not code:
        return _ONE
    return _parse(code, _FHIRPATH)


def conversion_factor(from_unit: str, to_unit: str) -> Decimal | None:
    """FHIRPath: multiply a value in ``from_unit`` by this to express it in ``to_unit``; ``None`` if impossible."""
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
    """FHIRPath: whether quantities in these units can be compared."""
    return conversion_factor(u1, u2) is not None


def _code(dims: Dims) -> str:
    return ".".join(k if v == 1 else f"{k}{v}" for k, v in dims) or "1"


@lru_cache(maxsize=1024)
def canonical(unit: str) -> tuple[Decimal, Decimal, str] | None:
    """Search: (factor, offset, canonical code), canonical value = value * factor + offset; None if unknown.

    ``canonical("mg/dL")`` is ``(Decimal("1E+1"), Decimal(0), "g.m-3")``: 1 mg/dL is 10 g/m³.
    """
    affine = _AFFINE.get(unit)
    if affine is not None:
        return affine[0], affine[1], "K"
    if not unit:
        return None
    unit = _ANNOTATION_RE.sub("", unit)  # {score}, {1.73_m2}: annotations count as 1
    if any(c in unit for c in "() {}"):
        return None
    parsed = _parse(unit, _INDEX)
    if parsed is None:
        return None
    return parsed.factor, Decimal(0), _code(parsed.dims)
