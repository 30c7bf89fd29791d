"""SMART v2 scopes, table-driven from the spec's examples:
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html"""

from __future__ import annotations

import pytest

from senhealth.fhir.access import Action
from senhealth.security.oauth.scopes import (
    ClinicalScope,
    ScopeError,
    constraints,
    narrow,
    parse_clinical_scope,
    parse_scopes,
    permits,
    to_v2,
)

PARSE = [
    ("patient/Observation.rs", ClinicalScope("patient", "Observation", "rs")),
    ("user/*.cruds", ClinicalScope("user", "*", "cruds")),
    ("system/Patient.r", ClinicalScope("system", "Patient", "r")),
    ("patient/Patient.r", ClinicalScope("patient", "Patient", "r")),
    ("user/Encounter.cu", ClinicalScope("user", "Encounter", "cu")),
    ("patient/*.rs", ClinicalScope("patient", "*", "rs")),
    # v1 forms
    ("patient/Observation.read", ClinicalScope("patient", "Observation", "rs")),
    ("user/Appointment.write", ClinicalScope("user", "Appointment", "cud")),
    ("user/*.*", ClinicalScope("user", "*", "cruds")),
    ("patient/*.read", ClinicalScope("patient", "*", "rs")),
    # query constraints
    (
        "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
        ClinicalScope(
            "patient",
            "Observation",
            "rs",
            (("category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"),),
        ),
    ),
    (
        "patient/Observation.rs?category=laboratory",
        ClinicalScope("patient", "Observation", "rs", (("category", "laboratory"),)),
    ),
    (
        "user/Condition.rs?category=encounter-diagnosis&clinical-status=active",
        ClinicalScope(
            "user", "Condition", "rs", (("category", "encounter-diagnosis"), ("clinical-status", "active"))
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), PARSE)
def test_parse(text: str, expected: ClinicalScope) -> None:
    assert parse_clinical_scope(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
        "patient",
    ],
)
def test_non_clinical_scopes(text: str) -> None:
    assert parse_clinical_scope(text) is None
    assert text in parse_scopes(text)


@pytest.mark.parametrize(
    "text",
    [
        "patient/Observation.sr",  # letters out of order
        "patient/Observation.rx",
        "patient/Observation.rr",
        "user/observation.read",  # type not capitalised
        "user/Observation",
        "system/.rs",
        "patient/Observation.",
        "user/Observation.rs?",
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(ScopeError):
        parse_clinical_scope(text)


@pytest.mark.parametrize(
    ("v1", "v2"),
    [
        ("patient/*.read", "patient/*.rs"),
        ("user/Observation.write", "user/Observation.cud"),
        ("user/*.*", "user/*.cruds"),
        ("openid", "openid"),
        ("patient/Observation.rs", "patient/Observation.rs"),
    ],
)
def test_to_v2(v1: str, v2: str) -> None:
    assert to_v2(v1) == v2


PERMITS: list[tuple[str, Action, str | None, bool]] = [
    ("patient/Observation.rs", "read", "Observation", True),
    ("patient/Observation.rs", "search", "Observation", True),
    ("patient/Observation.rs", "history", "Observation", True),
    ("patient/Observation.rs", "operation", "Observation", True),
    ("patient/Observation.rs", "create", "Observation", False),
    ("patient/Observation.rs", "update", "Observation", False),
    ("patient/Observation.rs", "delete", "Observation", False),
    ("patient/Observation.rs", "read", "Patient", False),
    ("patient/Observation.r", "search", "Observation", False),
    ("patient/Observation.s", "read", "Observation", False),
    ("user/*.cruds", "create", "Encounter", True),
    ("user/*.cruds", "delete", "Patient", True),
    ("user/*.cruds", "search", None, True),  # system-level search needs a wildcard
    ("user/Patient.rs", "search", None, False),
    ("system/Patient.r", "read", "Patient", True),
    ("system/Patient.r", "search", "Patient", False),
    ("patient/*.read", "search", "Condition", True),
    ("patient/*.write", "update", "Condition", True),
    ("patient/*.write", "read", "Condition", False),
    ("user/Encounter.cu", "update", "Encounter", True),
    ("user/Encounter.cu", "create", "Encounter", True),
    ("user/Encounter.cu", "delete", "Encounter", False),
    ("openid fhirUser launch/patient", "read", "Patient", False),
    ("patient/Observation.rs?category=laboratory", "search", "Observation", True),
    (
        "patient/Observation.rx user/Patient.r",
        "read",
        "Patient",
        True,
    ),  # a malformed scope grants nothing, others still do
    ("", "read", "Patient", False),
]


@pytest.mark.parametrize(("scopes", "action", "res_type", "allowed"), PERMITS)
def test_permits(scopes: str, action: Action, res_type: str | None, allowed: bool) -> None:
    assert permits(scopes, action, res_type) is allowed
    assert permits(scopes.split(), action, res_type) is allowed


def test_permits_by_context() -> None:
    scopes = "patient/Observation.rs user/Patient.r"
    assert permits(scopes, "read", "Observation", contexts=("patient",))
    assert not permits(scopes, "read", "Observation", contexts=("user",))
    assert permits(parse_scopes(scopes), "read", "Patient", contexts=("user", "system"))


def test_constraints() -> None:
    lab = "patient/Observation.rs?category=laboratory"
    vitals = "patient/Observation.rs?category=vital-signs"
    assert constraints(lab, "search", "Observation") == [(("category", "laboratory"),)]
    assert constraints(f"{lab} {vitals}", "search", "Observation") == [
        (("category", "laboratory"),),
        (("category", "vital-signs"),),
    ]
    assert (
        constraints(f"{lab} patient/Observation.r", "read", "Observation") == []
    )  # an unconstrained grant wins
    assert constraints(lab, "create", "Observation") is None
    assert constraints(lab, "read", "Patient") is None


@pytest.mark.parametrize(
    ("requested", "allowed", "granted"),
    [
        (
            "patient/Observation.rs openid",
            "patient/*.cruds openid fhirUser",
            ["patient/Observation.rs", "openid"],
        ),
        ("user/*.cruds", "user/*.rs", ["user/*.rs"]),  # letters cut to the allowed ones
        ("user/Patient.read", "user/Patient.r", ["user/Patient.r"]),
        ("system/Patient.rs", "user/*.cruds", []),  # another context
        ("offline_access profile", "openid", []),
        (
            "patient/Observation.rs?category=laboratory",
            "patient/Observation.rs",
            ["patient/Observation.rs?category=laboratory"],
        ),
        (
            "patient/Observation.rs",
            "patient/Observation.rs?category=laboratory",
            [],
        ),  # cannot widen a constraint
        ("patient/Observation.sr launch", "patient/*.rs launch", ["launch"]),
    ],
)
def test_narrow(requested: str, allowed: str, granted: list[str]) -> None:
    assert narrow(requested, allowed) == granted
