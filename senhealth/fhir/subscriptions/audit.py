"""The audit record of a notification: events (and, with ``full-resource``, patient data) sent out through a
subscription's channel.

Spec: the Basic Audit Log Patterns IG https://profiles.ihe.net/ITI/BALP/ (a disclosure records who sent what
to whom, and the patients it concerned) and R4 AuditEvent https://hl7.org/fhir/R4/auditevent.html.

A notification is not a request anybody makes: the server pushes it to the subscription's endpoint (rest-hook)
or bound socket (websocket). Every other way out of the platform is recorded by the REST layer; this is the
record of this one, written through the installed audit sink (:func:`senhealth.fhir.access.audit_sink`):
action ``operation``, the platform's own delivery agent as the principal (:data:`SENDER`; the subscription's
creator is in ``details.owner``), the patients of the events, and in ``details`` the subscription, channel,
payload content, receiving host and event numbers. A rest-hook delivery records it in the transaction that
marks the events delivered (delivered ⇔ recorded); a websocket send just after the message went out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.access import AccessEvent, Principal, audit_sink
from senhealth.fhir.subscriptions.state import EventRow

__all__ = ["SENDER", "record_notification"]

#: Who sends notifications: the platform's subscription delivery (the worker, or the API's websocket hub).
SENDER: Final = Principal(
    "system", "senhealth-subscriptions", frozenset({"system"}), client_id="senhealth-subscriptions"
)


async def record_notification(
    conn: AsyncConnection[TupleRow],
    subscription_id: str,
    owner: str | None,
    events: Sequence[EventRow],
    *,
    channel: str,
    content: str,
    endpoint: str | None = None,
) -> None:
    """Record, in ``conn``'s transaction, that ``events`` of ``subscription_id`` were sent."""
    if not events:
        return
    event = AccessEvent(
        when=datetime.now(UTC),
        principal=SENDER,
        action="operation",
        res_type="Subscription",
        res_id=subscription_id,
        query=f"Subscription/{subscription_id}",
        patients=sorted({e.pkey for e in events if e.pkey}),
        details={
            "operation": "subscription-notification",
            "owner": owner,
            "channel": channel,
            "content": content,
            "endpoint": urlsplit(endpoint).hostname if endpoint else None,
            "events": [events[0].number, events[-1].number],
        },
    )
    await audit_sink().record(conn, event)
