"""The role policy's configuration: access windows and the notifiable-disease rule from the settings.

Rules: ../shared/reference/vietnam.md §2 (role-based access with time windows); the policy's table in
:mod:`senhealth.security.policy`.
"""

from __future__ import annotations

from datetime import time

import pytest

from senhealth.core.config import Settings
from senhealth.fhir.access import Principal, Restriction
from senhealth.security.policy import RolePolicy, parse_window

CDC = Principal("user", "u1", frozenset({"cdc_officer"}))
ANALYST = Principal("user", "u2", frozenset({"data_analyst"}))
DOCTOR = Principal("user", "u3", frozenset({"doctor"}), facility="Organization/h1")
PATIENT = Principal("patient", "u4", frozenset({"patient"}), patient="Patient/p1")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("07:00-17:30", (time(7), time(17, 30))), (" 00:00 - 23:59 ", (time(0), time(23, 59)))],
)
def test_windows_parse(spec: str, expected: tuple[time, time]) -> None:
    assert parse_window(spec) == expected


@pytest.mark.parametrize("spec", ["7h-17h", "17:00-07:00", "08:00", ""])
def test_bad_windows_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_window(spec)


def test_settings_configure_the_policy() -> None:
    policy = RolePolicy.from_settings(
        Settings(notifiable_icd10=["A90", "B08.4"], access_windows={"data_analyst": "00:00-00:01"})
    )
    assert policy.restriction(CDC, "search") == Restriction(conditions=("A90", "B08.4"))
    assert policy.check(CDC, "operation", "Patient") and not policy.check(CDC, "create", "Condition")
    assert policy.windows["data_analyst"] == (time(0), time(0, 1))


@pytest.mark.parametrize(
    ("principal", "action", "res_type", "allowed"),
    [
        (PATIENT, "create", "Consent", True),
        (PATIENT, "update", "Consent", True),
        (PATIENT, "delete", "Consent", False),
        (PATIENT, "create", "Observation", False),
        (ANALYST, "read", "Patient", True),
        (ANALYST, "create", "Patient", False),
        (DOCTOR, "delete", "Observation", True),
    ],
)
def test_role_actions(principal: Principal, action: str, res_type: str, allowed: bool) -> None:
    assert RolePolicy().check(principal, action, res_type) is allowed  # type: ignore[arg-type]


def test_restrictions() -> None:
    policy = RolePolicy()
    assert policy.restriction(DOCTOR, "read") == Restriction(facilities=("h1",), network=True)
    assert policy.restriction(PATIENT, "read") == Restriction(patients=frozenset({"p1"}))
    assert policy.restriction(CDC, "read") == Restriction()  # no notifiable list configured: nothing
    assert policy.restriction(ANALYST, "read") == Restriction(consented="HRESCH", deidentified=True)
