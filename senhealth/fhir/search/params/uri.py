"""URI index values: the URI as given (``:below`` / ``:above`` compare prefixes on the search side).

Spec: https://hl7.org/fhir/R4/search.html#uri

A canonical with a version (``http://x.org/fhir/ValueSet/vs|1.0``) is stored as given; URIs are case
sensitive and are not normalised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from senhealth.fhir.search.context import ExtractContext
from senhealth.fhir.search.params.base import Sink

__all__ = ["SINKS", "UriValue"]


@dataclass(frozen=True, slots=True)
class UriValue:
    value: str


def uri(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if isinstance(value, str) and value:
        out.append(UriValue(value))


SINKS: dict[str, Sink] = {t: uri for t in ("uri", "url", "canonical", "oid", "uuid", "string", "code", "id")}
