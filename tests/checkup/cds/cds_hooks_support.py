"""Shared by the CDS Hooks tests: the live platform's handle, request builders, and the CDS Hooks 1.0
response shapes as JSON Schema (https://cds-hooks.hl7.org/1.0/: discovery, cards, suggestions,
actions, links; required fields and enumerations)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]

FHIR_JSON = {"Content-Type": "application/fhir+json"}


@dataclass(frozen=True)
class LivePlatform:
    url: str
    headers: dict[str, dict[str, str]]

    @property
    def fhir(self) -> str:
        return f"{self.url}/fhir"

    def token(self, who: str) -> str:
        return self.headers[who]["Authorization"].removeprefix("Bearer ")


_STR = {"type": "string", "minLength": 1}
DISCOVERY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["services"],
    "properties": {
        "services": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["hook", "description", "id"],
                "properties": {
                    "hook": _STR,
                    "title": _STR,
                    "description": _STR,
                    "id": _STR,
                    "prefetch": {"type": "object", "additionalProperties": _STR},
                },
            },
        }
    },
}
_ACTION = {
    "type": "object",
    "required": ["type", "description"],
    "properties": {
        "type": {"enum": ["create", "update", "delete"]},
        "description": _STR,
        "resource": {"type": ["object", "string"]},
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "create"}}},
            "then": {
                "required": ["resource"],
                "properties": {"resource": {"type": "object", "required": ["resourceType"]}},
            },
        },
        {
            "if": {"properties": {"type": {"const": "delete"}}},
            "then": {
                "properties": {"resource": {"type": "string", "pattern": "^[A-Za-z]+/[A-Za-z0-9\\-.]{1,64}$"}}
            },
        },
    ],
}
CARDS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["cards"],
    "properties": {
        "cards": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["summary", "indicator", "source"],
                "properties": {
                    "uuid": _STR,
                    "summary": {"type": "string", "minLength": 1, "maxLength": 139},
                    "detail": _STR,
                    "indicator": {"enum": ["info", "warning", "critical"]},
                    "source": {
                        "type": "object",
                        "required": ["label"],
                        "properties": {
                            "label": _STR,
                            "url": {"type": "string", "pattern": "^https?://"},
                            "icon": _STR,
                        },
                    },
                    "suggestions": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["label"],
                            "properties": {
                                "label": _STR,
                                "uuid": _STR,
                                "actions": {"type": "array", "items": _ACTION},
                            },
                        },
                    },
                    "selectionBehavior": {"enum": ["at-most-one"]},
                    "links": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["label", "url", "type"],
                            "properties": {
                                "label": _STR,
                                "url": _STR,
                                "type": {"enum": ["absolute", "smart"]},
                                "appContext": _STR,
                            },
                        },
                    },
                },
                "dependentRequired": {"suggestions": ["selectionBehavior"]},
            },
        }
    },
}


def check_cards(body: Any) -> list[dict[str, Any]]:
    """Validate a service response against the CDS Hooks 1.0 shapes; its cards."""
    jsonschema.Draft202012Validator(CARDS_SCHEMA).validate(body)
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def check_discovery(body: Any) -> None:
    jsonschema.Draft202012Validator(DISCOVERY_SCHEMA).validate(body)


def hook_request(hook: str, patient_id: str, **extra: Any) -> dict[str, Any]:
    context = {"userId": "Practitioner/bs-xa", "patientId": patient_id, **extra.pop("context", {})}
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, **extra}


def authorized(live: LivePlatform, who: str = "doctor") -> dict[str, Any]:
    """``fhirServer`` and ``fhirAuthorization`` for this platform's FHIR API with ``who``'s token."""
    return {
        "fhirServer": live.fhir,
        "fhirAuthorization": {
            "access_token": live.token(who),
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/*.rs",
            "subject": "senhealth-cds",
        },
    }


def post(c: httpx.Client, path: str, resource: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    r = c.post(path, json=resource, headers={**headers, **FHIR_JSON})
    assert r.status_code == 201, r.text[:500]
    body: dict[str, Any] = r.json()
    return body


def put(c: httpx.Client, path: str, resource: dict[str, Any], headers: dict[str, str]) -> None:
    r = c.put(path, json=resource, headers={**headers, **FHIR_JSON})
    assert r.status_code in (200, 201), r.text[:500]
