"""The indicator library's views (docs/indicators.md) on the scale engines (docs/scale.md "Analytics on
Spark"): over the NDJSON of a small demo province with documents, signatures, a referral and a telehealth
appointment added, DuckDB (compiled SQL, the reference evaluator for what it cannot express) and Spark
(``engine="auto"``: Spark SQL, else ``run_view`` in the Python workers) give exactly the reference
evaluator's rows for each of the nine views.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from senhealth.analytics.indicators import VIEW_NAMES, load_view
from senhealth.analytics.viewdef import run_view
from senhealth.analytics.viewdef_duckdb import run_view_duckdb
from senhealth.demo import generate_resources

from .sqlonfhir_cases import java_missing, multiset, spark_session

pytestmark = pytest.mark.xdist_group("spark")

spark = pytest.fixture(scope="session")(spark_session)

SIG = {"system": "https://senhealth.vn/fhir/CodeSystem/signature-record", "code": "signature"}


def _extras(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A document and its signature for every third encounter, a referral and a telehealth appointment."""
    orgs = [r for r in resources if r["resourceType"] == "Organization" and r.get("identifier")]
    locations = [r for r in resources if r["resourceType"] == "Location"]
    encounters = [r for r in resources if r["resourceType"] == "Encounter"]
    out: list[dict[str, Any]] = []
    for n, e in enumerate(encounters[::3]):
        start = e["period"]["start"]
        out.append(
            {
                "resourceType": "Composition",
                "id": f"doc-{n}",
                "status": "final",
                "type": {"text": "Bệnh án"},
                "subject": e["subject"],
                "encounter": {"reference": f"Encounter/{e['id']}"},
                "date": start,
                "author": [e["serviceProvider"]],
                "title": "Bệnh án",
                "custodian": e["serviceProvider"],
            }
        )
        if n % 2 == 0:
            out.append(
                {
                    "resourceType": "Provenance",
                    "id": f"sig-{n}",
                    "meta": {"tag": [SIG]},
                    "target": [{"reference": f"Composition/doc-{n}/_history/1"}, {"reference": "Patient/x"}],
                    "recorded": start,
                    "agent": [{"who": e["serviceProvider"]}],
                    "signature": [
                        {
                            "type": [{"code": "1.2.840.10065.1.12.1.1"}],
                            "when": start,
                            "who": e["serviceProvider"],
                            "extension": [
                                {
                                    "url": "https://senhealth.vn/fhir/StructureDefinition/signature-role",
                                    "valueCode": "author",
                                }
                            ],
                        }
                    ],
                }
            )
    e = encounters[0]
    out.append(
        {
            "resourceType": "ServiceRequest",
            "id": "ref-1",
            "status": "active",
            "intent": "order",
            "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}],
            "orderDetail": [{"coding": [{"code": "teleconsultation"}]}],
            "subject": e["subject"],
            "encounter": {"reference": f"Encounter/{e['id']}"},
            "authoredOn": e["period"]["start"],
            "requester": e["serviceProvider"],
            "performer": [{"reference": "Practitioner/p"}, {"reference": f"Organization/{orgs[0]['id']}"}],
        }
    )
    out.append(
        {
            "resourceType": "Appointment",
            "id": "tele-1",
            "status": "booked",
            "appointmentType": {"coding": [{"code": "VR"}]},
            "start": "2025-11-03T08:00:00+07:00",
            "end": "2025-11-03T08:20:00+07:00",
            "participant": [
                {"actor": e["subject"], "status": "accepted"},
                {"actor": {"reference": f"Location/{locations[0]['id']}"}, "status": "accepted"},
            ],
        }
    )
    return out


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    resources = list(generate_resources(25, 5))
    resources += _extras(resources)
    out = tmp_path_factory.mktemp("indicator-views")
    by_type: dict[str, list[bytes]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(orjson.dumps(r))
    for t, lines in by_type.items():
        (out / f"{t}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    return out, resources


def _reference(name: str, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(run_view(load_view(name), resources))


def test_duckdb_gives_the_reference_rows_for_every_indicator_view(
    province: tuple[Path, list[dict[str, Any]]],
) -> None:
    directory, resources = province
    sizes = {}
    for name in VIEW_NAMES:
        reference = _reference(name, resources)
        sizes[name] = len(reference)
        assert multiset(run_view_duckdb(load_view(name), directory, fallback=True)) == multiset(reference), (
            name
        )
    assert all(sizes[n] > 0 for n in VIEW_NAMES), sizes  # every view has rows to compare
    assert sizes["ind_referral"] == 1 and sizes["ind_appointment"] == 1


def test_spark_gives_the_reference_rows_for_every_indicator_view(
    province: tuple[Path, list[dict[str, Any]]], request: pytest.FixtureRequest
) -> None:
    if java_missing():
        pytest.skip("Spark needs a Java runtime (java not on PATH)")
    session = request.getfixturevalue("spark")
    from senhealth.analytics.viewdef_spark import run_view_spark

    directory, resources = province
    for name in VIEW_NAMES:
        view = load_view(name)
        rows = run_view_spark(view, str(directory / f"{view['resource']}.ndjson"), session, engine="auto")
        assert multiset(rows) == multiset(_reference(name, resources)), name
