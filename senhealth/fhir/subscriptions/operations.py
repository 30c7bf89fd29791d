"""``Subscription/$status``, ``Subscription/[id]/$events`` and ``$get-ws-binding-token``.

Spec: the Backport IG's operations (https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/artifacts.html#behavior-operation-definitions):

- ``$status`` (``OperationDefinition/backport-subscription-status``), type and instance level: a
  ``searchset`` Bundle of ``backport-subscription-status-r4`` Parameters of type ``query-status``, one
  per subscription (type level: the ``id`` and ``status`` parameters choose them; none: every
  subscription the caller may see);
- ``$events`` (``OperationDefinition/backport-subscription-events``), instance level: a ``history``
  notification Bundle of type ``query-event`` holding the kept events numbered ``eventsSinceNumber`` to
  ``eventsUntilNumber`` (default: the last page; at most ``events_page_max``), in the payload ``content``
  asked (default: the subscription's);
- ``$get-ws-binding-token`` (``OperationDefinition/backport-subscription-get-ws-binding-token``), type and
  instance level: a Parameters with ``token``, ``expiration``, ``subscription`` and ``websocket-url``
  for websocket subscriptions.

Access: a caller the access policy restricts sees only the subscriptions they created (others answer
404, like an unknown id); unrestricted callers see all. Answered through the operation registry
(:func:`register_subscription_operations`).
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from senhealth.core.db import transaction
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
)
from senhealth.fhir.store.meta import instant
from senhealth.fhir.subscriptions.config import get_config
from senhealth.fhir.subscriptions.notification import status_parameters
from senhealth.fhir.subscriptions.payload import build_notification, public_base
from senhealth.fhir.subscriptions.state import State, events_range, load_state, load_states
from senhealth.fhir.subscriptions.subscription import CONTENTS, STATUSES, read_subscription
from senhealth.fhir.subscriptions.websocket import create_binding_token

__all__ = ["EVENTS", "GET_WS_BINDING_TOKEN", "STATUS", "register_subscription_operations", "websocket_url"]

_OD: Final = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/"
#: The websocket endpoint, under the FHIR base.
WS_PATH: Final = "/subscriptions/ws"


def _owner_ok(call: OperationCall, state: State) -> bool:
    if call.restriction is None:
        return True
    subject = call.principal.subject if call.principal is not None else None
    return subject is not None and subject == state.owner


def _not_found(sub_id: str) -> OperationError:
    return OperationError(404, f"Subscription/{sub_id} is not known", "not-found")


async def _visible_state(call: OperationCall, sub_id: str) -> State:
    async with transaction(call.store.pool) as conn:
        state = await load_state(conn, sub_id)
    if state is None or not _owner_ok(call, state):
        raise _not_found(sub_id)
    return state


def _ids(call: OperationCall) -> list[str]:
    out: list[str] = []
    for value in call.params.get("id") or []:
        if not isinstance(value, str):
            raise OperationError(400, "Parameter 'id' must be a Subscription id", expression="id")
        out += [v.strip().removeprefix("Subscription/") for v in value.split(",") if v.strip()]
    return out


# --- $status ------------------------------------------------------------------------------------------


async def _status(call: OperationCall) -> OperationResult:
    if call.level == "instance":
        assert call.resource_id is not None
        states = [await _visible_state(call, call.resource_id)]
    else:
        ids = _ids(call)
        statuses = [str(s) for v in call.params.get("status") or [] for s in str(v).split(",") if s]
        for s in statuses:
            if s not in STATUSES:
                raise OperationError(
                    400,
                    f"Parameter 'status': {s[:40]!r} is not one of {', '.join(STATUSES)}",
                    expression="status",
                )
        async with transaction(call.store.pool) as conn:
            if ids:
                states = await load_states(conn, where="subscription_id = ANY(%s)", params=(ids,))
            else:
                states = await load_states(conn)
        states = [s for s in states if _owner_ok(call, s) and (not statuses or s.status in statuses)]
        states.sort(key=lambda s: s.subscription_id)
    base = public_base(call.store)
    entries = []
    for state in states:
        params = status_parameters(
            state.subscription_id,
            base=base,
            topic=state.topic,
            status=state.status,
            kind="query-status",
            events_since_start=state.events_since_start,
            error=state.last_error,
        )
        entries.append(
            {"fullUrl": f"urn:uuid:{params['id']}", "resource": params, "search": {"mode": "match"}}
        )
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": len(entries),
        "entry": entries,
    }
    return OperationResult(bundle)


# --- $events ------------------------------------------------------------------------------------------


def _number(call: OperationCall, name: str) -> int | None:
    value = call.first(name)
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit():
        raise OperationError(400, f"Parameter {name!r} must be a non-negative event number", expression=name)
    return int(text)


async def _events(call: OperationCall) -> OperationResult:
    assert call.resource_id is not None
    state = await _visible_state(call, call.resource_id)
    since, until = _number(call, "eventsSinceNumber"), _number(call, "eventsUntilNumber")
    content = call.text("content")
    try:
        stored = await call.store.read("Subscription", state.subscription_id)
        spec = read_subscription(stored.content or {})
    except Exception as e:
        raise OperationError(
            404, f"Subscription/{state.subscription_id} cannot be read: {e}", "not-found"
        ) from None
    if content is None:
        content = spec.content
    elif content not in CONTENTS:
        raise OperationError(
            400, f"Parameter 'content' must be one of {', '.join(CONTENTS)}", expression="content"
        )
    page = get_config().events_page_max
    last = state.events_since_start
    if until is None:
        until = last if since is None else min(last, since + page - 1)
    if since is None:
        since = max(1, until - page + 1)
    if since > until:
        events = []
    else:
        async with transaction(call.store.pool) as conn:
            events = await events_range(conn, state.subscription_id, max(since, 1), until, page)
    bundle = await build_notification(call.store, state, kind="query-event", content=content, events=events)
    return OperationResult(bundle)


# --- $get-ws-binding-token ----------------------------------------------------------------------------


def websocket_url(base_url: str) -> str:
    """The websocket endpoint for a FHIR base URL (``http://h/fhir`` -> ``ws://h/fhir/subscriptions/ws``)."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return base + WS_PATH


async def _binding_token(call: OperationCall) -> OperationResult:
    if call.level == "instance":
        assert call.resource_id is not None
        states = [await _visible_state(call, call.resource_id)]
    else:
        ids = _ids(call)
        async with transaction(call.store.pool) as conn:
            if ids:
                states = await load_states(conn, where="subscription_id = ANY(%s)", params=(ids,))
                missing = sorted(set(ids) - {s.subscription_id for s in states})
                if missing:
                    raise _not_found(missing[0])
            else:
                states = await load_states(conn, where="channel = 'websocket' AND status <> 'off'")
        hidden = [s for s in states if not _owner_ok(call, s)]
        if hidden and ids:
            raise _not_found(hidden[0].subscription_id)
        states = [s for s in states if _owner_ok(call, s)]
    for s in states:
        if s.channel != "websocket":
            raise OperationError(
                422, f"Subscription/{s.subscription_id} is not a websocket subscription", "processing", "id"
            )
        if s.status == "off":
            raise OperationError(422, f"Subscription/{s.subscription_id} is off", "processing", "id")
    if not states:
        raise OperationError(404, "No websocket subscription to bind", "not-found")
    owner = call.principal.subject if call.principal is not None else None
    ids = [s.subscription_id for s in states]
    async with transaction(call.store.pool) as conn:
        token, expires = await create_binding_token(conn, ids, owner)
    out: list[dict[str, Any]] = [
        {"name": "token", "valueString": token},
        {"name": "expiration", "valueDateTime": instant(expires)},
    ]
    out += [{"name": "subscription", "valueString": i} for i in ids]
    out.append({"name": "websocket-url", "valueUrl": websocket_url(call.base_url)})
    return OperationResult({"resourceType": "Parameters", "parameter": out})


STATUS: Final = Operation(
    name="status",
    handler=_status,
    levels=frozenset({"type", "instance"}),
    definition=_OD + "backport-subscription-status",
    resource_types=frozenset({"Subscription"}),
    documentation="Subscriptions R5 Backport: the status of topic-based subscriptions (query-status).",
)
EVENTS: Final = Operation(
    name="events",
    handler=_events,
    levels=frozenset({"instance"}),
    definition=_OD + "backport-subscription-events",
    resource_types=frozenset({"Subscription"}),
    documentation="Subscriptions R5 Backport: the events of a subscription, by number (query-event).",
)
GET_WS_BINDING_TOKEN: Final = Operation(
    name="get-ws-binding-token",
    handler=_binding_token,
    levels=frozenset({"type", "instance"}),
    definition=_OD + "backport-subscription-get-ws-binding-token",
    resource_types=frozenset({"Subscription"}),
    documentation="Subscriptions R5 Backport: a token to bind a websocket to subscriptions.",
)


def register_subscription_operations() -> None:
    """Register ``$status``, ``$events`` and ``$get-ws-binding-token`` (idempotent)."""
    for op in (STATUS, EVENTS, GET_WS_BINDING_TOKEN):
        register(op, replace=True)
