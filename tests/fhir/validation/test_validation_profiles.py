"""Profiles registered at run time add their constraints to the base checks (differential and snapshot)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from senhealth.fhir.model import get_model
from senhealth.fhir.validation import (
    get_profile,
    is_valid,
    register_profile,
    registered_profiles,
    unregister_profile,
    validate,
    validation_issues,
)

CCCD = "https://senhealth.vn/fhir/sid/cccd"  # Căn cước công dân, the citizen identity number
BHYT = "https://senhealth.vn/fhir/sid/bhyt"  # health insurance card number
BASE = "http://hl7.org/fhir/StructureDefinition/"
VN = "https://senhealth.vn/fhir/StructureDefinition/"
ETHNIC = VN + "patient-ethnicity"


def sd(
    name: str,
    type_name: str,
    elements: list[dict[str, Any]],
    *,
    base: str | None = None,
    snapshot: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "StructureDefinition",
        "url": VN + name,
        "name": name,
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": type_name,
        "baseDefinition": base or BASE + type_name,
        "derivation": "constraint",
    }
    out["snapshot" if snapshot else "differential"] = {"element": elements}
    return out


CCCD_DIFF = [
    {"id": "Patient.identifier", "path": "Patient.identifier", "min": 1},
    {"id": "Patient.identifier.system", "path": "Patient.identifier.system", "min": 1, "fixedUri": CCCD},
]


def snapshot_of_patient(
    changes: dict[str, dict[str, Any]], extra: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A full snapshot of Patient built from the model, with ``changes`` by path and ``extra`` elements
    inserted after their parent."""
    model = get_model()
    elements: list[dict[str, Any]] = [{"id": "Patient", "path": "Patient", "min": 0, "max": "*"}]
    for el in model.children("Patient").values():
        path = el.path
        row: dict[str, Any] = {
            "id": path,
            "path": path,
            "min": el.min,
            "max": "*" if el.max is None else str(el.max),
            "type": [{"code": t} for t in el.types] or [{"code": "BackboneElement"}],
        }
        row.update(changes.get(path, {}))
        elements.append(row)
        elements.extend(e for e in extra if e["path"].rsplit(".", 1)[0] == path)
    return elements


@pytest.fixture
def profiles() -> Iterator[list[str]]:
    """Register profiles inside a test; they are removed afterwards."""
    urls: list[str] = []
    yield urls
    for url in urls:
        unregister_profile(url)


def register(urls: list[str], definition: dict[str, Any]) -> str:
    url = register_profile(definition)
    urls.append(url)
    return url


def errors(outcome: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i.get("expression", [""])[0], i["code"]) for i in outcome["issue"] if i["severity"] == "error"]


WITHOUT_ID = {"resourceType": "Patient", "name": [{"family": "Nguyễn"}]}
OTHER_ID = {"resourceType": "Patient", "identifier": [{"system": "http://example.org/mrn", "value": "42"}]}
GOOD = {"resourceType": "Patient", "identifier": [{"system": CCCD, "value": "001090000001"}]}


@pytest.mark.parametrize("form", ["differential", "snapshot"])
def test_cccd_profile_rejects_what_the_base_accepts(form: str, profiles: list[str]) -> None:
    if form == "differential":
        definition = sd("vn-patient-diff", "Patient", CCCD_DIFF)
    else:
        system = {
            "id": "Patient.identifier.system",
            "path": "Patient.identifier.system",
            "min": 1,
            "max": "1",
            "type": [{"code": "uri"}],
            "fixedUri": CCCD,
        }
        definition = sd(
            "vn-patient-snap",
            "Patient",
            snapshot_of_patient({"Patient.identifier": {"min": 1}}, [system]),
            snapshot=True,
        )
    url = register(profiles, definition)
    for resource in (WITHOUT_ID, OTHER_ID, GOOD):
        assert is_valid(validate(resource))  # the base accepts all three
    assert ("Patient.identifier", "required") in errors(validate(WITHOUT_ID, profile=url))
    assert ("Patient.identifier[0].system", "value") in errors(validate(OTHER_ID, profile=url))
    no_system = {"resourceType": "Patient", "identifier": [{"value": "1"}]}
    assert ("Patient.identifier[0].system", "required") in errors(validate(no_system, profile=url))
    assert is_valid(validate(GOOD, profile=url)), errors(validate(GOOD, profile=url))


def test_profile_checks_keep_the_base_checks(profiles: list[str]) -> None:
    url = register(profiles, sd("vn-patient", "Patient", CCCD_DIFF))
    bad = {**GOOD, "gender": "nam"}
    assert ("Patient.gender", "code-invalid") in errors(validate(bad, profile=url))


def test_meta_profile_is_applied_when_registered(profiles: list[str]) -> None:
    url = register(profiles, sd("vn-patient-meta", "Patient", CCCD_DIFF))
    claimed = {**OTHER_ID, "meta": {"profile": [url]}}
    assert ("Patient.identifier[0].system", "value") in errors(validate(claimed))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": claimed}]}
    assert ("Bundle.entry[0].resource.identifier[0].system", "value") in errors(validate(bundle))


def test_unknown_profile_and_wrong_type(profiles: list[str]) -> None:
    outcome = validate(GOOD, profile=VN + "nothing")
    assert errors(outcome) == [("", "not-found")]
    url = register(profiles, sd("vn-patient-2", "Patient", CCCD_DIFF))
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    assert ("Observation", "invalid") in errors(validate(obs, profile=url))


def test_registry(profiles: list[str]) -> None:
    url = register(profiles, sd("vn-patient-3", "Patient", CCCD_DIFF))
    assert url in registered_profiles()
    profile = get_profile(url + "|1.0.0")
    assert profile is not None and profile.type == "Patient"
    assert unregister_profile(url)
    assert not unregister_profile(url)
    assert get_profile(url) is None


def test_differential_on_a_registered_profile(profiles: list[str]) -> None:
    base = register(profiles, sd("vn-patient-base", "Patient", CCCD_DIFF))
    url = register(
        profiles,
        sd(
            "vn-patient-derived",
            "Patient",
            [{"id": "Patient.gender", "path": "Patient.gender", "min": 1}],
            base=base,
        ),
    )
    assert ("Patient.gender", "required") in errors(validate(GOOD, profile=url))
    assert ("Patient.identifier[0].system", "value") in errors(
        validate({**OTHER_ID, "gender": "male"}, profile=url)
    )
    assert is_valid(validate({**GOOD, "gender": "female"}, profile=url))


def test_cardinality_types_bindings_patterns_targets_and_constraints(profiles: list[str]) -> None:
    url = register(
        profiles,
        sd(
            "vn-patient-rules",
            "Patient",
            [
                {
                    "id": "Patient",
                    "path": "Patient",
                    "constraint": [
                        {
                            "key": "vn-1",
                            "severity": "error",
                            "human": "A name is needed",
                            "expression": "name.exists()",
                        }
                    ],
                },
                {"id": "Patient.name", "path": "Patient.name", "max": "1"},
                {"id": "Patient.photo", "path": "Patient.photo", "max": "0"},
                {"id": "Patient.deceased[x]", "path": "Patient.deceased[x]", "type": [{"code": "boolean"}]},
                {
                    "id": "Patient.maritalStatus",
                    "path": "Patient.maritalStatus",
                    "binding": {
                        "strength": "required",
                        "valueSet": "http://hl7.org/fhir/ValueSet/marital-status",
                    },
                },
                {
                    "id": "Patient.communication.language",
                    "path": "Patient.communication.language",
                    "patternCodeableConcept": {"coding": [{"system": "urn:ietf:bcp:47", "code": "vi"}]},
                },
                {
                    "id": "Patient.generalPractitioner",
                    "path": "Patient.generalPractitioner",
                    "type": [{"code": "Reference", "targetProfile": [BASE + "Practitioner"]}],
                },
            ],
        ),
    )
    ok = {"resourceType": "Patient", "name": [{"family": "Lê"}], "deceasedBoolean": False}
    assert is_valid(validate(ok, profile=url))
    cases = [
        ({"resourceType": "Patient"}, "Patient", "invariant"),
        ({**ok, "name": [{"family": "A"}, {"family": "B"}]}, "Patient.name", "too-many"),
        ({**ok, "photo": [{"url": "http://x.vn/p.png"}]}, "Patient.photo", "too-many"),
        (
            {**ok, "deceasedBoolean": None, "deceasedDateTime": "2020"},
            "Patient.deceasedDateTime",
            "structure",
        ),
        (
            {
                **ok,
                "maritalStatus": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "Z"}
                    ]
                },
            },
            "Patient.maritalStatus.coding[0].code",
            "code-invalid",
        ),
        (
            {
                **ok,
                "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}}],
            },
            "Patient.communication[0].language",
            "value",
        ),
        (
            {**ok, "generalPractitioner": [{"reference": "Organization/o1"}]},
            "Patient.generalPractitioner[0].reference",
            "invalid",
        ),
    ]
    for resource, path, code in cases:
        resource = {k: v for k, v in resource.items() if v is not None}
        assert is_valid(validate(resource)), resource  # the base accepts it
        assert (path, code) in errors(validate(resource, profile=url)), (
            resource,
            errors(validate(resource, profile=url)),
        )
    vi = {
        **ok,
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "vi", "display": "Tiếng Việt"}]}}
        ],
    }
    assert is_valid(validate(vi, profile=url))


def test_identifier_slicing_by_system(profiles: list[str]) -> None:
    url = register(
        profiles,
        sd(
            "vn-patient-sliced",
            "Patient",
            [
                {
                    "id": "Patient.identifier",
                    "path": "Patient.identifier",
                    "slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "open"},
                },
                {
                    "id": "Patient.identifier:cccd",
                    "path": "Patient.identifier",
                    "sliceName": "cccd",
                    "min": 1,
                    "max": "1",
                },
                {
                    "id": "Patient.identifier:cccd.system",
                    "path": "Patient.identifier.system",
                    "min": 1,
                    "fixedUri": CCCD,
                },
                {"id": "Patient.identifier:cccd.value", "path": "Patient.identifier.value", "min": 1},
                {
                    "id": "Patient.identifier:bhyt",
                    "path": "Patient.identifier",
                    "sliceName": "bhyt",
                    "min": 0,
                    "max": "1",
                },
                {
                    "id": "Patient.identifier:bhyt.system",
                    "path": "Patient.identifier.system",
                    "fixedUri": BHYT,
                },
            ],
        ),
    )
    cccd = {"system": CCCD, "value": "001090000001"}
    bhyt = {"system": BHYT, "value": "DN4010100000001"}
    other = {"system": "http://example.org/mrn", "value": "7"}
    assert is_valid(validate({"resourceType": "Patient", "identifier": [other, bhyt, cccd]}, profile=url))
    assert ("Patient.identifier", "required") in errors(validate({"resourceType": "Patient"}, profile=url))
    assert ("Patient.identifier", "required") in errors(
        validate({"resourceType": "Patient", "identifier": [bhyt]}, profile=url)
    )
    assert ("Patient.identifier", "too-many") in errors(
        validate({"resourceType": "Patient", "identifier": [cccd, cccd]}, profile=url)
    )
    no_value = {"resourceType": "Patient", "identifier": [bhyt, {"system": CCCD}]}
    assert ("Patient.identifier[1].value", "required") in errors(validate(no_value, profile=url))


def test_extension_slicing_by_url(profiles: list[str]) -> None:
    url = register(
        profiles,
        sd(
            "vn-patient-ethnic",
            "Patient",
            [
                {
                    "id": "Patient.extension",
                    "path": "Patient.extension",
                    "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"},
                },
                {
                    "id": "Patient.extension:ethnic",
                    "path": "Patient.extension",
                    "sliceName": "ethnic",
                    "min": 1,
                    "max": "1",
                    "type": [{"code": "Extension", "profile": [ETHNIC]}],
                },
            ],
        ),
    )
    ethnic = {
        "url": ETHNIC,
        "valueCoding": {"system": "https://senhealth.vn/fhir/CodeSystem/dan-toc", "code": "01"},
    }
    assert is_valid(validate({"resourceType": "Patient", "extension": [ethnic]}, profile=url))
    assert ("Patient.extension", "required") in errors(validate({"resourceType": "Patient"}, profile=url))
    assert ("Patient.extension", "too-many") in errors(
        validate({"resourceType": "Patient", "extension": [ethnic, ethnic]}, profile=url)
    )


def test_choice_variant_constraints(profiles: list[str]) -> None:
    url = register(
        profiles,
        sd(
            "vn-weight",
            "Observation",
            [
                {
                    "id": "Observation.value[x]",
                    "path": "Observation.value[x]",
                    "min": 1,
                    "type": [{"code": "Quantity"}],
                },
                {
                    "id": "Observation.value[x]:valueQuantity",
                    "path": "Observation.value[x]",
                    "sliceName": "valueQuantity",
                },
                {
                    "id": "Observation.value[x]:valueQuantity.system",
                    "path": "Observation.value[x].system",
                    "min": 1,
                    "fixedUri": "http://unitsofmeasure.org",
                },
                {
                    "id": "Observation.value[x]:valueQuantity.code",
                    "path": "Observation.value[x].code",
                    "min": 1,
                    "fixedCode": "kg",
                },
            ],
        ),
    )
    base = {"resourceType": "Observation", "status": "final", "code": {"text": "weight"}}
    good = {**base, "valueQuantity": {"value": 60, "system": "http://unitsofmeasure.org", "code": "kg"}}
    assert is_valid(validate(good, profile=url))
    assert ("Observation.value", "required") in errors(validate(base, profile=url))
    assert ("Observation.valueString", "structure") in errors(
        validate({**base, "valueString": "60"}, profile=url)
    )
    pounds = {
        **base,
        "valueQuantity": {"value": 130, "system": "http://unitsofmeasure.org", "code": "[lb_av]"},
    }
    assert ("Observation.valueQuantity.code", "value") in errors(validate(pounds, profile=url))


@pytest.mark.parametrize(
    "definition",
    [
        {"resourceType": "Patient"},
        {"resourceType": "StructureDefinition", "type": "Patient"},
        sd("x", "Patient", []),
        sd("x", "Patient", CCCD_DIFF, base=VN + "not-registered"),
        sd("x", "Patient", [{"id": "Patient.nickname", "path": "Patient.nickname", "min": 1}]),
        sd("x", "Patients", CCCD_DIFF),
    ],
    ids=["not an SD", "no url", "no elements", "unknown base", "unknown element", "unknown type"],
)
def test_unusable_definitions_are_refused(definition: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        register_profile(definition)


CORE = Path(__file__).resolve().parents[3] / ".." / "shared" / "fhir-r4" / "profiles-resources.json"
SYNTHEA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "synthea"


@pytest.mark.skipif(
    not CORE.is_file() or not SYNTHEA.is_dir(),
    reason="the R4 definitions or Synthea data are not in ../shared",
)
@pytest.mark.parametrize("type_name", ["Patient", "Observation", "Encounter", "ExplanationOfBenefit"])
def test_a_core_snapshot_as_a_profile_changes_nothing(type_name: str, profiles: list[str]) -> None:
    """The official R4 snapshot, registered as a profile, reads cleanly and adds no issue."""
    bundle = json.loads(CORE.read_text(encoding="utf-8"))
    definition = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == type_name)
    url = register(
        profiles,
        {
            **definition,
            "url": VN + "core-" + type_name,
            "derivation": "constraint",
            "baseDefinition": BASE + type_name,
        },
    )
    resources = [
        e["resource"]
        for path in sorted(SYNTHEA.glob("*.json"))[:5]
        for e in json.loads(path.read_text(encoding="utf-8"))["entry"]
        if e["resource"]["resourceType"] == type_name
    ]
    assert resources
    for resource in resources:
        assert set(validation_issues(resource, url)) == set(validation_issues(resource))
