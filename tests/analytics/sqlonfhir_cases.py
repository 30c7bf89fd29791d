"""The SQL-on-FHIR v2 suite's cases, for the engine runners' tests (DuckDB, Spark).

Reads ``../shared/conformance/sql-on-fhir/*.json`` as ``test_sqlonfhir_suite.py`` does (same case ids,
``file-stem::title``) and compares rows the same way: as a multiset, numbers by value. Also writes each
suite file's resources as NDJSON / Parquet once per test session, and gives one shared SparkSession.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from senhealth.analytics.parquet_resources import write_resources_ndjson, write_resources_parquet

SUITE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "sql-on-fhir"
SYNTHEA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "synthea"
CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"
REFERENCE_FAILURES = CONFORMANCE / "sqlonfhir_known_failures.json"


@dataclass(frozen=True)
class Case:
    id: str  # "file-stem::title"
    file: str  # the suite file's stem
    test: dict[str, Any]
    resources: list[dict[str, Any]]

    @property
    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = self.test["view"]
        return view

    @property
    def expect_error(self) -> bool:
        return bool(self.test.get("expectError"))


@cache
def cases() -> tuple[Case, ...]:
    if not SUITE_DIR.exists():
        return ()
    out = []
    for path in sorted(p for p in SUITE_DIR.glob("*.json") if p.name != "tests.schema.json"):
        suite = json.loads(path.read_text(encoding="utf-8"))
        for test in suite["tests"]:
            out.append(Case(f"{path.stem}::{test['title']}", path.stem, test, suite["resources"]))
    return tuple(out)


def skip_without_suite() -> None:
    if not cases():
        pytest.skip(f"SQL-on-FHIR suite not found at {SUITE_DIR}", allow_module_level=True)


def listed(name: str) -> dict[str, str]:
    """A ``{case id: reason}`` list from ``tests/conformance/<name>``."""
    data: dict[str, str] = json.loads((CONFORMANCE / name).read_text(encoding="utf-8"))
    return data


def reference_failures() -> set[str]:
    """Cases the reference evaluator (``run_view``) itself fails: its rows are not compared there."""
    return set(listed(REFERENCE_FAILURES.name)) if REFERENCE_FAILURES.exists() else set()


def norm(value: Any) -> Any:
    """A value in a form where JSON numbers and Decimals compare by value, hashable."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return ("n", Decimal(str(value)).normalize())
    if isinstance(value, list):
        return ("l", tuple(norm(v) for v in value))
    if isinstance(value, dict):
        return ("d", tuple(sorted((k, norm(v)) for k, v in value.items())))
    return ("o", str(value))


def multiset(rows: list[dict[str, Any]]) -> list[Any]:
    return sorted((norm(r) for r in rows), key=repr)


def check_rows(case: Case, rows: list[dict[str, Any]]) -> None:
    """Assert ``rows`` are what the suite expects of ``case`` (a non-error case)."""
    test = case.test
    if "expectColumns" in test:
        for row in rows:
            assert list(row) == test["expectColumns"]
    if "expectCount" in test:
        assert len(rows) == test["expectCount"]
    if "expect" in test:
        assert multiset(rows) == multiset(test["expect"]), f"got {rows!r}"


def write_sources(root: Path) -> dict[str, dict[str, Path]]:
    """Each suite file's resources as ``root/<stem>.ndjson`` and ``root/<stem>.parquet``."""
    out: dict[str, dict[str, Path]] = {}
    for case in cases():
        if case.file in out:
            continue
        nd, pq = root / f"{case.file}.ndjson", root / f"{case.file}.parquet"
        write_resources_ndjson(case.resources, nd)
        write_resources_parquet(case.resources, pq)
        out[case.file] = {"ndjson": nd, "parquet": pq}
    return out


def java_missing() -> bool:
    return shutil.which("java") is None


def spark_session() -> Iterator[Any]:
    """The body of the session-scoped ``spark`` fixture: one local SparkSession for every Spark test.

    Tuned for many tiny queries: whole-stage code generation off (compiling Java for each of a hundred
    queries over a few rows costs more than running them; ``test_viewdef_demo_engines`` turns it back
    on) and the driver JVM on its quick C1 compiler (the session lives a minute, not hours).
    The session is not stopped afterwards: the next module asking for it gets the same one.
    """
    if java_missing():
        pytest.skip("Spark tests need a Java runtime (java not on PATH)")
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install senhealth[spark])")
    from senhealth.analytics.viewdef_spark import get_spark

    spark = get_spark(
        "local[2]",
        **{
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
            "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        },
    )
    spark.sparkContext.setLogLevel("OFF")
    yield spark


# -- realistic views over the Synthea sample (41 patients' records, 12,724 resources) ------------------

#: Views of the kind analysts write, beyond the suite: us-core extensions, identifiers by type,
#: components, references, nested forEach / forEachOrNull, unionAll of literals.
SYNTHEA_VIEWS: dict[str, dict[str, Any]] = {
    "patients": {
        "resource": "Patient",
        "select": [
            {
                "column": [
                    {"name": "id", "path": "getResourceKey()"},
                    {"name": "gender", "path": "gender"},
                    {"name": "birth", "path": "birthDate"},
                    {"name": "birth_low", "path": "birthDate.lowBoundary()", "type": "dateTime"},
                    {"name": "deceased", "path": "deceased.ofType(dateTime)"},
                    {"name": "family", "path": "name.where(use='official').family.first()"},
                    {"name": "given", "path": "name.where(use='official').given.join(' ')"},
                    {
                        "name": "race",
                        "path": "extension('http://hl7.org/fhir/us/core/StructureDefinition/us-core-race').extension('ombCategory').value.ofType(Coding).code.first()",
                    },
                    {"name": "ssn", "path": "identifier.where(type.coding.exists(code='SS')).value.first()"},
                    {"name": "marital", "path": "maritalStatus.coding.code", "collection": True},
                    {"name": "phones", "path": "telecom.where(system='phone').count()"},
                    {"name": "n_names", "path": "name.count()", "type": "integer"},
                ]
            },
            {
                "forEachOrNull": "address",
                "column": [
                    {"name": "city", "path": "city"},
                    {"name": "line", "path": "line.join(', ')"},
                    {
                        "name": "geo_lat",
                        "path": "extension('http://hl7.org/fhir/StructureDefinition/geolocation').extension('latitude').value.ofType(decimal)",
                    },
                ],
            },
        ],
    },
    "obs": {
        "resource": "Observation",
        "select": [
            {
                "column": [
                    {"name": "id", "path": "id"},
                    {"name": "patient", "path": "subject.getReferenceKey(Patient)"},
                    {"name": "enc", "path": "encounter.getReferenceKey()"},
                    {"name": "eff", "path": "effective.ofType(dateTime)"},
                    {"name": "issued", "path": "issued"},
                    {"name": "v", "path": "value.ofType(Quantity).value"},
                    {"name": "u", "path": "value.ofType(Quantity).unit"},
                    {"name": "cc", "path": "value.ofType(CodeableConcept).coding.code.first()"},
                    {"name": "high", "path": "value.ofType(Quantity).value > 100"},
                    {
                        "name": "cat",
                        "path": "category.coding.where(system = 'http://terminology.hl7.org/CodeSystem/observation-category').code.first()",
                    },
                ]
            },
            {
                "forEach": "code.coding",
                "column": [{"name": "code", "path": "code"}, {"name": "display", "path": "display"}],
            },
            {
                "forEachOrNull": "component",
                "column": [
                    {"name": "comp", "path": "code.coding.code.first()"},
                    {"name": "comp_v", "path": "value.ofType(Quantity).value", "type": "decimal"},
                    {"name": "i", "path": "%rowIndex"},
                ],
            },
        ],
    },
    "cond": {
        "resource": "Condition",
        "where": [{"path": "clinicalStatus.coding.exists(code = 'active' or code = 'resolved')"}],
        "select": [
            {
                "column": [
                    {"name": "id", "path": "id"},
                    {"name": "onset", "path": "onset.ofType(dateTime)"},
                    {"name": "abatement", "path": "abatement.ofType(dateTime)"},
                    {"name": "code", "path": "code.coding.first().code"},
                    {"name": "status", "path": "clinicalStatus.coding.code.first()"},
                    {"name": "verified", "path": "verificationStatus.coding.code.first() = 'confirmed'"},
                    {
                        "name": "long",
                        "path": "abatement.ofType(dateTime).exists() and onset.ofType(dateTime) < abatement.ofType(dateTime)",
                    },
                ]
            }
        ],
    },
    "enc": {
        "resource": "Encounter",
        "select": [
            {
                "column": [
                    {"name": "id", "path": "id"},
                    {"name": "cls", "path": "class.code"},
                    {"name": "start", "path": "period.start"},
                    {"name": "end", "path": "period.end"},
                    {"name": "type", "path": "type.coding.code", "collection": True},
                    {"name": "reason", "path": "reasonCode.coding.display.first()"},
                    {"name": "provider", "path": "serviceProvider.getReferenceKey(Organization)"},
                ]
            },
            {
                "forEach": "participant",
                "column": [
                    {"name": "who", "path": "individual.getReferenceKey()"},
                    {"name": "pi", "path": "%rowIndex"},
                ],
            },
        ],
    },
    "meds": {
        "resource": "MedicationRequest",
        "select": [
            {
                "column": [
                    {"name": "id", "path": "id"},
                    {"name": "med", "path": "medication.ofType(CodeableConcept).coding.code.first()"},
                    {"name": "status", "path": "status"},
                    {"name": "authored", "path": "authoredOn"},
                    {
                        "name": "dose",
                        "path": "dosageInstruction.first().doseAndRate.first().dose.ofType(Quantity).value",
                    },
                    {"name": "asneeded", "path": "dosageInstruction.asNeeded.ofType(boolean).first()"},
                ]
            }
        ],
    },
    "claims": {
        "resource": "Claim",
        "select": [
            {"column": [{"name": "id", "path": "id"}, {"name": "total", "path": "total.value"}]},
            {
                "forEach": "item",
                "column": [
                    {"name": "seq", "path": "sequence"},
                    {"name": "code", "path": "productOrService.coding.code.first()"},
                    {"name": "net", "path": "net.value"},
                ],
                "select": [
                    {
                        "forEachOrNull": "encounter",
                        "column": [{"name": "enc", "path": "getReferenceKey(Encounter)"}],
                    }
                ],
            },
        ],
    },
    "eob_union": {
        "resource": "Immunization",
        "select": [
            {"column": [{"name": "id", "path": "id"}]},
            {
                "unionAll": [
                    {
                        "forEach": "vaccineCode.coding",
                        "column": [{"name": "kind", "path": "'vaccine'"}, {"name": "code", "path": "code"}],
                    },
                    {"column": [{"name": "kind", "path": "'status'"}, {"name": "code", "path": "status"}]},
                ]
            },
        ],
    },
}


@cache
def synthea_resources() -> tuple[dict[str, Any], ...]:
    """Every resource of the Synthea bundles, ``urn:uuid:`` references rewritten to ``Type/id``."""
    import orjson

    from senhealth.fhir.store.references import bundle_mapping, rewrite_references

    if not SYNTHEA_DIR.is_dir():
        return ()
    out: list[dict[str, Any]] = []
    for path in sorted(SYNTHEA_DIR.glob("*.json")):
        entries = orjson.loads(path.read_bytes())["entry"]
        mapping = bundle_mapping(entries)
        out.extend(rewrite_references(e["resource"], mapping) for e in entries)
    return tuple(out)


def synthea_ndjson(root: Path) -> Path:
    resources = synthea_resources()
    if not resources:
        pytest.skip(f"the Synthea sample is not next to the repository ({SYNTHEA_DIR})")
    path = root / "synthea.ndjson"
    if not path.exists():
        write_resources_ndjson(resources, path)
    return path
