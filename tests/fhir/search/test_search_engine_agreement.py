"""The fast path agrees with the general FHIRPath engine on every parameter of every Synthea resource.

Both sides go through the same normalisers, so this checks the navigation: which elements each
expression selects (paths, choice types, ofType, where(resolve() is X), where(system = ...), unions,
[0], exists(), and, !=). Composite parameters are fast-path only and are checked in
test_search_composite.py and test_search_synthea.py.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from model_resources import build
from search_support import SYNTHEA, Corpus

from senhealth.fhir.model import get_model
from senhealth.fhir.search.extract import Extractor, extractor_for
from senhealth.fhir.search.fallback import engine_available
from senhealth.fhir.search.index import PARAM_TYPES

pytestmark = pytest.mark.skipif(not engine_available(), reason="senhealth.fhir.fhirpath is not available yet")


def _by_param(index: Any) -> dict[str, set[Any]]:
    return {
        code: set(vals) for t in PARAM_TYPES if t != "composite" for code, vals in index.by_type(t).items()
    }


def test_fast_path_matches_engine_on_synthea(synthea: Corpus) -> None:
    engines: dict[str, Extractor] = {}
    compared: Counter[str] = Counter()
    mismatches: list[str] = []
    for resource, resolver in synthea:
        rt = resource["resourceType"]
        if rt not in engines:
            engines[rt] = Extractor(rt, mode="engine")
        fast = _by_param(extractor_for(rt).extract(resource, resolver=resolver))
        slow = _by_param(engines[rt].extract(resource, resolver=resolver))
        for code in engines[rt].engine:
            compared[rt] += 1
            if fast.get(code, set()) != slow.get(code, set()):
                mismatches.append(
                    f"{rt}/{resource.get('id')} {code}: fast={fast.get(code)} engine={slow.get(code)}"
                )
    assert not mismatches, f"{len(mismatches)} mismatches, first: " + "\n".join(mismatches[:10])
    assert sum(compared.values()) > 12724 * 20  # every parameter of every resource


@pytest.mark.parametrize(
    "resource",
    [
        {
            "resourceType": "Patient",
            "deceasedDateTime": "2020-01-01",
            "telecom": [{"system": "phone", "value": "1"}],
        },
        {
            "resourceType": "Patient",
            "deceasedBoolean": False,
            "name": [{"family": "Nguyễn", "given": ["Thị", "Đào"]}],
        },
        {
            "resourceType": "Observation",
            "subject": {"reference": "Patient/1"},
            "valueCodeableConcept": {"text": "Dương tính"},
            "component": [{"code": {"text": "x"}, "valueQuantity": {"value": 1, "code": "mg"}}],
        },
        {
            "resourceType": "Bundle",
            "type": "document",
            "entry": [{"resource": {"resourceType": "Composition", "id": "c1"}}],
        },
        {
            "resourceType": "Appointment",
            "participant": [{"actor": {"reference": "Location/l1"}}, {"actor": {"reference": "Patient/p1"}}],
        },
        {"resourceType": "Condition", "onsetAge": {"value": 4, "code": "a"}, "abatementString": "khỏi"},
        {"resourceType": "CarePlan", "instantiatesCanonical": ["http://x.org/PlanDefinition/p|1"]},
    ],
)
def test_fast_path_matches_engine_on_edge_shapes(resource: dict[str, Any]) -> None:
    rt = resource["resourceType"]
    assert get_model().is_resource(rt)
    engine = Extractor(rt, mode="engine")
    fast = _by_param(extractor_for(rt).extract(resource))
    slow = _by_param(engine.extract(resource))
    assert {c: v for c, v in fast.items() if c in engine.engine} == slow


def _compare(resources: list[dict[str, Any]]) -> tuple[int, list[str]]:
    compared = 0
    mismatches: list[str] = []
    engines: dict[str, Extractor] = {}
    for resource in resources:
        rt = resource["resourceType"]
        engine = engines.get(rt) or engines.setdefault(rt, Extractor(rt, mode="engine"))
        fast = _by_param(extractor_for(rt).extract(resource))
        slow = _by_param(engine.extract(resource))
        for code in engine.engine:
            compared += 1
            if fast.get(code, set()) != slow.get(code, set()):
                mismatches.append(
                    f"{rt}/{resource.get('id')} {code}: fast={fast.get(code)} engine={slow.get(code)}"
                )
    return compared, mismatches


def test_fast_path_matches_engine_on_model_built_resources() -> None:
    """Every parameter of every resource type, on resources built to populate each expression's element."""
    resources = [build(rt, variant) for rt in get_model().resource_types() for variant in range(6)]
    compared, mismatches = _compare(resources)
    assert not mismatches, f"{len(mismatches)} mismatches, first: " + "\n".join(mismatches[:10])
    assert compared == 15072  # 15,060 for R4, 12 for the two platform parameters (6 variants each)
    populated = {
        (r["resourceType"], code)
        for r in resources
        for _, code, _ in extractor_for(r["resourceType"]).extract(r).rows()
    }
    assert len(populated) >= 2581  # of 2582 (type, parameter) pairs; AppointmentResponse.patient shares actor


def test_fast_path_matches_engine_on_the_fhirpath_suite_inputs() -> None:
    folder = SYNTHEA.parent.parent / "conformance" / "fhirpath" / "input"
    if not folder.is_dir():
        pytest.skip(f"the FHIRPath suite inputs are not next to the repository ({folder})")
    resources: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        doc = orjson.loads(path.read_bytes())
        nested = [e["resource"] for e in doc.get("entry", []) if "resource" in e] + list(
            doc.get("contained", [])
        )
        resources.extend(r for r in (doc, *nested) if get_model().is_resource(r.get("resourceType", "")))
    compared, mismatches = _compare(resources)
    assert not mismatches, "\n".join(mismatches[:10])
    assert compared > 800
