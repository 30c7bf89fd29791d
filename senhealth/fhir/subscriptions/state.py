"""The server-managed state of each subscription, and its events (migration ``0015_subscriptions.sql``).

Spec: the R4 Subscription status (``requested`` | ``active`` | ``error`` | ``off``,
https://hl7.org/fhir/R4/valueset-subscription-status.html) and how the Backport IG uses it
(https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html#rest-hook: ``requested`` until the
handshake is accepted, then ``active``; ``error`` when delivery fails), event numbers
(https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/errors.html).

The server's status lives in ``subscription_state``; :func:`set_status` also writes it into the
Subscription resource (``status`` and ``error``) as a new version, marked as the server's own write so
that the write hook does not take it for a client's request (:data:`server_write`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from senhealth.fhir.access import Restriction
from senhealth.fhir.store import FhirStore, Gone, NotFound, VersionConflict

__all__ = [
    "EventRow",
    "State",
    "bump_registry",
    "events_after",
    "events_range",
    "load_state",
    "registry_stamp",
    "restriction_from_json",
    "restriction_to_json",
    "server_write",
    "set_status",
]

#: True while the server itself writes a Subscription (its status): the write hook lets it through.
server_write: ContextVar[bool] = ContextVar("senhealth_subscription_server_write", default=False)

_STATE_COLUMNS: Final = (
    "subscription_id, topic, channel, channel_key, status, filters, owner, restriction, heartbeat_s, end_at, "
    "events_since_start, delivered_through, handshake_ok, failures, next_attempt_at, last_error, last_sent_at, "
    "secret_headers"
)
_EVENT_COLUMNS: Final = (
    "event_number, topic, focus_type, focus_id, focus_version, interaction, pkey, created_at"
)


@dataclass(frozen=True, slots=True)
class State:
    """One row of ``subscription_state``."""

    subscription_id: str
    topic: str
    channel: str
    channel_key: str
    status: str
    filters: list[dict[str, Any]]
    owner: str | None
    restriction: dict[str, Any] | None
    heartbeat_s: int | None
    end_at: datetime | None
    events_since_start: int
    delivered_through: int
    handshake_ok: bool
    failures: int
    next_attempt_at: datetime | None
    last_error: str | None
    last_sent_at: datetime | None
    secret_headers: list[list[str]] = field(default_factory=list)  # [name, value] as the owner gave them


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event of a subscription."""

    number: int
    topic: str
    focus_type: str
    focus_id: str
    focus_version: int
    interaction: str
    pkey: str
    created_at: datetime


def restriction_to_json(r: Restriction | None) -> dict[str, Any] | None:
    if r is None:
        return None
    out: dict[str, Any] = {}
    for f in fields(r):
        value = getattr(r, f.name)
        out[f.name] = (
            sorted(value)
            if isinstance(value, frozenset)
            else list(value)
            if isinstance(value, tuple)
            else value
        )
    return out


def restriction_from_json(data: dict[str, Any] | None) -> Restriction | None:
    if data is None:
        return None
    return Restriction(
        patients=frozenset(data.get("patients") or ()),
        facilities=tuple(data.get("facilities") or ()),
        network=bool(data.get("network")),
        network_purpose=str(data.get("network_purpose") or "TREAT"),
        conditions=tuple(data.get("conditions") or ()),
        consented=data.get("consented"),
        deidentified=bool(data.get("deidentified")),
    )


async def registry_stamp(conn: AsyncConnection[TupleRow]) -> tuple[str, int]:
    """``(epoch, version)`` of the subscriptions as this transaction sees them."""
    cur = await conn.execute("SELECT epoch::text, version FROM subscription_registry")
    row = await cur.fetchone()
    assert row is not None, "migration 0015_subscriptions has not run"
    return str(row[0]), int(row[1])


async def bump_registry(conn: AsyncConnection[TupleRow]) -> None:
    """Say, in this transaction, that the subscriptions changed (caches reload after it commits)."""
    await conn.execute("UPDATE subscription_registry SET version = nextval('subscription_registry_seq')")


async def load_state(
    conn: AsyncConnection[TupleRow], subscription_id: str, *, lock: bool = False
) -> State | None:
    query = f"SELECT {_STATE_COLUMNS} FROM subscription_state WHERE subscription_id = %s"
    cur = await conn.execute(query + (" FOR UPDATE" if lock else ""), (subscription_id,))
    row = await cur.fetchone()
    return None if row is None else State(*row)


async def load_states(
    conn: AsyncConnection[TupleRow], *, where: str = "true", params: Sequence[Any] = ()
) -> list[State]:
    cur = await conn.execute(f"SELECT {_STATE_COLUMNS} FROM subscription_state WHERE {where}", params)
    return [State(*r) for r in await cur.fetchall()]


async def events_after(
    conn: AsyncConnection[TupleRow], subscription_id: str, after: int, limit: int
) -> list[EventRow]:
    """Events numbered above ``after``, in order, at most ``limit``."""
    cur = await conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM subscription_event WHERE subscription_id = %s AND event_number > %s "
        "ORDER BY event_number LIMIT %s",
        (subscription_id, after, limit),
    )
    return [EventRow(*r) for r in await cur.fetchall()]


async def events_range(
    conn: AsyncConnection[TupleRow], subscription_id: str, since: int, until: int, limit: int
) -> list[EventRow]:
    """Events numbered ``since`` to ``until`` (inclusive) that are still kept, at most ``limit``."""
    cur = await conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM subscription_event WHERE subscription_id = %s "
        "AND event_number BETWEEN %s AND %s ORDER BY event_number LIMIT %s",
        (subscription_id, since, until, limit),
    )
    return [EventRow(*r) for r in await cur.fetchall()]


async def set_status(store: FhirStore, subscription_id: str, status: str, error: str | None = None) -> None:
    """The server's status of a subscription, in its state row and in the Subscription resource, in one
    transaction (``error``: the R4 element ``Subscription.error``, removed when there is none)."""
    error = error[:1000] if error else None
    for _ in range(3):
        try:
            async with store.transaction() as tx:
                # the resource first, then the state row: the order of a client's write of the Subscription
                await tx.lock_existing([("Subscription", subscription_id)])
                await tx.conn.execute(
                    "UPDATE subscription_state SET status = %s, last_error = %s, updated_at = now() "
                    "WHERE subscription_id = %s",
                    (status, error, subscription_id),
                )
                if status == "off":
                    await bump_registry(tx.conn)
                try:
                    stored = await tx.read("Subscription", subscription_id)
                except (NotFound, Gone):
                    return
                content = dict(stored.content or {})
                if content.get("status") == status and content.get("error") == error:
                    return
                content["status"] = status
                if error:
                    content["error"] = error
                else:
                    content.pop("error", None)
                token = server_write.set(True)
                try:
                    await tx.update(content, if_match=stored.version)
                finally:
                    server_write.reset(token)
            return
        except VersionConflict:
            continue  # the client changed it meanwhile: read it again


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value)
