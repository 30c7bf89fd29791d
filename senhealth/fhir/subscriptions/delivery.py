"""Delivery of rest-hook notifications by the worker: handshake, events in order, retries, heartbeats.

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html#rest-hook (``requested`` until
a ``handshake`` is accepted, then ``active``; an error in the handshake makes it ``error``; ``heartbeat``
notifications every ``backport-heartbeat-period`` seconds), https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/errors.html
(event numbers, ``error`` status) and the procrastinate queue of :mod:`senhealth.core.queue`.

Tasks (registered when this module is imported; the worker imports it through
``senhealth.jobs.registry.TASK_MODULES``):

- ``subscriptions.deliver`` (``subscription_id``): queued by the write hook in the writer's transaction
  (one waiting job per subscription: the queueing lock ``subscription-deliver:<id>``). Under a
  PostgreSQL advisory lock per subscription (one deliverer at a time, in any worker), it makes the
  handshake if none was accepted yet, then sends the undelivered events in number order, at most
  ``backport-max-count`` per notification, until none is left (or ``drain_limit`` were sent: then it
  queues its successor). **At least once**: an event is marked delivered only after a 2xx answer, so a
  crash between the answer and the mark sends it again. On failure the job records it, waits
  ``backoff_base_s * 2**(failures-1)`` (at most ``backoff_max_s``) and queues itself for then; after
  ``error_after`` failures in a row (or any failed handshake) the status becomes ``error`` (written into
  the Subscription), and the first success makes it ``active`` again. Each delivered notification is
  recorded by the audit sink in the transaction that marks its events delivered (:mod:`.audit`).
  Events wait however long the receiver is away, up to ``max_age_s``: older ones are dropped (and
  counted as skipped numbers).
- ``subscriptions.heartbeat`` (``subscription_id``): sends a ``heartbeat`` when nothing was sent for a
  period, then queues itself for the next one (queueing lock ``subscription-heartbeat:<id>``).
- ``subscriptions.sweep`` (every minute): drops events and binding tokens past their age, turns
  subscriptions past their ``end`` off, and re-queues deliveries and heartbeat chains that are missing
  (after a worker was stopped, for instance).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Final

from senhealth.core import db
from senhealth.core.queue import AlreadyQueued, JobContext, enqueue, schedule, task
from senhealth.fhir.store import FhirStore, Gone, InvalidResource, NotFound
from senhealth.fhir.subscriptions.audit import record_notification
from senhealth.fhir.subscriptions.config import get_config
from senhealth.fhir.subscriptions.events import DELIVER_TASK, HEARTBEAT_TASK, deliver_key
from senhealth.fhir.subscriptions.payload import build_notification
from senhealth.fhir.subscriptions.rest_hook import RestHook
from senhealth.fhir.subscriptions.secret_headers import hidden_headers
from senhealth.fhir.subscriptions.state import (
    EventRow,
    State,
    bump_registry,
    events_after,
    load_state,
    set_status,
)
from senhealth.fhir.subscriptions.subscription import SubscriptionSpec, read_subscription

__all__ = [
    "SWEEP_CRON",
    "SWEEP_TASK",
    "backoff",
    "deliver",
    "heartbeat",
    "sweep",
]

log = logging.getLogger(__name__)

SWEEP_TASK: Final = "subscriptions.sweep"
#: Every minute.
SWEEP_CRON: Final = "* * * * *"
_BUSY_RETRY_S: Final = 0.2

_stores: weakref.WeakKeyDictionary[db.Pool, FhirStore] = weakref.WeakKeyDictionary()


def _store() -> FhirStore:
    """A store on the process's pool (one per pool: its parameter numbers belong to that database)."""
    pool = db.get_pool()
    store = _stores.get(pool)
    if store is None:
        store = _stores[pool] = FhirStore(pool)
    return store


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row."""
    cfg = get_config()
    return float(min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** max(0, failures - 1)))


def _heartbeat_key(subscription_id: str) -> str:
    return f"subscription-heartbeat:{subscription_id}"


async def _queue(name: str, subscription_id: str, delay_s: float, key: str) -> None:
    run_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay_s) if delay_s > 0 else None
    with contextlib.suppress(AlreadyQueued):  # a waiting job does it
        await enqueue(name, {"subscription_id": subscription_id}, run_at=run_at, dedupe_key=key)


async def _requeue(subscription_id: str, delay_s: float) -> None:
    await _queue(DELIVER_TASK, subscription_id, delay_s, deliver_key(subscription_id))


async def _schedule_heartbeat(subscription_id: str, delay_s: float) -> None:
    await _queue(HEARTBEAT_TASK, subscription_id, delay_s, _heartbeat_key(subscription_id))


@asynccontextmanager
async def _exclusive(store: FhirStore, subscription_id: str) -> AsyncIterator[bool]:
    """Hold the subscription's advisory lock while sending (yields False when another process has it)."""
    key = f"senhealth-subscription:{subscription_id}"
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
        row = await cur.fetchone()
        got = bool(row and row[0])
        try:
            yield got
        finally:
            if got:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


async def _state(store: FhirStore, subscription_id: str) -> State | None:
    async with store.pool.connection() as conn:
        return await load_state(conn, subscription_id)


async def _spec(store: FhirStore, subscription_id: str) -> SubscriptionSpec | None:
    try:
        stored = await store.read("Subscription", subscription_id)
    except (NotFound, Gone):  # deleted where no hook ran: forget its state and events
        async with db.transaction(store.pool) as conn:
            await conn.execute(
                "DELETE FROM subscription_state WHERE subscription_id = %s", (subscription_id,)
            )
            await bump_registry(conn)
        return None
    try:
        spec = read_subscription(stored.content or {})
    except InvalidResource as e:  # changed rules since it was accepted: stop it, and say why
        await set_status(store, subscription_id, "off", f"the subscription is no longer valid: {e.message}")
        return None
    if not spec.headers:
        return spec
    state = await _state(
        store, subscription_id
    )  # the stored resource shows masked values (secret_headers.py)
    held = state.secret_headers if state is not None else []
    return replace(spec, headers=hidden_headers(spec.headers, held))


# --- deliver -----------------------------------------------------------------------------------------


@task(DELIVER_TASK)
async def deliver_job(job: JobContext, *, subscription_id: str) -> str:
    return await deliver(_store(), subscription_id)


async def deliver(store: FhirStore, subscription_id: str) -> str:
    """Send what subscription ``subscription_id`` is owed (module docstring); a word on what it did."""
    async with _exclusive(store, subscription_id) as got:
        if not got:
            await _requeue(subscription_id, _BUSY_RETRY_S)
            return "busy"
        return await _deliver(store, subscription_id)


async def _deliver(store: FhirStore, subscription_id: str) -> str:
    state = await _state(store, subscription_id)
    if state is None or state.status == "off":
        return "off"
    spec = await _spec(store, subscription_id)
    if spec is None:
        return "gone"
    if spec.channel == "websocket":  # no endpoint to shake hands with: bound sockets get the events
        if not state.handshake_ok or state.status != "active":
            await _mark(store, subscription_id, "handshake_ok = true, failures = 0")
            await set_status(store, subscription_id, "active")
        return "websocket"
    now = dt.datetime.now(dt.UTC)
    if state.next_attempt_at is not None and state.next_attempt_at > now:
        await _requeue(subscription_id, (state.next_attempt_at - now).total_seconds())
        return "waiting"
    cfg = get_config()
    async with RestHook(spec) as hook:
        if not state.handshake_ok:
            bundle = await build_notification(
                store, state, kind="handshake", content=spec.content, status="requested"
            )
            error = await hook.send(bundle)
            if error is not None:
                await _failed(store, state, error, (), handshake=True)
                return "handshake failed"
            await _mark(store, subscription_id, "handshake_ok = true, failures = 0, next_attempt_at = NULL, "
                        "last_error = NULL, last_sent_at = now()")  # fmt: skip
            await set_status(store, subscription_id, "active")
            if spec.heartbeat_s:
                await _schedule_heartbeat(subscription_id, spec.heartbeat_s)
        sent = 0
        while sent < cfg.drain_limit:
            state = await _state(store, subscription_id)
            if state is None or state.status == "off":
                return "off"
            async with store.pool.connection() as conn:
                events = await events_after(conn, subscription_id, state.delivered_through, spec.max_count)
            if not events:
                # Writers that fired this subscription hold its counter row until they commit, and may have
                # skipped queueing a job because this one was waiting: wait for them, then look again.
                settled = await _settled(store, subscription_id)
                async with store.pool.connection() as conn:
                    events = await events_after(
                        conn, subscription_id, state.delivered_through, spec.max_count
                    )
                if not events:
                    if state.delivered_through < settled:  # their events were dropped (max age)
                        await _advance(store, subscription_id, settled)
                    break
            cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=cfg.max_age_s)
            expired = 0
            while expired < len(events) and events[expired].created_at < cutoff:
                expired += 1
            if expired:
                await _advance(store, subscription_id, events[expired - 1].number)
                continue
            bundle = await build_notification(
                store, state, kind="event-notification", content=spec.content, events=events
            )
            error = await hook.send(bundle)
            if error is not None:
                await _failed(store, state, error, events)
                return "failed"
            await _delivered(store, state, events, spec)
            sent += len(events)
    if sent >= cfg.drain_limit:
        await _requeue(subscription_id, 0)
    return f"sent {sent}"


async def _settled(store: FhirStore, subscription_id: str) -> int:
    """The subscription's last event number once the writers now recording events have committed
    (``FOR SHARE`` waits for their ``FOR UPDATE`` of the counter row)."""
    async with db.transaction(store.pool) as conn:
        cur = await conn.execute(
            "SELECT events_since_start FROM subscription_state WHERE subscription_id = %s FOR SHARE",
            (subscription_id,),
        )
        row = await cur.fetchone()
    return int(row[0]) if row is not None else 0


async def _mark(store: FhirStore, subscription_id: str, assignments: str) -> None:
    async with db.transaction(store.pool) as conn:
        await conn.execute(
            f"UPDATE subscription_state SET {assignments}, updated_at = now() WHERE subscription_id = %s",
            (subscription_id,),
        )


async def _advance(store: FhirStore, subscription_id: str, number: int) -> None:
    async with db.transaction(store.pool) as conn:
        await conn.execute(
            "UPDATE subscription_state SET delivered_through = greatest(delivered_through, %s), updated_at = now() "
            "WHERE subscription_id = %s",
            (number, subscription_id),
        )
    log.warning(
        "subscription %s: events up to %s dropped (older than the maximum age)", subscription_id, number
    )


async def _delivered(
    store: FhirStore, state: State, events: Sequence[EventRow], spec: SubscriptionSpec
) -> None:
    first, last = events[0].number, events[-1].number
    async with db.transaction(store.pool) as conn:
        await record_notification(
            conn,
            state.subscription_id,
            state.owner,
            events,
            channel="rest-hook",
            content=spec.content,
            endpoint=spec.endpoint,
        )
        await conn.execute(
            "UPDATE subscription_event SET delivered_at = now(), attempts = attempts + 1 "
            "WHERE subscription_id = %s AND event_number BETWEEN %s AND %s",
            (state.subscription_id, first, last),
        )
        await conn.execute(
            "UPDATE subscription_state SET delivered_through = greatest(delivered_through, %s), failures = 0, "
            "next_attempt_at = NULL, last_error = NULL, last_sent_at = now(), updated_at = now() "
            "WHERE subscription_id = %s",
            (last, state.subscription_id),
        )
    if state.status != "active":
        await set_status(store, state.subscription_id, "active")


async def _failed(
    store: FhirStore, state: State, error: str, events: Sequence[EventRow], *, handshake: bool = False
) -> None:
    failures = state.failures + 1
    delay = backoff(failures)
    async with db.transaction(store.pool) as conn:
        if events:
            await conn.execute(
                "UPDATE subscription_event SET attempts = attempts + 1 "
                "WHERE subscription_id = %s AND event_number BETWEEN %s AND %s",
                (state.subscription_id, events[0].number, events[-1].number),
            )
        await conn.execute(
            "UPDATE subscription_state SET failures = %s, last_error = %s, updated_at = now(), "
            "next_attempt_at = now() + make_interval(secs => %s) WHERE subscription_id = %s",
            (failures, error, delay, state.subscription_id),
        )
    log.info(
        "subscription %s: delivery failed (%s); next attempt in %.1f s", state.subscription_id, error, delay
    )
    if (handshake or failures >= get_config().error_after) and state.status != "error":
        await set_status(store, state.subscription_id, "error", error)
    await _requeue(state.subscription_id, delay)


# --- heartbeat ---------------------------------------------------------------------------------------


@task(HEARTBEAT_TASK)
async def heartbeat_job(job: JobContext, *, subscription_id: str) -> str:
    return await heartbeat(_store(), subscription_id)


async def heartbeat(store: FhirStore, subscription_id: str) -> str:
    """Send a heartbeat when one is due, and queue the next."""
    state = await _state(store, subscription_id)
    if state is None or state.status == "off" or state.channel != "rest-hook" or not state.heartbeat_s:
        return "none"
    if not state.handshake_ok:
        return "not active"
    period = float(state.heartbeat_s)
    now = dt.datetime.now(dt.UTC)
    due = (state.last_sent_at or now - dt.timedelta(seconds=period)) + dt.timedelta(seconds=period)
    if (due - now).total_seconds() > 0.05:
        await _schedule_heartbeat(subscription_id, (due - now).total_seconds())
        return "not due"
    async with _exclusive(store, subscription_id) as got:
        if not got:
            await _schedule_heartbeat(subscription_id, _BUSY_RETRY_S)
            return "busy"
        spec = await _spec(store, subscription_id)
        if spec is None or spec.channel != "rest-hook":
            return "gone"
        async with RestHook(spec) as hook:
            bundle = await build_notification(store, state, kind="heartbeat", content=spec.content)
            error = await hook.send(bundle)
        if error is None:
            await _mark(store, subscription_id, "last_sent_at = now()")
            if state.failures:  # the endpoint is back: deliver what waits, now
                await _mark(store, subscription_id, "next_attempt_at = NULL")
                await _requeue(subscription_id, 0)
        else:
            log.info("subscription %s: heartbeat failed (%s)", subscription_id, error)
    await _schedule_heartbeat(subscription_id, period)
    return "sent" if error is None else "failed"


# --- sweep -------------------------------------------------------------------------------------------


@task(SWEEP_TASK)
async def sweep_job(job: JobContext) -> dict[str, Any]:
    return await sweep(_store())


async def sweep(store: FhirStore) -> dict[str, Any]:
    """Expire old events and tokens, end subscriptions past ``end``, re-queue missing jobs."""
    cfg = get_config()
    async with db.transaction(store.pool) as conn:
        cur = await conn.execute(
            "DELETE FROM subscription_event WHERE created_at < now() - make_interval(secs => %s)",
            (cfg.max_age_s,),
        )
        dropped = cur.rowcount
        await conn.execute("DELETE FROM subscription_ws_token WHERE expires_at < now()")
        cur = await conn.execute(
            "SELECT subscription_id FROM subscription_state WHERE status <> 'off' AND end_at < now()"
        )
        ended = [str(r[0]) for r in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT subscription_id, next_attempt_at FROM subscription_state WHERE status <> 'off' "
            "AND ((channel = 'rest-hook' AND delivered_through < events_since_start) OR NOT handshake_ok)"
        )
        pending = [(str(r[0]), r[1]) for r in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT subscription_id FROM subscription_state WHERE status <> 'off' AND channel = 'rest-hook' "
            "AND heartbeat_s IS NOT NULL AND handshake_ok"
        )
        beating = [str(r[0]) for r in await cur.fetchall()]
    for sub_id in ended:
        await set_status(store, sub_id, "off", "the subscription has ended (Subscription.end)")
    now = dt.datetime.now(dt.UTC)
    for sub_id, next_at in pending:
        if sub_id not in ended:
            await _requeue(sub_id, max(0.0, (next_at - now).total_seconds()) if next_at else 0.0)
    for sub_id in beating:
        if sub_id not in ended:
            await _schedule_heartbeat(sub_id, 0)
    return {
        "dropped_events": dropped,
        "ended": len(ended),
        "requeued": len(pending),
        "heartbeats": len(beating),
    }


schedule(SWEEP_TASK, cron=SWEEP_CRON, schedule_id="subscriptions")
