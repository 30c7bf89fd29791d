"""What the robustness tests share: a fresh database, ``senhealth serve`` as a real subprocess, HTTP
helpers that survive a dead server, and the store's consistency checks in SQL.

- :func:`fresh_database`: a new, empty database of its own (``senhealth serve`` migrates it), dropped
  ``WITH (FORCE)`` afterwards. A connection is held open to it for its whole life, so the session
  clean-up of ``tests/conftest.py`` (which drops ``senhealth_test_*`` databases nobody is connected to)
  never takes it for a leftover while its server is down between a kill and a restart.
- :class:`ServerProcess`: ``senhealth serve --port N`` on a free loopback port with
  ``SENHEALTH_DATABASE_URL`` set, its output in a log file; ``start()`` waits for ``/fhir/metadata``,
  ``kill()`` sends SIGKILL, ``stop()`` SIGTERM (then SIGKILL). ``tracebacks()`` reads the server
  errors it logged.
- :func:`consistency_problems`: what must hold in the tables after any crash (every live resource has
  its locator, its history row with the same content, its index rows; no index row without its
  resource; no placeholder locator rows; history versions without gaps).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

FHIR = "application/fhir+json"
JSON_HEADERS: Mapping[str, str] = {"Content-Type": FHIR, "Accept": FHIR}
CCCD = "https://senhealth.vn/fhir/sid/cccd"
MARK = "urn:senhealth:robustness"  # identifier system of the tests' markers

# The tables a write touches: "nothing written" means none of their row counts moved.
STORE_TABLES = (
    "fhir_locator",
    "fhir_resource",
    "fhir_history",
    "idx_token",
    "idx_string",
    "idx_date",
    "idx_reference",
    "idx_quantity",
    "idx_number",
    "idx_uri",
    "idx_composite",
    "idx_special",
)
INDEX_TABLES = STORE_TABLES[3:]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def fresh_database(server_url: str, label: str) -> Iterator[str]:
    """A new empty database (``senhealth_test_rb_<label>_<hex>``) for one test; dropped at the end."""
    name = f"senhealth_test_rb_{label}_{uuid.uuid4().hex[:8]}"
    ident = sql.Identifier(name)
    url = make_conninfo(server_url, dbname=name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(ident))
    holder = psycopg.connect(url, autocommit=True, application_name="senhealth-robustness")
    try:
        yield url
    finally:
        holder.close()
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def senhealth_executable() -> str:
    exe = shutil.which("senhealth", path=str(Path(sys.executable).parent))
    if exe is None:
        raise RuntimeError("the senhealth command is not installed in this environment")
    return exe


class ServerProcess:
    """``senhealth serve`` on ``database_url`` as a subprocess; each start gets a free port and a log."""

    def __init__(self, database_url: str, log_dir: Path, *, log_level: str = "warning") -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self.logs: list[Path] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fhir(self) -> str:
        return f"{self.base}/fhir"

    def start(self, timeout: float = 90) -> str:
        """Start the server and wait until ``/fhir/metadata`` answers 200; return the base URL."""
        assert self.proc is None or self.proc.poll() is not None, "the server is running already"
        self.port = free_port()
        self.starts += 1
        log = self.log_dir / f"server-{self.starts}.log"
        self.logs.append(log)
        env = {
            **os.environ,
            "SENHEALTH_DATABASE_URL": self.database_url,
            # the server's own files (the OAuth signing key) in a scratch directory, not the user's
            "SENHEALTH_DATA_DIR": os.environ.get("SENHEALTH_TEST_DATA_DIR")
            or tempfile.mkdtemp(prefix="senhealth-rb-"),
        }
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [senhealth_executable(), "serve", "--port", str(self.port), "--log-level", self.log_level],
                env=env,
                cwd=self.log_dir,  # no stray .env from the working directory
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"senhealth serve exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(f"{self.fhir}/metadata", timeout=5).status_code == 200:
                    return self.base
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"senhealth serve did not answer in {timeout} s:\n{self.log_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind in the server (what a power cut does to the process)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def tracebacks(self) -> list[str]:
        """The server errors in the logs: each ``unexpected error answering ...`` or ``Traceback``
        block, shortened to its first line and its last ten."""
        blocks: list[str] = []
        for block in re.split(r"\n(?=\S)", self.log_text()):
            if "Traceback (most recent call last)" in block or "error answering" in block:
                lines = block.strip().splitlines()
                blocks.append("\n".join([*lines[:1], "  ...", *lines[-10:]]))
        return blocks


@contextlib.contextmanager
def running_server(
    database_url: str, log_dir: Path, *, log_level: str = "warning"
) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, log_dir, log_level=log_level)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- HTTP -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Answer:
    """An HTTP answer, or ``status = 0`` when none came (the server died, the connection broke)."""

    status: int
    headers: httpx.Headers
    body: Any
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def version(self) -> int | None:
        """The version named by the ETag (``W/"3"`` -> 3)."""
        m = re.fullmatch(r'W/"(\d+)"', self.headers.get("etag", ""))
        return int(m.group(1)) if m else None


def answer_of(response: httpx.Response) -> Answer:
    body: Any = None
    if response.content:
        with contextlib.suppress(ValueError):
            body = response.json()
    return Answer(response.status_code, response.headers, body, response.text[:2000])


NO_ANSWER = Answer(0, httpx.Headers(), None, "")


async def call(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Answer:
    """One request; a transport error (server killed, connection reset) is ``NO_ANSWER``."""
    try:
        return answer_of(await client.request(method, url, **kwargs))
    except httpx.TransportError:
        return NO_ANSWER


def is_outcome(a: Answer) -> bool:
    return (
        isinstance(a.body, dict)
        and a.body.get("resourceType") == "OperationOutcome"
        and bool(a.body.get("issue"))
        and a.headers.get("content-type", "").startswith(FHIR)
    )


def outcome_text(body: Any) -> str:
    """Everything an OperationOutcome says (diagnostics, details, expressions), for matching."""
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    for issue in body.get("issue", []):
        if isinstance(issue, dict):
            parts.append(str(issue.get("diagnostics", "")))
            parts.append(str((issue.get("details") or {}).get("text", "")))
            parts.extend(str(e) for e in issue.get("expression", []) or [])
            parts.append(str(issue.get("code", "")))
    return " | ".join(p for p in parts if p)


def marker(value: str, system: str = MARK) -> dict[str, str]:
    return {"system": system, "value": value}


def patient(mark: str, *, res_id: str | None = None, given: str = "An", **extra: Any) -> dict[str, Any]:
    """A Patient carrying ``mark`` as an identifier (system :data:`MARK`) and in its name."""
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [marker(mark)],
        "name": [{"family": "Nguyễn", "given": [given, mark]}],
        "gender": "female",
        "birthDate": "1990-05-17",
        **extra,
    }
    if res_id is not None:
        out["id"] = res_id
    return out


def observation(mark: str, subject: str, value: float = 7.2) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [marker(mark)],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}], "text": mark},
        "subject": {"reference": subject},
        "effectiveDateTime": "2024-03-01T08:30:00+07:00",
        "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
    }


def marks_of(resource: Any) -> list[str]:
    if not isinstance(resource, dict):
        return []
    return [i.get("value", "") for i in resource.get("identifier", []) if i.get("system") == MARK]


# -- SQL ------------------------------------------------------------------------------------------


def row_counts(conn: psycopg.Connection[TupleRow]) -> dict[str, int]:
    """Rows in every table a write touches."""
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, count(*) FROM {}").format(sql.Literal(t), sql.Identifier(t)) for t in STORE_TABLES
    )
    return {name: int(n) for name, n in conn.execute(query).fetchall()}


_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "placeholder locator rows (version 0) left behind",
        "SELECT res_type || '/' || res_id FROM fhir_locator WHERE version = 0",
    ),
    (
        "live resources whose locator is missing, deleted or at another version",
        """SELECT r.res_type || '/' || r.res_id FROM fhir_resource r
           LEFT JOIN fhir_locator l ON l.rid = r.rid
           WHERE l.rid IS NULL OR l.deleted OR l.version <> r.version
              OR l.res_type <> r.res_type OR l.res_id <> r.res_id OR l.pkey <> r.pkey""",
    ),
    (
        "live locators without their resource row",
        """SELECT l.res_type || '/' || l.res_id FROM fhir_locator l
           WHERE l.version > 0 AND NOT l.deleted
             AND NOT EXISTS (SELECT 1 FROM fhir_resource r WHERE r.rid = l.rid)""",
    ),
    (
        "deleted locators whose last history row is not a delete, or that still have a resource row",
        """SELECT l.res_type || '/' || l.res_id FROM fhir_locator l
           WHERE l.deleted AND (
                 EXISTS (SELECT 1 FROM fhir_resource r WHERE r.rid = l.rid)
              OR NOT EXISTS (SELECT 1 FROM fhir_history h
                             WHERE h.rid = l.rid AND h.version = l.version AND h.deleted))""",
    ),
    (
        "live resources whose current version has no identical history row",
        """SELECT r.res_type || '/' || r.res_id || '/_history/' || r.version FROM fhir_resource r
           WHERE NOT EXISTS (
               SELECT 1 FROM fhir_history h
               WHERE h.rid = r.rid AND h.version = r.version AND NOT h.deleted
                 AND h.content = r.content
                 AND h.content_raw IS NOT DISTINCT FROM r.content_raw)""",
    ),
    (
        "resources whose history versions are not exactly 1..current",
        """SELECT l.res_type || '/' || l.res_id FROM fhir_locator l
           JOIN (SELECT rid, count(*) AS n, min(version) AS lo, max(version) AS hi
                 FROM fhir_history GROUP BY rid) h ON h.rid = l.rid
           WHERE l.version > 0 AND (h.n <> l.version OR h.lo <> 1 OR h.hi <> l.version)
           UNION ALL
           SELECT l.res_type || '/' || l.res_id FROM fhir_locator l
           WHERE l.version > 0 AND NOT EXISTS (SELECT 1 FROM fhir_history h WHERE h.rid = l.rid)""",
    ),
    (
        "history rows of no locator",
        """SELECT h.res_type || '/' || h.res_id FROM fhir_history h
           WHERE NOT EXISTS (SELECT 1 FROM fhir_locator l WHERE l.rid = h.rid)""",
    ),
    (
        "live resources without their _lastUpdated index row",
        """SELECT r.res_type || '/' || r.res_id FROM fhir_resource r
           WHERE NOT EXISTS (
               SELECT 1 FROM idx_date d JOIN fhir_search_param p ON p.param_id = d.param_id
               WHERE d.rid = r.rid AND d.pkey = r.pkey AND p.code = '_lastUpdated'
                 AND p.res_type = r.res_type
                 AND d.low <= r.last_updated AND r.last_updated <= d.high)""",
    ),
)


def consistency_problems(conn: psycopg.Connection[TupleRow], limit: int = 10) -> list[str]:
    """Every way the store's tables disagree with each other (empty when consistent)."""
    problems: list[str] = []
    for what, query in _CHECKS:
        rows = conn.execute(sql.SQL(query + " LIMIT {}").format(sql.Literal(limit))).fetchall()
        if rows:
            problems.append(f"{what}: {[r[0] for r in rows]}")
    for table in INDEX_TABLES:
        orphan = sql.SQL(
            "SELECT x.rid, x.param_id FROM {} x WHERE NOT EXISTS "
            "(SELECT 1 FROM fhir_resource r WHERE r.rid = x.rid AND r.pkey = x.pkey) LIMIT {}"
        ).format(sql.Identifier(table), sql.Literal(limit))
        rows = conn.execute(orphan).fetchall()
        if rows:
            problems.append(f"{table}: index rows whose resource is not live there: {rows}")
    return problems


def live_marks(conn: psycopg.Connection[TupleRow]) -> dict[str, tuple[str, str]]:
    """Marker value -> (type, id) of every live resource that carries one of the tests' markers."""
    rows = conn.execute(
        """SELECT r.res_type, r.res_id, i->>'value'
           FROM fhir_resource r, jsonb_array_elements(r.content->'identifier') i
           WHERE jsonb_typeof(r.content->'identifier') = 'array' AND i->>'system' = %s""",
        (MARK,),
    ).fetchall()
    return {value: (rtype, rid) for rtype, rid, value in rows}


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
