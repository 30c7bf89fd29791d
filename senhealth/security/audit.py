"""The audit log: every access to patient data as one append-only, hash-chained row, written in the
request's own transaction, and rendered as an R4 AuditEvent in the style of the Basic Audit Log
Patterns IG.

- BALP: https://profiles.ihe.net/ITI/BALP/ (read, query, create, update, delete patterns; the query
  entity carries the query base64-encoded)
- R4 AuditEvent: https://hl7.org/fhir/R4/auditevent.html
- event types: https://hl7.org/fhir/R4/valueset-audit-event-type.html (``rest``)
- sub-types: https://hl7.org/fhir/R4/valueset-audit-event-sub-type.html (restful interactions)
- the sink interface: :mod:`senhealth.fhir.access` (``AuditSink.record(conn, event)``)
- schema: ``senhealth/migrations/0005_audit.sql``; design and measured cost: ``docs/audit.md``

**How a row is chained.** The log is split into :data:`CHAINS` independent hash chains. An event goes to
the chain of its first patient (``crc32(patient id) mod 64``), or of the caller when no patient is
concerned; later events of the same transaction stay on the transaction's first chain (remembered in
the transaction-local setting ``senhealth.audit_chain``), so that a transaction holds at most one
chain head and two transactions can never deadlock on audit heads. :meth:`PostgresAuditSink.record`
is ONE statement, one round trip: it advances the chain's head row in ``audit_chain`` (``pos + 1``,
``prev_hash = hash``, ``hash = sha256(prev_hash || int8send(seq) || fields_digest ||
sha256(details::text))``) and inserts the event with the head's new values. ``fields_digest`` is the
SHA-256 of the canonical JSON of the other columns (:func:`fields_digest`), computed here and again by
:mod:`senhealth.security.audit_verify`; ``details`` is hashed from PostgreSQL's own jsonb text, so a
number that jsonb rewrites (``1e2``) cannot break the chain.

**Why a head row lock and not a periodic seal.** The head's row lock is held from the INSERT until the
request's transaction ends: writers of different chains never wait on each other, writers of the
same chain queue for the time between their audit INSERT and their COMMIT (the core records at the end
of an interaction, so that is the commit itself). In exchange every committed row is chained at
commit time: there is no window in which a row exists but is not yet protected, a rolled-back
transaction takes its head update with it (no holes, no repair step), and the hot path is one INSERT.
A deferred Merkle seal would avoid even the per-chain queue, but leaves the newest rows unprotected
until the next seal and needs a second write of every row; with 64 chains, same-chain collisions are
rare (measured cost and the levers left: ``docs/audit.md`` "Cost"). The transaction must run at
READ COMMITTED (the platform's default): under REPEATABLE READ a concurrent writer of the same chain
raises a serialisation failure.

**Batches.** :meth:`PostgresAuditSink.record_many` (the read buffer's path,
:mod:`senhealth.api.fhir.auditing`) writes any number of events in two statements: the first reads the
chain's head and draws the sequence numbers; the hashes are then chained here, in Python, with exactly
the formula above; the second advances the head from the state read to the last row *if it is still in
that state* and inserts every row from one JSON document (``jsonb_to_recordset``), all or nothing. A
writer that advanced the chain in between makes it insert nothing (compare-and-set; the UPDATE waits for
that writer's lock and re-checks its condition on the committed row), and the batch reads the head
again; after :data:`CAS_ATTEMPTS` it takes the head's lock first. Whoever advances a head holds its row
lock until its transaction ends, as :meth:`~PostgresAuditSink.record` does, so batches of several
processes and single records interleave on a chain without forking it. On an autocommit connection a
batch is a transaction of its own: two round trips, no BEGIN or COMMIT. For ``sha256(details::text)``
the writer predicts jsonb's text (:func:`jsonb_text`); a batch with a value whose text it cannot predict
(a float) goes row by row instead. Old and new rows are the same format: the checker needs no version.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.fhir.access import AccessEvent, Principal

__all__ = [
    "CHAINS",
    "Access",
    "AuditError",
    "AuditRecord",
    "PostgresAuditSink",
    "accesses_to_patient",
    "chain_of",
    "fields_digest",
    "jsonb_text",
    "records",
    "to_fhir",
]

#: Number of hash chains (rows of ``audit_chain``, created by the migration).
CHAINS: Final = 64

_INSERT: Final = """
WITH s AS (SELECT nextval('audit_seq') AS seq, %(details)s::jsonb AS details),
head AS (
    UPDATE audit_chain h
    SET pos = h.pos + 1,
        prev_hash = h.hash,
        hash = sha256(h.hash || int8send(s.seq) || %(digest)s::bytea
                      || sha256(convert_to(s.details::text, 'UTF8')))
    FROM s
    WHERE h.chain = coalesce(nullif(current_setting('senhealth.audit_chain', true), '')::smallint,
                             %(chain)s::smallint)
    RETURNING h.chain, h.pos, h.prev_hash, h.hash, s.seq, s.details
)
INSERT INTO audit_event (seq, chain, pos, recorded, action, outcome, status, principal_kind,
    principal_subject, principal_roles, principal_facility, principal_client_id, principal_practitioner,
    break_glass, res_type, res_id, query, patients, source_ip, details, prev_hash, hash)
SELECT head.seq, head.chain, head.pos, %(recorded)s, %(action)s, %(outcome)s, %(status)s, %(kind)s,
    %(subject)s, %(roles)s::text[], %(facility)s, %(client_id)s, %(practitioner)s, %(break_glass)s,
    %(res_type)s, %(res_id)s, %(query)s, %(patients)s::text[], %(source_ip)s, head.details,
    head.prev_hash, head.hash
FROM head
WHERE set_config('senhealth.audit_chain', head.chain::text, true) IS NOT NULL
"""

# A batch (record_many), statement 1: the chain's head (the transaction's chain, else the first
# event's) and the batch's sequence numbers; ``FOR UPDATE`` in the locked variant.
_READ_HEAD: Final = """
SELECT h.chain, h.pos, h.hash, ARRAY(SELECT nextval('audit_seq') FROM generate_series(1, %(n)s))
FROM audit_chain h
WHERE h.chain = coalesce(nullif(current_setting('senhealth.audit_chain', true), '')::smallint,
                         %(chain)s::smallint)
"""

# Statement 2: advance the head from the state statement 1 read to the batch's last row, on condition
# that it is still in that state (compare-and-set: under READ COMMITTED an UPDATE that waited for
# another writer's lock re-checks its WHERE on the committed row), and insert every row of the batch
# (chained by the writer) from one JSON document, only if the head was advanced: all rows or none.
_APPEND: Final = """
WITH head AS (
    UPDATE audit_chain
    SET pos = %(pos)s, prev_hash = %(prev)s, hash = %(hash)s
    WHERE chain = %(chain)s::smallint AND pos = %(from_pos)s AND hash = %(from_hash)s
      AND set_config('senhealth.audit_chain', chain::text, true) IS NOT NULL{relaxed}
    RETURNING chain
)
INSERT INTO audit_event (seq, chain, pos, recorded, action, outcome, status, principal_kind,
    principal_subject, principal_roles, principal_facility, principal_client_id, principal_practitioner,
    break_glass, res_type, res_id, query, patients, source_ip, details, prev_hash, hash)
SELECT r.seq, head.chain, r.pos, r.recorded, r.action, r.outcome, r.status, r.kind, r.subject,
    coalesce(r.roles, '{{}}'), r.facility, r.client_id, r.practitioner, r.break_glass, r.res_type,
    r.res_id, r.query, coalesce(r.patients, '{{}}'), r.source_ip, r.details, r.prev_hash, r.hash
FROM head, jsonb_to_recordset(%(rows)s::jsonb) AS r(seq bigint, pos bigint, recorded timestamptz,
    action text, outcome text, status smallint, kind text, subject text, roles text[], facility text,
    client_id text, practitioner text, break_glass text, res_type text, res_id text, query text,
    patients text[], source_ip text, details jsonb, prev_hash bytea, hash bytea)
"""
_APPEND_SYNC: Final = _APPEND.format(relaxed="")
# The same, its transaction committed without waiting for the WAL flush (``synchronous = False``).
_APPEND_RELAXED: Final = _APPEND.format(
    relaxed="\n      AND set_config('synchronous_commit', 'off', true) IS NOT NULL"
)

#: Compare-and-set attempts of a batch before it takes the chain's head lock and waits for it.
CAS_ATTEMPTS: Final = 3

#: The columns of an :class:`AuditRecord`, in its field order (``details`` as PostgreSQL's jsonb text).
COLUMNS: Final = (
    "seq, chain, pos, recorded, action, outcome, status, principal_kind, principal_subject, "
    "principal_roles, principal_facility, principal_client_id, principal_practitioner, break_glass, "
    "res_type, res_id, query, patients, source_ip, details::text, prev_hash, hash"
)


class AuditError(RuntimeError):
    """An access could not be recorded; the interaction must fail with it (its transaction rolls back)."""


def _clean(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL, nor UTF-8 a lone surrogate (a claim of an external token may
    carry one): replace them, so that a hostile value is still recorded, and never blocks the records
    written with it."""
    if value is None or value.isascii():
        return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode()
    except UnicodeEncodeError:
        value = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def _scrub(value: Any) -> Any:
    """``details`` with every string and key :func:`_clean` (the slow path, for what orjson refused)."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(k) if isinstance(k, str) else k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _utc(when: datetime) -> datetime:
    """The instant in UTC, a naive datetime taken as UTC (PostgreSQL would read it in its own zone)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def chain_of(event: AccessEvent) -> int:
    """The chain of an event: crc32 of its first patient id, else of the caller, modulo :data:`CHAINS`."""
    if event.patients:
        return _chain(event.patients[0])
    p = event.principal
    return _chain(f"{p.kind}/{p.subject}" if p is not None else "")


def _chain(key: str) -> int:
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % CHAINS


def fields_digest(
    recorded: datetime,
    action: str,
    outcome: str,
    status: int,
    kind: str | None,
    subject: str | None,
    roles: Sequence[str],
    facility: str | None,
    client_id: str | None,
    practitioner: str | None,
    break_glass: str | None,
    res_type: str | None,
    res_id: str | None,
    query: str | None,
    patients: Sequence[str],
    source_ip: str | None,
) -> bytes:
    """SHA-256 of the canonical JSON array of an event's columns (all but seq, chain, pos, details and
    the hashes, which the chain covers itself); the writer and the checker both call this."""
    stamp = _utc(recorded).isoformat(timespec="microseconds")
    content = [stamp, action, outcome, status, kind, subject, list(roles), facility, client_id,
               practitioner, break_glass, res_type, res_id, query, list(patients), source_ip]  # fmt: skip
    return hashlib.sha256(orjson.dumps(content)).digest()


_EMPTY_DIGEST: Final = hashlib.sha256(b"{}").digest()
_INT_RANGE: Final = range(-(2**63), 2**64)  # what orjson writes (the row-by-row path's JSON)


def jsonb_text(value: Any) -> str | None:
    r"""The text of PostgreSQL's ``jsonb`` output for ``value`` stored as :func:`_details_json` stores
    it (NUL in strings replaced), or None when it cannot be predicted exactly here: a float (numeric's
    output rewrites exponents), a key that is not a string or two keys that become one, any other type.
    jsonb's text: object keys shorter first then bytewise, ``": "`` and ``", "`` between, strings
    escaped as PostgreSQL's ``escape_json`` does (``\"``, ``\\``, ``\b``, ``\f``, ``\n``, ``\r``,
    ``\t``, other control characters ``\u00xx``, everything else as is). The tests of the batched
    path compare it with PostgreSQL's own output."""
    try:
        return _jsonb(value)
    except _Unpredictable:
        return None


class _Unpredictable(Exception):
    pass


_ESCAPES: Final = {i: f"\\u{i:04x}" for i in range(0x20)} | {
    0: "\ufffd",
    8: "\\b",
    9: "\\t",
    10: "\\n",
    12: "\\f",
    13: "\\r",
    34: '\\"',
    92: "\\\\",
}


def _jstr(s: str) -> str:
    try:
        s.encode()  # a lone surrogate: orjson refuses it, so does the row-by-row path
    except UnicodeEncodeError as e:
        raise _Unpredictable from e
    return '"' + s.translate(_ESCAPES) + '"'


def _jsonb(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    t = type(v)
    if t is str:
        return _jstr(v)
    if t is int:
        if v not in _INT_RANGE:
            raise _Unpredictable
        return str(v)
    if t is dict:
        items: dict[bytes, str] = {}
        for k, x in v.items():
            if type(k) is not str:
                raise _Unpredictable
            key = _clean(k)
            assert key is not None
            raw = key.encode("utf-8", "surrogatepass")  # checked by _jstr
            if raw in items:
                raise _Unpredictable
            items[raw] = _jstr(key) + ": " + _jsonb(x)
        return "{" + ", ".join(items[k] for k in sorted(items, key=lambda b: (len(b), b))) + "}"
    if t is list or t is tuple:
        return "[" + ", ".join(_jsonb(x) for x in v) + "]"
    raise _Unpredictable


# An escaped NUL in JSON text: ``\u0000`` after an even number of backslashes (``\\u0000`` is text).
_NUL_ESCAPE: Final = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _details_json(details: dict[str, Any]) -> str:
    options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    try:
        text = orjson.dumps(details, option=options).decode()
    except TypeError:  # a lone surrogate in a string
        text = orjson.dumps(_scrub(details), option=options).decode()
    # jsonb refuses \u0000 in strings, like text refuses NUL.
    return _NUL_ESCAPE.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


class PostgresAuditSink:
    """The platform's :class:`senhealth.fhir.access.AuditSink`: one INSERT per access, in the caller's
    transaction (see the module docstring for the chaining)."""

    async def record(self, conn: AsyncConnection[TupleRow], event: AccessEvent) -> None:
        """Record ``event`` in ``conn``'s current transaction; raise :class:`AuditError` if it cannot be."""
        params, chain = _params(event)
        cur = await conn.execute(_INSERT, params)
        if cur.rowcount != 1:
            raise AuditError(f"audit chain {chain} is missing from audit_chain: access not recorded")

    async def record_many(
        self,
        conn: AsyncConnection[TupleRow],
        events: Sequence[AccessEvent],
        *,
        synchronous: bool = True,
    ) -> None:
        """Record ``events`` on one chain (the transaction's, else the first event's) in two statements
        whatever their number, in ``conn``'s transaction or, on an autocommit connection, as one
        transaction of their own; raise :class:`AuditError` if they cannot be. ``synchronous=False``:
        that transaction commits without waiting for its WAL flush (``synchronous_commit = off``).
        See the module docstring, "Batches"."""
        if not events:
            return
        rows = [_columns(e) for e in events]
        details = [jsonb_text(e.details) for e in events]
        if any(d is None for d in details):  # a value whose jsonb text cannot be predicted: row by row
            async with conn.transaction():
                if not synchronous:
                    await conn.execute("SET LOCAL synchronous_commit TO off")
                await self._record_each(conn, events)
            return
        texts = [d for d in details if d is not None]
        append = _APPEND_SYNC if synchronous else _APPEND_RELAXED
        for _ in range(CAS_ATTEMPTS):
            if await _append(conn, rows, texts, append, lock=False):
                return
        async with conn.transaction():  # a busy chain: wait for its head instead
            if not await _append(conn, rows, texts, append, lock=True):
                raise AuditError(f"audit chain {rows[0].chain} moved under its lock: access not recorded")

    async def _record_each(self, conn: AsyncConnection[TupleRow], events: Sequence[AccessEvent]) -> None:
        """One statement per event, sent together (psycopg pipeline mode: one round trip)."""
        sent = []
        async with conn.pipeline():
            for event in events:
                params, chain = _params(event)
                cur = conn.cursor()
                await cur.execute(_INSERT, params)
                sent.append((cur, chain))
        for cur, chain in sent:
            if cur.rowcount != 1:
                raise AuditError(f"audit chain {chain} is missing from audit_chain: access not recorded")


async def _append(
    conn: AsyncConnection[TupleRow], rows: list[_Columns], details: list[str], append: str, *, lock: bool
) -> bool:
    """One attempt at a batch: read the head, chain the rows, append them if the head has not moved."""
    cur = await conn.execute(
        _READ_HEAD + ("FOR UPDATE" if lock else ""), {"chain": rows[0].chain, "n": len(rows)}
    )
    head = await cur.fetchone()
    if head is None:
        raise AuditError(f"audit chain {rows[0].chain} is missing from audit_chain: access not recorded")
    chain, from_pos, from_hash, seqs = head[0], head[1], bytes(head[2]), head[3]
    pos, prev, before, out = from_pos, from_hash, from_hash, []
    for c, text, seq in zip(rows, details, seqs, strict=True):
        pos += 1
        d = _EMPTY_DIGEST if text == "{}" else hashlib.sha256(text.encode()).digest()
        h = hashlib.sha256(prev + seq.to_bytes(8, "big", signed=True) + c.digest + d).digest()
        out.append(c.json_row(seq, pos, text, prev, h))
        before, prev = prev, h
    params = {"rows": orjson.dumps(out).decode(), "chain": chain, "pos": pos, "prev": before, "hash": prev,
              "from_pos": from_pos, "from_hash": from_hash}  # fmt: skip
    cur = await conn.execute(append, params)
    if cur.rowcount == len(out):
        return True
    if cur.rowcount != 0:
        raise AuditError(f"audit chain {chain}: {cur.rowcount} of {len(out)} rows written")
    return False


@dataclass(frozen=True, slots=True)
class _Columns:
    """An event's column values as stored (NULs replaced), its chain and its :func:`fields_digest`."""

    recorded: datetime
    action: str
    outcome: str
    status: int
    kind: str | None
    subject: str | None
    roles: list[str]
    facility: str | None
    client_id: str | None
    practitioner: str | None
    break_glass: str | None
    res_type: str | None
    res_id: str | None
    query: str | None
    patients: list[str]
    source_ip: str | None
    chain: int
    digest: bytes

    def json_row(self, seq: int, pos: int, details: str, prev: bytes, hash_: bytes) -> dict[str, Any]:
        """The row as an object of :data:`_APPEND`'s document (``details``: its jsonb text)."""
        return {
            "seq": seq, "pos": pos, "recorded": self.recorded.isoformat(timespec="microseconds"),
            "action": self.action, "outcome": self.outcome, "status": self.status, "kind": self.kind,
            "subject": self.subject, "roles": self.roles, "facility": self.facility,
            "client_id": self.client_id, "practitioner": self.practitioner,
            "break_glass": self.break_glass, "res_type": self.res_type, "res_id": self.res_id,
            "query": self.query, "patients": self.patients, "source_ip": self.source_ip,
            "details": orjson.Fragment(details), "prev_hash": "\\x" + prev.hex(),
            "hash": "\\x" + hash_.hex(),
        }  # fmt: skip


def _columns(event: AccessEvent) -> _Columns:
    p: Principal | None = event.principal
    recorded = _utc(event.when)
    patients = list(dict.fromkeys(s for s in map(_clean, event.patients) if s is not None))
    roles = sorted(r for r in map(_clean, p.roles) if r is not None) if p is not None else []
    kind = p.kind if p is not None else None
    subject = _clean(p.subject) if p is not None else None
    facility = _clean(p.facility) if p is not None else None
    client_id = _clean(p.client_id) if p is not None else None
    practitioner = _clean(p.practitioner) if p is not None else None
    break_glass = _clean(p.break_glass) if p is not None else None
    res_type, res_id = _clean(event.res_type), _clean(event.res_id)
    query, source_ip = _clean(event.query), _clean(event.source_ip)
    digest = fields_digest(
        recorded, event.action, event.outcome, event.status, kind, subject, roles, facility,
        client_id, practitioner, break_glass, res_type, res_id, query, patients, source_ip,
    )  # fmt: skip
    chain = _chain(patients[0] if patients else (f"{kind}/{subject}" if p is not None else ""))
    return _Columns(
        recorded, event.action, event.outcome, event.status, kind, subject, roles, facility, client_id,
        practitioner, break_glass, res_type, res_id, query, patients, source_ip, chain, digest,
    )  # fmt: skip


def _params(event: AccessEvent) -> tuple[dict[str, Any], int]:
    """The parameters of :data:`_INSERT` for ``event``, and its chain."""
    c = _columns(event)
    params: dict[str, Any] = {
        "recorded": c.recorded, "action": c.action, "outcome": c.outcome, "status": c.status,
        "kind": c.kind, "subject": c.subject, "roles": c.roles, "facility": c.facility,
        "client_id": c.client_id, "practitioner": c.practitioner, "break_glass": c.break_glass,
        "res_type": c.res_type, "res_id": c.res_id, "query": c.query, "patients": c.patients,
        "source_ip": c.source_ip, "chain": c.chain, "digest": c.digest,
        "details": _details_json(event.details),
    }  # fmt: skip
    return params, c.chain


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored row of ``audit_event`` (``details`` as PostgreSQL's jsonb text, as hashed)."""

    seq: int
    chain: int
    pos: int
    recorded: datetime
    action: str
    outcome: str
    status: int
    principal_kind: str | None
    principal_subject: str | None
    principal_roles: list[str]
    principal_facility: str | None
    principal_client_id: str | None
    principal_practitioner: str | None
    break_glass: str | None
    res_type: str | None
    res_id: str | None
    query: str | None
    patients: list[str]
    source_ip: str | None
    details: str
    prev_hash: bytes
    hash: bytes

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AuditRecord:
        values = list(row)
        values[20] = bytes(values[20])
        values[21] = bytes(values[21])
        return cls(*values)


@dataclass(frozen=True, slots=True)
class Access:
    """One line of "who viewed my record"."""

    seq: int
    when: datetime
    action: str
    outcome: str
    principal_kind: str | None
    principal: str | None  # the account's subject
    practitioner: str | None
    roles: list[str] = field(default_factory=list)
    facility: str | None = None
    break_glass: str | None = None
    resource: str | None = None  # "Type/id" of a read or write, "Type?query" of a search


async def records(
    conn: AsyncConnection[TupleRow],
    *,
    patient: str | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[AuditRecord]:
    """Stored rows, newest first: all of them, or those that concern ``patient``."""
    where = ["(%(before)s::bigint IS NULL OR seq < %(before)s::bigint)"]
    if patient is not None:
        where.append("patients @> ARRAY[%(patient)s::text]")
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM audit_event WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT %(limit)s",
        {"before": before_seq, "patient": patient, "limit": limit},
    )
    return [AuditRecord.from_row(r) for r in await cur.fetchall()]


async def accesses_to_patient(
    conn: AsyncConnection[TupleRow],
    patient_id: str,
    *,
    limit: int = 50,
    before: datetime | None = None,
) -> list[Access]:
    """Who accessed ``patient_id``'s record (reads, searches that returned them, writes), newest first;
    ``before`` pages back (the ``when`` of the last line of the previous page)."""
    cur = await conn.execute(
        "SELECT seq, recorded, action, outcome, principal_kind, principal_subject, principal_practitioner,"
        " principal_roles, principal_facility, break_glass, res_type, res_id, query"
        " FROM audit_event WHERE patients @> ARRAY[%(p)s::text]"
        " AND (%(before)s::timestamptz IS NULL OR recorded < %(before)s::timestamptz)"
        " ORDER BY recorded DESC, seq DESC LIMIT %(limit)s",
        {"p": patient_id, "before": before, "limit": limit},
    )
    out = []
    for (
        seq,
        when,
        action,
        outcome,
        kind,
        subject,
        pract,
        roles,
        facility,
        btg,
        rt,
        rid,
        q,
    ) in await cur.fetchall():
        resource = f"{rt}/{rid}" if rt and rid else (f"{rt or ''}?{q or ''}" if action == "search" else rt)
        out.append(Access(seq, when, action, outcome, kind, subject, pract, roles, facility, btg, resource))
    return out


# --- FHIR rendering (BALP) -------------------------------------------------------------------------

_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_ROLE_SYSTEM = "https://senhealth.vn/fhir/CodeSystem/role"
_ACCOUNT_SYSTEM = "https://senhealth.vn/fhir/sid/account"
_CLIENT_SYSTEM = "https://senhealth.vn/fhir/sid/client"
_ACTION = {"create": "C", "read": "R", "update": "U", "delete": "D", "search": "E", "history": "R",
           "operation": "E"}  # fmt: skip
_OUTCOME = {"success": ("0", None), "denied": ("4", "access denied"), "failed": ("8", "failed")}
_BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
_PROFILE = {"create": "IHE.BasicAudit.Create", "read": "IHE.BasicAudit.Read", "update": "IHE.BasicAudit.Update",
            "delete": "IHE.BasicAudit.Delete", "search": "IHE.BasicAudit.Query"}  # fmt: skip


def _subtype(r: AuditRecord) -> str:
    """The restful-interaction code of the event (audit-event-sub-type value set)."""
    if r.action == "search":
        return "search-type" if r.res_type else "search-system"
    if r.action == "history":
        if r.res_id:
            return "history-instance"
        return "history-type" if r.res_type else "history-system"
    return r.action  # create, read, update, delete, operation


def _ref(value: str, default_type: str) -> str:
    return value if "/" in value else f"{default_type}/{value}"


def _user_agent(r: AuditRecord) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "IRCP",
                    "display": "information recipient",
                }
            ]
        },
        "requestor": True,
    }
    if r.principal_kind == "patient" and r.principal_subject:
        agent["who"] = {"identifier": {"system": _ACCOUNT_SYSTEM, "value": r.principal_subject}}
        agent["altId"] = r.principal_subject
    elif r.principal_practitioner:
        agent["who"] = {"reference": _ref(r.principal_practitioner, "Practitioner")}
        if r.principal_subject:
            agent["altId"] = r.principal_subject
    elif r.principal_subject:
        system = _CLIENT_SYSTEM if r.principal_kind == "system" else _ACCOUNT_SYSTEM
        agent["who"] = {"identifier": {"system": system, "value": r.principal_subject}}
    else:
        agent["who"] = {"display": "anonymous"}
    if r.principal_roles:
        agent["role"] = [{"coding": [{"system": _ROLE_SYSTEM, "code": c}]} for c in r.principal_roles]
    if r.source_ip:
        agent["network"] = {"address": r.source_ip, "type": "2"}  # 2 = IP address
    if r.break_glass:
        agent["purposeOfUse"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                        "code": "BTG",
                        "display": "break the glass",
                    }
                ],
                "text": r.break_glass,
            }
        ]
    return agent


def to_fhir(r: AuditRecord, *, server: str = "Sen Health") -> dict[str, Any]:
    """The R4 AuditEvent of a stored row, shaped as BALP describes (rest type, restful-interaction
    sub-type, the user / client / server agents, the patients and the data or query as entities)."""
    code, desc = _OUTCOME.get(r.outcome, ("8", r.outcome))
    agents = [_user_agent(r)]
    if r.principal_client_id:
        agents.append(
            {
                "type": {"coding": [{"system": _DCM, "code": "110153", "display": "Source Role ID"}]},
                "who": {"identifier": {"system": _CLIENT_SYSTEM, "value": r.principal_client_id}},
                "requestor": False,
            }
        )
    if r.principal_facility:
        agents.append(
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                            "code": "PROV",
                            "display": "healthcare provider",
                        }
                    ]
                },
                "who": {"reference": _ref(r.principal_facility, "Organization")},
                "requestor": False,
            }
        )
    agents.append(
        {
            "type": {"coding": [{"system": _DCM, "code": "110152", "display": "Destination Role ID"}]},
            "who": {"display": server},
            "requestor": False,
        }
    )
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": f"Patient/{p}"},
            "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"},
        }
        for p in r.patients
    ]
    if r.action == "search":
        entities.append(
            {
                "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": _OBJECT_ROLE, "code": "24", "display": "Query"},
                "query": base64.b64encode(f"{r.res_type or ''}?{r.query or ''}".encode()).decode(),
            }
        )
    elif r.res_type and r.res_id:
        entities.append(
            {
                "what": {"reference": f"{r.res_type}/{r.res_id}"},
                "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": _OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
            }
        )
    elif r.query:
        entities.append(
            {
                "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": _OBJECT_ROLE, "code": "3", "display": "Report"},
                "name": r.query,
            }
        )
    out: dict[str, Any] = {"resourceType": "AuditEvent", "id": str(r.seq)}
    if r.action in _PROFILE:
        out["meta"] = {"profile": [_BALP + _PROFILE[r.action]]}
    out.update(
        {
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                "code": "rest",
                "display": "Restful Operation",
            },
            "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": _subtype(r)}],
            "action": _ACTION.get(r.action, "E"),
            "recorded": _utc(r.recorded).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "outcome": code,
        }
    )
    if desc:
        out["outcomeDesc"] = f"{desc} (HTTP {r.status})"
    out["agent"] = agents
    out["source"] = {
        "site": server,
        "observer": {"display": server},
        "type": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server",
            }
        ],
    }
    if entities:
        out["entity"] = entities
    return out
