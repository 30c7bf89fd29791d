"""The websocket channel: binding tokens, and the hub that pushes notifications to bound sockets.

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html#websockets: the client gets a
token with ``$get-ws-binding-token``, connects to the ``websocket-url``, sends ``bind-with-token <token>``
and then receives a ``handshake`` per subscription of the token, ``heartbeat`` notifications and
``event-notification`` bundles (in the subscription's payload content); the client sends nothing back.

Framework-free: the REST layer (:mod:`senhealth.api.subscriptions`) accepts the socket and hands each
text message to :meth:`Session.receive`, with a ``send`` coroutine. The hub holds one PostgreSQL
connection per process that ``LISTEN``s on :data:`~senhealth.fhir.subscriptions.events.CHANNEL` (the write
hook sends ``NOTIFY`` in the writer's transaction, so the message arrives at its commit) while at least
one socket is bound; a notification wakes the sessions bound to that subscription, which read the events
numbered above the last one they sent and push them, in order. Each binding also looks for missed events
every ``ws_poll_s`` seconds (a lost LISTEN connection is reopened), and sends a heartbeat when nothing
was sent for its ``backport-heartbeat-period``.

A (re)bound socket starts after the subscription's current event number: it gets what happens from now
on. Events sent while no socket was bound are not pushed again; the client fetches them with
``Subscription/[id]/$events?eventsSinceNumber=...`` (its last number + 1), as the IG suggests for
detecting and recovering missed notifications. Websocket events are never marked delivered (there is no
acknowledgement in this channel); each event notification sent is recorded by the audit sink
(:mod:`.audit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.db import transaction
from senhealth.core.errors import operation_outcome
from senhealth.fhir.json import dumps_text
from senhealth.fhir.store import FhirStore
from senhealth.fhir.subscriptions.audit import record_notification
from senhealth.fhir.subscriptions.config import get_config
from senhealth.fhir.subscriptions.events import CHANNEL
from senhealth.fhir.subscriptions.payload import build_notification
from senhealth.fhir.subscriptions.state import events_after, load_state
from senhealth.fhir.subscriptions.subscription import SubscriptionSpec, read_subscription

__all__ = ["BIND", "Session", "WebsocketHub", "create_binding_token", "resolve_binding_token"]

log = logging.getLogger(__name__)

BIND: Final = "bind-with-token"
_MAX_BINDINGS: Final = 50

Send = Callable[[str], Awaitable[None]]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_binding_token(
    conn: AsyncConnection[TupleRow], subscription_ids: list[str], owner: str | None
) -> tuple[str, datetime]:
    """A new token for ``subscription_ids`` (only its digest is stored) and when it expires."""
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(seconds=get_config().ws_token_ttl_s)
    await conn.execute(
        "INSERT INTO subscription_ws_token (token_hash, subscription_ids, owner, expires_at) VALUES (%s, %s, %s, %s)",
        (_digest(token), subscription_ids, owner, expires),
    )
    return token, expires


async def resolve_binding_token(conn: AsyncConnection[TupleRow], token: str) -> list[str] | None:
    """The subscriptions of an unexpired token, or None."""
    cur = await conn.execute(
        "SELECT subscription_ids FROM subscription_ws_token WHERE token_hash = %s AND expires_at > now()",
        (_digest(token),),
    )
    row = await cur.fetchone()
    return None if row is None else [str(x) for x in row[0]]


@dataclass(slots=True)
class _Binding:
    spec: SubscriptionSpec
    last_number: int
    last_sent: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None


class Session:
    """One websocket connection: the subscriptions bound to it and what each was last sent."""

    def __init__(self, hub: WebsocketHub, send: Send) -> None:
        self.hub = hub
        self._send = send
        self._bindings: dict[str, _Binding] = {}
        self._lock = asyncio.Lock()

    @property
    def subscriptions(self) -> list[str]:
        return sorted(self._bindings)

    async def receive(self, message: str) -> None:
        """Handle one text message from the client (``bind-with-token <token>``)."""
        command, _, argument = message.strip().partition(" ")
        if command != BIND or not argument.strip():
            await self._error(f"expected '{BIND} <token>'")
            return
        await self.hub.bind(self, argument.strip())

    async def close(self) -> None:
        """Forget the bindings (the socket is gone)."""
        for binding in self._bindings.values():
            if binding.task is not None:
                binding.task.cancel()
        self._bindings.clear()
        self.hub.forget(self)

    async def _error(self, message: str) -> None:
        await self._send(dumps_text(operation_outcome("error", "invalid", message)))

    async def _bind(self, subscription_id: str, spec: SubscriptionSpec) -> None:
        async with self._lock:
            store = self.hub.store
            async with store.pool.connection() as conn:
                state = await load_state(conn, subscription_id)
            if state is None or state.status == "off":
                await self._error(f"Subscription/{subscription_id} is off")
                return
            old = self._bindings.pop(subscription_id, None)
            if old is not None and old.task is not None:
                old.task.cancel()
            # registered before the handshake goes out: an event committed meanwhile wakes a pump that
            # waits for this lock, then sends it after the handshake
            binding = _Binding(spec, state.events_since_start)
            self._bindings[subscription_id] = binding
            bundle = await build_notification(store, state, kind="handshake", content=spec.content)
            await self._send(dumps_text(bundle))
            binding.last_sent = time.monotonic()
            binding.task = asyncio.create_task(self._tick(subscription_id, binding))

    async def pump(self, subscription_id: str) -> None:
        """Send the events of ``subscription_id`` numbered above the last one sent, in order."""
        async with self._lock:
            binding = self._bindings.get(subscription_id)
            if binding is None:
                return
            store = self.hub.store
            while True:
                async with store.pool.connection() as conn:
                    state = await load_state(conn, subscription_id)
                    if state is None:
                        return
                    events = await events_after(
                        conn, subscription_id, binding.last_number, binding.spec.max_count
                    )
                if not events:
                    return
                bundle = await build_notification(
                    store, state, kind="event-notification", content=binding.spec.content, events=events
                )
                await self._send(dumps_text(bundle))
                binding.last_number = events[-1].number
                binding.last_sent = time.monotonic()
                async with transaction(store.pool) as conn:
                    await record_notification(
                        conn,
                        subscription_id,
                        state.owner,
                        events,
                        channel="websocket",
                        content=binding.spec.content,
                    )

    async def _heartbeat(self, subscription_id: str) -> None:
        async with self._lock:
            binding = self._bindings.get(subscription_id)
            if binding is None or not binding.spec.heartbeat_s:
                return
            if time.monotonic() - binding.last_sent < binding.spec.heartbeat_s:
                return
            store = self.hub.store
            async with store.pool.connection() as conn:
                state = await load_state(conn, subscription_id)
            if state is None:
                return
            bundle = await build_notification(store, state, kind="heartbeat", content=binding.spec.content)
            await self._send(dumps_text(bundle))
            binding.last_sent = time.monotonic()

    async def _tick(self, subscription_id: str, binding: _Binding) -> None:
        poll = get_config().ws_poll_s
        step = min(poll, float(binding.spec.heartbeat_s)) if binding.spec.heartbeat_s else poll
        step = max(0.1, step / 4) if binding.spec.heartbeat_s else step
        last_poll = time.monotonic()
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(step)
                try:
                    if time.monotonic() - last_poll >= poll:
                        last_poll = time.monotonic()
                        await self.pump(subscription_id)
                    await self._heartbeat(subscription_id)
                except Exception:  # a closed socket, a database hiccup: the endpoint notices and closes
                    log.debug("websocket binding %s: tick failed", subscription_id, exc_info=True)
                    return


class WebsocketHub:
    """The process's bound websocket sessions, woken by PostgreSQL notifications."""

    def __init__(self, store: FhirStore) -> None:
        self.store = store
        self._sessions: set[Session] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def session(self, send: Send) -> Session:
        """A new session for a connected socket."""
        return Session(self, send)

    async def bind(self, session: Session, token: str) -> list[str]:
        """Bind ``session`` to the subscriptions of ``token``: a handshake each; the ids bound."""
        async with self.store.pool.connection() as conn:
            ids = await resolve_binding_token(conn, token)
        if ids is None:
            await session._error(
                "the binding token is unknown or has expired: ask $get-ws-binding-token again"
            )
            return []
        if len(set(session.subscriptions) | set(ids)) > _MAX_BINDINGS:
            await session._error(f"at most {_MAX_BINDINGS} subscriptions on one socket")
            return []
        self._sessions.add(session)
        self._ensure_listener()
        with contextlib.suppress(TimeoutError):  # LISTEN first: no commit after the handshake goes unheard
            await asyncio.wait_for(self._listening.wait(), timeout=5.0)
        bound = []
        for sub_id in ids:
            try:
                stored = await self.store.read("Subscription", sub_id)
                spec = read_subscription(stored.content or {})
            except Exception as e:
                await session._error(f"Subscription/{sub_id} cannot be bound: {e}")
                continue
            if spec.channel != "websocket":
                await session._error(f"Subscription/{sub_id} is not a websocket subscription")
                continue
            await session._bind(sub_id, spec)
            bound.append(sub_id)
        return bound

    def forget(self, session: Session) -> None:
        self._sessions.discard(session)
        if not self._sessions and self._listener is not None:
            self._listener.cancel()
            self._listener = None
            self._listening.clear()

    def wake(self, subscription_id: str) -> None:
        """Events of ``subscription_id`` were committed: let its sessions send them."""
        for session in list(self._sessions):
            if subscription_id in session._bindings:
                self._spawn(session.pump(subscription_id))

    def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        delay = 0.5
        while self._sessions:
            try:
                conninfo = self.store.pool.conninfo
                assert isinstance(conninfo, str)
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    delay = 0.5
                    for session in list(self._sessions):  # what was committed while not listening
                        for sub_id in session.subscriptions:
                            self._spawn(session.pump(sub_id))
                    async for note in conn.notifies():
                        self.wake(note.payload)
            except asyncio.CancelledError:
                return
            except Exception:
                self._listening.clear()
                log.warning("subscriptions: the LISTEN connection failed; reconnecting", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def aclose(self) -> None:
        """Stop listening and forget every session (application shutdown)."""
        for session in list(self._sessions):
            await session.close()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
