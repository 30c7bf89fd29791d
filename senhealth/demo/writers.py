"""Writing a generated province to a directory: transaction-bundle files or Bulk Data NDJSON files.

- ``bundle``: ``facilities.json`` (the care network's transaction Bundle, load it first) and one
  ``citizen-NNNNNN.json`` transaction Bundle per citizen (https://hl7.org/fhir/R4/bundle.html);
- ``ndjson``: one ``<ResourceType>.ndjson`` file per type, one resource per line, ``Type/id``
  references, as a FHIR Bulk Data export writes them (https://hl7.org/fhir/uv/bulkdata/export.html,
  https://github.com/ndjson/ndjson-spec).

JSON is written compactly by orjson with keys in a fixed order, so the same options give the same bytes.
Files are written citizen by citizen; memory stays flat.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from senhealth.demo.context import Context, Options
from senhealth.demo.facility_resources import network_resources
from senhealth.demo.fhir_types import Refs
from senhealth.demo.generator import citizen, network_bundle, transaction

__all__ = ["FORMATS", "Summary", "clear_output", "write_bundles", "write_ndjson", "write_province"]

FORMATS = ("bundle", "ndjson")
NETWORK_FILE = "facilities.json"

Progress = Callable[[int], None]


@dataclass
class Summary:
    """What was written."""

    citizens: int = 0
    files: int = 0
    resources: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.resources.values())

    def count(self, resources: list[dict[str, object]]) -> None:
        for resource in resources:
            self.resources[str(resource["resourceType"])] += 1


def citizen_file(index: int, citizens: int) -> str:
    """``citizen-000042.json``: zero-padded to at least six digits so that names sort in order."""
    return f"citizen-{index:0{max(6, len(str(citizens)))}d}.json"


def clear_output(out: Path) -> None:
    """Remove what an earlier run wrote into ``out`` (and nothing else)."""
    if not out.exists():
        return
    for pattern in ("citizen-*.json", NETWORK_FILE, "*.ndjson"):
        for path in sorted(out.glob(pattern)):
            path.unlink()


def write_bundles(out: Path, options: Options, progress: Progress | None = None) -> Summary:
    """The network bundle and one transaction bundle per citizen, as files in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(options)
    summary = Summary()
    network = network_bundle(ctx)
    (out / NETWORK_FILE).write_bytes(orjson.dumps(network) + b"\n")
    summary.count([e["resource"] for e in network["entry"]])
    summary.files += 1
    refs = Refs("bundle")
    for index in range(1, options.citizens + 1):
        resources = citizen(ctx, index, refs)[1]
        (out / citizen_file(index, options.citizens)).write_bytes(
            orjson.dumps(transaction(resources)) + b"\n"
        )
        summary.count(resources)
        summary.files += 1
        summary.citizens += 1
        if progress:
            progress(1)
    return summary


def write_ndjson(out: Path, options: Options, progress: Progress | None = None) -> Summary:
    """One ``<ResourceType>.ndjson`` file per resource type in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(options)
    refs = Refs("ndjson")
    summary = Summary()
    with ExitStack() as stack:
        files: dict[str, IO[bytes]] = {}

        def emit(resources: list[dict[str, object]]) -> None:
            for resource in resources:
                kind = str(resource["resourceType"])
                handle = files.get(kind)
                if handle is None:
                    handle = stack.enter_context((out / f"{kind}.ndjson").open("wb"))
                    files[kind] = handle
                handle.write(orjson.dumps(resource) + b"\n")
            summary.count(resources)

        emit(list(network_resources(ctx.network, refs)))
        for index in range(1, options.citizens + 1):
            emit(citizen(ctx, index, refs)[1])
            summary.citizens += 1
            if progress:
                progress(1)
        summary.files = len(files)
    return summary


def write_province(
    out: Path, options: Options, fmt: str = "bundle", progress: Progress | None = None
) -> Summary:
    """Write the province in ``fmt`` (``bundle`` or ``ndjson``) into ``out``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    writer = write_bundles if fmt == "bundle" else write_ndjson
    return writer(out, options, progress)
