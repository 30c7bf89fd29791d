"""The audit log (issue 4, item 4): the sink writes one chained row per access in the caller's
transaction, rows render as valid BALP-style AuditEvents, the log is append-only, and
``senhealth audit verify`` finds any change to a stored row (BALP: https://profiles.ihe.net/ITI/BALP/)."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from typer.testing import CliRunner

from senhealth.cli_audit import audit_app
from senhealth.core.migrate import migrate
from senhealth.fhir.access import AccessEvent, Principal
from senhealth.fhir.validation import validate
from senhealth.security.audit import CHAINS, PostgresAuditSink, accesses_to_patient, records, to_fhir
from senhealth.security.audit_verify import genesis, verify

T = TypeVar("T")
SINK = PostgresAuditSink()
DOCTOR = Principal(
    kind="user",
    subject="bs.lan",
    roles=frozenset({"doctor"}),
    facility="Organization/bv-tinh",
    practitioner="Practitioner/lan",
    client_id="senhealth-web",
)
T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


@pytest.fixture
def audit_url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def run(url: str, fn: Callable[[AsyncConnection[TupleRow]], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await AsyncConnection.connect(url) as conn:
            result = await fn(conn)
            await conn.commit()
            return result

    return asyncio.run(main())


def sql(url: str, statement: str, params: Any = None, *, bypass: bool = False) -> list[tuple[Any, ...]]:
    """Run one statement (autocommit); ``bypass``: as a superuser with triggers off (a tamperer)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if bypass:
            conn.execute("SET session_replication_role = replica")
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def event(action: str = "read", patients: tuple[str, ...] = ("p1",), **kw: Any) -> AccessEvent:
    base: dict[str, Any] = {
        "when": T0,
        "principal": DOCTOR,
        "action": action,
        "res_type": "Patient",
        "res_id": patients[0] if patients and action != "search" else None,
        "patients": patients,
        "source_ip": "10.1.2.3",
    }
    base.update(kw)
    return AccessEvent(**base)


async def record_all(url: str, events: list[AccessEvent]) -> None:
    async with await AsyncConnection.connect(url) as conn:
        for e in events:
            await SINK.record(conn, e)
        await conn.commit()


def fill(url: str, n: int = 40) -> None:
    rng = random.Random(4)
    events = [
        event(patients=(f"p{rng.randrange(30)}",), when=T0 + timedelta(seconds=i), details={"i": i})
        for i in range(n)
    ]
    asyncio.run(record_all(url, events))


def test_record_writes_one_chained_row(audit_url: str) -> None:
    run(audit_url, lambda c: SINK.record(c, event(details={"n": 1.5, "z": [1e2, "a\x00b"]})))
    rows = sql(
        audit_url, "SELECT chain, pos, principal_subject, patients, prev_hash, details FROM audit_event"
    )
    assert len(rows) == 1
    chain, pos, subject, patients, prev, details = rows[0]
    assert (pos, subject, patients) == (1, "bs.lan", ["p1"])
    assert bytes(prev) == genesis(chain)
    assert details["z"][1] == "a\ufffdb"
    assert verify(audit_url).ok


def test_rolled_back_access_leaves_no_row_and_no_hole(audit_url: str) -> None:
    async def rolled_back(conn: AsyncConnection[TupleRow]) -> None:
        await SINK.record(conn, event())
        await conn.rollback()
        await SINK.record(conn, event(patients=("p2",)))

    run(audit_url, rolled_back)
    assert sql(audit_url, "SELECT patients, pos FROM audit_event") == [(["p2"], 1)]
    assert verify(audit_url).ok


def test_one_transaction_stays_on_its_first_chain(audit_url: str) -> None:
    patients = [f"patient-{i}" for i in range(40)]

    async def many(conn: AsyncConnection[TupleRow]) -> None:
        for p in patients:
            await SINK.record(conn, event(patients=(p,)))

    run(audit_url, many)
    chains = sql(audit_url, "SELECT DISTINCT chain FROM audit_event")
    assert len(chains) == 1
    # The next transaction picks its chain afresh.
    run(audit_url, lambda c: SINK.record(c, event(patients=(patients[1],))))
    run(audit_url, lambda c: SINK.record(c, event(patients=(patients[2],))))
    assert len(sql(audit_url, "SELECT DISTINCT chain FROM audit_event")) > 1
    assert verify(audit_url).ok


def test_concurrent_writers_on_several_chains_verify(audit_url: str) -> None:
    async def writer(k: int) -> None:
        rng = random.Random(k)
        async with await AsyncConnection.connect(audit_url) as conn:
            for i in range(30):
                p = f"p{rng.randrange(200)}"
                await SINK.record(conn, event(patients=(p,), when=T0 + timedelta(milliseconds=i)))
                await conn.commit()

    async def main() -> None:
        await asyncio.gather(*(writer(k) for k in range(8)))

    asyncio.run(main())
    seen: list[tuple[int, int]] = []
    report = verify(audit_url, progress=lambda done, total: seen.append((done, total)), batch=50)
    assert report.ok, report.breaks
    assert report.rows == 240 and report.chains == CHAINS
    assert seen[-1] == (240, 240)
    assert len({c for (c,) in sql(audit_url, "SELECT chain FROM audit_event")}) > 8
    with psycopg.connect(audit_url) as conn:  # an open connection works too, and is left as it was
        assert verify(conn).ok
        assert not conn.read_only


def test_fhir_audit_events_are_valid_balp_shapes(audit_url: str) -> None:
    patient = Principal(kind="patient", subject="citizen-7", roles=frozenset({"patient"}), patient="p7")
    events = [
        event("read"),
        event("search", patients=("p1", "p2"), res_type="Observation", query="code=4548-4&_count=20"),
        event("create", res_type="Observation", res_id="o1"),
        event("update", res_type="Observation", res_id="o1"),
        event("delete", res_type="Observation", res_id="o1"),
        event("history", res_type="Observation", res_id="o1"),
        event("operation", res_type="Patient", res_id="p1", query="$everything"),
        event("read", principal=patient, patients=("p7",)),
        event("read", principal=None, outcome="denied", status=404, source_ip=None),
        event("read", principal=Principal(kind="user", subject="bs.hoa", break_glass="cấp cứu, hôn mê")),
        event(
            "search", principal=Principal(kind="system", subject="cdc-exporter"), patients=(), res_type=None
        ),
    ]
    asyncio.run(record_all(audit_url, events))
    rows = list(reversed(run(audit_url, lambda c: records(c))))
    assert len(rows) == len(events)
    fhir = [to_fhir(r) for r in rows]
    for resource in fhir:
        outcome = validate(resource)
        errors = [i for i in outcome.get("issue", []) if i["severity"] in ("error", "fatal")]
        assert not errors, (resource, errors)
    read, search, create = fhir[0], fhir[1], fhir[2]
    assert read["type"]["code"] == "rest" and read["subtype"][0]["code"] == "read" and read["action"] == "R"
    assert read["agent"][0]["who"] == {"reference": "Practitioner/lan"}
    assert read["agent"][0]["network"] == {"address": "10.1.2.3", "type": "2"}
    assert {"reference": "Patient/p1"} in [e.get("what") for e in read["entity"]]
    assert search["subtype"][0]["code"] == "search-type" and search["action"] == "E"
    query = next(e for e in search["entity"] if e["role"]["code"] == "24")
    assert base64.b64decode(query["query"]).decode() == "Observation?code=4548-4&_count=20"
    assert [e["what"]["reference"] for e in search["entity"] if "what" in e] == ["Patient/p1", "Patient/p2"]
    assert create["action"] == "C" and fhir[3]["action"] == "U" and fhir[4]["action"] == "D"
    assert fhir[5]["subtype"][0]["code"] == "history-instance"
    assert fhir[8]["outcome"] == "4" and fhir[8]["agent"][0]["who"] == {"display": "anonymous"}
    assert fhir[9]["agent"][0]["purposeOfUse"][0]["coding"][0]["code"] == "BTG"
    assert fhir[10]["subtype"][0]["code"] == "search-system"


def test_who_viewed_my_record(audit_url: str) -> None:
    nurse = Principal(
        kind="user", subject="dd.minh", roles=frozenset({"nurse"}), facility="Organization/tyt-an-binh"
    )
    asyncio.run(
        record_all(
            audit_url,
            [
                event(when=T0),
                event(
                    "search",
                    patients=("p9", "p1"),
                    principal=nurse,
                    res_type="Observation",
                    query="code=x",
                    when=T0 + timedelta(hours=1),
                ),
                event(patients=("p2",), when=T0 + timedelta(hours=2)),
            ],
        )
    )
    lines = run(audit_url, lambda c: accesses_to_patient(c, "p1", limit=10))
    assert [(a.principal, a.action, a.facility) for a in lines] == [
        ("dd.minh", "search", "Organization/tyt-an-binh"),
        ("bs.lan", "read", "Organization/bv-tinh"),
    ]
    assert lines[0].resource == "Observation?code=x" and lines[1].resource == "Patient/p1"
    older = run(audit_url, lambda c: accesses_to_patient(c, "p1", limit=10, before=lines[0].when))
    assert [a.principal for a in older] == ["bs.lan"]
    assert run(audit_url, lambda c: accesses_to_patient(c, "nobody", limit=10)) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET principal_subject = 'someone else'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
        "TRUNCATE audit_event_p0",
        "DELETE FROM audit_event_p0",
        "DELETE FROM audit_chain",
        "TRUNCATE audit_chain",
    ],
)
def test_the_log_is_append_only(audit_url: str, statement: str) -> None:
    fill(audit_url, 5)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        sql(audit_url, statement)
    assert sql(audit_url, "SELECT count(*) FROM audit_event") == [(5,)]
    assert verify(audit_url).ok


def _row(url: str, pos: int | None = None) -> tuple[int, int, int]:
    """(chain, pos, seq) of a row in the middle of the longest chain (or at ``pos``)."""
    ((chain, n),) = sql(url, "SELECT chain, pos FROM audit_chain ORDER BY pos DESC, chain LIMIT 1")
    assert n >= 3
    p = pos if pos is not None else n // 2 + 1
    ((seq,),) = sql(url, "SELECT seq FROM audit_event WHERE chain = %s AND pos = %s", (chain, p))
    return chain, p if p > 0 else n, seq


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("principal_subject", "'someone else'"),
        ("recorded", "recorded + interval '1 second'"),
        ("patients", "ARRAY['p-other']"),
        ("details", "'{\"i\": 999}'::jsonb"),
        ("action", "'search'"),
        ("seq", "seq + 100000"),
        ("source_ip", "NULL"),
        ("principal_roles", "ARRAY['doctor', 'cdc_officer']"),
    ],
)
def test_altering_any_column_breaks_verify(audit_url: str, column: str, value: str) -> None:
    fill(audit_url)
    chain, pos, _ = _row(audit_url)
    sql(
        audit_url,
        f"UPDATE audit_event SET {column} = {value} WHERE chain = %s AND pos = %s",
        (chain, pos),
        bypass=True,
    )
    report = verify(audit_url)
    assert not report.ok
    assert [(b.chain, b.pos) for b in report.breaks] == [(chain, pos)]
    assert "altered" in report.breaks[0].reason


def test_deleting_a_row_breaks_verify(audit_url: str) -> None:
    fill(audit_url)
    chain, pos, _ = _row(audit_url)
    sql(audit_url, "DELETE FROM audit_event WHERE chain = %s AND pos = %s", (chain, pos), bypass=True)
    report = verify(audit_url)
    assert [(b.chain, b.pos) for b in report.breaks] == [(chain, pos + 1)]
    assert "missing" in report.breaks[0].reason


def test_deleting_the_last_row_breaks_verify(audit_url: str) -> None:
    fill(audit_url)
    ((chain, n),) = sql(audit_url, "SELECT chain, pos FROM audit_chain ORDER BY pos DESC LIMIT 1")
    sql(audit_url, "DELETE FROM audit_event WHERE chain = %s AND pos = %s", (chain, n), bypass=True)
    report = verify(audit_url)
    assert [(b.chain, b.pos) for b in report.breaks] == [(chain, None)]
    assert "head" in report.breaks[0].reason


def test_swapping_two_rows_breaks_verify(audit_url: str) -> None:
    fill(audit_url)
    chain, pos, _ = _row(audit_url)
    for a, b in ((pos, -1), (pos - 1, pos), (-1, pos - 1)):
        sql(
            audit_url,
            "UPDATE audit_event SET pos = %s WHERE chain = %s AND pos = %s",
            (b, chain, a),
            bypass=True,
        )
    report = verify(audit_url)
    assert [(b.chain, b.pos) for b in report.breaks] == [(chain, pos - 1)]


def test_inserting_a_forged_row_breaks_verify(audit_url: str) -> None:
    fill(audit_url)
    chain, pos, _ = _row(audit_url)
    # Make room after `pos` and copy that row there, with its own hashes: a plausible forged entry.
    sql(
        audit_url,
        "UPDATE audit_event SET pos = pos + 1000000 WHERE chain = %s AND pos > %s",
        (chain, pos),
        bypass=True,
    )
    sql(
        audit_url,
        "UPDATE audit_event SET pos = pos - 1000000 + 1 WHERE chain = %s AND pos > 1000000",
        (chain,),
        bypass=True,
    )
    sql(
        audit_url,
        "INSERT INTO audit_event SELECT nextval('audit_seq'), chain, pos + 1, recorded, action, outcome, status,"
        " principal_kind, 'forger', principal_roles, principal_facility, principal_client_id,"
        " principal_practitioner, break_glass, res_type, res_id, query, patients, source_ip, details, hash, hash"
        " FROM audit_event WHERE chain = %s AND pos = %s",
        (chain, pos),
    )
    report = verify(audit_url)
    assert [(b.chain, b.pos) for b in report.breaks] == [(chain, pos + 1)]


def test_appending_without_the_head_breaks_verify(audit_url: str) -> None:
    fill(audit_url)
    ((chain, n),) = sql(audit_url, "SELECT chain, pos FROM audit_chain ORDER BY pos DESC LIMIT 1")
    sql(
        audit_url,
        "INSERT INTO audit_event SELECT seq + 1000, chain, pos + 1, recorded, action, outcome, status,"
        " principal_kind, principal_subject, principal_roles, principal_facility, principal_client_id,"
        " principal_practitioner, break_glass, res_type, res_id, query, patients, source_ip, details, hash, hash"
        " FROM audit_event WHERE chain = %s AND pos = %s",
        (chain, n),
    )
    report = verify(audit_url)
    assert [(b.chain, b.pos) for b in report.breaks] == [(chain, n + 1)]


def test_cli_verify_and_who_viewed(audit_url: str) -> None:
    fill(audit_url)
    runner = CliRunner()
    ok = runner.invoke(audit_app, ["verify", "--url", audit_url])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    js = runner.invoke(audit_app, ["verify", "--url", audit_url, "--json"])
    assert js.exit_code == 0 and '"ok": true' in js.stdout
    chain, pos, seq = _row(audit_url)
    sql(
        audit_url,
        "UPDATE audit_event SET query = 'x' WHERE chain = %s AND pos = %s",
        (chain, pos),
        bypass=True,
    )
    bad = runner.invoke(audit_app, ["verify", "--url", audit_url])
    assert bad.exit_code == 1
    assert f"seq {seq}, pos {pos}" in bad.output and "tampered" in bad.output
    ((p,),) = sql(audit_url, "SELECT patients[1] FROM audit_event LIMIT 1")
    who = runner.invoke(audit_app, ["who-viewed", p, "--url", audit_url, "--limit", "3"])
    assert who.exit_code == 0, who.output
    assert "Practitioner/lan" in who.output and "Organization/bv-tinh" in who.output
    js = runner.invoke(audit_app, ["who-viewed", p, "--url", audit_url, "--json"])
    assert js.exit_code == 0 and '"practitioner":"Practitioner/lan"' in js.stdout
    none = runner.invoke(audit_app, ["who-viewed", "nobody", "--url", audit_url])
    assert none.exit_code == 0 and "no accesses" in none.output
