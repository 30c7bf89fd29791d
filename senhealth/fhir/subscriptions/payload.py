"""Notification payloads: the bundle a channel sends for a subscription's events, handshake or heartbeat.

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/payloads.html (``empty``, ``id-only``,
``full-resource``) and https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html.

``full-resource`` notifications carry the version of the focus that triggered each event (a vread),
not whatever is current when the notification is sent; a deleted focus has no resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.fhir.subscriptions.config import get_config
from senhealth.fhir.subscriptions.notification import notification_bundle, status_parameters
from senhealth.fhir.subscriptions.state import EventRow, State

__all__ = ["build_notification", "public_base"]


def public_base(store: FhirStore) -> str:
    """The FHIR base URL written in notifications: the configured one, else the store's first, else ""."""
    configured = get_config().base_url.rstrip("/")
    if configured:
        return configured
    return store.base_urls[0] if store.base_urls else ""


async def build_notification(
    store: FhirStore,
    state: State,
    *,
    kind: str,
    content: str,
    events: Sequence[EventRow] = (),
    status: str | None = None,
    events_since_start: int | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The notification Bundle of ``kind`` (handshake, heartbeat, event-notification, query-event)."""
    base = public_base(store)
    params = status_parameters(
        state.subscription_id,
        base=base,
        topic=state.topic,
        status=status or state.status,
        kind=kind,
        events_since_start=state.events_since_start if events_since_start is None else events_since_start,
        events=events,
        content=content,
        error=error,
    )
    resources: dict[tuple[str, str, int], dict[str, Any]] = {}
    if content == "full-resource":
        for e in events:
            if e.interaction == "delete":
                continue
            try:
                stored = await store.vread(e.focus_type, e.focus_id, e.focus_version)
            except (NotFound, Gone):
                continue
            if stored.content is not None:
                resources[(e.focus_type, e.focus_id, e.focus_version)] = stored.content
    return notification_bundle(
        params,
        subscription_id=state.subscription_id,
        base=base,
        events=events,
        content=content,
        resources=resources,
    )
