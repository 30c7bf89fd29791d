"""JSON output shared by the CLI and the API: orjson with FHIR decimals kept exact.

FHIR decimals are carried as :class:`decimal.Decimal` so ``1.50`` stays ``1.50``
(https://hl7.org/fhir/R4/json.html#primitive); they are written back as raw JSON numbers.
Other non-JSON values (FHIRPath dates, times, quantities) are written as their ``str()``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

__all__ = ["dumps"]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    return str(value)


def dumps(value: Any, pretty: bool = True) -> str:
    """Serialise to a JSON string (indented by two spaces unless ``pretty`` is false)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_INDENT_2 if pretty else 0).decode()
