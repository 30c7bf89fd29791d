"""The subscriptions' write hook: Subscription requests checked, and events recorded with the write.

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html (accepting a subscription
request; topics' resource triggers; filters) and
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/errors.html (event numbers: "the sequential number
of this event in this subscription context", with which a client detects a missed notification).

Registered with :func:`senhealth.fhir.store.hooks.register_write_hook` by
:func:`senhealth.fhir.subscriptions.install`; runs inside the writer's transaction:

- a **Subscription** written by a client is read against the backport profile
  (:func:`~.subscription.read_subscription`: 422 naming the element), its owner's access checked, and its
  ``subscription_state`` row written: status ``requested`` (a handshake to make) on create, when the
  channel changes, or when the client sets ``requested``; ``off`` when the client sets ``off``; otherwise
  the server's status is kept. A delivery job is queued for the handshake. The registry version is bumped.
- any other write of a topic's resource type is tested against the topics of the subscriptions that are
  not ``off`` (cached per process and database; reloaded when the registry's ``(epoch, version)``
  changes, read in the same transaction, so a subscription committed before the write always counts).
  For each subscription whose topic fires, whose filters pass and whose owner may see the focus
  (:attr:`~senhealth.fhir.access.Restriction`, checked in SQL in this transaction), an event row is
  inserted with the subscription's next number (the counter row is locked until the commit: numbers have
  no gaps and follow the commit order), and in the same transaction a ``subscriptions.deliver`` job is
  queued (rest-hook; one waiting job per subscription) or a ``NOTIFY`` sent (websocket).

Access (docs/subscriptions.md): a caller whose policy restriction de-identifies (research analysts) may not
subscribe; a restricted caller may change or delete only their own subscriptions; each subscription
keeps its creator (``owner``) and the creator's restriction, and gets events only about resources inside
it. Unrestricted callers (system clients, the open development policy) see everything.

Locks: counter rows are locked in subscription-id order within one call of the hook; a transaction that
writes several resources one by one may lock them in another order than a concurrent one and lose a
deadlock (PostgreSQL then rolls it back: transaction Bundles are retried, single requests answer 409/500).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.errors import SenHealthError
from senhealth.core.queue import AlreadyQueued, enqueue
from senhealth.fhir.access import Restriction, access_policy, current_principal
from senhealth.fhir.search.execute import visible_pkeys
from senhealth.fhir.store.hooks import Write
from senhealth.fhir.subscriptions.filter_criteria import Filter, matches
from senhealth.fhir.subscriptions.secret_headers import hidden_headers, hide_headers
from senhealth.fhir.subscriptions.state import (
    bump_registry,
    jsonb,
    load_state,
    registry_stamp,
    restriction_from_json,
    restriction_to_json,
    server_write,
)
from senhealth.fhir.subscriptions.subscription import read_subscription
from senhealth.fhir.subscriptions.topic import SubscriptionTopic
from senhealth.fhir.subscriptions.topics import topic_by_url, topic_types

if TYPE_CHECKING:
    from senhealth.fhir.store import StoreTx

__all__ = [
    "CHANNEL",
    "DELIVER_TASK",
    "HEARTBEAT_TASK",
    "ActiveSubscription",
    "SubscriptionForbidden",
    "clear_cache",
    "deliver_key",
    "hooked_types",
    "on_writes",
]

log = logging.getLogger(__name__)

#: The NOTIFY channel of events for websocket subscriptions (payload: the subscription id).
CHANNEL: Final = "senhealth_subscription"
DELIVER_TASK: Final = "subscriptions.deliver"
HEARTBEAT_TASK: Final = "subscriptions.heartbeat"


def deliver_key(subscription_id: str) -> str:
    """The queueing lock of a subscription's delivery job (one waiting job per subscription)."""
    return f"subscription-deliver:{subscription_id}"


class SubscriptionForbidden(SenHealthError):
    """The caller may not create or change this subscription: 403."""

    code = "forbidden"
    status = 403


@dataclass(frozen=True, slots=True)
class ActiveSubscription:
    """A subscription that is not ``off``, as the hook matches it."""

    id: str
    topic: SubscriptionTopic
    filters: tuple[Filter, ...]
    channel: str
    restriction: Restriction | None


@dataclass(slots=True)
class _Cache:
    stamp: tuple[str, int]
    by_type: dict[str, list[ActiveSubscription]] = field(default_factory=dict)


_caches: dict[str, _Cache] = {}


def clear_cache() -> None:
    """Forget the cached subscriptions of every database (tests)."""
    _caches.clear()


def hooked_types() -> frozenset[str]:
    """The resource types the hook listens to: the topics' and Subscription."""
    return topic_types() | {"Subscription"}


async def on_writes(tx: StoreTx, writes: Sequence[Write]) -> None:
    """The write hook (module docstring)."""
    others: list[Write] = []
    for w in writes:
        if w.res_type == "Subscription":
            await _subscription_written(tx.conn, w)
        else:
            others.append(w)
    if others:
        await _record_events(tx, others)


# --- Subscription requests ---------------------------------------------------------------------------


async def _subscription_written(conn: AsyncConnection[TupleRow], w: Write) -> None:
    if server_write.get():
        return
    if w.interaction == "delete":
        await conn.execute("DELETE FROM subscription_state WHERE subscription_id = %s", (w.res_id,))
        await bump_registry(conn)
        return
    assert w.content is not None
    spec = read_subscription(w.content)
    principal = current_principal().get()
    restriction = access_policy().restriction(principal, "read")
    if restriction is not None and restriction.deidentified:
        raise SubscriptionForbidden(
            "Vai trò này không được đăng ký nhận thông báo / your role may not subscribe"
        )
    subject = principal.subject if principal is not None else None
    existing = await load_state(conn, w.res_id, lock=True)
    if existing is not None and restriction is not None and existing.owner != subject:
        raise SubscriptionForbidden(
            "Chỉ người tạo được sửa / only the subscription's creator may change it",
            expression="Subscription",
        )
    headers = hidden_headers(spec.headers, existing.secret_headers if existing is not None else [])
    spec = replace(spec, headers=headers)
    if headers:
        await hide_headers(conn, w, headers)
    key = hashlib.sha256(json.dumps(spec.channel_key()).encode()).hexdigest()  # headers may hold secrets
    if spec.status == "off":
        status = "off"
    elif (
        existing is None
        or existing.status == "off"
        or spec.status == "requested"
        or existing.channel_key != key
    ):
        status = "requested"
    else:
        status = existing.status
    handshake_ok = existing is not None and existing.handshake_ok and status != "requested"
    owner = existing.owner if existing is not None else subject
    kept_restriction = (
        restriction_to_json(restriction) if existing is None or owner == subject else existing.restriction
    )
    await conn.execute(
        """INSERT INTO subscription_state (subscription_id, topic, channel, channel_key, status, filters, owner,
               restriction, heartbeat_s, end_at, handshake_ok, secret_headers)
           VALUES (%(id)s, %(topic)s, %(channel)s, %(key)s, %(status)s, %(filters)s, %(owner)s, %(restriction)s,
               %(heartbeat)s, %(end)s::timestamptz, %(ok)s, %(secrets)s)
           ON CONFLICT (subscription_id) DO UPDATE SET topic = excluded.topic, channel = excluded.channel,
               channel_key = excluded.channel_key, status = excluded.status, filters = excluded.filters,
               owner = excluded.owner, restriction = excluded.restriction, heartbeat_s = excluded.heartbeat_s,
               end_at = excluded.end_at, handshake_ok = excluded.handshake_ok,
               secret_headers = excluded.secret_headers,
               failures = CASE WHEN excluded.status = 'requested' THEN 0 ELSE subscription_state.failures END,
               next_attempt_at = CASE WHEN excluded.status = 'requested' THEN NULL
                   ELSE subscription_state.next_attempt_at END,
               updated_at = now()""",
        {
            "id": w.res_id,
            "topic": spec.topic.url,
            "channel": spec.channel,
            "key": key,
            "status": status,
            "filters": jsonb([f.to_json() for f in spec.filters]),
            "owner": owner,
            "restriction": jsonb(kept_restriction) if kept_restriction is not None else None,
            "heartbeat": spec.heartbeat_s,
            "end": spec.end,
            "ok": handshake_ok,
            "secrets": jsonb([list(h) for h in headers]),
        },
    )
    await bump_registry(conn)
    if status == "requested":
        await _queue_delivery(conn, w.res_id)


async def _queue_delivery(conn: AsyncConnection[TupleRow], subscription_id: str) -> None:
    with contextlib.suppress(AlreadyQueued):  # a waiting job will deliver this event too
        await enqueue(
            DELIVER_TASK,
            {"subscription_id": subscription_id},
            conn=conn,
            dedupe_key=deliver_key(subscription_id),
        )


# --- events ------------------------------------------------------------------------------------------


async def _active(conn: AsyncConnection[TupleRow]) -> dict[str, list[ActiveSubscription]]:
    key = conn.info.dsn
    stamp = await registry_stamp(conn)
    cached = _caches.get(key)
    if cached is not None and cached.stamp == stamp:
        return cached.by_type
    cur = await conn.execute(
        "SELECT subscription_id, topic, filters, channel, restriction FROM subscription_state WHERE status <> 'off'"
    )
    fresh = _Cache(stamp)
    for sub_id, url, filters, channel, restriction in await cur.fetchall():
        topic = topic_by_url(str(url))
        if topic is None:
            continue
        sub = ActiveSubscription(
            str(sub_id),
            topic,
            tuple(Filter.from_json(f) for f in filters or []),
            str(channel),
            restriction_from_json(restriction),
        )
        for res_type in topic.resource_types:
            fresh.by_type.setdefault(res_type, []).append(sub)
    _caches[key] = fresh
    return fresh.by_type


async def _record_events(tx: StoreTx, writes: Sequence[Write]) -> None:
    conn = tx.conn
    active = await _active(conn)
    if not active:
        return
    fired: dict[tuple[str, int], bool] = {}
    found: list[tuple[ActiveSubscription, Write]] = []
    for i, w in enumerate(writes):
        for sub in active.get(w.res_type, ()):
            key = (sub.topic.url, i)
            if key not in fired:
                fired[key] = sub.topic.fires(w)
            if fired[key] and matches(sub.filters, sub.topic, w):
                found.append((sub, w))
    if not found:
        return
    found = await _visible(tx, found)
    by_sub: dict[str, list[Write]] = {}
    subs: dict[str, ActiveSubscription] = {}
    for sub, w in found:
        by_sub.setdefault(sub.id, []).append(w)
        subs[sub.id] = sub
    ids = sorted(by_sub)
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
    for sub_id in ids:
        for k, w in enumerate(by_sub[sub_id], 1):
            row = (sub_id, k, subs[sub_id].topic.url, w.res_type, w.res_id, w.version, w.interaction, w.pkey)
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    params = {
        "ids": ids,
        "ns": [len(by_sub[i]) for i in ids],
        "channel": CHANNEL,
        **{f"c{i}": column for i, column in enumerate(columns)},
    }
    hooks = [i for i in ids if subs[i].channel == "rest-hook"]
    async with conn.pipeline(), conn.cursor() as recorded, conn.cursor() as waiting:
        await recorded.execute(_RECORD, params)
        if hooks:  # a statement of its own: its snapshot is taken once the counter rows are locked
            await waiting.execute(_WAITING, {"keys": [deliver_key(i) for i in hooks]})
        done = {str(r[0]) for r in await recorded.fetchall()}
        queued = {str(r[0]) for r in await waiting.fetchall()} if hooks else set()
    for sub_id in hooks:
        if sub_id in done and deliver_key(sub_id) not in queued:
            await _queue_delivery(conn, sub_id)


#: The events of one hook call in one statement: the counter rows locked in subscription order, advanced,
#: the events inserted with their numbers, websocket subscriptions notified.
_RECORD: Final = """
WITH locked AS (
    SELECT subscription_id FROM subscription_state
    WHERE subscription_id = ANY(%(ids)s) AND status <> 'off' ORDER BY subscription_id FOR UPDATE
), bumped AS (
    UPDATE subscription_state s SET events_since_start = s.events_since_start + u.n, updated_at = now()
    FROM unnest(%(ids)s::text[], %(ns)s::bigint[]) AS u(id, n) JOIN locked l ON l.subscription_id = u.id
    WHERE s.subscription_id = u.id
    RETURNING s.subscription_id, s.channel, s.events_since_start - u.n AS start
), inserted AS (
    INSERT INTO subscription_event (subscription_id, event_number, topic, focus_type, focus_id, focus_version,
        interaction, pkey)
    SELECT e.id, b.start + e.k, e.topic, e.focus_type, e.focus_id, e.focus_version, e.interaction, e.pkey
    FROM unnest(%(c0)s::text[], %(c1)s::bigint[], %(c2)s::text[], %(c3)s::text[], %(c4)s::text[],
        %(c5)s::integer[], %(c6)s::text[], %(c7)s::text[])
        AS e(id, k, topic, focus_type, focus_id, focus_version, interaction, pkey)
    JOIN bumped b ON b.subscription_id = e.id
    RETURNING 1  -- a data-modifying WITH runs once, whether or not it is referenced
)
SELECT b.subscription_id, CASE WHEN b.channel = 'websocket' THEN pg_notify(%(channel)s, b.subscription_id) END
FROM bumped b
"""
#: Which rest-hook subscriptions already have a delivery job waiting. That job's deliverer, before it
#: stops, waits for the writers holding the counter row (:func:`.delivery._settled`), so this transaction's
#: events are not missed when no new job is queued; a job already running is not "waiting" here.
_WAITING: Final = (
    "SELECT queueing_lock FROM procrastinate_jobs WHERE status = 'todo' AND queueing_lock = ANY(%(keys)s)"
)


async def _visible(
    tx: StoreTx, found: list[tuple[ActiveSubscription, Write]]
) -> list[tuple[ActiveSubscription, Write]]:
    """Keep the events whose focus the subscription's owner may see (their restriction, in SQL)."""
    wanted: dict[Restriction, set[str]] = {}
    for sub, w in found:
        r = sub.restriction
        if r is not None and w.pkey and w.pkey not in r.patients:
            wanted.setdefault(r, set()).add(w.pkey)
    if not wanted:
        return found
    ids = await tx.store.param_ids()
    seen: dict[Restriction, set[str]] = {}
    for r, pkeys in wanted.items():
        has_scope = r.facilities or r.conditions or r.consented
        seen[r] = await visible_pkeys(tx.conn, r, sorted(pkeys), ids) if has_scope else set()
    out = []
    for sub, w in found:
        r = sub.restriction
        if r is None or not w.pkey or w.pkey in r.patients or w.pkey in seen.get(r, set()):
            out.append((sub, w))
    return out
