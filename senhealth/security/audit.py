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
"""

from __future__ import annotations

import base64
import hashlib
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

#: The columns of an :class:`AuditRecord`, in its field order (``details`` as PostgreSQL's jsonb text).
COLUMNS: Final = (
    "seq, chain, pos, recorded, action, outcome, status, principal_kind, principal_subject, "
    "principal_roles, principal_facility, principal_client_id, principal_practitioner, break_glass, "
    "res_type, res_id, query, patients, source_ip, details::text, prev_hash, hash"
)


class AuditError(RuntimeError):
    """An access could not be recorded; the interaction must fail with it (its transaction rolls back)."""


def _clean(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: replace it, so that a hostile query string is still recorded."""
    return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value


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


def _details_json(details: dict[str, Any]) -> str:
    text = orjson.dumps(details, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    # jsonb refuses \u0000 in strings, like text refuses NUL.
    return text.replace("\\u0000", "\\ufffd") if "\\u0000" in text else text


class PostgresAuditSink:
    """The platform's :class:`senhealth.fhir.access.AuditSink`: one INSERT per access, in the caller's
    transaction (see the module docstring for the chaining)."""

    async def record(self, conn: AsyncConnection[TupleRow], event: AccessEvent) -> None:
        """Record ``event`` in ``conn``'s current transaction; raise :class:`AuditError` if it cannot be."""
        params, chain = _params(event)
        cur = await conn.execute(_INSERT, params)
        if cur.rowcount != 1:
            raise AuditError(f"audit chain {chain} is missing from audit_chain: access not recorded")

    async def record_many(self, conn: AsyncConnection[TupleRow], events: Sequence[AccessEvent]) -> None:
        """Record ``events`` in ``conn``'s current transaction, the statements sent together (psycopg
        pipeline mode: one round trip for the batch); all on the transaction's chain."""
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


def _params(event: AccessEvent) -> tuple[dict[str, Any], int]:
    """The parameters of :data:`_INSERT` for ``event``, and its chain."""
    p: Principal | None = event.principal
    recorded = _utc(event.when)
    patients = list(dict.fromkeys(s for s in map(_clean, event.patients) if s is not None))
    roles = sorted(p.roles) if p is not None else []
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
    params: dict[str, Any] = {
        "recorded": recorded, "action": event.action, "outcome": event.outcome,
        "status": event.status, "kind": kind, "subject": subject, "roles": roles,
        "facility": facility, "client_id": client_id, "practitioner": practitioner,
        "break_glass": break_glass, "res_type": res_type, "res_id": res_id, "query": query,
        "patients": patients, "source_ip": source_ip, "chain": chain, "digest": digest,
        "details": _details_json(event.details),
    }  # fmt: skip
    return params, chain


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
