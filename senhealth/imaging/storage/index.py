"""The archive's index in PostgreSQL (migration ``0022_imaging.sql``): writing an instance's rows, and
reading a study back (to build its ImagingStudy, to find its files).

Spec: the DICOM information model, patient → study → series → instance, PS3.3 Annex A.1.2
https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_A.1.2.html.

Every statement runs on the caller's connection, inside its transaction. Queries with matching keys
(QIDO-RS, C-FIND) are :mod:`senhealth.imaging.storage.query`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from senhealth.imaging.storage.dataset import InstanceInfo

__all__ = [
    "InstanceRow",
    "SeriesTree",
    "StudyTree",
    "instance_rows",
    "link_study",
    "study_tree",
    "upsert_instance",
]

_STUDY_COLS = (
    "patient_id",
    "issuer",
    "patient_name",
    "patient_birth_date",
    "patient_sex",
    "study_date",
    "study_time",
    "accession_number",
    "study_id",
    "study_description",
    "referring_physician",
)
_SERIES_COLS = (
    "modality",
    "series_number",
    "series_description",
    "body_part",
    "series_date",
    "performed_date",
)
_INSTANCE_COLS = ("instance_number", "rows", "columns", "frames", "bits_allocated")

_UPSERT_STUDY = (
    f"INSERT INTO imaging_study (study_uid, imaging_study_id, {', '.join(_STUDY_COLS)}, attrs) "
    f"VALUES (%s, %s, {', '.join(['%s'] * len(_STUDY_COLS))}, %s) "
    "ON CONFLICT (study_uid) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _STUDY_COLS)
    + ", attrs = imaging_study.attrs || EXCLUDED.attrs, updated_at = now() "
    "RETURNING (xmax = 0), patient_ref, imaging_study_id"
)
_UPSERT_SERIES = (
    f"INSERT INTO imaging_series (series_uid, study_uid, {', '.join(_SERIES_COLS)}, attrs) "
    f"VALUES (%s, %s, {', '.join(['%s'] * len(_SERIES_COLS))}, %s) "
    "ON CONFLICT (series_uid) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _SERIES_COLS)
    + ", attrs = imaging_series.attrs || EXCLUDED.attrs, updated_at = now()"
)
_UPSERT_INSTANCE = (
    "INSERT INTO imaging_instance (sop_instance_uid, series_uid, study_uid, sop_class_uid, "
    f"{', '.join(_INSTANCE_COLS)}, transfer_syntax, storage_key, size, sha256, attrs) "
    f"VALUES (%s, %s, %s, %s, {', '.join(['%s'] * len(_INSTANCE_COLS))}, %s, %s, %s, %s, %s) "
    "ON CONFLICT (sop_instance_uid) DO UPDATE SET series_uid = EXCLUDED.series_uid, "
    "study_uid = EXCLUDED.study_uid, sop_class_uid = EXCLUDED.sop_class_uid, "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _INSTANCE_COLS)
    + ", transfer_syntax = EXCLUDED.transfer_syntax, storage_key = EXCLUDED.storage_key, "
    "size = EXCLUDED.size, sha256 = EXCLUDED.sha256, attrs = EXCLUDED.attrs, stored_at = now() "
    "RETURNING (xmax = 0)"
)


async def upsert_instance(
    conn: AsyncConnection[TupleRow], info: InstanceInfo, key: str, imaging_study_id: str
) -> tuple[bool, bool, str]:
    """Write the rows of one instance; returns (study created, instance created, the study's patient_ref).

    A study or series seen again takes the newest instance's attributes (merged into ``attrs``)."""
    cur = await conn.execute(
        _UPSERT_STUDY,
        (
            info.study_uid,
            imaging_study_id,
            *(info.study[c] for c in _STUDY_COLS),
            Jsonb(info.study_attrs),
        ),
    )
    study_row = await cur.fetchone()
    assert study_row is not None
    await conn.execute(
        _UPSERT_SERIES,
        (info.series_uid, info.study_uid, *(info.series[c] for c in _SERIES_COLS), Jsonb(info.series_attrs)),
    )
    cur = await conn.execute(
        _UPSERT_INSTANCE,
        (
            info.sop_uid,
            info.series_uid,
            info.study_uid,
            info.sop_class_uid,
            *(info.instance[c] for c in _INSTANCE_COLS),
            info.transfer_syntax,
            key,
            info.size,
            info.sha256,
            Jsonb(info.instance_attrs),
        ),
    )
    inst_row = await cur.fetchone()
    assert inst_row is not None
    return bool(study_row[0]), bool(inst_row[0]), str(study_row[1])


async def link_study(conn: AsyncConnection[TupleRow], study_uid: str, patient_ref: str) -> None:
    """Record the FHIR Patient the study belongs to."""
    await conn.execute(
        "UPDATE imaging_study SET patient_ref = %s WHERE study_uid = %s", (patient_ref, study_uid)
    )


@dataclass(slots=True)
class SeriesTree:
    uid: str
    modality: str
    number: int | None
    description: str
    body_part: str
    date: str
    instances: list[tuple[str, str, int | None]] = field(default_factory=list)  # (uid, sop class, number)


@dataclass(slots=True)
class StudyTree:
    """A study with its series and instances, as the index has them."""

    uid: str
    imaging_study_id: str
    patient_ref: str
    columns: dict[str, str]
    series: list[SeriesTree] = field(default_factory=list)

    @property
    def instance_count(self) -> int:
        return sum(len(s.instances) for s in self.series)


async def study_tree(conn: AsyncConnection[TupleRow], study_uid: str) -> StudyTree | None:
    """The indexed study ``study_uid``, or None."""
    cur = await conn.execute(
        f"SELECT imaging_study_id, patient_ref, {', '.join(_STUDY_COLS)} FROM imaging_study WHERE study_uid = %s",
        (study_uid,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    tree = StudyTree(study_uid, row[0], row[1], dict(zip(_STUDY_COLS, row[2:])))
    cur = await conn.execute(
        "SELECT s.series_uid, s.modality, s.series_number, s.series_description, s.body_part, s.series_date, "
        "i.sop_instance_uid, i.sop_class_uid, i.instance_number FROM imaging_series s "
        "JOIN imaging_instance i ON i.series_uid = s.series_uid WHERE s.study_uid = %s "
        "ORDER BY s.series_number NULLS LAST, s.series_uid, i.instance_number NULLS LAST, i.sop_instance_uid",
        (study_uid,),
    )
    by_uid: dict[str, SeriesTree] = {}
    for s_uid, modality, number, desc, body, date, i_uid, sop_class, i_number in await cur.fetchall():
        series = by_uid.get(s_uid)
        if series is None:
            series = by_uid[s_uid] = SeriesTree(s_uid, modality, number, desc, body, date)
            tree.series.append(series)
        series.instances.append((i_uid, sop_class, i_number))
    return tree


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """Where an instance's file is, and what the retrieval needs to know about it."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    storage_key: str
    patient_ref: str
    frames: int | None
    attrs: dict[str, Any] | None = None


async def instance_rows(
    conn: AsyncConnection[TupleRow],
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    *,
    with_attrs: bool = False,
) -> list[InstanceRow]:
    """The instances of a study, of one of its series, or one instance (in series and instance order)."""
    where = ["i.study_uid = %s"]
    params: list[Any] = [study_uid]
    if series_uid is not None:
        where.append("i.series_uid = %s")
        params.append(series_uid)
    if sop_uid is not None:
        where.append("i.sop_instance_uid = %s")
        params.append(sop_uid)
    attrs = "i.attrs" if with_attrs else "NULL"
    cur = await conn.execute(
        "SELECT i.study_uid, i.series_uid, i.sop_instance_uid, i.sop_class_uid, i.transfer_syntax, "
        f"i.storage_key, st.patient_ref, i.frames, {attrs} FROM imaging_instance i "
        "JOIN imaging_study st ON st.study_uid = i.study_uid "
        "JOIN imaging_series se ON se.series_uid = i.series_uid "
        f"WHERE {' AND '.join(where)} "
        "ORDER BY se.series_number NULLS LAST, i.series_uid, i.instance_number NULLS LAST, i.sop_instance_uid",
        params,
    )
    return [InstanceRow(*row) for row in await cur.fetchall()]
