"""Many clients writing one resource at once, over real HTTP against ``senhealth serve``: no lost
update, exactly one winner per version with ``If-Match``, one resource for concurrent conditional
creates and updates.

Spec: https://hl7.org/fhir/R4/http.html#concurrency (``If-Match``: 412 for a version that is not the
current one), https://hl7.org/fhir/R4/http.html#ccreate, https://hl7.org/fhir/R4/http.html#cond-update
and https://hl7.org/fhir/R4/http.html#transaction.

Every client has its own HTTP connection (its own ``httpx.AsyncClient``); a round's requests are all
sent before any answer is awaited, so the server really sees them at once. Each write carries a
marker of its own (an identifier of system :data:`robustness_support.MARK`), so the history says which
write made which version.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from robustness_support import (
    FHIR,
    JSON_HEADERS,
    MARK,
    Answer,
    ServerProcess,
    call,
    consistency_problems,
    dumps,
    is_outcome,
    marks_of,
    observation,
    patient,
)

CLIENTS = 32
T = TypeVar("T")


def tag() -> str:
    return uuid.uuid4().hex[:10]


def run_clients(
    server: ServerProcess, n: int, scenario: Callable[[list[httpx.AsyncClient]], Awaitable[T]]
) -> T:
    """Run ``scenario`` with ``n`` clients, each on a connection of its own; then check that the
    store's tables agree with each other."""

    async def main() -> T:
        clients = [httpx.AsyncClient(base_url=server.fhir, timeout=120) for _ in range(n)]
        try:
            return await scenario(clients)
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    result = asyncio.run(main())
    with psycopg.connect(server.database_url) as conn:
        assert consistency_problems(conn) == []
    return result


async def history_marks(c: httpx.AsyncClient, path: str) -> dict[int, list[str] | None]:
    """version -> the markers of that version (``None`` for a delete), from the instance history."""
    a = await call(c, "GET", f"{path}/_history", params={"_count": "1000"})
    assert a.status == 200, a.text
    out: dict[int, list[str] | None] = {}
    for entry in a.body.get("entry", []):
        resource = entry.get("resource")
        if resource is None:  # a delete: the version is in response.etag
            etag = entry["response"]["etag"]
            out[int(etag.split('"')[1])] = None
        else:
            out[int(resource["meta"]["versionId"])] = marks_of(resource)
    assert a.body.get("total") == len(out), "history total and entries disagree"
    return out


def put_headers(version: int | None) -> dict[str, str]:
    headers = dict(JSON_HEADERS)
    if version is not None:
        headers["If-Match"] = f'W/"{version}"'
    return headers


def test_if_match_exactly_one_winner_per_version(robust_server: ServerProcess) -> None:
    """32 clients read the current version, then all PUT with If-Match: one 200, 31 × 412, each round."""
    pid, rounds = f"race-{tag()}", 5

    async def scenario(clients: list[httpx.AsyncClient]) -> None:
        first = await call(clients[0], "PUT", f"Patient/{pid}", content=dumps(patient("v1", res_id=pid)))
        assert first.status == 201, first.text
        winners: dict[int, str] = {1: "v1"}
        for rnd in range(rounds):
            reads = await asyncio.gather(*(call(c, "GET", f"Patient/{pid}") for c in clients))
            assert {r.version for r in reads} == {rnd + 1}, [r.status for r in reads]
            marks = [f"r{rnd}-c{i}" for i in range(len(clients))]
            answers = await asyncio.gather(
                *(
                    call(
                        c,
                        "PUT",
                        f"Patient/{pid}",
                        content=dumps(patient(m, res_id=pid)),
                        headers=put_headers(rnd + 1),
                    )
                    for c, m in zip(clients, marks)
                )
            )
            won = [i for i, a in enumerate(answers) if a.ok]
            assert len(won) == 1, Counter(a.status for a in answers)
            for i, a in enumerate(answers):
                if i == won[0]:
                    assert a.status == 200 and a.version == rnd + 2, (a.status, a.headers)
                    assert a.body["meta"]["versionId"] == str(rnd + 2)
                    assert marks_of(a.body) == [marks[i]]
                else:
                    assert a.status == 412 and is_outcome(a), (a.status, a.text)
            winners[rnd + 2] = marks[won[0]]
        final = await call(clients[0], "GET", f"Patient/{pid}")
        assert final.version == 1 + rounds
        history = await history_marks(clients[0], f"Patient/{pid}")
        assert history == {v: [m] for v, m in winners.items()}

    run_clients(robust_server, CLIENTS, scenario)


def test_if_match_free_running_loses_no_update(robust_server: ServerProcess) -> None:
    """32 clients loop read-then-PUT-with-If-Match with no pacing: at most one winner per base
    version, every 412 is for a version someone else replaced, and every 2xx is in the history."""
    pid, loops = f"loop-{tag()}", 6

    async def scenario(clients: list[httpx.AsyncClient]) -> None:
        first = await call(clients[0], "PUT", f"Patient/{pid}", content=dumps(patient("v1", res_id=pid)))
        assert first.status == 201, first.text
        results: list[tuple[int, str, Answer]] = []

        async def worker(i: int, c: httpx.AsyncClient) -> None:
            for n in range(loops):
                read = await call(c, "GET", f"Patient/{pid}")
                assert read.status == 200 and read.version is not None, read.text
                mark = f"c{i}-n{n}"
                body = dumps(patient(mark, res_id=pid))
                a = await call(c, "PUT", f"Patient/{pid}", content=body, headers=put_headers(read.version))
                results.append((read.version, mark, a))

        await asyncio.gather(*(worker(i, c) for i, c in enumerate(clients)))
        assert Counter(a.status for _, _, a in results).keys() <= {200, 412}, Counter(
            a.status for _, _, a in results
        )
        winners: dict[int, str] = {}
        for base, mark, a in results:
            if a.ok:
                assert base not in winners, f"two writes won on version {base}"
                assert a.version == base + 1
                winners[base] = mark
        for base, _, a in results:
            if a.status == 412:
                assert is_outcome(a)
                assert base in winners, f"a 412 on version {base}, which nobody replaced"
        final = await call(clients[0], "GET", f"Patient/{pid}")
        assert final.version == 1 + len(winners)
        history = await history_marks(clients[0], f"Patient/{pid}")
        assert history == {1: ["v1"], **{base + 1: [m] for base, m in winners.items()}}

    run_clients(robust_server, CLIENTS, scenario)


def test_updates_without_if_match_lose_nothing(robust_server: ServerProcess) -> None:
    """32 clients × 3 PUTs with no If-Match: every one is answered 200 with a version of its own,
    the versions are 2..97, and the history holds each write's content at its version."""
    pid, each = f"blind-{tag()}", 3

    async def scenario(clients: list[httpx.AsyncClient]) -> None:
        first = await call(clients[0], "PUT", f"Patient/{pid}", content=dumps(patient("v1", res_id=pid)))
        assert first.status == 201, first.text
        written: list[tuple[str, Answer]] = []

        async def worker(i: int, c: httpx.AsyncClient) -> None:
            for n in range(each):
                mark = f"c{i}-n{n}"
                a = await call(c, "PUT", f"Patient/{pid}", content=dumps(patient(mark, res_id=pid)))
                written.append((mark, a))

        await asyncio.gather(*(worker(i, c) for i, c in enumerate(clients)))
        assert [a.status for _, a in written] == [200] * len(written), Counter(a.status for _, a in written)
        versions = [a.version for _, a in written]
        assert sorted(v for v in versions if v is not None) == list(range(2, 2 + len(written)))
        history = await history_marks(clients[0], f"Patient/{pid}")
        assert history == {1: ["v1"], **{a.version: [m] for m, a in written if a.version is not None}}

    run_clients(robust_server, CLIENTS, scenario)


def test_concurrent_patches_keep_every_answered_change(robust_server: ServerProcess) -> None:
    """16 clients × 3 JSON Patches, each adding an identifier, no If-Match: a patch that loses the race
    is 409 (docs/api.md); the final resource holds exactly the identifiers of the 200s."""
    pid, each = f"patch-{tag()}", 3

    async def scenario(clients: list[httpx.AsyncClient]) -> None:
        first = await call(clients[0], "PUT", f"Patient/{pid}", content=dumps(patient("v1", res_id=pid)))
        assert first.status == 201, first.text
        done: list[tuple[str, Answer]] = []

        async def worker(i: int, c: httpx.AsyncClient) -> None:
            for n in range(each):
                mark = f"c{i}-n{n}"
                ops = [{"op": "add", "path": "/identifier/-", "value": {"system": MARK, "value": mark}}]
                a = await call(
                    c,
                    "PATCH",
                    f"Patient/{pid}",
                    content=dumps(ops),
                    headers={"Content-Type": "application/json-patch+json", "Accept": FHIR},
                )
                done.append((mark, a))

        await asyncio.gather(*(worker(i, c) for i, c in enumerate(clients[:16])))
        statuses = Counter(a.status for _, a in done)
        assert statuses.keys() <= {200, 409}, statuses
        assert all(is_outcome(a) for _, a in done if a.status == 409)
        applied = {m for m, a in done if a.status == 200}
        assert applied, "no patch went through"
        versions = sorted(a.version for _, a in done if a.status == 200 and a.version is not None)
        assert versions == list(range(2, 2 + len(applied)))
        final = await call(clients[0], "GET", f"Patient/{pid}")
        assert set(marks_of(final.body)) == {"v1", *applied}
        assert final.version == 1 + len(applied)

    run_clients(robust_server, CLIENTS, scenario)


def test_concurrent_conditional_creates_make_one_resource(robust_server: ServerProcess) -> None:
    """32 × ``POST Patient`` with the same If-None-Exist: one 201, 31 × 200 naming the same id."""
    mark = f"ccreate-{tag()}"

    async def scenario(clients: list[httpx.AsyncClient]) -> None:
        headers = {**JSON_HEADERS, "If-None-Exist": f"identifier={MARK}|{mark}"}
        answers = await asyncio.gather(
            *(call(c, "POST", "Patient", content=dumps(patient(mark)), headers=headers) for c in clients)
        )
        assert sorted(a.status for a in answers) == [200] * (len(clients) - 1) + [201]
        assert len({a.body["id"] for a in answers}) == 1
        found = await call(clients[0], "GET", "Patient", params={"identifier": f"{MARK}|{mark}"})
        assert found.body["total"] == 1

    run_clients(robust_server, CLIENTS, scenario)


def test_concurrent_conditional_updates_make_one_resource(robust_server: ServerProcess) -> None:
    """32 × ``PUT Patient?identifier=...`` with different content: one 201, 31 × 200, one resource
    whose history has the 32 writes as versions 1..32."""
    mark = f"cupdate-{tag()}"

    async def scenario(clients: list[httpx.AsyncClient]) -> None:
        answers = await asyncio.gather(
            *(
                call(
                    c,
                    "PUT",
                    "Patient",
                    params={"identifier": f"{MARK}|{mark}"},
                    content=dumps(patient(mark, given=f"Client{i}")),
                    headers=JSON_HEADERS,
                )
                for i, c in enumerate(clients)
            )
        )
        assert sorted(a.status for a in answers) == [200] * (len(clients) - 1) + [201]
        ids = {a.body["id"] for a in answers}
        assert len(ids) == 1
        assert sorted(a.version or 0 for a in answers) == list(range(1, len(clients) + 1))
        found = await call(clients[0], "GET", "Patient", params={"identifier": f"{MARK}|{mark}"})
        assert found.body["total"] == 1
        a = await call(clients[0], "GET", f"Patient/{ids.pop()}/_history")
        givens = sorted(e["resource"]["name"][0]["given"][0] for e in a.body["entry"])
        assert givens == sorted(f"Client{i}" for i in range(len(clients)))

    run_clients(robust_server, CLIENTS, scenario)


def test_concurrent_transactions_with_if_none_exist_share_one_patient(robust_server: ServerProcess) -> None:
    """16 transactions, each creating "the patient with this identifier" (ifNoneExist) and an
    Observation about it: one Patient, 16 Observations all referring to it."""
    mark = f"txcreate-{tag()}"

    def bundle(i: int) -> dict[str, Any]:
        full = f"urn:uuid:{uuid.uuid4()}"
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": full,
                    "resource": patient(mark),
                    "request": {
                        "method": "POST",
                        "url": "Patient",
                        "ifNoneExist": f"identifier={MARK}|{mark}",
                    },
                },
                {
                    "resource": observation(f"{mark}-obs{i}", full),
                    "request": {"method": "POST", "url": "Observation"},
                },
            ],
        }

    async def scenario(clients: list[httpx.AsyncClient]) -> None:
        answers = await asyncio.gather(
            *(
                call(c, "POST", robust_server.fhir, content=dumps(bundle(i)), headers=JSON_HEADERS)
                for i, c in enumerate(clients)
            )
        )
        assert [a.status for a in answers] == [200] * len(clients), [
            (a.status, a.text[:200]) for a in answers
        ]
        found = await call(clients[0], "GET", "Patient", params={"identifier": f"{MARK}|{mark}"})
        assert found.body["total"] == 1
        pid = found.body["entry"][0]["resource"]["id"]
        obs = await call(
            clients[0], "GET", "Observation", params={"subject": f"Patient/{pid}", "_count": "100"}
        )
        assert obs.body["total"] == len(clients)

    run_clients(robust_server, 16, scenario)


def test_concurrent_updates_and_deletes_keep_a_whole_history(robust_server: ServerProcess) -> None:
    """16 PUTs and 16 DELETEs of one resource at once: no 5xx, and the history is a gap-free list
    of versions in which every answered write and delete sits at the version its ETag named."""
    pid = f"churn-{tag()}"

    async def scenario(clients: list[httpx.AsyncClient]) -> None:
        first = await call(clients[0], "PUT", f"Patient/{pid}", content=dumps(patient("v1", res_id=pid)))
        assert first.status == 201
        ops = [
            call(
                c, "PUT", f"Patient/{pid}", content=dumps(patient(f"c{i}", res_id=pid)), headers=JSON_HEADERS
            )
            if i % 2
            else call(c, "DELETE", f"Patient/{pid}")
            for i, c in enumerate(clients)
        ]
        answers = await asyncio.gather(*ops)
        assert all(0 < a.status < 500 for a in answers), Counter(a.status for a in answers)
        history = await history_marks(clients[0], f"Patient/{pid}")
        assert sorted(history) == list(range(1, len(history) + 1))
        for i, a in enumerate(answers):
            if i % 2 and a.status in (200, 201):
                assert history[a.version or 0] == [f"c{i}"]
            elif not i % 2 and a.status == 200:
                assert history[a.version or 0] is None, "a 200 DELETE whose version is not a delete"
            else:
                assert a.status == 204, (i, a.status, a.text)  # deleting what was deleted already
        last = history[max(history)]
        current = await call(clients[0], "GET", f"Patient/{pid}")
        assert current.status == (410 if last is None else 200)

    run_clients(robust_server, CLIENTS, scenario)


@pytest.mark.parametrize("path", ["bulk", "entry-by-entry"])
def test_opposite_order_transactions_do_not_answer_500(robust_server: ServerProcess, path: str) -> None:
    """Transaction 1 updates A, 20 others, then B; transaction 2 updates B, 20 others, then A, at the
    same time. Either both succeed (the server takes its locks in one order) or the loser is told to
    retry with a 4xx (409): never a 5xx, and never half of a Bundle. (Once a deadlock answered 500: the
    locator rows were locked in entry order.) Plain updates take the bulk path; a read entry sends the
    Bundle entry by entry."""
    a_id, b_id, rounds, run = f"dl-a-{tag()}", f"dl-b-{tag()}", 3, tag()

    def bundle(first: str, last: str, mark: str) -> bytes:
        ids = [first, *(f"{mark}-pad{j}" for j in range(20)), last]
        entries: list[dict[str, Any]] = [
            {"resource": patient(mark, res_id=i), "request": {"method": "PUT", "url": f"Patient/{i}"}}
            for i in ids
        ]
        if path == "entry-by-entry":
            entries.append({"request": {"method": "GET", "url": f"Patient/{first}"}})
        return dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})

    async def scenario(clients: list[httpx.AsyncClient]) -> list[int]:
        for i in (a_id, b_id):
            assert (await call(clients[0], "PUT", f"Patient/{i}", content=dumps(patient("v1", res_id=i)))).ok
        statuses: list[int] = []
        for rnd in range(rounds):
            answers = await asyncio.gather(
                call(
                    clients[0],
                    "POST",
                    robust_server.fhir,
                    content=bundle(a_id, b_id, f"{run}r{rnd}x"),
                    headers=JSON_HEADERS,
                ),
                call(
                    clients[1],
                    "POST",
                    robust_server.fhir,
                    content=bundle(b_id, a_id, f"{run}r{rnd}y"),
                    headers=JSON_HEADERS,
                ),
            )
            statuses += [a.status for a in answers]
            for a in answers:
                assert a.status == 200 or (400 <= a.status < 500 and is_outcome(a)), (a.status, a.text[:300])
        return statuses

    statuses = run_clients(robust_server, 2, scenario)
    # This server locks a transaction's existing resources in one order up front (and runs again a
    # deadlock's victim), so here both always succeed.
    assert statuses == [200] * len(statuses), statuses
    with psycopg.connect(robust_server.database_url) as conn:
        for n, status in enumerate(statuses):
            mark = f"{run}r{n // 2}{'xy'[n % 2]}"
            row = conn.execute(
                "SELECT count(*) FROM fhir_locator WHERE res_id LIKE %s AND version > 0", (f"{mark}-pad%",)
            ).fetchone()
            assert row is not None and row[0] == (20 if status == 200 else 0), (mark, status, row)
