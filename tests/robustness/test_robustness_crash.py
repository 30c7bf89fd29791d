"""``kill -9`` the server in the middle of a stream of writes: every write that was answered 2xx is
there after the restart, and nothing is half-written.

Spec: https://hl7.org/fhir/R4/http.html (create, update, delete, transaction) and docs/storage.md
("One transaction per write ... an answered 2xx is on disk").

``senhealth serve`` runs as a subprocess on a database of its own. Six clients stream creates,
updates-as-create, updates, deletes and transaction Bundles (a Patient and two Observations that
refer to it through a ``urn:uuid``); the server is sent SIGKILL at a random moment, started again on
the same database, and the stream goes on: three kills in all. Every 2xx answer is written down in a
ledger (type, id, version, the markers of that version); after each restart, and at the end:

- every acknowledged version reads back by vread with its content (a delete: 410), and no resource
  is behind its last acknowledged version;
- every transaction Bundle that was sent, answered or not, is all there or not there at all (and all
  there when it was answered 200);
- the tables agree with each other (:func:`robustness_support.consistency_problems`: locator,
  resource, history, index rows), and every live resource is found by a search on its marker
  (the token index) and every Bundle's Observations by a search on their subject (the reference index).

The second test ends the server's PostgreSQL sessions instead (``pg_terminate_backend``) in the
middle of the stream: the same checks, and the server recovers without a restart.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
from robustness_support import (
    JSON_HEADERS,
    MARK,
    Answer,
    ServerProcess,
    call,
    consistency_problems,
    dumps,
    fresh_database,
    is_outcome,
    live_marks,
    marks_of,
    observation,
    patient,
)

WRITERS = 6
KILLS = 3


@dataclass(frozen=True, slots=True)
class Ack:
    """A write answered 2xx: the version it made, and the markers of that version (None: a delete)."""

    res_type: str
    res_id: str
    version: int
    marks: tuple[str, ...] | None


@dataclass
class Ledger:
    acks: list[Ack] = field(default_factory=list)
    bundles: dict[str, bool] = field(default_factory=dict)  # bundle marker -> answered 200
    statuses: Counter[int] = field(default_factory=Counter)  # 0: no answer
    unsure: set[tuple[str, str]] = field(default_factory=set)  # written with no 2xx: may have committed

    def ack(self, a: Answer, res_type: str, marks: tuple[str, ...]) -> str:
        """Record a write answered with a resource: its id and ETag version; return the id."""
        assert a.version is not None, (a.status, a.headers)
        res_id: str = a.body["id"]
        self.acks.append(Ack(res_type, res_id, a.version, marks))
        return res_id


async def writer(
    w: int, fhir: str, ledger: Ledger, rnd: int, stop: asyncio.Event, rng: random.Random, patient_: bool
) -> None:
    """One client's stream of writes, until ``stop``, or (unless ``patient_``) until the server stops
    answering. A patient writer goes on after a dropped connection (the next request opens another)."""
    own: list[str] = []  # Patients this writer made and may update or delete
    async with httpx.AsyncClient(base_url=fhir, timeout=30) as c:
        n = 0
        while not stop.is_set():
            n += 1
            mark = f"k{rnd}-w{w}-n{n}"
            kind = rng.choice("ccuuutttd") if own else "c"
            a: Answer
            target = ""  # the id written, when known before the answer
            if kind == "c" and n % 2:  # create, server id
                a = await call(c, "POST", "Patient", content=dumps(patient(mark)), headers=JSON_HEADERS)
                if a.ok:
                    own.append(ledger.ack(a, "Patient", (mark,)))
            elif kind == "c":  # update as create, client id
                pid = f"{mark}-{uuid.uuid4().hex[:6]}"
                target = pid
                a = await call(
                    c, "PUT", f"Patient/{pid}", content=dumps(patient(mark, res_id=pid)), headers=JSON_HEADERS
                )
                if a.ok:
                    own.append(ledger.ack(a, "Patient", (mark,)))
            elif kind == "u":  # update one of our own
                pid = target = rng.choice(own)
                a = await call(
                    c, "PUT", f"Patient/{pid}", content=dumps(patient(mark, res_id=pid)), headers=JSON_HEADERS
                )
                if a.ok:
                    ledger.ack(a, "Patient", (mark,))
            elif kind == "d":  # delete one of our own
                pid = target = own.pop(rng.randrange(len(own)))
                a = await call(c, "DELETE", f"Patient/{pid}")
                if a.status == 200:
                    ledger.acks.append(Ack("Patient", pid, a.version or 0, None))
            else:  # a transaction: a Patient and two Observations about it
                full = f"urn:uuid:{uuid.uuid4()}"
                entries = [
                    {
                        "fullUrl": full,
                        "resource": patient(mark),
                        "request": {"method": "POST", "url": "Patient"},
                    },
                    *(
                        {
                            "resource": observation(f"{mark}-o{j}", full, value=j),
                            "request": {"method": "POST", "url": "Observation"},
                        }
                        for j in (1, 2)
                    ),
                ]
                ledger.bundles[mark] = False
                bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
                a = await call(c, "POST", fhir, content=dumps(bundle), headers=JSON_HEADERS)
                if a.status == 200:
                    ledger.bundles[mark] = True
                    for entry, m in zip(a.body["entry"], (mark, f"{mark}-o1", f"{mark}-o2")):
                        rtype, rid, _, version = entry["response"]["location"].split("/")[-4:]
                        ledger.acks.append(Ack(rtype, rid, int(version), (m,)))
            ledger.statuses[a.status] += 1
            if target and not a.ok:
                ledger.unsure.add(("Patient", target))
            if a.status == 0 and not patient_:
                return  # the server is gone
            assert a.status < 500 or is_outcome(a), (a.status, a.text)


def stream(
    fhir: str, ledger: Ledger, rnd: int, seconds: float, at: float, action: Any, *, patient_: bool = False
) -> None:
    """``WRITERS`` clients write for ``seconds``; ``action()`` runs (in a thread) after ``at`` s."""

    async def main() -> None:
        stop = asyncio.Event()
        rng = random.Random(rnd)
        tasks = [
            asyncio.create_task(writer(w, fhir, ledger, rnd, stop, random.Random(rng.random()), patient_))
            for w in range(WRITERS)
        ]
        await asyncio.sleep(at)
        await asyncio.to_thread(action)
        await asyncio.sleep(max(0.0, seconds - at))
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


async def batch_get(c: httpx.AsyncClient, fhir: str, urls: list[str]) -> list[tuple[int, Any]]:
    """GET every URL through ``batch`` Bundles of 200 entries: (status, resource) in order."""
    chunks = [urls[i : i + 200] for i in range(0, len(urls), 200)]
    gate = asyncio.Semaphore(3)

    async def one(chunk: list[str]) -> list[tuple[int, Any]]:
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": u}} for u in chunk],
        }
        async with gate:
            a = await call(c, "POST", fhir, content=dumps(bundle), headers=JSON_HEADERS)
        assert a.status == 200, a.text
        return [(int(e["response"]["status"].split()[0]), e.get("resource")) for e in a.body["entry"]]

    out: list[tuple[int, Any]] = []
    for part in await asyncio.gather(*(one(ch) for ch in chunks)):
        out += part
    return out


def search_url(res_type: str, **params: str) -> str:
    return f"{res_type}?{urlencode({**params, '_count': '1000'})}"


def verify(server: ServerProcess, ledger: Ledger) -> None:
    """Check the ledger against the restarted server and the tables."""
    with psycopg.connect(server.database_url) as conn:
        live = live_marks(conn)  # marker -> (type, id) of every live resource that has one
        errors = consistency_problems(conn)
    last: dict[tuple[str, str], Ack] = {}
    for ack in ledger.acks:
        key = (ack.res_type, ack.res_id)
        if key not in last or last[key].version < ack.version:
            last[key] = ack
    by_type: dict[str, list[str]] = {}
    for value, (rtype, _) in live.items():
        by_type.setdefault(rtype, []).append(value)
    token_searches = [
        (rtype, values[i : i + 50]) for rtype, values in by_type.items() for i in range(0, len(values), 50)
    ]
    whole = [m for m, _ in ledger.bundles.items() if all(x in live for x in (m, f"{m}-o1", f"{m}-o2"))]

    async def main() -> None:
        async with httpx.AsyncClient(timeout=60) as c:
            vreads = await batch_get(
                c, server.fhir, [f"{a.res_type}/{a.res_id}/_history/{a.version}" for a in ledger.acks]
            )
            currents = await batch_get(c, server.fhir, [f"{t}/{i}" for t, i in last])
            tokens = await batch_get(
                c,
                server.fhir,
                [search_url(t, identifier=",".join(f"{MARK}|{v}" for v in vs)) for t, vs in token_searches],
            )
            subjects = await batch_get(
                c, server.fhir, [search_url("Observation", subject=f"Patient/{live[m][1]}") for m in whole]
            )
        for ack, (status, resource) in zip(ledger.acks, vreads):
            if ack.marks is None and status != 410:
                errors.append(f"acknowledged delete {ack}: vread answers {status}")
            elif ack.marks is not None and (status != 200 or tuple(marks_of(resource)) != ack.marks):
                errors.append(f"acknowledged write {ack}: vread answers {status} {marks_of(resource)}")
        for ack, (status, resource) in zip(last.values(), currents):
            version = int(resource["meta"]["versionId"]) if status == 200 else None
            if (ack.res_type, ack.res_id) in ledger.unsure:  # a later write may or may not be there
                if status != 410 and (status != 200 or (version or 0) < ack.version):
                    errors.append(f"{ack}: the current version is {status} {version}")
            elif ack.marks is None and status != 410:
                errors.append(f"deleted {ack.res_type}/{ack.res_id} reads {status}")
            elif ack.marks is not None and (status != 200 or version != ack.version):
                errors.append(f"{ack}: the current version is {status} {version}")
        for (rtype, values), (status, found) in zip(token_searches, tokens):
            got = {(rtype, e["resource"]["id"]) for e in (found or {}).get("entry", [])}
            if status != 200 or got != {live[v] for v in values}:
                errors.append(
                    f"{rtype}?identifier=...: {status}, misses { ({live[v] for v in values} - got) }"
                )
        for mark, (status, found) in zip(whole, subjects):
            got = {("Observation", e["resource"]["id"]) for e in (found or {}).get("entry", [])}
            if status != 200 or got != {live[f"{mark}-o1"], live[f"{mark}-o2"]}:
                errors.append(f"transaction {mark}: its Observations by subject: {status} {got}")

    asyncio.run(main())
    for mark, answered in ledger.bundles.items():  # all of a Bundle or none of it
        parts = [m in live for m in (mark, f"{mark}-o1", f"{mark}-o2")]
        if any(parts) != all(parts) or (answered and not all(parts)):
            errors.append(f"transaction {mark} (answered: {answered}) is partly there: {parts}")
    assert errors == [], "\n".join(errors[:20])


def test_kill_9_during_writes_loses_no_acknowledged_write(server_url: str, tmp_path: Path) -> None:
    ledger = Ledger()
    rng = random.Random(20261125)
    report: list[str] = []
    with fresh_database(server_url, "crash") as url:
        server = ServerProcess(url, tmp_path)
        try:
            server.start()
            for rnd in range(KILLS):
                before = len(ledger.acks)
                at = rng.uniform(0.8, 1.6)
                started = time.monotonic()
                stream(server.fhir, ledger, rnd, seconds=at + 0.5, at=at, action=server.kill)
                acked = len(ledger.acks) - before
                assert acked >= 20, f"only {acked} writes were answered before the kill: too slow to test"
                server.start()  # on the same database
                verify(server, ledger)
                report.append(
                    f"kill {rnd + 1} after {at:.2f} s: {acked} writes acknowledged in this round, "
                    f"{len(ledger.acks)} in all, {len(ledger.bundles)} transactions sent; round verified "
                    f"in {time.monotonic() - started:.1f} s"
                )
            assert ledger.statuses.keys() <= {0, 200, 201}, ledger.statuses
            assert server.tracebacks() == [], "\n\n".join(server.tracebacks())
        finally:
            server.stop()
    print("\n".join(["", *report, f"answers: {dict(sorted(ledger.statuses.items()))}, losses: 0"]))


def test_database_sessions_ended_during_writes(server_url: str, tmp_path: Path) -> None:
    """``pg_terminate_backend`` on every connection of the server mid-stream: the writes that were in
    flight fail (5xx with an OperationOutcome, or 2xx when they had committed), every acknowledged
    write is there, nothing is half-written, and the server serves again without a restart."""
    ledger = Ledger()
    terminated: list[int] = []
    with fresh_database(server_url, "pgkill") as url:
        server = ServerProcess(url, tmp_path)
        try:
            server.start()

            def end_sessions() -> None:
                with psycopg.connect(url, autocommit=True) as conn:
                    rows = conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = 'senhealth'"
                    ).fetchall()
                terminated.append(len(rows))

            stream(server.fhir, ledger, 0, seconds=2.5, at=1.0, action=end_sessions, patient_=True)
            assert terminated and terminated[0] > 0
            assert {s for s in ledger.statuses if not 200 <= s < 300} <= {0, 500, 503}, ledger.statuses
            # it serves again without a restart: a pooled connection that died idle may fail one more
            # request, then writes succeed
            after = [
                httpx.post(
                    f"{server.fhir}/Patient", content=dumps(patient(f"after-{i}")), headers=JSON_HEADERS
                )
                for i in range(15)
            ]
            assert [a.status_code for a in after[-5:]] == [201] * 5, [a.status_code for a in after]
            verify(server, ledger)
        finally:
            server.stop()
    print(f"\nsessions ended: {terminated[0]}; answers: {dict(sorted(ledger.statuses.items()))}")
