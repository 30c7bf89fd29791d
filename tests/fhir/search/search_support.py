"""Helpers shared by the search-extraction tests (a uniquely named module, importable from them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from senhealth.fhir.search.extract import extract
from senhealth.fhir.search.params import IndexValue

SYNTHEA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "synthea"

Corpus = list[tuple[dict[str, Any], Callable[[str], str | None]]]


def load_corpus() -> Corpus:
    """Every resource of the Synthea bundles, with a resolver typing the bundle's urn:uuid references."""
    out: Corpus = []
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        types = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"] if "fullUrl" in e}
        for entry in bundle["entry"]:
            out.append((entry["resource"], types.get))
    return out


def values(resource: dict[str, Any], code: str, **kwargs: Any) -> list[IndexValue]:
    """The index values of one parameter of a resource."""
    return extract(resource, **kwargs).values(code)
