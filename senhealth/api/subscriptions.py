"""HTTP routes of topic-based subscriptions: the websocket channel and the topics' R4 listing.

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html#websockets (connect to the
``websocket-url`` of ``$get-ws-binding-token``, send ``bind-with-token <token>``) and
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html#subscription-topics-in-r4 (topics in
R4 as ``Basic`` resources with cross-version extensions).

- ``WS /fhir/subscriptions/ws``: the websocket endpoint; the binding token is its authentication (it was
  issued to a caller allowed to see the subscriptions), so it needs no bearer token (browsers cannot send
  one on a websocket).
- ``GET /fhir/SubscriptionTopic`` (``url``, ``_id`` filters): a ``searchset`` Bundle of the shipped topics,
  each as the R4 ``Basic`` the IG describes; ``GET /fhir/SubscriptionTopic/{id}``: one. The topics'
  canonical URLs (``https://senhealth.vn/fhir/SubscriptionTopic/<id>``) resolve here on the platform's own
  host. ``SubscriptionTopic`` is not an R4 type, so these paths shadow nothing of the generic REST API
  (which answers 404 for it); read-only, the definitions are the code's (:mod:`senhealth.fhir.subscriptions.topics`).

``$status``, ``$events`` and ``$get-ws-binding-token`` go through the operation registry
(:func:`senhealth.fhir.subscriptions.register_subscription_operations`), not through this router.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from starlette.responses import Response

from senhealth.api.fhir.context import FHIR_PREFIX, base_url, respond
from senhealth.api.fhir.errors import FhirError
from senhealth.api.fhir.responses import FhirResponse
from senhealth.fhir.store import FhirStore
from senhealth.fhir.subscriptions import WebsocketHub, all_topics, topic_by_id
from senhealth.fhir.subscriptions.operations import WS_PATH

__all__ = ["subscriptions_router"]

log = logging.getLogger(__name__)


def _hub(websocket: WebSocket) -> WebsocketHub:
    state = websocket.app.state
    hub: WebsocketHub | None = getattr(state, "subscription_hub", None)
    if hub is None:
        store: FhirStore = state.fhir_store
        hub = state.subscription_hub = WebsocketHub(store)
    return hub


def subscriptions_router() -> APIRouter:
    """The websocket endpoint and the SubscriptionTopic listing (include it before the generic FHIR routes)."""
    router = APIRouter(tags=["subscriptions"])

    @router.websocket(FHIR_PREFIX + WS_PATH)
    async def subscription_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        session = _hub(websocket).session(websocket.send_text)
        try:
            while True:
                message = await websocket.receive_text()
                await session.receive(message)
        except WebSocketDisconnect:
            pass
        finally:
            await session.close()

    @router.get(
        FHIR_PREFIX + "/SubscriptionTopic",
        response_class=FhirResponse,
        summary="Subscription topics (R4 Basic)",
    )
    async def list_topics(request: Request) -> Response:
        wanted_url = request.query_params.getlist("url")
        wanted_id = [i for v in request.query_params.getlist("_id") for i in v.split(",")]
        known = {"url", "_id", "_format", "_pretty", "_count"}
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise FhirError(
                400,
                f"Unknown search parameter {unknown[0]!r}: url and _id are supported",
                expression=unknown[0],
            )
        base = base_url(request)
        entries = []
        for topic in all_topics():
            if wanted_url and topic.url not in [u.split("|", 1)[0] for u in wanted_url]:
                continue
            if wanted_id and topic.id not in wanted_id:
                continue
            entries.append(
                {
                    "fullUrl": f"{base}/SubscriptionTopic/{topic.id}",
                    "resource": topic.to_basic(),
                    "search": {"mode": "match"},
                }
            )
        bundle = {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "searchset",
            "total": len(entries),
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": entries,
        }
        return respond(request, bundle)

    @router.get(
        FHIR_PREFIX + "/SubscriptionTopic/{topic_id}",
        response_class=FhirResponse,
        summary="One subscription topic",
    )
    async def read_topic(request: Request, topic_id: str) -> Response:
        topic = topic_by_id(topic_id)
        if topic is None:
            raise FhirError(404, f"SubscriptionTopic/{topic_id[:64]} is not known")
        return respond(request, topic.to_basic())

    return router
