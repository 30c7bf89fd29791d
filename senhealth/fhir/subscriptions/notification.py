"""Notification bundles and the SubscriptionStatus ``Parameters`` of R4 topic-based subscriptions.

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html and the profiles
``backport-subscription-notification-r4`` (a ``history`` Bundle whose first entry is the status) and
``backport-subscription-status-r4`` (a ``Parameters`` with ``subscription``, ``topic``, ``status``,
``type``, ``events-since-subscription-start``, ``notification-event`` parts ``event-number``,
``timestamp``, ``focus``, and ``error``); payload levels ``empty`` / ``id-only`` / ``full-resource``:
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/payloads.html.

Every entry of a history Bundle has a ``request`` (bdl-3 / bdl-4): the status entry a ``GET`` of
``Subscription/[id]/$status``; a focus entry the interaction that made the version (``POST [type]``,
``PUT [type]/[id]``, ``DELETE [type]/[id]``) with its ``response``. ``id-only`` entries carry the
``fullUrl`` and no resource; ``full-resource`` entries the version that triggered the event (not the
current one); ``empty`` notifications have the status entry only, without ``topic`` or ``focus``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from senhealth.fhir.store.meta import instant
from senhealth.fhir.subscriptions.state import EventRow

__all__ = [
    "NOTIFICATION_PROFILE",
    "STATUS_PROFILE",
    "notification_bundle",
    "status_parameters",
]

_IG: Final = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
STATUS_PROFILE: Final = _IG + "backport-subscription-status-r4"
NOTIFICATION_PROFILE: Final = _IG + "backport-subscription-notification-r4"
_METHOD: Final = {"create": ("POST", "201"), "update": ("PUT", "200"), "delete": ("DELETE", "204")}


def _ref(base: str, path: str) -> str:
    return f"{base}/{path}" if base else path


def status_parameters(
    subscription_id: str,
    *,
    base: str,
    topic: str,
    status: str,
    kind: str,
    events_since_start: int,
    events: Sequence[EventRow] = (),
    content: str = "id-only",
    error: str | None = None,
) -> dict[str, Any]:
    """The ``backport-subscription-status-r4`` Parameters; ``kind``: handshake, heartbeat,
    event-notification, query-status or query-event."""
    params: list[dict[str, Any]] = [
        {
            "name": "subscription",
            "valueReference": {"reference": _ref(base, f"Subscription/{subscription_id}")},
        },
    ]
    if content != "empty":
        params.append({"name": "topic", "valueCanonical": topic})
    params += [
        {"name": "status", "valueCode": status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    for event in events:
        parts: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(event.number)},
            {"name": "timestamp", "valueInstant": instant(event.created_at.astimezone(UTC))},
        ]
        if content != "empty":
            parts.append(
                {
                    "name": "focus",
                    "valueReference": {"reference": _ref(base, f"{event.focus_type}/{event.focus_id}")},
                }
            )
        params.append({"name": "notification-event", "part": parts})
    if error:
        params.append({"name": "error", "valueCodeableConcept": {"text": error[:1000]}})
    return {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": params,
    }


def notification_bundle(
    status: dict[str, Any],
    *,
    subscription_id: str,
    base: str,
    events: Sequence[EventRow] = (),
    content: str = "id-only",
    resources: Mapping[tuple[str, str, int], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``backport-subscription-notification-r4`` Bundle: ``status`` first, then one entry per event
    (``id-only`` / ``full-resource``; ``resources`` holds the versions by ``(type, id, version)``)."""
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{status['id']}",
            "resource": status,
            "request": {"method": "GET", "url": _ref(base, f"Subscription/{subscription_id}/$status")},
            "response": {"status": "200"},
        }
    ]
    if content != "empty":
        for event in events:
            method, code = _METHOD.get(event.interaction, ("PUT", "200"))
            entry: dict[str, Any] = {}
            if base:
                entry["fullUrl"] = f"{base}/{event.focus_type}/{event.focus_id}"
            resource = (resources or {}).get((event.focus_type, event.focus_id, event.focus_version))
            if content == "full-resource" and resource is not None:
                entry["resource"] = resource
            url = event.focus_type if method == "POST" else f"{event.focus_type}/{event.focus_id}"
            entry["request"] = {"method": method, "url": url}
            entry["response"] = {"status": code, "etag": f'W/"{event.focus_version}"'}
            entries.append(entry)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": instant(datetime.now(UTC)),
        "entry": entries,
    }
