"""Every R4 search parameter with an expression compiles, and all of them take the fast path."""

from __future__ import annotations

from typing import Any

import pytest

from senhealth.fhir.model import get_model
from senhealth.fhir.model.search_parameters import PLATFORM_SEARCH_PARAMS, SearchParam, all_search_params
from senhealth.fhir.search.extract import Extractor, compile_report, extractor_for
from senhealth.fhir.search.fallback import infer_type


def test_all_1375_parameters_compile_to_the_fast_path() -> None:
    report = compile_report()
    platform = len(PLATFORM_SEARCH_PARAMS)  # Bundle.patient, Provenance.record-subject
    assert len(all_search_params()) == 1378 + platform
    assert report.total == 1375 + platform  # _text, _content and _query have no expression
    assert report.fast == 1375 + platform
    assert report.engine == 0
    assert report.failed == ()


@pytest.mark.parametrize("resource_type", get_model().resource_types())
def test_every_resource_type_has_an_extractor_covering_its_parameters(resource_type: str) -> None:
    ex = extractor_for(resource_type)
    assert ex.skipped == {}
    assert ex.engine == set()
    assert ex.fast == set(ex.params)
    assert {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} <= ex.fast
    index = ex.extract({"resourceType": resource_type, "id": "x1"})
    assert index.values("_id") and len(index) == (
        2 if resource_type == "Patient" else 1
    )  # Patient: deceased=false


def test_unsupported_expression_is_skipped_in_fast_mode() -> None:
    custom = SearchParam(
        code="given-initial",
        url="http://fhir.vn/SearchParameter/given-initial",
        base=("Patient",),
        type="string",
        expression="Patient.name.given.substring(0, 1)",
    )
    ex = Extractor("Patient", [custom], mode="fast")
    assert "given-initial" in ex.skipped and not ex.params


def test_unknown_resource_type_is_refused() -> None:
    with pytest.raises(ValueError):
        extractor_for("NotAResource")


@pytest.mark.parametrize(
    ("value", "param_type", "expected"),
    [
        (True, "token", "boolean"),
        ("x", "token", "code"),
        ("2020", "date", "dateTime"),
        ({"coding": []}, "token", "CodeableConcept"),
        ({"system": "s", "code": "c"}, "token", "Coding"),
        ({"system": "phone", "value": "1"}, "token", "ContactPoint"),
        ({"system": "urn:x", "value": "1"}, "token", "Identifier"),
        ({"reference": "Patient/1"}, "reference", "Reference"),
        ({"resourceType": "Patient"}, "reference", "Resource"),
        ({"start": "2020"}, "date", "Period"),
        ({"event": ["2020"]}, "date", "Timing"),
        ({"family": "Nguyễn"}, "string", "HumanName"),
        ({"city": "Huế"}, "string", "Address"),
        ({"value": 1, "currency": "VND"}, "quantity", "Money"),
        ({"low": {"value": 1}}, "quantity", "Range"),
        ({"value": 1}, "quantity", "Quantity"),
        ({"latitude": 1, "longitude": 2}, "special", "Location.position"),
    ],
)
def test_engine_values_are_typed_by_shape(value: Any, param_type: str, expected: str) -> None:
    assert infer_type(value, param_type) == expected


def test_extract_to_json_is_plain_json() -> None:
    import orjson

    from senhealth.fhir.search import extract_to_json

    obs = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "effectiveDateTime": "2020-03-04",
        "valueQuantity": {"value": 5.5, "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }
    data = extract_to_json(obs)
    assert orjson.loads(orjson.dumps(data)) == data
    assert data["date"] == [
        {"type": "date", "low": "2020-03-03T17:00:00+00:00", "high": "2020-03-04T16:59:59.999999+00:00"}
    ]
    assert (
        data["value-quantity"][0]["low"] == "5.5" and data["value-quantity"][0]["canonical_code"] == "m-3.mol"
    )
    assert data["code-value-quantity"][0]["parts"][0] == {"system": "http://loinc.org", "code": "2339-0"}
