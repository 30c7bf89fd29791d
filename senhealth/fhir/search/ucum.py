"""UCUM canonical forms for the units clinical data actually uses, so quantities compare across units.

Spec: https://hl7.org/fhir/R4/search.html#quantity ("the server SHOULD canonicalise UCUM units") and
https://ucum.org/ucum (the Unified Code for Units of Measure).

``canonical("mg/dL")`` is ``(Decimal("10"), Decimal(0), "g.m-3")``: 1 mg/dL is 10 g/m³. A unit is parsed
as UCUM terms joined by ``.`` (multiply) and ``/`` (divide the next term), each an atom with an optional
metric prefix and integer exponent (``m2``, ``s-1``), a power of ten (``10*3``) or an annotation
(``{score}``, which counts as 1). Atoms reduce to a few base units: ``g``, ``m``, ``s``, ``mol``, ``K``,
plus ``U`` (enzyme units), ``[IU]`` and ``m[Hg]`` (pressure kept in mercury, as clinicians write it),
which have no base-unit conversion worth doing here. Litres become cubic metres, minutes seconds, pounds
grams. The canonical code lists the base units alphabetically with exponents (``g.m-3``, ``s-1``; ``1``
for dimensionless). Celsius and Fahrenheit are affine and only convert when they are the whole unit.
Anything else (parentheses, unknown atoms) has no canonical form: the quantity is still indexed with its
own system/code, just not comparable across units.

Written by hand: the Python UCUM packages either need the full UCUM XML essence at run time or are
unmaintained; this table covers the units of laboratory results and vital signs, and is easy to extend.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

__all__ = ["UCUM_SYSTEM", "canonical"]

UCUM_SYSTEM = "http://unitsofmeasure.org"

_D = Decimal

# atom -> (factor to base, {base unit: exponent}, prefixable)
_ATOMS: dict[str, tuple[Decimal, dict[str, int], bool]] = {
    "g": (_D(1), {"g": 1}, True),
    "m": (_D(1), {"m": 1}, True),
    "s": (_D(1), {"s": 1}, True),
    "L": (_D("0.001"), {"m": 3}, True),
    "l": (_D("0.001"), {"m": 3}, True),
    "mol": (_D(1), {"mol": 1}, True),
    "eq": (_D(1), {"mol": 1}, True),
    "K": (_D(1), {"K": 1}, True),
    "U": (_D(1), {"U": 1}, True),
    "[IU]": (_D(1), {"[IU]": 1}, True),
    "[iU]": (_D(1), {"[IU]": 1}, True),
    "m[Hg]": (_D(1), {"m[Hg]": 1}, True),
    "m[H2O]": (_D(1), {"m[H2O]": 1}, True),
    "min": (_D(60), {"s": 1}, False),
    "h": (_D(3600), {"s": 1}, False),
    "d": (_D(86400), {"s": 1}, False),
    "wk": (_D(604800), {"s": 1}, False),
    "mo": (_D(2629800), {"s": 1}, False),  # mean Julian month
    "a": (_D(31557600), {"s": 1}, False),  # Julian year
    "%": (_D("0.01"), {}, False),
    "[ppm]": (_D("0.000001"), {}, False),
    "[lb_av]": (_D("453.59237"), {"g": 1}, False),
    "[oz_av]": (_D("28.349523125"), {"g": 1}, False),
    "[in_i]": (_D("0.0254"), {"m": 1}, False),
    "[ft_i]": (_D("0.3048"), {"m": 1}, False),
    "1": (_D(1), {}, False),
}

_PREFIXES: dict[str, Decimal] = {
    "Y": _D("1e24"),
    "Z": _D("1e21"),
    "E": _D("1e18"),
    "P": _D("1e15"),
    "T": _D("1e12"),
    "G": _D("1e9"),
    "M": _D("1e6"),
    "k": _D("1e3"),
    "h": _D("1e2"),
    "da": _D("1e1"),
    "d": _D("0.1"),
    "c": _D("0.01"),
    "m": _D("0.001"),
    "u": _D("0.000001"),
    "n": _D("1e-9"),
    "p": _D("1e-12"),
    "f": _D("1e-15"),
}

_TERM = re.compile(r"(?P<atom>\[[^\]]+\]|[A-Za-z%\[\]]+?(?:\[[^\]]+\])?)(?P<exp>[+-]?\d+)?")
_ANNOTATION = re.compile(r"\{[^}]*\}")


def _atom(text: str) -> tuple[Decimal, dict[str, int]] | None:
    hit = _ATOMS.get(text)
    if hit is not None:
        return hit[0], hit[1]
    for plen in (2, 1):
        prefix, rest = text[:plen], text[plen:]
        if prefix in _PREFIXES and rest:
            hit = _ATOMS.get(rest)
            if hit is not None and hit[2]:
                return _PREFIXES[prefix] * hit[0], hit[1]
    return None


def _term(text: str) -> tuple[Decimal, dict[str, int]] | None:
    if text in ("", "1"):
        return _D(1), {}
    if text.startswith("10*") or text.startswith("10^"):
        exp = text[3:]
        return (_D(10) ** int(exp), {}) if re.fullmatch(r"[+-]?\d+", exp) else None
    if text.isdigit():
        return _D(text), {}
    m = _TERM.fullmatch(text)
    if m is None:
        return None
    found = _atom(m.group("atom"))
    if found is None:
        return None
    power = int(m.group("exp") or 1)
    factor, dims = found
    return factor**power, {k: v * power for k, v in dims.items()}


def _code(dims: dict[str, int]) -> str:
    parts = [k if v == 1 else f"{k}{v}" for k, v in sorted(dims.items()) if v]
    return ".".join(parts) or "1"


@lru_cache(maxsize=1024)
def canonical(unit: str) -> tuple[Decimal, Decimal, str] | None:
    """(factor, offset, canonical code) so that canonical value = value * factor + offset; None if unknown."""
    if unit == "Cel":
        return _D(1), _D("273.15"), "K"
    if unit == "[degF]":
        return _D(5) / _D(9), _D("273.15") - _D(32) * _D(5) / _D(9), "K"
    if not unit:
        return None
    unit = _ANNOTATION.sub("", unit)  # {score}, {1.73_m2}: annotations count as 1
    if "(" in unit or " " in unit or "{" in unit or "}" in unit:
        return None
    factor = _D(1)
    dims: dict[str, int] = {}
    # '/' divides by the term right after it and '.' multiplies, left to right: g/m.s is (g/m).s.
    for i, chunk in enumerate(unit.split("/")):
        for j, piece in enumerate(chunk.split(".")):
            parsed = _term(piece)
            if parsed is None:
                return None
            f, d = parsed
            sign = -1 if i > 0 and j == 0 else 1
            factor = factor * f if sign > 0 else factor / f
            for k, v in d.items():
                dims[k] = dims.get(k, 0) + sign * v
    return factor, _D(0), _code(dims)
