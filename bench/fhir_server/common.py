"""What the server benchmarks share: scratch databases, the server process, CPU accounting, reporting.

- :func:`bench_database`: a database ``senhealth_bench_<purpose>_<random>`` on the benchmark's
  PostgreSQL (``SENHEALTH_BENCH_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``),
  migrated, dropped afterwards unless kept; or an existing one, reused as it is (``--database``).
- :class:`ServerProcess`: ``python -m uvicorn --factory senhealth.api:create_app --workers N`` on a free
  loopback port, with ``SENHEALTH_DATABASE_URL`` pointing at that database: the FHIR API as a
  deployment runs it (``senhealth serve`` is the same app in one process). Access logs are off.
- :class:`CpuMeter`: CPU seconds of the server's processes, of the database's PostgreSQL backends and of
  the whole machine over a measured interval (Linux ``/proc``). On a shared machine the CPU time per
  request varies much less than the rate.
"""

from __future__ import annotations

import inspect
import math
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.__main__ import machine

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
CLOCK = os.sysconf("SC_CLK_TCK")
#: PostgreSQL settings worth reporting next to the numbers.
PG_SETTINGS = (
    "shared_buffers",
    "wal_buffers",
    "max_wal_size",
    "work_mem",
    "effective_cache_size",
    "random_page_cost",
    "max_connections",
    "fsync",
    "synchronous_commit",
)

__all__ = [
    "RESULTS",
    "ROOT",
    "CpuMeter",
    "CpuReading",
    "ServerProcess",
    "admin_url",
    "bench_database",
    "database_name",
    "describe_machine",
    "free_port",
    "load_average",
    "percentile",
    "pg_description",
    "process_tree",
    "server_description",
    "table",
]


def admin_url() -> str:
    """The benchmark's PostgreSQL server (a database on it to connect to for CREATE / DROP DATABASE)."""
    return os.environ.get("SENHEALTH_BENCH_DATABASE_URL", DEFAULT_SERVER)


def database_name(url: str) -> str:
    return str(conninfo_to_dict(url).get("dbname", ""))


def _exists(server: str, name: str) -> bool:
    with psycopg.connect(server, autocommit=True) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


@contextmanager
def bench_database(purpose: str, *, reuse: str | None = None, keep: bool = False) -> Iterator[str]:
    """The conninfo of a migrated database for one benchmark.

    ``reuse``: the name of an existing database (kept as it is, never dropped; migrations are applied).
    Otherwise ``senhealth_bench_<purpose>_<8 hex>`` is created, and dropped at the end unless ``keep``.
    """
    from senhealth.core.migrate import migrate

    server = admin_url()
    if reuse:
        if not _exists(server, reuse):
            raise SystemExit(f"database {reuse!r} does not exist on {server}")
        url = make_conninfo(server, dbname=reuse)
        migrate(url)
        yield url
        return
    name = f"senhealth_bench_{purpose}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name))
        )
    url = make_conninfo(server, dbname=name)
    try:
        migrate(url)
        yield url
    finally:
        if keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def pg_description(url: str) -> str:
    """``PostgreSQL 15.x on the same machine; shared_buffers=128MB, ...`` (the settings that matter)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        rows = conn.execute(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(PG_SETTINGS),)
        ).fetchall()
    values = {name: _with_unit(setting, unit) for name, setting, unit in rows}
    settings = ", ".join(f"{n}={values[n]}" for n in PG_SETTINGS if n in values)
    return f"PostgreSQL {row[0] if row else '?'} on the same machine (loopback TCP); {settings}"


def _with_unit(setting: str, unit: str | None) -> str:
    """``16384`` in ``8kB`` units as ``128MB``; other settings as PostgreSQL shows them."""
    factor = {"8kB": 8, "kB": 1, "MB": 1024}.get(unit or "")
    if factor is None or not setting.lstrip("-").isdigit():
        return f"{setting}{unit or ''}"
    kb = int(setting) * factor
    if kb % (1024 * 1024) == 0:
        return f"{kb // (1024 * 1024)}GB"
    if kb % 1024 == 0:
        return f"{kb // 1024}MB"
    return f"{kb}kB"


def _proc_cpu(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts) - idle, sum(parts)


@dataclass
class CpuReading:
    """What a :class:`CpuMeter` measured over one interval."""

    wall: float
    server: float  # CPU seconds of the server's processes
    database: float  # CPU seconds of the benchmark database's PostgreSQL backends
    client: float  # CPU seconds of this process and its finished children (the client, wrk, the bulk loader)
    machine_busy: float  # fraction of all the machine's CPUs busy (everything on it, other work too)

    def per(self, n: int) -> str:
        """``CPU per item: 410 µs server + 230 µs PostgreSQL`` (client added when it did real work)."""
        if n <= 0:
            return ""
        parts = [f"{self.server / n * 1e6:,.0f} µs server"] if self.server else []
        parts.append(f"{self.database / n * 1e6:,.0f} µs PostgreSQL")
        if self.client / n * 1e6 >= 5:
            parts.append(f"{self.client / n * 1e6:,.0f} µs {'client' if self.server else 'Python'}")
        return " + ".join(parts)

    def busy(self) -> str:
        return f"{self.machine_busy * 100:.0f} % of {os.cpu_count()} CPUs busy"

    def ceiling(self, n: int) -> float:
        """Items per second the machine's CPUs could give at this CPU cost per item, if nothing else ran
        (server + PostgreSQL + client CPU; a derived bound, not a measurement)."""
        used = self.server + self.database + self.client
        return n / used * (os.cpu_count() or 1) if used > 0 else math.nan


class CpuMeter:
    """Measures CPU time over a ``with`` block: ``with CpuMeter(url, server_pid) as m: ...; m.reading``.

    The database's backends are polled every ``interval`` seconds from a thread, so backends that
    come and go during the block (a pool opened and closed inside it) are counted up to their last poll.
    """

    def __init__(self, url: str, server_pid: int | None = None, interval: float = 0.2) -> None:
        self.url = url
        self.server_pid = server_pid
        self.interval = interval
        self.reading: CpuReading | None = None
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self, admin: psycopg.Connection[Any]) -> None:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database_name(self.url),),
        ).fetchall()
        for (pid,) in rows:
            cpu = _proc_cpu(int(pid))
            if cpu:
                self._last[int(pid)] = cpu

    def _run(self) -> None:
        with psycopg.connect(admin_url(), autocommit=True) as admin:
            while not self._stop.wait(self.interval):
                self._poll(admin)
            self._poll(admin)

    def _server(self) -> float:
        return sum(_proc_cpu(p) for p in process_tree(self.server_pid)) if self.server_pid else 0.0

    def __enter__(self) -> CpuMeter:
        with psycopg.connect(admin_url(), autocommit=True) as admin:
            self._poll(admin)
        self._start = dict(self._last)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._srv = self._server()
        self._cpu = time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._children = children.ru_utime + children.ru_stime
        self._jiffies = _machine_jiffies()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        busy, total = _machine_jiffies()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = time.process_time() - self._cpu + children.ru_utime + children.ru_stime - self._children
        server = self._server() - self._srv
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        database = sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())
        self.reading = CpuReading(
            wall=wall,
            server=server,
            database=database,
            client=client,
            machine_busy=(busy - self._jiffies[0]) / max(1, total - self._jiffies[1]),
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pool_defaults() -> tuple[int, int]:
    from senhealth.core.db import open_pool

    params = inspect.signature(open_pool).parameters
    return int(params["min_size"].default), int(params["max_size"].default)


def server_description(workers: int) -> str:
    low, high = _pool_defaults()
    loop = "uvloop" if _installed("uvloop") else "asyncio"
    http = "httptools" if _installed("httptools") else "h11"
    return (
        f"uvicorn {version('uvicorn')} ({loop}, {http}), `--factory senhealth.api:create_app "
        f"--workers {workers}`, access log off; psycopg pool per worker: min {low}, max {high} "
        f"connections (the app's default)"
    )


def _installed(name: str) -> bool:
    try:
        version(name)
    except Exception:
        return False
    return True


class ServerProcess:
    """The FHIR server on a free loopback port, for a ``with`` block.

    ``python -m uvicorn --factory senhealth.api:create_app --workers N``; ready once every worker has
    answered ``GET /fhir/metadata``. Stopped with SIGTERM (uvicorn stops its workers), then SIGKILL of its
    process group if it hangs.
    """

    def __init__(
        self,
        url: str,
        *,
        workers: int = 2,
        port: int | None = None,
        app: str = "senhealth.api:create_app",
        env: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.workers = workers
        self.app = app
        self.extra_env = env or {}
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> ServerProcess:
        env = {**os.environ, "SENHEALTH_DATABASE_URL": self.url, **self.extra_env}
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            self.app,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            self._wait_ready(timeout=120)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.log_tail()}")
            if len(process_tree(self.pid)) >= (self.workers + 1 if self.workers > 1 else 1):
                try:
                    with urllib.request.urlopen(f"{self.base}/fhir/metadata", timeout=10) as answer:
                        if answer.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the server did not start in {timeout:.0f} s:\n{self.log_tail()}")
        # every worker builds its CapabilityStatement once: ask a few times so each has answered
        for _ in range(4 * self.workers):
            with urllib.request.urlopen(f"{self.base}/fhir/metadata", timeout=30):
                pass

    def log_tail(self, chars: int = 4000) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-chars:]

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._log is not None:
            errors = [
                line
                for line in self.log_tail(20000).splitlines()
                if re.search(r"(?i)error|traceback", line) and "Shutting down" not in line
            ]
            if errors:
                print("server log (errors):\n" + "\n".join(errors[-20:]), file=sys.stderr)
            self._log.close()
            self._log = None


def describe_machine() -> str:
    return f"{machine()}, {_memory_gb():.0f} GB RAM, {platform.release()}"


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str) -> list[str]:
    """A Markdown table; ``align`` is one letter per column: ``l`` left, ``r`` right."""
    marks = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    out.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
    return out
