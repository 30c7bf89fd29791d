"""Versioned migrations against the real PostgreSQL: order, idempotence, checksums, concurrency."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from senhealth.core.migrate import (
    ChecksumMismatch,
    Migration,
    MigrationError,
    load_migrations,
    migrate,
    status,
)


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


THREE = {
    "0001_people.sql": "CREATE TABLE people (id int PRIMARY KEY, name text);",
    "0002_seed.sql": "INSERT INTO people VALUES (1, 'Đào Thị Hà'); INSERT INTO people VALUES (2, 'Lê Văn An');",
    "0003_email.sql": "ALTER TABLE people ADD COLUMN email text; UPDATE people SET email = 'x@example.vn';",
}


def rows(conninfo: str, query: str) -> list[TupleRow]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(query.encode()).fetchall()


def test_package_migrations_are_named_numbered_and_checksummed() -> None:
    migrations = load_migrations()
    assert migrations[0].label == "0001_platform"
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})
    first = migrations[0]
    assert first.checksum == hashlib.sha256(first.sql.encode()).hexdigest()
    assert "platform_info" in first.sql


def test_worker_database_is_migrated(db: psycopg.Connection[TupleRow]) -> None:
    keys = {k for (k,) in db.execute("SELECT key FROM platform_info").fetchall()}
    assert {"installation_id", "created_at"} <= keys
    versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations").fetchall()]
    assert versions == [m.version for m in load_migrations()]


def test_bad_file_names_and_duplicate_versions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="NNNN_lower_case_name"):
        load_migrations(write(tmp_path / "a", {"1_people.sql": ""}))
    with pytest.raises(MigrationError, match="two migrations have version 0001"):
        load_migrations(write(tmp_path / "b", {"0001_a.sql": "", "0001_b.sql": ""}))
    assert load_migrations(write(tmp_path / "c", {"README.md": "", "0002_b.sql": "", "0001_a.sql": ""})) == [
        Migration(1, "a", hashlib.sha256(b"").hexdigest(), ""),
        Migration(2, "b", hashlib.sha256(b"").hexdigest(), ""),
    ]


def test_apply_in_order_record_and_idempotent(schema_url: str, tmp_path: Path) -> None:
    source = write(tmp_path, THREE)
    before = status(schema_url, source=source)
    assert before.applied == [] and [m.label for m in before.pending] == [
        "0001_people",
        "0002_seed",
        "0003_email",
    ]

    applied = migrate(schema_url, source=source)
    assert [m.version for m in applied] == [1, 2, 3]
    assert rows(schema_url, "SELECT id, name, email FROM people ORDER BY id") == [
        (1, "Đào Thị Hà", "x@example.vn"),
        (2, "Lê Văn An", "x@example.vn"),
    ]
    recorded = rows(
        schema_url, "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY 1"
    )
    assert [(v, n, c) for v, n, c, _ in recorded] == [(m.version, m.name, m.checksum) for m in applied]
    assert all(at is not None for *_, at in recorded)

    assert migrate(schema_url, source=source) == []  # nothing twice
    after = status(schema_url, source=source)
    assert after.up_to_date and [a.label for a in after.applied] == ["0001_people", "0002_seed", "0003_email"]

    write(tmp_path, {"0004_more.sql": "INSERT INTO people VALUES (3, 'Nguyễn Văn Bình', NULL);"})
    assert [m.label for m in status(schema_url, source=source).pending] == ["0004_more"]
    assert [m.label for m in migrate(schema_url, source=source)] == ["0004_more"]


def test_changed_file_is_refused_and_nothing_applied(schema_url: str, tmp_path: Path) -> None:
    source = write(tmp_path, THREE)
    migrate(schema_url, source=source)
    write(tmp_path, {"0002_seed.sql": "INSERT INTO people VALUES (1, 'changed');", "0004_x.sql": "SELECT 1;"})
    assert [m.label for m in status(schema_url, source=source).changed] == ["0002_seed"]
    with pytest.raises(ChecksumMismatch, match="0002_seed"):
        migrate(schema_url, source=source)
    assert rows(schema_url, "SELECT max(version) FROM schema_migrations") == [(3,)]


def test_line_endings_do_not_change_the_checksum(tmp_path: Path) -> None:
    a = load_migrations(write(tmp_path / "lf", {"0001_a.sql": "SELECT 1;\nSELECT 2;\n"}))
    b = load_migrations(write(tmp_path / "crlf", {"0001_a.sql": "SELECT 1;\r\nSELECT 2;\r\n"}))
    assert a[0].checksum == b[0].checksum


def test_migrations_unknown_to_this_code_are_refused(schema_url: str, tmp_path: Path) -> None:
    migrate(schema_url, source=write(tmp_path / "new", THREE))
    old = write(tmp_path / "old", {"0001_people.sql": THREE["0001_people.sql"]})
    assert [a.label for a in status(schema_url, source=old).unknown] == ["0002_seed", "0003_email"]
    with pytest.raises(MigrationError, match="does not know: 0002_seed, 0003_email"):
        migrate(schema_url, source=old)


def test_a_failing_migration_is_rolled_back_whole(schema_url: str, tmp_path: Path) -> None:
    source = write(
        tmp_path,
        {
            "0001_people.sql": THREE["0001_people.sql"],
            "0002_broken.sql": "CREATE TABLE half (id int); INSERT INTO nowhere VALUES (1);",
        },
    )
    with pytest.raises(MigrationError, match="0002_broken failed"):
        migrate(schema_url, source=source)
    assert rows(schema_url, "SELECT version FROM schema_migrations") == [(1,)]
    assert rows(schema_url, "SELECT to_regclass('half')") == [(None,)]


def test_concurrent_migrations_apply_each_file_exactly_once(schema_url: str, tmp_path: Path) -> None:
    # Not idempotent on purpose: a second run of any file would fail or add a row.
    source = write(
        tmp_path,
        {
            "0001_runs.sql": "CREATE TABLE runs (n int); SELECT pg_sleep(0.3);",
            "0002_count.sql": "INSERT INTO runs VALUES (2);",
            "0003_count.sql": "INSERT INTO runs VALUES (3);",
        },
    )
    start = threading.Barrier(4)

    def run() -> list[int]:
        start.wait()
        return [m.version for m in migrate(schema_url, source=source)]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: run(), range(4)))
    assert sorted(v for r in results for v in r) == [1, 2, 3]
    assert sorted(results, key=len)[-1] == [1, 2, 3]  # one process applied them all, in order
    assert rows(schema_url, "SELECT n FROM runs ORDER BY n") == [(2,), (3,)]
    assert rows(schema_url, "SELECT count(*) FROM schema_migrations") == [(3,)]
