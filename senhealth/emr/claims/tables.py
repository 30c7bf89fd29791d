"""The claim tables XML0–XML15 as Sen Health validates and writes them: fields, types, sizes, rules.

Spec: the field tables of Decisions 130/QĐ-BYT (2023), 4750/QĐ-BYT (2023) and 3176/QĐ-BYT (2024),
packaged in ``data/claim-tables-qd3176.json.gz`` (the consolidated text now in force; see
``data/SOURCE.md``), read with the rules of :mod:`senhealth.emr.claims.field_rules`.

:func:`table` gives a :class:`TableSpec` (``XML0`` … ``XML15``) with its :class:`FieldSpec` in the
table's order. A field carries its official type (``string`` / ``number``), maximum size (``None``:
unbounded, the tables' ``n``), the latest official explanation and what Sen Health checks: required,
date format, ``;``-separated list, closed code list, ICD-10, decimals, pattern.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

import orjson

from senhealth.emr.claims import field_rules as rules

__all__ = [
    "EDITION",
    "TABLE_NAMES",
    "FieldSpec",
    "TableSpec",
    "source_document",
    "table",
    "tables",
]

EDITION: Final = "qd3176"
"""The edition validated and written: Decision 3176/QĐ-BYT (consolidating 130 and 4750)."""

TABLE_NAMES: Final[tuple[str, ...]] = tuple(f"XML{n}" for n in range(16))

Kind = Literal["string", "number"]
_DECIMALS = re.compile(r"làm tròn (?:số )?đến (\d+)(?: \(\w+\))? chữ số thập phân")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a table, as published and as checked."""

    table: str
    stt: int
    name: str
    kind: Kind
    max_size: int | None  # None: "n", no limit
    explanation: str  # the latest official text (Decision 3176 where it rewrote it)
    texts: tuple[str, ...] = field(repr=False)  # every official text, oldest first
    former_names: tuple[str, ...] = ()
    required: bool = False
    date_format: str | None = None  # datetime | date | date-or-datetime | birth
    is_list: bool = False
    max_items: int | None = None
    codes: Mapping[str, str] | None = field(default=None, repr=False)
    icd10: bool = False
    decimals: int | None = None
    pattern: re.Pattern[str] | None = field(default=None, repr=False)
    pattern_vi: str = ""
    pattern_en: str = ""


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table: its name, titles, XML layout, fields (in order) and notes."""

    name: str
    title_vi: str
    title_en: str
    official_title: str
    layout: rules.Layout
    fields: tuple[FieldSpec, ...]
    notes: tuple[str, ...]
    one_of: tuple[frozenset[str], ...] = ()
    by_name: Mapping[str, FieldSpec] = field(default_factory=dict, repr=False)
    aliases: Mapping[str, str] = field(default_factory=dict, repr=False)  # former name -> name

    def field(self, name: str) -> FieldSpec | None:
        """The field called ``name`` (or by a former name), or None."""
        return self.by_name.get(self.aliases.get(name, name))


@cache
def source_document(edition: str = EDITION) -> dict[str, Any]:
    """The packaged tables of ``edition`` (``qd3176``, or ``qd4750`` for reference) as published."""
    raw = resources.files(__package__).joinpath("data", f"claim-tables-{edition}.json.gz").read_bytes()
    document: dict[str, Any] = orjson.loads(gzip.decompress(raw))
    return document


def _latest(texts: list[str]) -> str:
    filled = [t for t in texts if t]
    return filled[-1] if filled else ""


def _decimals(texts: list[str]) -> int | None:
    found: int | None = None
    for text in texts:
        for match in _DECIMALS.finditer(text):
            found = int(match.group(1))
    return found


def _field(table_name: str, raw: dict[str, Any]) -> FieldSpec:
    published = raw["name"]
    name = rules.RENAMES.get((table_name, published), published)
    kind: Kind = "number" if raw["type"] == "Số" else "string"
    size_text = raw["size"]
    max_size: int | None = int(size_text) if size_text.isdigit() else None
    corrected = rules.CORRECTIONS.get((table_name, name))
    if corrected is not None:
        kind = "number" if corrected[0] == "number" else "string"
        max_size = corrected[1]
    texts: list[str] = raw["texts"]
    pattern = rules.PATTERNS.get(name)
    return FieldSpec(
        table=table_name,
        stt=raw["stt"],
        name=name,
        kind=kind,
        max_size=max_size,
        explanation=_latest(texts),
        texts=tuple(texts),
        former_names=(published,) if published != name else (),
        required=name in rules.REQUIRED.get(table_name, frozenset()),
        date_format=rules.DATE_FIELDS.get((table_name, name)),
        is_list=name in rules.LIST_FIELDS,
        max_items=rules.MAX_ITEMS.get((table_name, name)),
        codes=rules.CODES.get((table_name, name)),
        icd10=(table_name, name) in rules.ICD10_FIELDS,
        decimals=_decimals(texts) if kind == "number" else None,
        pattern=re.compile(pattern[0]) if pattern else None,
        pattern_vi=pattern[1] if pattern else "",
        pattern_en=pattern[2] if pattern else "",
    )


@cache
def tables() -> Mapping[str, TableSpec]:
    """Every table, ``XML0`` … ``XML15``."""
    document = source_document(EDITION)
    out: dict[str, TableSpec] = {}
    for name in TABLE_NAMES:
        raw = document["tables"][name]
        fields = tuple(_field(name, f) for f in raw["fields"])
        title_vi, title_en = rules.TITLES[name]
        out[name] = TableSpec(
            name=name,
            title_vi=title_vi,
            title_en=title_en,
            official_title=raw["title"],
            layout=rules.LAYOUTS[name],
            fields=fields,
            notes=tuple(raw["notes"]),
            one_of=rules.ONE_OF.get(name, ()),
            by_name={f.name: f for f in fields},
            aliases={old: f.name for f in fields for old in f.former_names},
        )
    return out


def table(name: str) -> TableSpec:
    """The table ``name`` (``XML0`` … ``XML15``, case-insensitive); ``KeyError`` for another name."""
    return tables()[name.strip().upper()]
