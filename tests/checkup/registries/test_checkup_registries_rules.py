"""Enrolment rules, table by table, and the control indicators of one patient (pure: records built from
resources, no database)."""

from __future__ import annotations

from typing import Any

import pytest
from checkup_record_support import NOW, bp, condition, encounter, patient, quantity

from senhealth.checkup.assessment.patient_record import record_from_resources
from senhealth.checkup.registries import configure, control_status, eligible, get_config

PID = "p"


def record(age: int, sex: str, *resources: dict[str, Any]) -> Any:
    rows = [("Patient", PID, patient(age, sex))]
    rows += [(r["resourceType"], f"r{i}", r) for i, r in enumerate(resources)]
    return record_from_resources(PID, rows)


def registries(age: int, sex: str, *resources: dict[str, Any]) -> list[str]:
    found = eligible(record(age, sex, *resources), NOW.date())
    return [f"{e.rule.registry}/{e.rule.cohort}" if e.rule.cohort else e.rule.registry for e in found]


CASES: list[tuple[str, int, str, list[dict[str, Any]], list[str]]] = [
    ("nothing", 50, "male", [], []),
    ("I10 diagnosis", 50, "male", [condition(PID, "I10")], ["hypertension"]),
    ("I15.0 diagnosis", 50, "male", [condition(PID, "I15.0")], ["hypertension"]),
    ("I20 is not hypertension", 50, "male", [condition(PID, "I20.9")], []),
    ("resolved I10", 50, "male", [condition(PID, "I10", status="resolved")], []),
    ("refuted I10", 50, "male", [condition(PID, "I10", verification="refuted")], []),
    ("two high BP, two days", 50, "male", [bp(PID, 150, 85, 10), bp(PID, 145, 80, 3)], ["hypertension"]),
    (
        "systolic one day, diastolic another",
        50,
        "male",
        [bp(PID, 142, 85, 10), bp(PID, 130, 92, 3)],
        ["hypertension"],
    ),
    ("two high BP, same day", 50, "male", [bp(PID, 150, 95, 3), bp(PID, 152, 96, 3.01)], []),
    ("one high BP", 50, "male", [bp(PID, 150, 95, 3), bp(PID, 135, 85, 10)], []),
    ("139/89 twice", 50, "male", [bp(PID, 139, 89, 3), bp(PID, 139, 89, 10)], []),
    ("E11.9 diagnosis", 50, "male", [condition(PID, "E11.9")], ["diabetes"]),
    ("E14 diagnosis", 50, "male", [condition(PID, "E14")], ["diabetes"]),
    (
        "fasting glucose 7.2 twice",
        50,
        "male",
        [quantity(PID, "1558-6", 7.2, "mmol/L", 20), quantity(PID, "1558-6", 7.0, "mmol/L", 2)],
        ["diabetes"],
    ),
    ("fasting glucose 7.2 once", 50, "male", [quantity(PID, "1558-6", 7.2, "mmol/L", 20)], []),
    (
        "fasting glucose 126 mg/dL twice (6.99 mmol/L)",
        50,
        "male",
        [quantity(PID, "1558-6", 126, "mg/dL", 20), quantity(PID, "1558-6", 126, "mg/dL", 2)],
        [],
    ),
    (
        "fasting glucose 127 mg/dL twice (7.05 mmol/L)",
        50,
        "male",
        [quantity(PID, "1558-6", 127, "mg/dL", 20), quantity(PID, "1558-6", 127, "mg/dL", 2)],
        ["diabetes"],
    ),
    ("HbA1c 6.5 %", 50, "male", [quantity(PID, "4548-4", 6.5, "%")], ["diabetes"]),
    ("HbA1c 6.4 %", 50, "male", [quantity(PID, "4548-4", 6.4, "%")], []),
    ("J44.9 COPD", 50, "male", [condition(PID, "J44.9")], ["copd-asthma"]),
    ("J45 asthma", 50, "male", [condition(PID, "J45")], ["copd-asthma"]),
    ("woman 29", 29, "female", [], []),
    ("woman 30", 30, "female", [], ["cancer-screening/cervical"]),
    ("woman 40", 40, "female", [], ["cancer-screening/cervical", "cancer-screening/breast"]),
    ("woman 65", 65, "female", [], ["cancer-screening/cervical", "cancer-screening/breast"]),
    ("woman 66", 66, "female", [], ["cancer-screening/breast"]),
    ("woman 69", 69, "female", [], ["cancer-screening/breast"]),
    ("woman 70", 70, "female", [], []),
    ("man 50", 50, "male", [], []),
    (
        "woman 55 with everything",
        55,
        "female",
        [condition(PID, "I11.9"), condition(PID, "E10"), condition(PID, "J45.0")],
        ["hypertension", "diabetes", "copd-asthma", "cancer-screening/cervical", "cancer-screening/breast"],
    ),
]


@pytest.mark.parametrize(("label", "age", "sex", "resources", "expected"), CASES, ids=[c[0] for c in CASES])
def test_enrolment_rules(
    label: str, age: int, sex: str, resources: list[dict[str, Any]], expected: list[str]
) -> None:
    assert registries(age, sex, *resources) == expected


def test_the_reason_names_what_qualified() -> None:
    (hypertension,) = eligible(record(50, "male", bp(PID, 150, 85, 10), bp(PID, 145, 80, 3)), NOW.date())
    assert hypertension.basis == ("Observation/r1", "Observation/r0")  # the most recent first
    assert "2 ngày khác nhau" in hypertension.reason_vi and hypertension.conditions == ()
    (diabetes,) = eligible(record(50, "male", condition(PID, "E11.9")), NOW.date())
    assert diabetes.conditions == ("Condition/r0",) and "E11.9" in diabetes.reason_vi


CONTROL: list[tuple[str, list[dict[str, Any]], bool | None, bool | None, bool]] = [
    ("nothing on record", [], None, None, False),
    ("139/89, seen 10 days ago", [bp(PID, 139, 89, 10), encounter(PID, 10)], True, None, True),
    (
        "140/80 last, 120/70 before",
        [bp(PID, 120, 70, 40), bp(PID, 140, 80, 5), encounter(PID, 5)],
        False,
        None,
        True,
    ),
    ("130/90", [bp(PID, 130, 90, 5)], False, None, False),
    ("150/95 before, 128/78 last", [bp(PID, 150, 95, 40), bp(PID, 128, 78, 5)], True, None, False),
    ("HbA1c 6.9", [quantity(PID, "4548-4", 6.9, "%", 20)], None, True, False),
    ("HbA1c 7.0", [quantity(PID, "4548-4", 7.0, "%", 20)], None, False, False),
    (
        "HbA1c 7.4 beats a good glucose",
        [quantity(PID, "4548-4", 7.4, "%", 60), quantity(PID, "1558-6", 5.5, "mmol/L", 2)],
        None,
        False,
        False,
    ),
    ("fasting glucose 6.9 only", [quantity(PID, "1558-6", 6.9, "mmol/L", 2)], None, True, False),
    ("fasting glucose 7.0 only", [quantity(PID, "1558-6", 7.0, "mmol/L", 2)], None, False, False),
    ("seen 89 days ago", [encounter(PID, 89)], None, None, True),
    ("seen 91 days ago", [encounter(PID, 91)], None, None, False),
    ("cancelled visit yesterday", [encounter(PID, 1, status="cancelled")], None, None, False),
]


@pytest.mark.parametrize(
    ("label", "resources", "bp_ok", "glucose_ok", "seen"), CONTROL, ids=[c[0] for c in CONTROL]
)
def test_control_indicators(
    label: str, resources: list[dict[str, Any]], bp_ok: bool | None, glucose_ok: bool | None, seen: bool
) -> None:
    status = control_status(record(60, "male", *resources), NOW)
    assert (status.bp_controlled, status.glycaemia_controlled, status.seen_recently) == (
        bp_ok,
        glucose_ok,
        seen,
    )


def test_the_seen_window_is_configurable() -> None:
    saved = get_config().model_dump()
    try:
        configure(seen_within_days=30)
        assert not control_status(record(60, "male", encounter(PID, 45)), NOW).seen_recently
        with pytest.raises(ValueError):
            configure(seen_within_days=0)
    finally:
        configure(**saved)
    assert control_status(record(60, "male", encounter(PID, 45)), NOW).seen_recently
