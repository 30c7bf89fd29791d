"""A corpus of bad input, case by case, against ``senhealth serve`` over real HTTP: never a 5xx,
always the right 4xx with an OperationOutcome that names the problem, and nothing written.

Spec: https://hl7.org/fhir/R4/http.html#Status-Codes, https://hl7.org/fhir/R4/search.html#errors,
https://hl7.org/fhir/R4/http.html#transaction and docs/api.md ("Errors").

The cases are data: ``bad_input_corpus.json`` beside this file (its ``description`` says the
format). Malformed JSON, wrong types, invalid UTF-8, NUL bytes, huge bodies, deep nesting, overlong
ids, SQL-ish strings in every parameter type, bad prefixes / modifiers / chains, ``_count``, cursors,
unknown types, content types, If-Match / If-None-Exist / Prefer, transaction Bundles, PATCH. A case
whose ``xfail`` names a known server bug is an ``xfail(strict=True)`` test: it starts failing the
day the bug is fixed, to be turned into a plain case.

For every case: the status is one of ``expect``; a 4xx is an OperationOutcome (``application/fhir+json``)
whose text contains one of ``names``; a 200 search is a Bundle with the given ``total``; a write leaves
the row counts of the store's tables unchanged; and the server logged no traceback for it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import TupleRow
from robustness_support import (
    JSON_HEADERS,
    Answer,
    ServerProcess,
    answer_of,
    dumps,
    is_outcome,
    observation,
    outcome_text,
    patient,
    row_counts,
)

CORPUS = Path(__file__).with_name("bad_input_corpus.json")
SEED = {"pid": "rb-seed-patient", "oid": "rb-seed-obs", "gone": "rb-seed-gone"}
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(CORPUS.read_text(encoding="utf-8"))["cases"]
    return cases


def params() -> list[Any]:
    out = []
    for case in load_cases():
        marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if "xfail" in case else []
        out.append(pytest.param(case, id=case["name"], marks=marks))
    return out


def fill(text: str) -> str:
    for key, value in SEED.items():
        text = text.replace("{" + key + "}", value)
    return text


def path_of(case: dict[str, Any]) -> str:
    path = case["path"]
    return fill(path if isinstance(path, str) else "".join(text * times for text, times in path))


def body_of(case: dict[str, Any]) -> bytes | None:
    if "body" in case:
        return fill(case["body"]).encode("utf-8")
    if "body_json" in case:
        return fill(json.dumps(case["body_json"], ensure_ascii=False)).encode("utf-8")
    if "body_hex" in case:
        return bytes.fromhex(case["body_hex"])
    if "body_repeat" in case:
        return b"".join(fill(text).encode("utf-8") * times for text, times in case["body_repeat"])
    return None


def send_raw(server: ServerProcess, case: dict[str, Any]) -> Answer:
    """Send the case as bytes on a socket, exactly as written (what an HTTP client library refuses to)."""
    body = body_of(case) or b""
    lines = [f"{case['method']} {path_of(case)} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {fill(v)}" for k, v in case.get("headers", {}).items()]
    if "Content-Length" not in case.get("headers", {}) and "Transfer-Encoding" not in case.get("headers", {}):
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(request)
        while data := s.recv(65536):
            chunks.append(data)
    head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = httpx.Headers([(h.partition(": ")[0], h.partition(": ")[2]) for h in header_lines if ": " in h])
    return answer_of(httpx.Response(int(status_line.split()[1]), headers=headers, content=payload))


def send(server: ServerProcess, case: dict[str, Any]) -> Answer:
    """Send the case on a connection of its own (a server error may close it)."""
    if case.get("raw"):
        return send_raw(server, case)
    body = body_of(case)
    headers = {k: fill(v) for k, v in case.get("headers", {}).items()}
    content: Any = body
    if body is not None and case.get("chunked"):

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(body), 1 << 20):
                yield body[i : i + (1 << 20)]

        content = chunks()
    with httpx.Client(base_url=server.base, timeout=60) as client:
        return answer_of(client.request(case["method"], path_of(case), content=content, headers=headers))


@pytest.fixture(scope="module")
def seeded(robust_server: ServerProcess) -> ServerProcess:
    """The resources the cases refer to: two female Patients (one of them then deleted, so a third is
    made), an Observation about the first."""
    with httpx.Client(base_url=robust_server.fhir, timeout=30) as c:
        for rid, mark in ((SEED["pid"], "seed-1"), (SEED["gone"], "seed-gone"), ("rb-seed-other", "seed-2")):
            r = c.put(f"/Patient/{rid}", content=dumps(patient(mark, res_id=rid)), headers=JSON_HEADERS)
            assert r.status_code == 201, r.text
        obs = {**observation("seed-obs", f"Patient/{SEED['pid']}"), "id": SEED["oid"]}
        r = c.put(f"/Observation/{SEED['oid']}", content=dumps(obs), headers=JSON_HEADERS)
        assert r.status_code == 201, r.text
        assert c.delete(f"/Patient/{SEED['gone']}").status_code == 200
    return robust_server


def test_corpus_is_well_formed() -> None:
    cases = load_cases()
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    for c in cases:
        assert c["method"] in {"GET", "POST", "PUT", "PATCH", "DELETE"}, c["name"]
        expect = c["expect"] if isinstance(c["expect"], list) else [c["expect"]]
        assert all(200 <= s < 500 for s in expect), c["name"]
        assert sum(k in c for k in ("body", "body_json", "body_hex", "body_repeat")) <= 1, c["name"]
        assert c["method"] in WRITES or "body" not in c, c["name"]
        assert not c.get("protocol") or c.get("raw"), c["name"]


@pytest.fixture(scope="module")
def db(seeded: ServerProcess) -> Iterator[psycopg.Connection[TupleRow]]:
    with psycopg.connect(seeded.database_url, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("case", params())
def test_bad_input(case: dict[str, Any], seeded: ServerProcess, db: psycopg.Connection[TupleRow]) -> None:
    expect = case["expect"] if isinstance(case["expect"], list) else [case["expect"]]
    writes = case.get("writes", case["method"] in WRITES)
    errors_before = len(seeded.tracebacks())
    before = row_counts(db) if writes else {}
    a = send(seeded, case)
    after = row_counts(db) if writes else {}
    new_errors = seeded.tracebacks()[errors_before:]
    assert not new_errors, "the server logged an error:\n" + "\n\n".join(new_errors)
    assert a.status in expect, f"{case['method']} {path_of(case)[:120]}: {a.status} {a.text[:400]}"
    if a.status >= 400 and not case.get("protocol"):
        assert is_outcome(a), f"not an OperationOutcome: {a.status} {a.headers} {a.text[:300]}"
        said = outcome_text(a.body)
        wanted = [fill(n) for n in case.get("names", [])]
        assert not wanted or any(n.lower() in said.lower() for n in wanted), f"{wanted} not in {said!r}"
    if a.status == 200 and a.body.get("type") == "searchset":
        if "total" in case:
            assert a.body.get("total") == case["total"], a.text[:400]
        if "warns" in case:  # lenient handling: an outcome entry says what was ignored
            said = " ".join(
                outcome_text(e.get("resource"))
                for e in a.body.get("entry", [])
                if e.get("search", {}).get("mode") == "outcome"
            )
            assert any(n in said for n in case["warns"]), f"{case['warns']} not in the outcome entry {said!r}"
    assert before == after, (
        f"rows written: { {k: after[k] - before[k] for k in before if after[k] != before[k]} }"
    )
