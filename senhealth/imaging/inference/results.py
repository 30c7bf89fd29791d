"""The AI result as FHIR resources: a preliminary DiagnosticReport, its Observation, a worklist Task, and the
Provenance that names the model.

Spec: https://hl7.org/fhir/R4/diagnosticreport.html (status ``preliminary``: "verified early results are
available, but not all results are final"), https://hl7.org/fhir/R4/observation.html,
https://hl7.org/fhir/R4/task.html (``priority``: routine | urgent | asap | stat),
https://hl7.org/fhir/R4/provenance.html; DESIGN.md §1 (AI models are Devices).

- **Observation** (the finding): ``code`` the model's finding (SNOMED CT, e.g. 27925004 Nodule),
  ``bodySite`` its finding site, ``valueCodeableConcept`` Present (52101004) or Absent (272519000), one
  ``component`` with the probability (UCUM ``1``), ``device`` → the Device of the model at the facility,
  ``derivedFrom`` → the ImagingStudy, status ``preliminary``;
- **DiagnosticReport**: status ``preliminary``, category RAD, code LOINC 18748-4 (Diagnostic imaging study),
  ``result`` the Observation, ``imagingStudy``, a conclusion that says it is the model's and not reviewed,
  extensions naming the model's Device and the DICOM SR and SEG stored with the study (their SOP Instance
  UIDs as ``urn:oid:`` identifiers), tag ``imaging-ai|ai-preliminary``;
- **Task** (the reading worklist): ``focus`` the report, ``priority`` ``urgent`` when the probability
  reaches the card's ``urgent_threshold``, else ``routine``; ``owner`` the facility; ``requester`` the Device;
- **Provenance**: targets the three, ``agent`` the Device (versioned reference: the model version that ran)
  as author on behalf of the facility, ``entity`` the ImagingStudy (source).

Ids are derived from (study, device, model version), so a retried job finds its own result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from senhealth.imaging.models.card import ModelCard
from senhealth.imaging.models.definition import AI_SYSTEM, SD

__all__ = [
    "AI_TAG",
    "DEVICE_EXT",
    "DICOM_OBJECT_EXT",
    "PROBABILITY_CODE",
    "AiResult",
    "ai_call",
    "result_ids",
    "result_resources",
]

AI_TAG: Final = {
    "system": AI_SYSTEM,
    "code": "ai-preliminary",
    "display": "Kết quả AI sơ bộ / preliminary AI result",
}
DEVICE_EXT: Final = f"{SD}/ai-model-device"
DICOM_OBJECT_EXT: Final = f"{SD}/ai-dicom-object"
PROBABILITY_CODE: Final = {
    "coding": [{"system": AI_SYSTEM, "code": "probability", "display": "AI model probability"}],
    "text": "Xác suất (AI) / probability (AI)",
}
SCT: Final = "http://snomed.info/sct"
PRESENT: Final = {"system": SCT, "code": "52101004", "display": "Present"}
ABSENT: Final = {"system": SCT, "code": "272519000", "display": "Absent"}
LOINC_IMAGING: Final = {
    "system": "http://loinc.org",
    "code": "18748-4",
    "display": "Diagnostic imaging study",
}
RAD: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
    "code": "RAD",
    "display": "Radiology",
}
UID_SYSTEM: Final = "urn:dicom:uid"


@dataclass(frozen=True, slots=True)
class AiResult:
    """One model run on one study."""

    probability: float
    positive: bool
    urgent: bool
    sr_uids: list[str]
    seg_uids: list[str]
    provider: str
    seconds: float


def result_ids(study_id: str, device_id: str, version: str) -> dict[str, str]:
    digest = hashlib.sha256(f"{study_id}|{device_id}|{version}".encode()).hexdigest()[:24]
    return {k: f"ai-{k}-{digest}" for k in ("report", "obs", "task", "prov")}


def fhir_time(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")


def finding_concept(card: ModelCard) -> dict[str, Any]:
    f = card.finding
    return {
        "coding": [{"system": f.system, "code": f.code, "display": f.display}],
        "text": f"{f.text_vi} / {f.display}",
    }


def ai_call(observation: dict[str, Any]) -> bool:
    """Whether a finding Observation says Present."""
    codings = (observation.get("valueCodeableConcept") or {}).get("coding") or []
    return any(c.get("code") == PRESENT["code"] for c in codings)


def presence(present: bool) -> dict[str, Any]:
    return {
        "coding": [dict(PRESENT if present else ABSENT)],
        "text": "Có / present" if present else "Không có / absent",
    }


def conclusion_text(card: ModelCard, result: AiResult) -> str:
    pct = f"{100 * result.probability:.0f}%"
    f = card.finding
    if result.positive:
        vi = f"AI ({card.label}) nghi có {f.text_vi.lower()} (xác suất {pct}); chưa được bác sĩ đọc."
        en = f"AI ({card.label}) suggests {f.display.lower()} present (probability {pct}); not yet reviewed."
    else:
        vi = f"AI ({card.label}) không thấy {f.text_vi.lower()} (xác suất {pct}); chưa được bác sĩ đọc."
        en = f"AI ({card.label}) finds no {f.display.lower()} (probability {pct}); not yet reviewed."
    return f"{vi} / {en} ({card.status_text})"


def result_resources(
    *,
    study: dict[str, Any],
    device: dict[str, Any],
    device_version: str,
    card: ModelCard,
    result: AiResult,
    facility: str | None,
    when: datetime,
) -> dict[str, dict[str, Any]]:
    """The Observation, DiagnosticReport, Task and Provenance of one run (keys ``obs``, ``report``, ``task``,
    ``prov``)."""
    ids = result_ids(str(study["id"]), str(device["id"]), card.version)
    subject = study["subject"]
    study_ref = {"reference": f"ImagingStudy/{study['id']}"}
    device_ref = {"reference": f"Device/{device['id']}", "display": card.label}
    now = fhir_time(when)
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ids["obs"],
        "meta": {"tag": [AI_TAG]},
        "status": "preliminary",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "imaging",
                        "display": "Imaging",
                    }
                ]
            }
        ],
        "code": finding_concept(card),
        "subject": subject,
        "issued": now,
        "bodySite": {
            "coding": [{"system": SCT, "code": card.finding.site_code, "display": card.finding.site_display}]
        },
        "valueCodeableConcept": presence(result.positive),
        "method": {"text": f"AI {card.label}"},
        "device": device_ref,
        "derivedFrom": [study_ref],
        "component": [
            {
                "code": PROBABILITY_CODE,
                "valueQuantity": {
                    "value": round(result.probability, 4),
                    "unit": "1",
                    "system": "http://unitsofmeasure.org",
                    "code": "1",
                },
            }
        ],
    }
    if study.get("started"):
        obs["effectiveDateTime"] = study["started"]
    if study.get("encounter"):
        obs["encounter"] = study["encounter"]
    objects = [("SR", uid) for uid in result.sr_uids] + [("SEG", uid) for uid in result.seg_uids]
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": ids["report"],
        "meta": {"tag": [AI_TAG]},
        "extension": [{"url": DEVICE_EXT, "valueReference": device_ref}]
        + [
            {
                "url": DICOM_OBJECT_EXT,
                "valueReference": {
                    **study_ref,
                    "display": kind,
                    "identifier": {"system": UID_SYSTEM, "value": f"urn:oid:{uid}"},
                },
            }
            for kind, uid in objects
        ],
        "basedOn": list(study.get("basedOn") or []),
        "status": "preliminary",
        "category": [{"coding": [RAD]}],
        "code": {"coding": [LOINC_IMAGING], "text": "Chẩn đoán hình ảnh / diagnostic imaging"},
        "subject": subject,
        "issued": now,
        "result": [{"reference": f"Observation/{ids['obs']}"}],
        "imagingStudy": [study_ref],
        "conclusion": conclusion_text(card, result),
        "conclusionCode": [finding_concept(card) if result.positive else presence(False)],
    }
    if not report["basedOn"]:
        del report["basedOn"]
    if study.get("started"):
        report["effectiveDateTime"] = study["started"]
    if study.get("encounter"):
        report["encounter"] = study["encounter"]
    if facility:
        report["performer"] = [{"reference": f"Organization/{facility}"}]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": ids["task"],
        "meta": {"tag": [AI_TAG]},
        "status": "requested",
        "intent": "order",
        "priority": "urgent" if result.urgent else "routine",
        "code": {
            "coding": [{"system": AI_SYSTEM, "code": "review-ai-result", "display": "Review an AI result"}],
            "text": "Đọc phim và duyệt kết quả AI / read the study and review the AI result",
        },
        "focus": {"reference": f"DiagnosticReport/{ids['report']}"},
        "for": subject,
        "authoredOn": now,
        "requester": device_ref,
        "input": [{"type": {"text": "ImagingStudy"}, "valueReference": study_ref}],
    }
    if facility:
        task["owner"] = {"reference": f"Organization/{facility}"}
    if study.get("basedOn"):
        task["basedOn"] = list(study["basedOn"])
    if study.get("encounter"):
        task["encounter"] = study["encounter"]
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                    "code": "author",
                    "display": "Author",
                }
            ]
        },
        "who": {"reference": f"Device/{device['id']}/_history/{device_version}", "display": card.label},
    }
    if facility:
        agent["onBehalfOf"] = {"reference": f"Organization/{facility}"}
    prov: dict[str, Any] = {
        "resourceType": "Provenance",
        "id": ids["prov"],
        "meta": {"tag": [AI_TAG]},
        "target": [
            {"reference": f"DiagnosticReport/{ids['report']}"},
            {"reference": f"Observation/{ids['obs']}"},
            {"reference": f"Task/{ids['task']}"},
        ],
        "recorded": now,
        "activity": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                    "code": "CREATE",
                    "display": "create",
                }
            ],
            "text": f"Suy luận AI / AI inference ({result.provider}, {result.seconds * 1000:.0f} ms)",
        },
        "agent": [agent],
        "entity": [{"role": "source", "what": study_ref}],
        "reason": [{"text": card.regulatory_status}],
    }
    return {"obs": obs, "report": report, "task": task, "prov": prov}
