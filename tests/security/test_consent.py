"""The consent rule (``senhealth.security.consent.decision``) as a table, and the resources it builds.

Spec: https://hl7.org/fhir/R4/consent.html; the rule: docs/consent.md (deny wins among active Consents
for the purpose; otherwise the purpose's default: treatment, insurance and public health permitted,
research only with an explicit yes; public health cannot be refused).
"""

from __future__ import annotations

from typing import Any

import pytest

from senhealth.fhir.validation import validation_issues
from senhealth.security.consent import (
    METHOD_URL,
    PURPOSES,
    ConsentError,
    build_consent,
    decision,
    decisions,
    purpose_of,
)


def _c(purpose: str, kind: str, status: str = "active", actors: tuple[str, ...] = ()) -> dict[str, Any]:
    c = build_consent("p1", purpose, "permit", actors=actors)
    c["provision"]["type"] = kind
    c["status"] = status
    return c


@pytest.mark.parametrize(
    ("consents", "purpose", "facility", "expected"),
    [
        ([], "TREAT", None, "permit"),
        ([], "HPAYMT", None, "permit"),
        ([], "HRESCH", None, "deny"),
        ([], "PUBHLTH", None, "permit"),
        ([_c("TREAT", "deny")], "TREAT", None, "deny"),
        ([_c("TREAT", "deny", status="inactive")], "TREAT", None, "permit"),  # withdrawn
        ([_c("TREAT", "deny", status="rejected")], "TREAT", None, "permit"),
        ([_c("TREAT", "permit"), _c("TREAT", "deny")], "TREAT", None, "deny"),  # deny wins
        ([_c("HRESCH", "permit")], "HRESCH", None, "permit"),
        ([_c("HRESCH", "permit"), _c("HRESCH", "deny")], "HRESCH", None, "deny"),
        ([_c("HRESCH", "permit", status="inactive")], "HRESCH", None, "deny"),
        ([_c("TREAT", "deny")], "HRESCH", None, "deny"),  # another purpose says nothing
        ([_c("TREAT", "deny")], "HPAYMT", None, "permit"),
        ([_c("PUBHLTH", "deny")], "PUBHLTH", None, "permit"),  # required by law
        # a provision naming actors applies to those organisations only
        ([_c("TREAT", "deny", actors=("Organization/h1",))], "TREAT", "Organization/h1", "deny"),
        ([_c("TREAT", "deny", actors=("Organization/h1",))], "TREAT", "Organization/h2", "permit"),
        ([_c("TREAT", "deny", actors=("Organization/h1",))], "TREAT", None, "permit"),
        ([], "UNKNOWN", None, "deny"),
    ],
)
def test_decision_table(
    consents: list[dict[str, Any]], purpose: str, facility: str | None, expected: str
) -> None:
    assert decision(consents, purpose, facility=facility) == expected


def test_decisions_cover_every_purpose() -> None:
    assert decisions([_c("HRESCH", "permit")]) == {
        "TREAT": "permit",
        "HPAYMT": "permit",
        "PUBHLTH": "permit",
        "HRESCH": "permit",
    }


@pytest.mark.parametrize("purpose", sorted(PURPOSES))
def test_built_consents_are_valid_r4(purpose: str) -> None:
    choice = "deny" if not PURPOSES[purpose].required_by_law else "permit"
    c = build_consent("p1", purpose, choice, method="paper", organization="Organization/h1")
    issues = validation_issues(c)
    assert not [i for i in issues if i[0] in ("error", "fatal")], issues
    assert purpose_of(c) == [purpose]
    assert c["patient"] == {"reference": "Patient/p1"}
    assert c["performer"] == [{"reference": "Patient/p1"}]
    assert c["extension"] == [{"url": METHOD_URL, "valueCode": "paper"}]
    assert c["policyRule"]["coding"][0]["code"] == ("OPTOUT" if choice == "deny" else "OPTIN")


@pytest.mark.parametrize(
    ("purpose", "choice", "method"),
    [
        ("NOPE", "permit", "portal"),
        ("TREAT", "maybe", "portal"),
        ("TREAT", "deny", "fax"),
        ("PUBHLTH", "deny", "portal"),
    ],
)
def test_bad_consents_are_refused(purpose: str, choice: Any, method: str) -> None:
    with pytest.raises(ConsentError):
        build_consent("p1", purpose, choice, method=method)
