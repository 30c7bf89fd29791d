"""A CDS Hooks 1.0 service request, checked field by field.

Spec: https://cds-hooks.hl7.org/1.0/#calling-a-cds-service (``hook``, ``hookInstance``, ``fhirServer``,
``fhirAuthorization``, ``context``, ``prefetch``) and
https://cds-hooks.hl7.org/1.0/#passing-the-access-token-to-the-cds-service (``access_token``,
``token_type`` ``Bearer``, ``expires_in``, ``scope``, ``subject``); the hooks' contexts:
https://cds-hooks.org/hooks/patient-view/, https://cds-hooks.org/hooks/order-select/,
https://cds-hooks.org/hooks/order-sign/.

A request that does not fit is a :class:`CdsError` with status 400 naming the field
(``context.patientId``); the spec leaves the error body to the service (docs/cds-hooks.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["CdsError", "FhirAuthorization", "HookRequest", "parse_hook_request"]

_FHIR_ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_UUID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_USER: Final = re.compile(r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$")


class CdsError(Exception):
    """A request the service cannot answer: ``status`` (400 bad request, 404 unknown service, 412 data
    it cannot obtain), a message for the caller, and the request field at fault when there is one."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class FhirAuthorization:
    access_token: str
    token_type: str
    expires_in: int
    scope: str
    subject: str


@dataclass(frozen=True, slots=True)
class HookRequest:
    hook: str
    hook_instance: str
    context: Mapping[str, Any]
    prefetch: Mapping[str, Any] = field(default_factory=dict)
    fhir_server: str | None = None
    fhir_authorization: FhirAuthorization | None = None

    @property
    def patient_id(self) -> str:
        value: str = self.context["patientId"]
        return value


def _bad(message: str, where: str) -> CdsError:
    return CdsError(400, f"{where}: {message}", where)


def _string(body: Mapping[str, Any], name: str, where: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _bad("required, and missing", where)
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"expected a non-empty string, not {str(value)[:60]!r}", where)
    return value


def _authorization(value: Any) -> FhirAuthorization:
    where = "fhirAuthorization"
    if not isinstance(value, dict):
        raise _bad("expected an object", where)
    token = _string(value, "access_token", f"{where}.access_token")
    token_type = _string(value, "token_type", f"{where}.token_type")
    if token_type is not None and token_type.lower() != "bearer":
        raise _bad(f"must be Bearer, not {token_type!r}", f"{where}.token_type")
    expires = value.get("expires_in")
    if not isinstance(expires, int) or isinstance(expires, bool) or expires < 0:
        raise _bad("expected a whole number of seconds", f"{where}.expires_in")
    scope = _string(value, "scope", f"{where}.scope")
    subject = _string(value, "subject", f"{where}.subject")
    assert token is not None and scope is not None and subject is not None
    return FhirAuthorization(token, "Bearer", expires, scope, subject)


def _check_context(hook: str, context: Mapping[str, Any]) -> None:
    user = _string(context, "userId", "context.userId")
    assert user is not None
    if not _USER.match(user):
        raise _bad("expected a reference such as Practitioner/123", "context.userId")
    patient = _string(context, "patientId", "context.patientId")
    assert patient is not None
    if not _FHIR_ID.match(patient):
        raise _bad(f"{patient[:70]!r} is not a FHIR id", "context.patientId")
    encounter = _string(context, "encounterId", "context.encounterId", required=False)
    if encounter is not None and not _FHIR_ID.match(encounter):
        raise _bad(f"{encounter[:70]!r} is not a FHIR id", "context.encounterId")
    if hook in ("order-select", "order-sign"):
        draft = context.get("draftOrders")
        if not isinstance(draft, dict) or draft.get("resourceType") != "Bundle":
            raise _bad("required: a Bundle of the draft orders", "context.draftOrders")
        entries = draft.get("entry", [])
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("resource"), dict) for e in entries
        ):
            raise _bad("each entry needs a resource", "context.draftOrders.entry")
    if hook == "order-select":
        selections = context.get("selections")
        if (
            not isinstance(selections, list)
            or not selections
            or not all(isinstance(s, str) and "/" in s for s in selections)
        ):
            raise _bad(
                'required: the references of the selected orders, e.g. ["MedicationRequest/1"]',
                "context.selections",
            )


def parse_hook_request(body: Any, expected_hook: str) -> HookRequest:
    """Check ``body`` (the parsed JSON) as a request for a service of ``expected_hook``."""
    if not isinstance(body, dict):
        raise CdsError(400, "The request body must be a JSON object (a CDS Hooks request)")
    hook = _string(body, "hook", "hook")
    assert hook is not None
    if hook != expected_hook:
        raise _bad(f"this service answers the {expected_hook} hook, not {hook!r}", "hook")
    instance = _string(body, "hookInstance", "hookInstance")
    assert instance is not None
    if not _UUID.match(instance):
        raise _bad(f"{instance[:60]!r} is not a UUID", "hookInstance")
    server = _string(body, "fhirServer", "fhirServer", required=False)
    if server is not None and not server.startswith(("https://", "http://")):
        raise _bad("expected an absolute http(s) URL", "fhirServer")
    authorization = None
    if body.get("fhirAuthorization") is not None:
        authorization = _authorization(body["fhirAuthorization"])
        if server is None:
            raise _bad("required when fhirAuthorization is given", "fhirServer")
    context = body.get("context")
    if not isinstance(context, dict):
        raise _bad("required: an object", "context")
    _check_context(hook, context)
    prefetch = body.get("prefetch", {})
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise _bad("expected an object keyed by the prefetch template keys", "prefetch")
    for key, value in prefetch.items():
        if value is not None and (not isinstance(value, dict) or "resourceType" not in value):
            raise _bad("expected a FHIR resource (or null when there is no data)", f"prefetch.{key}")
    return HookRequest(
        hook=hook,
        hook_instance=instance,
        context=context,
        prefetch=prefetch,
        fhir_server=server,
        fhir_authorization=authorization,
    )
