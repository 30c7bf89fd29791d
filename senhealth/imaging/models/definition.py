"""A model as FHIR resources: the DeviceDefinition of a model version, the Device of its use at a facility.

Spec: https://hl7.org/fhir/R4/devicedefinition.html, https://hl7.org/fhir/R4/device.html. DESIGN.md §1: AI
models are DeviceDefinition / Device.

- **DeviceDefinition** ``ai-<name>-<version>``: one per model version. ``deviceName`` (the name, type
  ``model-name``; the title, ``user-friendly-name``), ``modelNumber`` (the name), ``version``,
  ``manufacturerString``, ``type`` (``imaging-ai|ai-model``), ``safety`` (the regulatory status),
  ``property`` (modalities, body parts and the validation metrics), ``note`` (the intended use, Vietnamese
  then English) and extensions: the licence, the file (an Attachment: where, size, title), its SHA-256 and
  the whole model card (JSON, base64), from which :func:`card_of` reads the card back.
- **Device** ``ai-<name>-at-<facility>`` (or ``ai-<name>-all`` for every facility): the model in use,
  ``definition`` → its DeviceDefinition, ``owner`` → the facility, ``status`` ``active`` (enabled) or
  ``inactive`` (disabled or suspended; ``statusReason`` and an extension say which and why),
  ``version`` the model version in use. Results and Provenance name this Device, so every use of a model
  is traced to the version that ran and where.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Final

from senhealth.imaging.models.card import ModelCard

__all__ = [
    "AI_SYSTEM",
    "CARD_EXT",
    "DEVICE_TYPE",
    "FILE_EXT",
    "LICENCE_EXT",
    "SHA256_EXT",
    "STATE_EXT",
    "card_of",
    "content_of",
    "definition_id",
    "definition_resource",
    "device_id",
    "device_resource",
    "device_state",
]

SD: Final = "https://senhealth.vn/fhir/StructureDefinition"
AI_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/imaging-ai"
LICENCE_EXT: Final = f"{SD}/ai-model-licence"
FILE_EXT: Final = f"{SD}/ai-model-file"
SHA256_EXT: Final = f"{SD}/ai-model-sha256"
CARD_EXT: Final = f"{SD}/ai-model-card"
STATE_EXT: Final = f"{SD}/ai-model-state"  # Device: enabled | disabled | suspended
DEVICE_TYPE: Final = {
    "coding": [{"system": AI_SYSTEM, "code": "ai-model", "display": "AI model"}],
    "text": "Mô hình AI đọc ảnh / imaging AI model",
}


def content_of(stored: Any) -> dict[str, Any]:
    """The resource of a :class:`senhealth.fhir.store.Stored` (a read or a write: never a deletion)."""
    if stored.content is None:
        raise ValueError(f"{stored.res_type}/{stored.res_id} is deleted")
    return dict(stored.content)


def _safe(text: str) -> str:
    """A FHIR id part ([A-Za-z0-9-.]) from ``text``."""
    return "".join(c if c.isalnum() or c in "-." else "-" for c in text)


def definition_id(name: str, version: str) -> str:
    return f"ai-{_safe(name)}-{_safe(version)}"[:64]


def device_id(name: str, facility: str | None) -> str:
    """``ai-<name>-at-<facility>``, ``ai-<name>-all`` without a facility (a digest when too long)."""
    rid = f"ai-{_safe(name)}-all" if facility is None else f"ai-{_safe(name)}-at-{_safe(facility)}"
    if len(rid) <= 64:
        return rid
    return f"ai-{_safe(name)[:30]}-{hashlib.sha256(rid.encode()).hexdigest()[:24]}"


def _concept(code: str, display: str, system: str = AI_SYSTEM) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def definition_resource(card: ModelCard, *, file_url: str, size: int) -> dict[str, Any]:
    """The DeviceDefinition of ``card`` whose file is at ``file_url`` (``builtin:<file>`` or a path under the
    platform's data folder)."""
    props: list[dict[str, Any]] = [
        {
            "type": _concept("modality", "Modality"),
            "valueCode": [
                _concept(m, m, "http://dicom.nema.org/resources/ontology/DCM") for m in card.modalities
            ],
        },
        {
            "type": _concept("body-part", "Body part examined"),
            "valueCode": [{"text": b} for b in card.body_parts],
        },
    ]
    for key, value in sorted(card.validation.items()):
        if isinstance(value, int | float) and not isinstance(value, bool):
            props.append(
                {
                    "type": _concept(f"validation-{key}", f"Validation: {key}"),
                    "valueQuantity": [{"value": value, "unit": "1"}],
                }
            )
    card_bytes = json.dumps(card.raw, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return {
        "resourceType": "DeviceDefinition",
        "id": definition_id(card.name, card.version),
        "extension": [
            {"url": LICENCE_EXT, "valueString": card.licence},
            {
                "url": FILE_EXT,
                "valueAttachment": {
                    "contentType": "application/octet-stream",
                    "url": file_url,
                    "size": size,
                    "title": card.file,
                },
            },
            {"url": SHA256_EXT, "valueString": card.sha256},
            {
                "url": CARD_EXT,
                "valueAttachment": {
                    "contentType": "application/json",
                    "data": base64.b64encode(card_bytes).decode("ascii"),
                },
            },
        ],
        "identifier": [{"system": f"{AI_SYSTEM}/model", "value": card.label}],
        "manufacturerString": card.manufacturer,
        "deviceName": [
            {"name": card.name, "type": "model-name"},
            {"name": f"{card.title_vi} / {card.title}", "type": "user-friendly-name"},
        ],
        "modelNumber": card.name,
        "type": DEVICE_TYPE,
        "version": [card.version],
        "safety": [
            {"coding": [{"system": AI_SYSTEM, "code": "regulatory-status"}], "text": card.regulatory_status}
        ],
        "property": props,
        "note": [{"text": card.intended_use_vi}, {"text": card.intended_use}],
    }


def card_of(definition: dict[str, Any]) -> ModelCard:
    """The model card kept in a DeviceDefinition."""
    for ext in definition.get("extension") or []:
        if ext.get("url") == CARD_EXT:
            data = json.loads(base64.b64decode(ext["valueAttachment"]["data"]))
            return ModelCard.from_json(data)
    raise ValueError(f"DeviceDefinition/{definition.get('id')} holds no model card")


def file_url_of(definition: dict[str, Any]) -> str:
    for ext in definition.get("extension") or []:
        if ext.get("url") == FILE_EXT:
            return str(ext["valueAttachment"]["url"])
    raise ValueError(f"DeviceDefinition/{definition.get('id')} names no model file")


def device_resource(card: ModelCard, facility: str | None, *, state: str, reason: str = "") -> dict[str, Any]:
    """The Device of ``card`` at ``facility`` (None: every facility) in ``state`` (enabled, disabled or
    suspended)."""
    out: dict[str, Any] = {
        "resourceType": "Device",
        "id": device_id(card.name, facility),
        "extension": [{"url": STATE_EXT, "valueCode": state}],
        "identifier": [{"system": f"{AI_SYSTEM}/enablement", "value": f"{card.name}|{facility or '*'}"}],
        "definition": {"reference": f"DeviceDefinition/{definition_id(card.name, card.version)}"},
        "status": "active" if state == "enabled" else "inactive",
        "manufacturer": card.manufacturer,
        "deviceName": [{"name": card.name, "type": "model-name"}],
        "modelNumber": card.name,
        "type": DEVICE_TYPE,
        "version": [{"value": card.version}],
        "safety": [{"text": card.regulatory_status}],
        "note": [{"text": card.regulatory_status}],
    }
    if facility is not None:
        out["owner"] = {"reference": f"Organization/{facility}"}
    if state != "enabled":
        out["statusReason"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/device-status-reason",
                        "code": "off" if state == "disabled" else "paused",
                    }
                ],
                "text": reason or state,
            }
        ]
    return out


def device_state(device: dict[str, Any]) -> str:
    """``enabled``, ``disabled`` or ``suspended``."""
    for ext in device.get("extension") or []:
        if ext.get("url") == STATE_EXT:
            return str(ext.get("valueCode"))
    return "enabled" if device.get("status") == "active" else "disabled"
