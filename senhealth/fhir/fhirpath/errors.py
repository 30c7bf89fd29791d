"""Errors raised by the FHIRPath engine.

Spec: http://hl7.org/fhirpath/N1/ (section 3 "Path selection" and the error rules spread through
sections 5 and 6): a syntax error is found when an expression is compiled; a semantic error (a name
that cannot exist on a known type, a type name the model does not know) is found at compile time when
the input type is known, otherwise at evaluation; an execution error (a single item was expected but
many were found, an operator applied to operands of the wrong type) is found at evaluation.
"""

from __future__ import annotations


class FHIRPathError(Exception):
    """Base class of every error the engine raises.

    ``position`` is the 0-based character offset in the expression where the fault was found, when
    known; ``expression`` is the expression text.
    """

    kind = "error"

    def __init__(self, message: str, position: int | None = None, expression: str | None = None) -> None:
        self.message = message
        self.position = position
        self.expression = expression
        super().__init__(self._render())

    def _render(self) -> str:
        if self.position is None:
            return self.message
        if self.expression is not None:
            line, col = line_col(self.expression, self.position)
            return f"{self.message} (at line {line}, column {col})"
        return f"{self.message} (at offset {self.position})"

    def with_expression(self, expression: str) -> FHIRPathError:
        """Attach the expression text (for a readable position) and return self."""
        if self.expression is None:
            self.expression = expression
            self.args = (self._render(),)
        return self


class FHIRPathSyntaxError(FHIRPathError):
    """The expression does not parse."""

    kind = "syntax"


class FHIRPathSemanticError(FHIRPathError):
    """The expression parses but cannot be meaningful (unknown type, name absent from a known type)."""

    kind = "semantic"


class FHIRPathEvaluationError(FHIRPathError):
    """Evaluation failed: wrong cardinality, operand types that do not fit, bad argument."""

    kind = "execution"


def line_col(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a 0-based offset."""
    before = text[:position]
    line = before.count("\n") + 1
    col = position - (before.rfind("\n") + 1) + 1
    return line, col
