"""The conditions that may be treated remotely (Circular 30/2023/TT-BYT) and the check of a diagnosis
against them.

Spec: Law on Medical Examination and Treatment 15/2023/QH15 Art. 80 (remote treatment follows the
Minister's list of conditions), Circular 30/2023/TT-BYT (the list: 50 conditions, each with ICD-10
codes), ``vietnam.md`` §5.

The list is data, ``data/circular-30-2023.json``, with its sources. Each entry names its specialty, the
Vietnamese and English names, ICD-10 codes or ranges (``E66`` covers ``E66`` and ``E66.x``; ``J31.1``
only itself and its children; ``E10-E14`` every category from E10 to E14 and their sub-codes), whether it
was read in the Circular's table (``verified``) and a note when not. What is unconfirmed is said there:
only rows 1-8 were read in the appendix; the other packaged rows come from press summaries of the
Circular and the project reference, with codes chosen from their names, and about 11 rows are missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

__all__ = [
    "RemoteCondition",
    "RemoteConditionList",
    "condition_list",
    "match_condition",
    "normalise_code",
]

DATA_FILE: Final = "circular-30-2023.json"


def normalise_code(code: str) -> str:
    """An ICD-10 code as ``A97.0``: upper case, the dot after the third character, no dagger/asterisk."""
    text = code.strip().upper().rstrip("†*+").replace(" ", "")
    bare = text.replace(".", "")
    return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"


@dataclass(frozen=True, slots=True)
class RemoteCondition:
    """One row of the list."""

    stt: int | None
    specialty: str
    name_vi: str
    name_en: str
    icd10: tuple[str, ...]
    verified: bool
    source: str
    note: str = ""

    def covers(self, code: str) -> bool:
        """Whether ICD-10 ``code`` falls under one of this row's codes or ranges."""
        wanted = normalise_code(code)
        category = wanted[:3]
        for item in self.icd10:
            if "-" in item:
                low, high = (normalise_code(x)[:3] for x in item.split("-", 1))
                if low <= category <= high:
                    return True
            else:
                listed = normalise_code(item)
                if wanted == listed or wanted.startswith(listed if "." in listed else listed + "."):
                    return True
        return False

    def as_json(self) -> dict[str, Any]:
        return {
            "stt": self.stt,
            "specialty": self.specialty,
            "name_vi": self.name_vi,
            "name_en": self.name_en,
            "icd10": list(self.icd10),
            "verified": self.verified,
            "source": self.source,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class RemoteConditionList:
    """The packaged list with its provenance."""

    document: str
    declared_count: int
    sources: dict[str, str]
    notes: str
    conditions: tuple[RemoteCondition, ...]


@cache
def condition_list() -> RemoteConditionList:
    """The list as packaged (read once)."""
    raw = json.loads(resources.files(__package__).joinpath("data", DATA_FILE).read_text("utf-8"))
    rows = tuple(
        RemoteCondition(
            stt=r.get("stt"),
            specialty=str(r["specialty"]),
            name_vi=str(r["name_vi"]),
            name_en=str(r["name_en"]),
            icd10=tuple(str(c) for c in r["icd10"]),
            verified=bool(r["verified"]),
            source=str(r.get("source", "")),
            note=str(r.get("note", "")),
        )
        for r in raw["conditions"]
    )
    return RemoteConditionList(
        document=str(raw["document"]),
        declared_count=int(raw["declared_count"]),
        sources={str(k): str(v) for k, v in raw["sources"].items()},
        notes=str(raw["notes"]),
        conditions=rows,
    )


def match_condition(code: str) -> RemoteCondition | None:
    """The row of the list that covers ICD-10 ``code``, or None when the code is outside the list."""
    if not code or not code.strip():
        return None
    for row in condition_list().conditions:
        if row.covers(code):
            return row
    return None
