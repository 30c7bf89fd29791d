"""The function table: name -> implementation, arity and how arguments are passed.

Spec: http://hl7.org/fhirpath/N1/ section 5 "Functions" (each function takes the input collection and
zero or more arguments; some arguments are expressions evaluated per item).

Argument modes:

- ``value``: each argument is evaluated once, against ``$this`` of the enclosing scope, and passed as a
  collection: ``impl(ctx, focus, *collections)``;
- ``lazy``: arguments are passed as compiled closures, for functions that iterate (``where``,
  ``select``, ``all``...) or must not evaluate every argument (``iif``): ``impl(ctx, focus, *closures)``;
- ``type``: the single argument is a type specifier, resolved when compiling:
  ``impl(ctx, focus, TypeSpec)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class FunctionDef:
    name: str
    impl: Callable[..., list[Any]]
    min_args: int
    max_args: int | None
    mode: str  # "value" | "lazy" | "type"


FUNCTIONS: dict[str, FunctionDef] = {}


def function(
    name: str, min_args: int = 0, max_args: int | None = -1, mode: str = "value"
) -> Callable[[F], F]:
    """Register ``impl`` as FHIRPath function ``name`` (``max_args=-1``: same as ``min_args``)."""

    def register(impl: F) -> F:
        FUNCTIONS[name] = FunctionDef(name, impl, min_args, min_args if max_args == -1 else max_args, mode)
        return impl

    return register
