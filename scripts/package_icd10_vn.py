"""Derive the packaged Vietnamese ICD-10 list from the Ministry of Health's spreadsheet (as CSV).

Source: the annex of Decision 4469/QĐ-BYT (2020) of the Ministry of Health of Viet Nam, "Bảng phân loại
quốc tế mã hóa bệnh tật, nguyên nhân tử vong ICD-10", as published in the public repository
``tvtrung206/Mo-ta-he-thong`` and kept in the project's read-only ``../shared/data/icd10-vn/`` folder.
A legal text of Viet Nam: public (Law on Intellectual Property, Art. 15: legal documents are not protected works).

The product never reads the shared folder: this script writes a compact, normalised, gzipped JSON file
into ``senhealth/fhir/terminology/data/`` which ``senhealth.fhir.terminology.icd10_vn`` loads.

Normalisation (the source quirks are kept, never "fixed", except where said):

- a code's dagger or asterisk mark (``A17†``, ``G01*``) is split off into a ``mark`` field;
- the 82 codes listed twice (a heading without the mark, then the same code with it) become one entry,
  with the names of the first row and the mark of the second;
- the exact duplicate row of ``J13`` is dropped;
- a category written with its mark (``J17*``) is stored without it, like the codes;
- chapters and blocks (group, sub-group 1, sub-group 2) are stored once and referenced by code;
- names are kept as the source spells them, wrong English names included (``I10`` reads "Other rheumatic
  heart diseases"; the U00–U49 group reads "Emergency use of ...").

Run from the repository root::

    python scripts/package_icd10_vn.py --source ../shared/data/icd10-vn/icd10-qd4469-2020.csv

The output is byte-for-byte reproducible (sorted keys, gzip with a zero timestamp);
``tests/fhir/terminology/test_icd10_vn.py`` re-derives it when the shared folder is present and fails
if the packaged file is stale.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from senhealth.fhir.terminology.icd10_editions import derive_document, serialise

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "icd10-vn" / "icd10-qd4469-2020.csv"
DEFAULT_OUT = ROOT / "senhealth" / "fhir" / "terminology" / "data" / "icd10-vn-qd4469-2020.json.gz"

__all__ = ["derive", "serialise"]


def derive(source: Path) -> dict[str, Any]:
    """Read the source CSV and return the normalised document (see the module docstring); the
    normalisation itself is :func:`senhealth.fhir.terminology.icd10_editions.derive_document`, which
    ``load_icd10_edition`` uses for later editions too."""
    return derive_document(
        source,
        "QĐ 4469/QĐ-BYT (2020)",
        "Annex of Decision 4469/QĐ-BYT (28 Oct 2020), Ministry of Health of Viet Nam",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the Ministry's list as CSV")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the packaged file to write")
    args = parser.parse_args(argv)
    document = derive(args.source)
    data = serialise(document)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(
        f"{len(document['codes'])} codes, {len(document['chapters'])} chapters → {args.out} ({len(data):,} bytes)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
