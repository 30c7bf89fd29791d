"""Queries on the archive's index: the matching of QIDO-RS and C-FIND, and the attributes they return.

Spec: QIDO-RS PS3.18 §10.6 https://dicom.nema.org/medical/dicom/current/output/chtml/part18/sect_10.6.html
(query keys by keyword or tag, ``includefield``, ``fuzzymatching``, ``limit``, ``offset``; the attributes
returned per level, Tables 10.6.3-3 to -5); the matching rules of PS3.4 C.2.2.2
https://dicom.nema.org/medical/dicom/current/output/chtml/part04/sect_C.2.2.2.html: single value, list of
UIDs (comma or backslash separated), wildcards ``*`` and ``?`` (not on dates, times or UIDs), ranges on
DA/TM/DT (``a-b``, ``a-``, ``-b``), universal matching (an empty value: return the attribute).

Person names match case-insensitively (allowed for PN by C.2.2.2.1); with ``fuzzymatching=true`` a name
matches when any of its words starts with the value. Attributes the index has columns for are matched in
SQL on those; any other attribute of the query's level is matched on its first value in the level's
stored DICOM JSON. Sequence matching is not supported (the key is ignored, with a warning).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from senhealth.imaging.storage.dataset import BULK_PREFIX, SERIES_TAGS, STUDY_TAGS

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Level",
    "Match",
    "Query",
    "QueryError",
    "attribute_tag",
    "run_query",
]

Level = Literal["study", "series", "instance"]
DEFAULT_LIMIT: Final = 1000
MAX_LIMIT: Final = 10000
_HEX: Final = re.compile(r"^[0-9A-Fa-f]{8}$")

# tag → (table alias, column, VR) of the index
_COLUMNS: Final[dict[str, tuple[str, str, str]]] = {
    "0020000D": ("st", "study_uid", "UI"),
    "00100020": ("st", "patient_id", "LO"),
    "00100021": ("st", "issuer", "LO"),
    "00100010": ("st", "patient_name", "PN"),
    "00100030": ("st", "patient_birth_date", "DA"),
    "00100040": ("st", "patient_sex", "CS"),
    "00080020": ("st", "study_date", "DA"),
    "00080030": ("st", "study_time", "TM"),
    "00080050": ("st", "accession_number", "SH"),
    "00200010": ("st", "study_id", "SH"),
    "00081030": ("st", "study_description", "LO"),
    "00080090": ("st", "referring_physician", "PN"),
    "0020000E": ("se", "series_uid", "UI"),
    "00080060": ("se", "modality", "CS"),
    "00200011": ("se", "series_number", "IS"),
    "0008103E": ("se", "series_description", "LO"),
    "00180015": ("se", "body_part", "CS"),
    "00080021": ("se", "series_date", "DA"),
    "00400244": ("se", "performed_date", "DA"),
    "00080018": ("i", "sop_instance_uid", "UI"),
    "00080016": ("i", "sop_class_uid", "UI"),
    "00200013": ("i", "instance_number", "IS"),
    "00280010": ("i", "rows", "US"),
    "00280011": ("i", "columns", "US"),
    "00280008": ("i", "frames", "IS"),
}
_MODALITIES_IN_STUDY: Final = "00080061"
_COMPUTED: Final = frozenset({"00080061", "00201206", "00201208", "00201209", "00081190", "00080056"})

_STUDY_RETURN: Final = (
    "00080005", "00080020", "00080030", "00080050", "00080056", "00080061", "00080090", "00080201",
    "00081190", "00100010", "00100020", "00100030", "00100040", "0020000D", "00200010", "00201206",
    "00201208",
)  # fmt: skip
_SERIES_RETURN: Final = (
    "00080005", "00080060", "00080201", "0008103E", "00081190", "0020000E", "00200011", "00201209",
    "00400244", "00400245", "00400275",
)  # fmt: skip
_INSTANCE_RETURN: Final = (
    "00080005", "00080016", "00080018", "00080056", "00080201", "00081190", "00200013", "00280010",
    "00280011", "00280100", "00280008",
)  # fmt: skip
_RANK: Final = {"study": 0, "series": 1, "instance": 2}


class QueryError(ValueError):
    """A query the archive cannot run (HTTP 400, C-FIND ``A900``)."""


def attribute_tag(name: str) -> str:
    """A keyword (``PatientID``) or tag (``00100020``) as the 8 upper-case hex digits of the tag."""
    if _HEX.match(name):
        return name.upper()
    tag = tag_for_keyword(name)
    if tag is None:
        raise QueryError(f"unknown attribute: {name[:80]!r}")
    return f"{tag:08X}"


def _vr(tag: str) -> str:
    if tag in _COLUMNS:
        return _COLUMNS[tag][2]
    try:
        return str(dictionary_VR(int(tag, 16)))
    except KeyError:
        return "UN"


def _level_of(tag: str) -> Level:
    if tag in _COLUMNS:
        return {"st": "study", "se": "series", "i": "instance"}[_COLUMNS[tag][0]]  # type: ignore[return-value]
    if tag.startswith("0010") or tag in STUDY_TAGS or tag in ("00201206", "00201208", _MODALITIES_IN_STUDY):
        return "study"
    if tag in SERIES_TAGS or tag == "00201209":
        return "series"
    return "instance"


@dataclass(frozen=True, slots=True)
class Match:
    tag: str
    value: str


@dataclass(slots=True)
class Query:
    """A query at ``level``, within ``study_uid`` / ``series_uid`` when given (the URL's)."""

    level: Level
    matches: list[Match] = field(default_factory=list)
    include: set[str] = field(default_factory=set)  # extra tags to return
    include_all: bool = False
    fuzzy: bool = False
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    study_uid: str | None = None
    series_uid: str | None = None
    only: list[str] | None = None  # return exactly these tags (C-FIND)
    warnings: list[str] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        """A query key (``name=value``), checking it."""
        tag = attribute_tag(name)
        if _vr(tag) == "SQ":
            self.warnings.append(f"sequence matching is not supported: {name} ignored")
            return
        if _RANK[_level_of(tag)] > _RANK[self.level]:
            self.warnings.append(f"{name} is below the {self.level} level: ignored")
            return
        self.include.add(tag)
        if value != "":
            self.matches.append(Match(tag, value))


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _condition(expr: str, vr: str, value: str, fuzzy: bool, params: list[Any]) -> str:
    if vr == "UI":
        uids = [u.strip() for u in re.split(r"[,\\]", value) if u.strip()]
        params.append(uids)
        return f"{expr} = ANY(%s)"
    if vr in ("DA", "TM", "DT"):
        value = value.replace(":", "") if vr == "TM" else value
        if "-" in value:
            low, _, high = value.partition("-")
            parts = [f"{expr} <> ''"]
            if low:
                params.append(low)
                parts.append(f"{expr} >= %s")
            if high:
                params.append(len(high))
                params.append(high)
                parts.append(f"left({expr}, %s) <= %s")
            return "(" + " AND ".join(parts) + ")"
        params.append(value)
        return f"{expr} = %s" if vr != "TM" else f"left({expr}, {len(value)}) = %s"
    if vr == "IS" or vr in ("US", "UL", "SS", "SL"):
        try:
            params.append(int(value))
        except ValueError:
            raise QueryError(f"not an integer: {value[:40]!r}") from None
        return f"{expr} = %s"
    if vr == "PN":
        if fuzzy:
            params.append("% " + _like(value) + "%")
            return f"(' ' || translate({expr}, '^=', '  ')) ILIKE %s"
        params.append(_like(value))
        return f"{expr} ILIKE %s"
    if "*" in value or "?" in value:
        params.append(_like(value))
        return f"{expr} LIKE %s"
    params.append(value)
    return f"{expr} = %s"


def _json_expr(alias: str, tag: str) -> str:
    assert _HEX.match(tag)  # a checked tag: safe to write into the statement
    return f"coalesce({alias}.attrs -> '{tag}' -> 'Value' -> 0 ->> 'Alphabetic', {alias}.attrs -> '{tag}' -> 'Value' ->> 0, '')"


def _where(query: Query, params: list[Any]) -> list[str]:
    where: list[str] = []
    if query.study_uid is not None:
        params.append(query.study_uid)
        where.append("st.study_uid = %s")
    if query.series_uid is not None:
        params.append(query.series_uid)
        where.append("se.series_uid = %s")
    for m in query.matches:
        vr = _vr(m.tag)
        if m.tag == _MODALITIES_IN_STUDY:
            mods = [v.strip() for v in re.split(r"[,\\]", m.value) if v.strip()]
            params.append(mods)
            where.append(
                "EXISTS (SELECT 1 FROM imaging_series x WHERE x.study_uid = st.study_uid AND x.modality = ANY(%s))"
            )
            continue
        if m.tag in _COMPUTED:
            continue
        if m.tag in _COLUMNS:
            alias, column, _ = _COLUMNS[m.tag]
            expr = f"{alias}.{column}"
            where.append(_condition(expr, vr, m.value, query.fuzzy, params))
        else:
            alias = {"study": "st", "series": "se", "instance": "i"}[_level_of(m.tag)]
            where.append(_condition(_json_expr(alias, m.tag), vr, m.value, query.fuzzy, params))
    return where


def _sql(query: Query, params: list[Any]) -> str:
    where = _where(query, params)
    if query.level == "study":
        select = (
            "SELECT st.study_uid, NULL, NULL, st.patient_ref, st.attrs, NULL::jsonb, NULL::jsonb, "
            "(SELECT count(*) FROM imaging_series x WHERE x.study_uid = st.study_uid), "
            "(SELECT count(*) FROM imaging_instance y WHERE y.study_uid = st.study_uid), "
            "(SELECT array_agg(DISTINCT x.modality ORDER BY x.modality) FROM imaging_series x "
            "WHERE x.study_uid = st.study_uid AND x.modality <> '') "
            "FROM imaging_study st"
        )
        if query.series_uid is not None or any(_COLUMNS.get(m.tag, ("",))[0] == "se" for m in query.matches):
            raise QueryError("series attributes cannot be matched at the study level")
        order = "st.study_date DESC, st.study_time DESC, st.study_uid"
    elif query.level == "series":
        select = (
            "SELECT st.study_uid, se.series_uid, NULL, st.patient_ref, st.attrs, se.attrs, NULL::jsonb, "
            "(SELECT count(*) FROM imaging_instance y WHERE y.series_uid = se.series_uid), NULL, NULL "
            "FROM imaging_series se JOIN imaging_study st ON st.study_uid = se.study_uid"
        )
        order = "st.study_uid, se.series_number NULLS LAST, se.series_uid"
    else:
        select = (
            "SELECT st.study_uid, se.series_uid, i.sop_instance_uid, st.patient_ref, st.attrs, se.attrs, i.attrs, "
            "NULL, NULL, NULL FROM imaging_instance i "
            "JOIN imaging_series se ON se.series_uid = i.series_uid JOIN imaging_study st ON st.study_uid = i.study_uid"
        )
        order = "st.study_uid, se.series_number NULLS LAST, se.series_uid, i.instance_number NULLS LAST, i.sop_instance_uid"
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"{select}{clause} ORDER BY {order} LIMIT %s OFFSET %s"


def _value(vr: str, values: list[Any]) -> dict[str, Any]:
    return {"vr": vr, "Value": values} if values else {"vr": vr}


def _result(query: Query, row: tuple[Any, ...], base_url: str) -> dict[str, Any]:
    study_uid, series_uid, sop_uid, _pkey, st_attrs, se_attrs, i_attrs, n1, n2, mods = row
    merged: dict[str, Any] = {}
    for attrs in (st_attrs, se_attrs, i_attrs):
        if attrs:
            merged.update(attrs)
    url = f"{base_url}/studies/{study_uid}"
    if query.level == "study":
        merged["00201206"] = _value("IS", [n1])
        merged["00201208"] = _value("IS", [n2])
        merged["00080061"] = _value("CS", list(mods or []))
    elif query.level == "series":
        merged["00201209"] = _value("IS", [n1])
        url += f"/series/{series_uid}"
    else:
        url += f"/series/{series_uid}/instances/{sop_uid}"
    merged["00080056"] = _value("CS", ["ONLINE"])
    merged["00081190"] = _value("UR", [url])
    if query.only is not None:
        wanted: Iterable[str] = query.only
    elif query.include_all:
        wanted = merged.keys()
    else:
        defaults: list[str] = list(_INSTANCE_RETURN if query.level == "instance" else ())
        if query.level in ("series", "instance"):
            defaults += _SERIES_RETURN
        if query.level == "study" or query.study_uid is None:
            defaults += _STUDY_RETURN
        defaults += [t for t in ("0020000D", "0020000E", "00080018")[: _RANK[query.level] + 1]]
        wanted = [*defaults, *sorted(query.include)]
    out: dict[str, Any] = {}
    for tag in wanted:
        if tag in out:
            continue
        element = merged.get(tag)
        if element is None:
            if query.only is not None or tag in query.include:
                out[tag] = {"vr": _vr(tag)}  # asked for: present, empty
            continue
        uri = element.get("BulkDataURI")
        if isinstance(uri, str) and uri.startswith(BULK_PREFIX):
            continue
        out[tag] = element
    return dict(sorted(out.items()))


Visible = Callable[[list[str]], Awaitable[set[str]]]


async def run_query(
    conn: AsyncConnection[TupleRow], query: Query, base_url: str, *, visible: Visible | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The matches of ``query`` as DICOM JSON datasets, and the patients (FHIR ids) they concern.

    ``visible`` (a caller with a restriction): given the patient ids of a batch of rows, those the caller
    may see; rows of other patients are skipped before ``offset`` and ``limit`` apply."""
    results: list[dict[str, Any]] = []
    patients: list[str] = []
    if visible is None:
        params: list[Any] = []
        stmt = _sql(query, params)
        cur = await conn.execute(stmt, [*params, query.limit, query.offset])
        for row in await cur.fetchall():
            results.append(_result(query, row, base_url))
            patients.append(row[3])
        return results, patients
    skipped, position, batch = 0, 0, 500
    while len(results) < query.limit:
        params = []
        stmt = _sql(query, params)
        cur = await conn.execute(stmt, [*params, batch, position])
        rows = await cur.fetchall()
        if not rows:
            break
        position += len(rows)
        seen = await visible(sorted({r[3] for r in rows if r[3]}))
        for row in rows:
            if row[3] and row[3] not in seen:
                continue
            if skipped < query.offset:
                skipped += 1
                continue
            results.append(_result(query, row, base_url))
            patients.append(row[3])
            if len(results) >= query.limit:
                break
    return results, patients


def keyword(tag: str) -> str:
    """The keyword of a tag (for messages)."""
    return keyword_for_tag(int(tag, 16)) or tag
