"""The citizen's consents as the portal shows and changes them: one FHIR Consent per purpose.

The resource, the purposes, their defaults and the rule that reads them are the consent module's
(:mod:`senhealth.security.consent`, docs/consent.md); this module only adds what the pages need: the
labels of the purposes in the message catalogue, and, per purpose, the Consent to update in place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from senhealth.security import consent as rules
from senhealth.web.i18n import N_

__all__ = ["PURPOSES", "Purpose", "consent_resource", "current_choices"]


@dataclass(frozen=True, slots=True)
class Purpose:
    code: str
    label: str  # catalogue message id
    default: bool
    required_by_law: bool = False


_LABELS: Final = {
    "TREAT": N_("Sharing my record between health facilities for my treatment"),
    "HPAYMT": N_("Health insurance payment"),
    "PUBHLTH": N_("Public health (disease surveillance)"),
    "HRESCH": N_("Scientific research (de-identified data)"),
}

PURPOSES: Final = tuple(
    Purpose(p.code, _LABELS[p.code], p.default == "permit", p.required_by_law)
    for p in rules.PURPOSES.values()
)


def current_choices(consents: list[dict[str, Any]]) -> dict[str, tuple[bool, dict[str, Any] | None]]:
    """Per purpose code: (permitted? by the consent rule, the Consent to update in place or None)."""
    out: dict[str, tuple[bool, dict[str, Any] | None]] = {}
    for purpose in PURPOSES:
        mine = [c for c in consents if purpose.code in rules.purpose_of(c)]
        stored = max(
            (c for c in mine if c.get("status") == "active"),
            key=lambda c: str(c.get("dateTime", "")),
            default=mine[0] if mine else None,
        )
        out[purpose.code] = (rules.decision(mine, purpose.code) == "permit", stored)
    return out


def consent_resource(
    patient_id: str,
    code: str,
    permit: bool,
    *,
    existing_id: str | None = None,
    zone: str = "Asia/Ho_Chi_Minh",
) -> dict[str, Any]:
    """The Consent of ``patient_id`` for purpose ``code`` given in the portal (``existing_id``: update
    that one in place). Raises :class:`senhealth.security.consent.ConsentError` for a refusal the law
    does not allow."""
    return rules.build_consent(
        patient_id,
        code,
        "permit" if permit else "deny",
        method="portal",
        when=dt.datetime.now(ZoneInfo(zone)).replace(microsecond=0),
        consent_id=existing_id,
    )
