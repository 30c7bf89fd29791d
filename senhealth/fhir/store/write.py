"""The write path of one resource: validate, stamp, extract, then lock and write inside a transaction.

Spec: https://hl7.org/fhir/R4/http.html#create, https://hl7.org/fhir/R4/http.html#update (update as
create), https://hl7.org/fhir/R4/http.html#delete, https://hl7.org/fhir/R4/http.html#concurrency
(If-Match / version-aware updates) and https://hl7.org/fhir/R4/http.html#history.

Steps (docs/storage.md "Write path"):

1. :func:`check`: the resource is validated (:func:`senhealth.fhir.validation.validation_issues`); any
   error or fatal issue raises :class:`InvalidResource` with the validator's OperationOutcome, before
   anything touches the database.
2. Update and delete lock the ``fhir_locator`` row first (:func:`lock`): an update inserts a placeholder
   row (version 0) with ``ON CONFLICT DO NOTHING``, then ``SELECT ... FOR UPDATE``, so concurrent writers
   of one resource queue on that row and each sees the version the previous one wrote (no lost update;
   with If-Match exactly one writer per version wins). The current content is read by a separate
   statement after the lock is granted (a fresh snapshot), never through the locking join.
3. :func:`prepare` stamps ``id`` / ``meta.versionId`` / ``meta.lastUpdated``, extracts the search index,
   computes ``pkey`` and ``compartments`` and serialises the content.
4. :func:`insert_version` / :func:`write_delete` write the version with one statement
   (:mod:`senhealth.fhir.store.write_sql`): locator, ``fhir_resource``, ``fhir_history`` (``seq`` from
   ``fhir_seq``), the old index rows deleted, the new ones inserted. The caller's transaction commits
   them together; any failure rolls back all.

An update whose content equals the current version's (``meta.versionId`` / ``lastUpdated`` aside) makes
no new version: the current one is returned with ``created=False``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.json import NestedTooDeeply, dumps_checked, parse
from senhealth.fhir.search.extract import extract
from senhealth.fhir.search.index import SearchIndex
from senhealth.fhir.store.compartment import compartment_keys
from senhealth.fhir.store.errors import InvalidResource
from senhealth.fhir.store.index_rows import index_rows
from senhealth.fhir.store.meta import stamp
from senhealth.fhir.store.model import Stored
from senhealth.fhir.store.write_sql import delete_statement, index_json, write_statement
from senhealth.fhir.validation import validation_issues
from senhealth.fhir.validation.outcome import to_operation_outcome

__all__ = [
    "Current",
    "Prepared",
    "check",
    "content_from_text",
    "insert_version",
    "lock",
    "prepare",
    "write_delete",
]

# PostgreSQL text and jsonb cannot hold U+0000 (an escaped NUL, not preceded by an escaping backslash).
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

_LOCK_PLACEHOLDER = (
    "INSERT INTO fhir_locator (res_type, res_id, rid, pkey, version, deleted) "
    "VALUES (%s, %s, nextval('fhir_rid_seq'), '', 0, true) ON CONFLICT DO NOTHING"
)
_LOCK = "SELECT rid, pkey, version, deleted FROM fhir_locator WHERE res_type = %s AND res_id = %s FOR UPDATE"
_CURRENT = (
    "SELECT r.seq, r.last_updated, coalesce(r.content_raw, r.content::text) FROM fhir_resource r "
    "WHERE (r.pkey, r.rid) = (SELECT pkey, rid FROM fhir_locator WHERE res_type = %s AND res_id = %s)"
)


def check(resource: Any) -> str:
    """Validate ``resource``; return its type, or raise :class:`InvalidResource` (nothing is written)."""
    if not isinstance(resource, dict):
        raise InvalidResource("a resource must be a JSON object", expression="resourceType")
    issues = validation_issues(resource)
    if any(severity in ("error", "fatal") for severity, *_ in issues):
        outcome = to_operation_outcome(issues)
        first = next(i for i in issues if i[0] in ("error", "fatal"))
        raise InvalidResource(f"the resource is not valid: {first[3]}", outcome, first[2] or None)
    rtype = resource["resourceType"]
    assert isinstance(rtype, str)
    return rtype


@dataclass(slots=True)
class Prepared:
    """A version ready to write: stamped content, its JSON text, search index and partition keys."""

    res_type: str
    res_id: str
    version: int
    last_updated: datetime
    content: dict[str, Any]
    text: str
    raw: str | None  # the exact text when jsonb would rewrite a number
    pkey: str
    compartments: list[str]
    index: SearchIndex


def prepare(
    resource: dict[str, Any],
    res_type: str,
    res_id: str,
    version: int,
    when: datetime,
    base_urls: tuple[str, ...] = (),
) -> Prepared:
    """Stamp, extract and serialise one version (pure Python, no database)."""
    content = stamp(resource, res_id, version, when)
    index = extract(content, base_urls=base_urls)
    pkey, compartments = compartment_keys(res_type, res_id, index)
    try:
        text, exponent = dumps_checked(content)
    except NestedTooDeeply as e:
        raise InvalidResource(str(e), expression=res_type) from None
    if "\\u0000" in text and _NUL.search(text):
        raise InvalidResource("strings cannot contain the character U+0000", expression=res_type)
    raw = text if exponent else None  # jsonb would write 1e2 as 100: keep the exact text beside it
    return Prepared(res_type, res_id, version, when, content, text, raw, pkey, compartments, index)


def content_from_text(text: str) -> dict[str, Any]:
    """A stored resource's JSON text (from ``jsonb``: keys reordered) as a dict, ``resourceType`` first."""
    data: dict[str, Any] = parse(text)
    rtype = data.pop("resourceType", None)
    rid = data.pop("id", None)
    meta = data.pop("meta", None)
    out: dict[str, Any] = {"resourceType": rtype}
    if rid is not None:
        out["id"] = rid
    if meta is not None:
        out["meta"] = meta
    out.update(data)
    return out


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


@dataclass(slots=True)
class Current:
    """The locked state of a resource: its locator row, and the current content when it is live."""

    rid: int
    pkey: str
    version: int  # 0: no resource yet (a placeholder row inserted by this transaction)
    deleted: bool
    seq: int | None = None
    last_updated: datetime | None = None
    text: str | None = None

    @property
    def exists(self) -> bool:
        return self.version > 0

    @property
    def live(self) -> bool:
        return self.version > 0 and not self.deleted

    def next_time(self, when: datetime) -> datetime:
        """``when``, or the current version's time if the clock went back (versions keep their order)."""
        if self.last_updated is not None and when < self.last_updated:
            return self.last_updated
        return when

    def stored(self, res_type: str, res_id: str) -> Stored:
        assert self.text is not None and self.last_updated is not None and self.seq is not None
        return Stored(
            res_type,
            res_id,
            self.version,
            self.last_updated,
            False,
            content_from_text(self.text),
            self.rid,
            self.seq,
            None,
            self.pkey,
        )


async def lock(
    conn: AsyncConnection[TupleRow], res_type: str, res_id: str, *, create: bool
) -> Current | None:
    """Lock the resource's locator row (inserting a placeholder first when ``create``); read its state.

    Returns None when the resource has no locator row and ``create`` is false.
    """
    async with conn.pipeline(), conn.cursor() as c1, conn.cursor() as c2:
        if create:
            await conn.execute(_LOCK_PLACEHOLDER, (res_type, res_id))
        await c1.execute(_LOCK, (res_type, res_id))
        await c2.execute(_CURRENT, (res_type, res_id))
        row = await c1.fetchone()
        cur_row = await c2.fetchone()
    if row is None:
        return None
    current = Current(int(row[0]), row[1], int(row[2]), bool(row[3]))
    if cur_row is not None and current.live:
        current.seq = int(cur_row[0])
        current.last_updated = utc(cur_row[1])
        current.text = cur_row[2]
    return current


async def insert_version(
    conn: AsyncConnection[TupleRow],
    p: Prepared,
    rid: int,
    param_ids: dict[tuple[str, str], int],
    *,
    method: str,
    current: Current | None,
) -> Stored:
    """Write version ``p`` of resource ``rid``: locator, resource, history and index rows, one statement.

    ``current`` is the locked previous state (None for a create with a new id: the locator row is
    inserted, and a taken id fails with a unique violation).
    """
    replace = current is not None and current.live
    move = current is not None and current.exists and current.pkey != p.pkey
    statement = write_statement(new_locator=current is None, replace=replace, move_history=move)
    params = {
        "type": p.res_type,
        "id": p.res_id,
        "rid": rid,
        "pkey": p.pkey,
        "old_pkey": current.pkey if current is not None else p.pkey,
        "version": p.version,
        "when": p.last_updated,
        "method": method,
        "deleted": False,
        "compartments": p.compartments,
        "content": p.text,
        "raw": p.raw,
        "index": index_json(index_rows(p.index, param_ids, p.pkey, rid)),
    }
    cur = await conn.execute(statement, params)
    row = await cur.fetchone()
    assert row is not None
    return Stored(
        p.res_type, p.res_id, p.version, p.last_updated, False, p.content, rid, int(row[0]), method, p.pkey
    )


async def write_delete(
    conn: AsyncConnection[TupleRow], res_type: str, res_id: str, current: Current, when: datetime
) -> Stored:
    """Delete a live resource: a new version marked deleted in the history, its rows and index removed."""
    version = current.version + 1
    when = current.next_time(when)
    params = {
        "type": res_type,
        "id": res_id,
        "rid": current.rid,
        "pkey": current.pkey,
        "old_pkey": current.pkey,
        "version": version,
        "when": when,
        "method": "DELETE",
        "deleted": True,
        "content": None,
        "raw": None,
    }
    cur = await conn.execute(delete_statement(), params)
    row = await cur.fetchone()
    assert row is not None
    return Stored(
        res_type, res_id, version, when, True, None, current.rid, int(row[0]), "DELETE", current.pkey
    )
