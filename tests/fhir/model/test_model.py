"""The shipped R4 model agrees with the official definitions."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from senhealth.fhir.model import get_model
from senhealth.fhir.model.search_parameters import (
    PLATFORM_SEARCH_PARAMS,
    all_search_params,
    patient_compartment,
    search_params_for,
)
from senhealth.fhir.model.valuesets import value_set_codes

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "fhir-r4"


def test_every_resource_type_is_there() -> None:
    m = get_model()
    types = m.resource_types()
    assert (
        len(types) == 147
    )  # as the shipped definitions list them (SubscriptionStatus added by the redistribution)
    for name in ("Patient", "Observation", "Bundle", "ImagingStudy", "Questionnaire", "Consent"):
        assert name in types
    assert m.is_resource("Patient") and not m.is_resource("HumanName")
    assert m.is_primitive("date") and not m.is_primitive("Quantity")


@pytest.mark.parametrize(
    ("parent", "name", "types", "lo", "hi", "type_path"),
    [
        ("Patient", "name", ("HumanName",), 0, None, "HumanName"),
        ("Patient", "gender", ("code",), 0, 1, "code"),
        ("Patient", "id", ("id",), 0, 1, "id"),
        ("Patient", "contact", ("BackboneElement",), 0, None, "Patient.contact"),
        ("Patient.contact", "name", ("HumanName",), 0, 1, "HumanName"),
        ("Observation", "status", ("code",), 1, 1, "code"),
        ("Questionnaire.item", "item", ("BackboneElement",), 0, None, "Questionnaire.item"),
        ("HumanName", "given", ("string",), 0, None, "string"),
        ("Age", "value", ("decimal",), 0, 1, "decimal"),
        ("SimpleQuantity", "comparator", ("code",), 0, 0, "code"),
        ("Extension", "url", ("uri",), 1, 1, "uri"),
    ],
)
def test_child_lookup(
    parent: str, name: str, types: tuple[str, ...], lo: int, hi: int | None, type_path: str
) -> None:
    e = get_model().child(parent, name)
    assert e is not None
    assert (e.types, e.min, e.max, e.type_path) == (types, lo, hi, type_path)


def test_choice_types_and_bindings() -> None:
    m = get_model()
    value = m.child("Observation", "value")
    assert value is not None and value.choice and value.type_path is None
    assert dict(value.json_names())["valueQuantity"] == "Quantity"
    assert len(value.types) == 11
    gender = m.element("Patient.gender")
    assert gender is not None and gender.binding is not None
    assert (gender.binding.strength, gender.binding.value_set) == (
        "required",
        "http://hl7.org/fhir/ValueSet/administrative-gender",
    )
    subject = m.element("Observation.subject")
    assert subject is not None and "Patient" in subject.targets


def test_constraints_and_subtypes() -> None:
    m = get_model()
    contact = m.element("Patient.contact")
    assert contact is not None
    keys = {c.key: c for c in contact.constraints}
    assert keys["pat-1"].expression.startswith("name.exists()")
    root = m.types["Patient"].root
    assert {"dom-2", "dom-3", "dom-4", "dom-5", "dom-6"} <= {c.key for c in root.constraints}
    assert m.is_subtype("Patient", "DomainResource") and m.is_subtype("Patient", "Resource")
    assert m.is_subtype("code", "string") and not m.is_subtype("string", "code")
    assert m.regex["date"].startswith("([0-9]")


def test_search_parameters_and_compartment() -> None:
    params = all_search_params()
    assert len(params) == 1378 + len(PLATFORM_SEARCH_PARAMS)  # R4, then the platform's
    assert sum(1 for p in params if p.expression) == 1375 + len(PLATFORM_SEARCH_PARAMS)
    patient = search_params_for("Patient")
    assert patient["birthdate"].type == "date" and patient["_id"].type == "token"
    assert "code-value-quantity" in search_params_for("Observation")
    assert len(search_params_for("Observation")["code-value-quantity"].components) == 2
    assert patient_compartment()["Observation"] == ("subject", "performer")


def test_value_set_expansions() -> None:
    gender = value_set_codes("http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1")
    assert gender is not None and gender.complete
    assert gender.all_codes == {"male", "female", "other", "unknown"}
    assert gender.contains("male", "http://hl7.org/fhir/administrative-gender")
    assert not gender.contains("male", "http://example.org")
    assert value_set_codes("http://hl7.org/fhir/ValueSet/ucum-units") is None  # external: not judged


@pytest.mark.skipif(
    not SHARED.is_dir(), reason="the official definitions (../shared/fhir-r4) are not present"
)
def test_shipped_data_is_up_to_date(tmp_path: Path) -> None:
    """Re-deriving from the official definitions gives exactly the shipped files."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    subprocess.run(
        [
            sys.executable,
            str(root / "scripts" / "derive_fhir_model.py"),
            "--source",
            str(SHARED),
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    shipped = root / "senhealth" / "fhir" / "model" / "data"
    for f in sorted(tmp_path.glob("*.json.gz")):
        assert json.loads(gzip.decompress(f.read_bytes())) == json.loads(
            gzip.decompress((shipped / f.name).read_bytes())
        ), f.name
