"""Check the audit log's hash chains: recompute every row's hash from its columns and report the first
broken row of each chain (``senhealth audit verify``).

Schema and chaining: ``senhealth/migrations/0005_audit.sql`` and :mod:`senhealth.security.audit`. For
each chain, in ``pos`` order, a row is intact when its ``pos`` is the next one, its ``prev_hash`` is the
hash of the row before (the genesis hash for the first), and its ``hash`` equals::

    sha256(prev_hash || seq as 8 bytes big-endian || fields_digest(columns) || sha256(details::text))

recomputed here in Python, independently of the code that wrote it: the single-row statement of
``PostgresAuditSink.record`` computes it in SQL, the batches of ``record_many`` in Python (predicting
jsonb's text of ``details``), to the same value, so rows of either path, older or newer, are checked
alike. The chain's head (``audit_chain``)
must then hold the last row's position and hash: a deleted last row, or a row appended without the
head, shows there. Altering a column, deleting, reordering or inserting a forged row anywhere breaks the
chain from that row on; only the first broken row of a chain is reported (the rest follow from it).

The whole log is read in one REPEATABLE READ, read-only transaction (heads and rows from the same
snapshot) through a server-side cursor, so memory stays constant whatever the log's size; a callback
gets the progress. What the check cannot see: someone with superuser rights who rewrites a chain from
the altered row to its head, head included. Against that, anchor the heads it prints somewhere else
(``VerifyReport.heads``), and compare them with the next run.

- hashlib: https://docs.python.org/3/library/hashlib.html
- server-side cursors: https://www.psycopg.org/psycopg3/docs/advanced/cursors.html#server-side-cursors
- REPEATABLE READ: https://www.postgresql.org/docs/current/transaction-iso.html#XACT-REPEATABLE-READ
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import TupleRow

from senhealth.security.audit import COLUMNS, AuditRecord, fields_digest

__all__ = ["Break", "ChainHead", "VerifyReport", "genesis", "row_hash", "verify"]

Progress = Callable[[int, int], None]  # (rows checked, rows expected)


def genesis(chain: int) -> bytes:
    """The hash a chain starts from (as the migration computes it)."""
    return hashlib.sha256(f"senhealth audit chain {chain}".encode()).digest()


def row_hash(prev: bytes, r: AuditRecord) -> bytes:
    """The hash a row must have, following ``prev``."""
    fields = fields_digest(
        r.recorded, r.action, r.outcome, r.status, r.principal_kind, r.principal_subject,
        r.principal_roles, r.principal_facility, r.principal_client_id, r.principal_practitioner,
        r.break_glass, r.res_type, r.res_id, r.query, r.patients, r.source_ip,
    )  # fmt: skip
    details = hashlib.sha256(r.details.encode()).digest()
    return hashlib.sha256(prev + r.seq.to_bytes(8, "big", signed=True) + fields + details).digest()


@dataclass(frozen=True, slots=True)
class Break:
    """The first broken place of a chain: the row (``seq``, ``pos``; None for the head) and why."""

    chain: int
    pos: int | None
    seq: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ChainHead:
    chain: int
    pos: int
    hash: bytes


@dataclass
class VerifyReport:
    """What :func:`verify` found: rows read, the heads, and the first break of each broken chain."""

    rows: int = 0
    chains: int = 0
    heads: list[ChainHead] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


@dataclass
class _State:
    prev: bytes
    next_pos: int = 1
    broken: bool = False


def verify(
    source: str | psycopg.Connection[TupleRow],
    *,
    progress: Progress | None = None,
    batch: int = 5000,
) -> VerifyReport:
    """Recompute every chain of the audit log at ``source`` (a conninfo, or an open connection not in a
    transaction); return the report (``report.ok``: intact)."""
    if isinstance(source, str):
        with psycopg.connect(source) as conn:
            return _verify(conn, progress, batch)
    return _verify(source, progress, batch)


def _verify(conn: psycopg.Connection[TupleRow], progress: Progress | None, batch: int) -> VerifyReport:
    saved = (conn.read_only, conn.isolation_level)
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        return _check(conn, progress, batch)
    finally:
        conn.read_only, conn.isolation_level = saved


def _check(conn: psycopg.Connection[TupleRow], progress: Progress | None, batch: int) -> VerifyReport:
    report = VerifyReport()
    total = 0
    with conn.transaction():
        heads = conn.execute("SELECT chain, pos, hash FROM audit_chain ORDER BY chain").fetchall()
        report.heads = [ChainHead(c, p, bytes(h)) for c, p, h in heads]
        report.chains = len(heads)
        total = sum(h.pos for h in report.heads)
        states = {h.chain: _State(genesis(h.chain)) for h in report.heads}
        broken: dict[int, Break] = {}

        def fail(chain: int, pos: int | None, seq: int | None, reason: str) -> None:
            if chain not in broken:
                broken[chain] = Break(chain, pos, seq, reason)
            if chain in states:
                states[chain].broken = True

        with conn.cursor(name="senhealth_audit_verify") as cur:
            cur.itersize = batch
            cur.execute(f"SELECT {COLUMNS} FROM audit_event ORDER BY chain, pos")
            for row in cur:
                r = AuditRecord.from_row(row)
                report.rows += 1
                if progress is not None and report.rows % batch == 0:
                    progress(report.rows, total)
                st = states.get(r.chain)
                if st is None:
                    fail(r.chain, r.pos, r.seq, "row of a chain that has no head in audit_chain")
                    continue
                if st.broken:
                    continue
                if r.pos != st.next_pos:
                    what = "missing" if r.pos > st.next_pos else "duplicate"
                    fail(r.chain, r.pos, r.seq, f"expected pos {st.next_pos}, found {r.pos} ({what} rows)")
                    continue
                if r.prev_hash != st.prev:
                    fail(r.chain, r.pos, r.seq, "prev_hash is not the hash of the row before")
                    continue
                expected = row_hash(st.prev, r)
                if expected != r.hash:
                    fail(r.chain, r.pos, r.seq, "content does not match its hash (row altered)")
                    continue
                st.prev = expected
                st.next_pos += 1
        for h in report.heads:
            st = states[h.chain]
            if st.broken:
                continue
            if st.next_pos - 1 != h.pos:
                fail(h.chain, None, None, f"head says {h.pos} rows, the chain has {st.next_pos - 1}")
            elif st.prev != h.hash:
                fail(h.chain, None, None, "head hash is not the hash of the last row")
    if progress is not None:
        progress(report.rows, total)
    report.breaks = [broken[c] for c in sorted(broken)]
    return report
