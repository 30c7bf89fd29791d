"""Topic-based subscriptions for FHIR R4, as the Subscriptions R5 Backport IG defines them.

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/ (components, channels, notifications,
errors, operations). Design, use and limits: docs/subscriptions.md.

Pieces:

- :mod:`.topic`, :mod:`.topics`: the shipped SubscriptionTopics (patient admitted, encounter finished,
  consult requested / completed, alert raised), served for R4 as Basic resources;
- :mod:`.subscription`, :mod:`.filter_criteria`: a Subscription request read against the backport profile;
- :mod:`.events`: the store write hook: events recorded in the writer's transaction;
- :mod:`.delivery` (tasks ``subscriptions.deliver``, ``.heartbeat``, ``.sweep``), :mod:`.rest_hook`: the
  worker's rest-hook delivery, at least once, with retries;
- :mod:`.websocket`: binding tokens and the hub that pushes to bound sockets;
- :mod:`.operations`: ``$status``, ``$events``, ``$get-ws-binding-token``;
- :mod:`.notification`, :mod:`.payload`: notification bundles.

Start-up (every process that writes resources: API servers and workers)::

    from senhealth.fhir.subscriptions import install
    install()          # the write hook and the operations; the worker also imports .delivery (its tasks)
"""

from __future__ import annotations

from senhealth.fhir.store.hooks import register_write_hook, unregister_write_hook
from senhealth.fhir.subscriptions.events import clear_cache, hooked_types, on_writes
from senhealth.fhir.subscriptions.operations import register_subscription_operations, websocket_url
from senhealth.fhir.subscriptions.topics import TOPICS, all_topics, register_topics, topic_by_id, topic_by_url
from senhealth.fhir.subscriptions.websocket import WebsocketHub

__all__ = [
    "TOPICS",
    "WebsocketHub",
    "all_topics",
    "install",
    "register_subscription_operations",
    "register_topics",
    "topic_by_id",
    "topic_by_url",
    "uninstall",
    "websocket_url",
]


def install() -> None:
    """Register the write hook and the operations in this process (idempotent)."""
    register_write_hook(on_writes, types=hooked_types())
    register_subscription_operations()


def uninstall() -> None:
    """Remove the write hook (the operations stay registered) and forget the cached subscriptions."""
    unregister_write_hook(on_writes)
    clear_cache()
