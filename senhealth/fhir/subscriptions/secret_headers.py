"""Channel headers kept out of the stored Subscription: a receiver's credentials are not patient data, but
whoever may read Subscriptions (care roles, exports, views over Subscription) must not learn them.

Spec: ``Subscription.channel.header`` ("Usage depends on the channel type", R4:
https://hl7.org/fhir/R4/subscription-definitions.html#Subscription.channel.header) and the Backport IG's
security notes (https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/safety_security.html: "servers
SHOULD NOT send ... headers ... to clients other than the owner").

When a Subscription is written, the write hook keeps the header values in ``subscription_state``
(``secret_headers``) and rewrites the version it just stored (current row and history row, in the same
transaction) with :data:`MASK` in place of every value: ``Authorization: ***``. The answer to the
owner's own create or update still shows what they sent; every later read shows the mask. An update that
sends ``Name: ***`` back keeps the value already held for that name, so an owner can edit other fields
of a subscription they read back. Delivery uses the held values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from senhealth.fhir.store.hooks import Write

__all__ = ["MASK", "hidden_headers", "hide_headers", "masked"]

MASK: Final = "***"


def hidden_headers(
    given: Sequence[tuple[str, str]], held: Sequence[Sequence[str]]
) -> tuple[tuple[str, str], ...]:
    """The real headers: ``given``, where a value sent back as :data:`MASK` is the one ``held`` for that
    name (case-insensitive); a masked header with nothing held is dropped."""
    known = {str(h[0]).lower(): str(h[1]) for h in held if len(h) == 2}
    out: list[tuple[str, str]] = []
    for name, value in given:
        if value == MASK:
            if name.lower() in known:
                out.append((name, known[name.lower()]))
            continue
        out.append((name, value))
    return tuple(out)


def masked(headers: Sequence[tuple[str, str]]) -> list[str]:
    """``channel.header`` as stored: every value replaced by :data:`MASK`."""
    return [f"{name}: {MASK}" for name, _ in headers]


async def hide_headers(conn: AsyncConnection[TupleRow], w: Write, headers: Sequence[tuple[str, str]]) -> None:
    """Rewrite the version ``w`` just wrote (current row and history row) with masked header values."""
    if w.content is None:
        return
    channel = w.content.get("channel")
    if not isinstance(channel, dict) or channel.get("header") == masked(headers):
        return
    path = "{channel,header}"
    value = Jsonb(masked(headers))
    cur = await conn.execute(
        "SELECT rid, pkey FROM fhir_locator WHERE res_type = 'Subscription' AND res_id = %s", (w.res_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return
    rid, pkey = row
    await conn.execute(
        "UPDATE fhir_resource SET content = jsonb_set(content, %s, %s), content_raw = NULL "
        "WHERE pkey = %s AND rid = %s AND version = %s",
        (path, value, pkey, rid, w.version),
    )
    await conn.execute(
        "UPDATE fhir_history SET content = jsonb_set(content, %s, %s), content_raw = NULL "
        "WHERE pkey = %s AND rid = %s AND version = %s",
        (path, value, pkey, rid, w.version),
    )
