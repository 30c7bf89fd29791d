"""Deterministic random streams, identifiers and samplers for the synthetic province.

Every random draw comes from a :class:`random.Random` seeded with a string that names what it is for
(``stream(seed, "citizen", 17)``), so the same ``--seed`` gives byte-identical output and a change in one
part of the model does not shift the draws of another. String seeds are hashed with SHA-512 by Python
(https://docs.python.org/3/library/random.html#random.seed), independent of ``PYTHONHASHSEED``.
Resource ids are UUIDs (RFC 9562, https://www.rfc-editor.org/rfc/rfc9562) built from the stream's bits,
never from ``uuid4()``.
"""

from __future__ import annotations

import bisect
import math
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Weighted", "new_id", "poisson", "stream", "truncated_gauss"]

T = TypeVar("T")


def stream(seed: int, *parts: object) -> random.Random:
    """A random stream for one purpose, e.g. ``stream(seed, "citizen", 17)``."""
    return random.Random("senhealth-demo/" + "/".join(str(p) for p in (seed, *parts)))


def new_id(rng: random.Random) -> str:
    """A version-4-shaped UUID drawn from ``rng`` (deterministic for the stream)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth's method below 30, a rounded normal above)."""
    if lam <= 0.0:
        return 0
    if lam > 30.0:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def truncated_gauss(rng: random.Random, mu: float, sigma: float, low: float, high: float) -> float:
    """A normal draw clamped to ``[low, high]``."""
    return min(high, max(low, rng.gauss(mu, sigma)))


@dataclass(frozen=True, slots=True)
class Weighted(Generic[T]):
    """Values with relative weights; :meth:`pick` draws one with a single uniform draw."""

    values: tuple[T, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, weights: Mapping[T, float] | Sequence[tuple[T, float]]) -> Weighted[T]:
        items = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
        values: list[T] = []
        cumulative: list[float] = []
        total = 0.0
        for value, weight in items:
            if weight > 0:
                total += weight
                values.append(value)
                cumulative.append(total)
        if not values:
            raise ValueError("Weighted needs at least one positive weight")
        return cls(tuple(values), tuple(cumulative))

    @property
    def total(self) -> float:
        return self.cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        index = bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        return self.values[min(index, len(self.values) - 1)]
