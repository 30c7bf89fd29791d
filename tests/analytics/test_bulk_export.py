"""Bulk Data $export: its parameters, and the export from one snapshot (senhealth.analytics.bulk_export).

Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html. The HTTP side (202, polling, manifest, files,
cancel, the platform's roles) is in tests/api/test_api_bulk.py; here: what the parameters mean, what the
files hold under a restriction, and that ``transactionTime`` never lets an incremental export miss a
write that was still running.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from senhealth.analytics import bulk_export
from senhealth.analytics.bulk_export import ExportCancelled, ExportResult, export_to_directory, group_members
from senhealth.analytics.bulk_export_request import ExportRequest, parse_export
from senhealth.core.db import create_pool
from senhealth.core.migrate import migrate
from senhealth.fhir.access import Restriction
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store import FhirStore
from senhealth.fhir.store.load import write_items


@pytest.fixture
def store_url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def run(url: str, fn: Any) -> Any:
    async def main() -> Any:
        pool = create_pool(url, min_size=1, max_size=4)
        await pool.open(wait=True)
        try:
            return await fn(FhirStore(pool))
        finally:
            await pool.close()

    return asyncio.run(main())


def read(directory: Path, result: ExportResult) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in result.files:
        rows = [orjson.loads(line) for line in (directory / f["name"]).read_bytes().splitlines()]
        assert len(rows) == f["count"]
        out.setdefault(f["type"], []).extend(rows)
    return out


def people() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"resourceType": "Organization", "id": "org", "name": "Trạm Y tế xã"}]
    for pid in ("p1", "p2"):
        out.append(
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"family": "Phạm", "given": ["Văn", pid]}],
                "identifier": [
                    {"system": "https://senhealth.vn/fhir/sid/cccd", "value": f"00108000{pid[-1]}"}
                ],
                "birthDate": "1970-05-06",
            }
        )
        for n, code in enumerate(("8480-6", "8462-4", "4548-4")):
            out.append(
                {
                    "resourceType": "Observation",
                    "id": f"{pid}-{n}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "subject": {"reference": f"Patient/{pid}"},
                    "note": [{"text": "bệnh nhân Phạm Văn ..."}],
                    "valueQuantity": {"value": 120 + n, "unit": "mm[Hg]"},
                }
            )
    return out


# --- parameters -------------------------------------------------------------------------------------------


def test_type_filters_split_between_queries_not_inside_them() -> None:
    request = parse_export(
        "system",
        None,
        {
            "_type": ["Observation,Condition", "Patient"],
            "_typeFilter": [
                "Observation?code=8480-6,8462-4&status=final,Observation%3Fsubject%3DPatient%2Fp1"
            ],
        },
        method="GET",
        is_lenient=False,
    )
    assert request.types == ["Observation", "Condition", "Patient"]
    assert request.type_filters == {"Observation": ["code=8480-6,8462-4&status=final", "subject=Patient/p1"]}


@pytest.mark.parametrize(
    ("level", "params", "method", "expression", "words"),
    [
        (
            "system",
            {"_type": ["Observation"], "_typeFilter": ["Condition?code=I10"]},
            "GET",
            "_typeFilter",
            "leaves out",
        ),
        ("patient", {"_type": ["Organization"]}, "GET", "_type", "outside the Patient compartment"),
        ("system", {"patient": [{"reference": "Patient/p1"}]}, "POST", "patient", "Patient- and Group-level"),
        ("patient", {"patient": [{"reference": "Patient/p1"}]}, "GET", "patient", "POST"),
        ("patient", {"patient": [{"reference": "Observation/x"}]}, "POST", "patient", "Reference to Patient"),
        ("system", {"_since": ["2024-01-01T00:00:00"]}, "GET", "_since", "time zone"),
        (
            "system",
            {"includeAssociatedData": ["LatestProvenanceResources"]},
            "GET",
            "includeAssociatedData",
            "not supported",
        ),
        (
            "system",
            {"_typeFilter": ["Observation?_include=Observation:subject"]},
            "GET",
            "_typeFilter",
            "_include",
        ),
        ("system", {"_elements": ["name.given"]}, "GET", "_elements", "top-level"),
    ],
)
def test_bad_parameters(
    level: Any, params: dict[str, list[Any]], method: str, expression: str, words: str
) -> None:
    with pytest.raises(OperationError) as e:
        parse_export(level, None, params, method=method, is_lenient=False)
    assert e.value.status == 400
    assert e.value.expression == expression
    assert words in e.value.message


def test_lenient_handling_ignores_and_reports() -> None:
    request = parse_export(
        "patient",
        None,
        {"_type": ["Patient,Organization"], "includeAssociatedData": ["x"], "what": ["1"]},
        method="GET",
        is_lenient=True,
    )
    assert request.types == ["Patient"]
    assert len(request.ignored) == 3


def test_group_members_skip_inactive_and_other_types() -> None:
    group = {
        "resourceType": "Group",
        "member": [
            {"entity": {"reference": "Patient/a"}},
            {"entity": {"reference": "Patient/b"}, "inactive": True},
            {"entity": {"reference": "Practitioner/c"}},
            {"entity": {"reference": "Patient/a"}},
        ],
    }
    assert group_members(group) == ["a"]


# --- the export -------------------------------------------------------------------------------------------


def test_restriction_elements_and_deidentification(store_url: str, tmp_path: Path) -> None:
    async def go(store: FhirStore) -> dict[str, dict[str, list[dict[str, Any]]]]:
        await store.load(people())
        out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        cases = {
            "own": (ExportRequest(level="system"), Restriction(patients=frozenset({"p1"}))),
            "none": (ExportRequest(level="patient"), Restriction()),
            "deid": (
                ExportRequest(level="system", types=["Patient", "Observation"]),
                Restriction(patients=frozenset({"p2"}), deidentified=True),
            ),
            "elements": (
                ExportRequest(
                    level="system",
                    types=["Observation"],
                    elements=["Observation.valueQuantity", "Patient.gender"],
                ),
                None,
            ),
            "filtered": (
                ExportRequest(
                    level="patient",
                    patients=["p2"],
                    type_filters={"Observation": ["code=8480-6", "code=4548-4"]},
                ),
                None,
            ),
        }
        for name, (request, restriction) in cases.items():
            directory = tmp_path / name
            directory.mkdir()
            result = await export_to_directory(store, request, directory, restriction=restriction)
            out[name] = read(directory, result)
        return out

    got = run(store_url, go)
    assert {t: sorted(r["id"] for r in rows) for t, rows in got["own"].items()} == {
        "Organization": ["org"],
        "Patient": ["p1"],
        "Observation": ["p1-0", "p1-1", "p1-2"],
    }
    assert got["none"] == {}
    deid = got["deid"]
    assert [p["id"] for p in deid["Patient"]] == ["p2"]
    for row in [*deid["Patient"], *deid["Observation"]]:
        assert "identifier" not in row and "name" not in row and "note" not in row
        assert any(s["code"] == "REDACTED" for s in row["meta"]["security"])
    assert deid["Patient"][0]["birthDate"] == "1970"
    for row in got["elements"]["Observation"]:
        assert set(row) == {"resourceType", "id", "meta", "status", "code", "valueQuantity"}
    assert sorted(r["id"] for r in got["filtered"]["Observation"]) == ["p2-0", "p2-2"]
    assert [r["id"] for r in got["filtered"]["Patient"]] == ["p2"]


def test_transaction_time_waits_for_a_running_write(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that stamped its resource before the export's snapshot but commits after it is not in
    the files; transactionTime is early enough that an export ``_since`` it finds it. (Without the
    margin, which would hide the case here, the write transaction's start is what moves it back.)"""
    monkeypatch.setattr(bulk_export, "TIME_MARGIN", timedelta(0))
    late = {"resourceType": "Patient", "id": "late", "gender": "female"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    async def go(store: FhirStore) -> tuple[datetime, datetime, dict[str, Any], dict[str, Any]]:
        await store.load(people())
        async with store.pool.connection() as writer, writer.transaction():
            written = await write_items(store, writer, [(late, "late", "PUT")])  # stamped now, announced
            stamped = written[0].stored.last_updated
            await asyncio.sleep(0.2)
            first = await export_to_directory(store, ExportRequest(level="system"), tmp_path / "a")
        since = ExportRequest(level="system", since=first.transaction_time.isoformat())
        second = await export_to_directory(store, since, tmp_path / "b")
        return stamped, first.transaction_time, read(tmp_path / "a", first), read(tmp_path / "b", second)

    stamped, transaction_time, first, second = run(store_url, go)
    assert transaction_time < stamped
    assert "late" not in {r["id"] for r in first["Patient"]}
    assert [r["id"] for r in second["Patient"]] == ["late"]


def test_cancelled_export_leaves_no_partial_file(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_export, "_STOP_S", 0.0)

    async def stop() -> bool:
        return True

    async def go(store: FhirStore) -> None:
        await store.load(people())
        with pytest.raises(ExportCancelled):
            await export_to_directory(store, ExportRequest(level="system"), tmp_path, stop=stop)

    run(store_url, go)
    assert not list(tmp_path.glob("*.part"))


def test_group_export_of_a_group_deleted_since_kick_off(store_url: str, tmp_path: Path) -> None:
    async def go(store: FhirStore) -> None:
        with pytest.raises(OperationError) as e:
            await export_to_directory(store, ExportRequest(level="group", group="gone"), tmp_path)
        assert e.value.status == 404

    run(store_url, go)
    with psycopg.connect(store_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM fhir_resource").fetchone() == (0,)
