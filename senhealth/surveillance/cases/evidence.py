"""Evidence of a notifiable disease in a patient's resources: what each Condition, Encounter and laboratory
Observation says, as plain values (pure functions, no database).

Spec: https://hl7.org/fhir/R4/condition.html (``code``, ``verificationStatus``, ``clinicalStatus``,
``onset[x]``, ``recordedDate``, ``abatement[x]``), https://hl7.org/fhir/R4/encounter.html (``reasonCode``,
``period``, ``hospitalization.dischargeDisposition``: ``exp`` = expired,
https://terminology.hl7.org/CodeSystem-discharge-disposition.html), https://hl7.org/fhir/R4/observation.html
(``status``, ``value[x]``, ``interpretation``: https://terminology.hl7.org/CodeSystem-v3-ObservationInterpretation.html).

Classification from the evidence (the WHO / Ministry case definitions reduced to what a record shows):

- a positive result of a configured laboratory test (:func:`~senhealth.surveillance.notifiable.lists.lab_tests`,
  ``confirms``) → **confirmed**;
- a Condition whose ``verificationStatus`` is ``confirmed`` (a clinician's diagnosis without a laboratory
  result) → **probable**;
- an Encounter's ``reasonCode``, or a Condition that is provisional, differential, unconfirmed or without a
  verification status → **suspected**.

Outcome: an Encounter discharged ``exp`` → died; a Condition resolved, in remission, inactive or with an
abatement → recovered; else unknown (the Patient's ``deceased[x]`` is read by the caller). Refuted and
entered-in-error Conditions, cancelled or entered-in-error Encounters, and Observations not final,
amended or corrected are no evidence. Negative results are no evidence (they do not discard a case).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Final

from senhealth.surveillance.notifiable.lists import ICD10_SYSTEMS, LOINC, lab_tests, list_on, normalise_code

__all__ = ["RANK", "VN_TZ", "Evidence", "evidence_of", "fhir_datetime", "stronger_outcome", "vn_date"]

VN_TZ: Final = timezone(timedelta(hours=7))
#: Classification order, weakest first.
RANK: Final = {"suspected": 0, "probable": 1, "confirmed": 2}
_OUTCOME_RANK: Final = {"unknown": 0, "recovered": 1, "died": 2}
_V3_INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_SNOMED: Final = "http://snomed.info/sct"
_POSITIVE_SNOMED: Final = frozenset({"10828004", "260373001", "52101004"})  # positive, detected, present
_POSITIVE_INTERPRETATION: Final = frozenset({"POS", "DET", "A", "AA"})
_POSITIVE_TEXT: Final = frozenset(
    {"positive", "detected", "reactive", "dương tính", "duong tinh", "phát hiện"}
)
_FINAL: Final = frozenset({"final", "amended", "corrected"})


@dataclass(frozen=True, slots=True)
class Evidence:
    """One resource's evidence of one disease."""

    ref: str  # "Condition/123"
    patient: str  # the Patient record it belongs to
    kind: str  # condition | encounter | lab
    disease: str  # the disease key
    code: str  # ICD-10 code or LOINC code
    at: datetime  # when it was known (diagnosis, visit start, result)
    onset: date | None
    classification: str
    outcome: str


def fhir_datetime(value: object) -> datetime | None:
    """A FHIR date / dateTime / instant as an aware datetime (no offset: Viet Nam time; partial: start)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=VN_TZ)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=VN_TZ)
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=VN_TZ)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=VN_TZ)


def vn_date(moment: datetime) -> date:
    """The calendar date of ``moment`` in Viet Nam."""
    return moment.astimezone(VN_TZ).date()


def _codings(concept: object) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [
        (str(c.get("system", "")), str(c.get("code", "")))
        for c in concept.get("coding", ())
        if isinstance(c, dict) and c.get("code")
    ]


def _status_code(concept: object) -> str:
    codes = _codings(concept)
    return codes[0][1] if codes else ""


def _icd_codes(concepts: list[object]) -> list[str]:
    out: list[str] = []
    for concept in concepts:
        out += [normalise_code(c) for s, c in _codings(concept) if s in ICD10_SYSTEMS]
    return out


def _recorded(content: dict[str, Any]) -> datetime:
    meta = content.get("meta")
    updated = fhir_datetime(meta.get("lastUpdated")) if isinstance(meta, dict) else None
    return updated or datetime.now(UTC)


def _patient_of(content: dict[str, Any], default: str) -> str:
    subject = content.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    if isinstance(ref, str) and ref.startswith("Patient/"):
        return ref.split("/")[1]
    return default


def _by_code(
    ref: str,
    patient: str,
    kind: str,
    codes: list[str],
    at: datetime,
    onset: date | None,
    cls: str,
    outcome: str,
) -> list[Evidence]:
    lst = list_on(vn_date(at) if onset is None else onset)
    seen: dict[str, Evidence] = {}
    for code in codes:
        disease = lst.for_code(code)
        if disease is not None and disease.key not in seen:
            seen[disease.key] = Evidence(ref, patient, kind, disease.key, code, at, onset, cls, outcome)
    return list(seen.values())


def _condition(content: dict[str, Any], ref: str, patient: str) -> list[Evidence]:
    verification = _status_code(content.get("verificationStatus"))
    if verification in ("refuted", "entered-in-error"):
        return []
    onset_at = fhir_datetime(content.get("onsetDateTime")) or fhir_datetime(
        (content.get("onsetPeriod") or {}).get("start")
    )
    at = fhir_datetime(content.get("recordedDate")) or onset_at or _recorded(content)
    clinical = _status_code(content.get("clinicalStatus"))
    abated = any(k.startswith("abatement") for k in content)
    outcome = "recovered" if clinical in ("resolved", "remission", "inactive") or abated else "unknown"
    cls = "probable" if verification == "confirmed" else "suspected"
    onset = vn_date(onset_at) if onset_at else None
    return _by_code(ref, patient, "condition", _icd_codes([content.get("code")]), at, onset, cls, outcome)


def _encounter(content: dict[str, Any], ref: str, patient: str) -> list[Evidence]:
    if content.get("status") in ("cancelled", "entered-in-error"):
        return []
    raw_period = content.get("period")
    period: dict[str, Any] = raw_period if isinstance(raw_period, dict) else {}
    at = fhir_datetime(period.get("start")) or _recorded(content)
    hospitalization = content.get("hospitalization")
    disposition = (
        _status_code(hospitalization.get("dischargeDisposition")) if isinstance(hospitalization, dict) else ""
    )
    outcome = "died" if disposition == "exp" else "unknown"
    codes = _icd_codes(list(content.get("reasonCode") or []))
    return _by_code(ref, patient, "encounter", codes, at, None, "suspected", outcome)


def _positive(content: dict[str, Any]) -> bool:
    for s, c in _codings(content.get("valueCodeableConcept")):
        if s == _SNOMED and c in _POSITIVE_SNOMED:
            return True
    for concept in content.get("interpretation") or []:
        if any(s == _V3_INTERPRETATION and c in _POSITIVE_INTERPRETATION for s, c in _codings(concept)):
            return True
    text = content.get("valueString")
    if isinstance(text, str) and text.strip().lower() in _POSITIVE_TEXT:
        return True
    return content.get("valueBoolean") is True


def _observation(content: dict[str, Any], ref: str, patient: str) -> list[Evidence]:
    if content.get("status") not in _FINAL or not _positive(content):
        return []
    tests = lab_tests()
    found = [tests[c] for s, c in _codings(content.get("code")) if s == LOINC and c in tests]
    if not found:
        return []
    raw_period = content.get("effectivePeriod")
    period: dict[str, Any] = raw_period if isinstance(raw_period, dict) else {}
    at = (
        fhir_datetime(content.get("effectiveDateTime"))
        or fhir_datetime(period.get("start"))
        or fhir_datetime(content.get("issued"))
        or _recorded(content)
    )
    return [
        Evidence(
            ref,
            patient,
            "lab",
            t.disease,
            t.loinc,
            at,
            None,
            "confirmed" if t.confirms else "probable",
            "unknown",
        )
        for t in {t.disease: t for t in found}.values()
    ]


def evidence_of(content: dict[str, Any], patient: str = "") -> list[Evidence]:
    """The notifiable-disease evidence ``content`` (a Condition, Encounter or Observation) holds."""
    res_type = content.get("resourceType")
    ref = f"{res_type}/{content.get('id', '')}"
    who = _patient_of(content, patient)
    if res_type == "Condition":
        return _condition(content, ref, who)
    if res_type == "Encounter":
        return _encounter(content, ref, who)
    if res_type == "Observation":
        return _observation(content, ref, who)
    return []


def stronger_outcome(a: str, b: str) -> str:
    """The outcome that wins: died over recovered over unknown."""
    return a if _OUTCOME_RANK.get(a, 0) >= _OUTCOME_RANK.get(b, 0) else b
