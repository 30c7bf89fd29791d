"""What every outbreak detector shares: its result rows, its parameters as the R package names them, its registry.

The detectors are pure functions over a series of counts (one per week or day, oldest first). Each monitored
time point gives one :class:`Detection`: the observed count, the expected count under the in-control model
(when the method has one), the upper bound (the threshold the count is compared with; ``None`` where the R
package ``surveillance`` leaves it undefined) and the alarm.

Parameters keep the R package's names and spellings (https://cran.r-project.org/package=surveillance, the
``control`` lists of ``earsC``, ``cusum``, ``farrington``, ``farringtonFlexible``, ``glrnb``, ``bayes``), so a
user reading R's documentation can pass the same values: :class:`Params` reads them from ``NAME=VALUE`` text
(``senhealth surveillance detect --param``), typed, and refuses a name the method does not know.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Detection", "MethodSpec", "Params", "monitored_range"]


@dataclass(frozen=True, slots=True)
class Detection:
    """One monitored time point."""

    index: int
    """0-based position in the input series."""
    observed: float
    expected: float | None
    """The in-control expectation; ``None`` where the method has none or R leaves it undefined."""
    upperbound: float | None
    """The threshold; ``None`` where R leaves it undefined (NA)."""
    alarm: bool


_TRUE = {"true", "t", "1", "yes"}
_FALSE = {"false", "f", "0", "no"}


@dataclass(slots=True)
class Params:
    """``NAME=VALUE`` parameters of one method, read with the type each one has; unknown names are refused.

    Values are text as typed on a command line: numbers, ``TRUE``/``FALSE`` (R's spelling; ``true``/``1`` too),
    vectors as ``c(5,4)`` or ``5,4``, ``NULL`` for R's NULL (the default applies).
    """

    method: str
    values: Mapping[str, str]
    used: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, method: str, items: Iterable[str]) -> Params:
        values: dict[str, str] = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"parameter {item!r}: write NAME=VALUE (for example alpha=0.05)")
            values[name.strip()] = value.strip()
        return cls(method, values)

    def _raw(self, name: str) -> str | None:
        self.used.add(name)
        raw = self.values.get(name)
        if raw is None or raw.upper() in ("NULL", ""):
            return None
        return raw.strip("\"'")

    def number(self, name: str, default: float) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{self.method}: {name}={raw!r} is not a number") from None
        if math.isnan(value):
            raise ValueError(f"{self.method}: {name} must be a number, not NaN")
        return value

    def optional_number(self, name: str) -> float | None:
        return None if self._raw(name) is None else self.number(name, 0.0)

    def integer(self, name: str, default: int) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{self.method}: {name}={raw!r} is not a whole number") from None
        if not value.is_integer():
            raise ValueError(f"{self.method}: {name}={raw!r} is not a whole number")
        return int(value)

    def optional_integer(self, name: str) -> int | None:
        return None if self._raw(name) is None else self.integer(name, 0)

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f"{self.method}: {name}={raw!r}: write TRUE or FALSE")

    def choice(self, name: str, options: Sequence[str], default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw not in options:
            raise ValueError(f"{self.method}: {name}={raw!r}: choose one of {', '.join(options)}")
        return raw

    def numbers(self, name: str, default: Sequence[float]) -> tuple[float, ...]:
        raw = self._raw(name)
        if raw is None:
            return tuple(default)
        text = raw[2:-1] if raw.startswith("c(") and raw.endswith(")") else raw
        try:
            return tuple(float(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise ValueError(f"{self.method}: {name}={raw!r}: write numbers as c(5,4) or 5,4") from None

    def check_all_used(self) -> None:
        """Raise ValueError naming any parameter the method did not read (a misspelling, most likely)."""
        unknown = sorted(set(self.values) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise ValueError(
                f"{self.method}: unknown parameter(s) {', '.join(unknown)}; this method reads: {known}"
            )


Runner = Callable[[Sequence[float], Params, int | None, int], list[Detection]]
"""``run(counts, params, range_start, freq)``: ``range_start`` the 1-based index of the first monitored point
(``None``: the method's default, as R chooses it), ``freq`` points per year (52 weekly, 365 daily)."""


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """A detector as the command line and the scheduled runs name it."""

    name: str
    run: Runner
    summary: str
    parameters: Mapping[str, str]
    """R name → what it means and its default, for ``--help`` and docs."""


def monitored_range(n: int, range_start: int | None, default_start: int) -> range:
    """0-based indices monitored: from ``range_start`` (1-based; default ``default_start``, 1-based) to the end.

    Raises ValueError when the start is outside the series or leaves too little history.
    """
    start = default_start if range_start is None else range_start
    if start < 1 or start > n:
        raise ValueError(f"range_start={start} is outside the series (1..{n})")
    return range(start - 1, n)
