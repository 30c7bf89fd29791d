"""Versioned schema migrations: numbered SQL files applied in order, once, each in its own transaction.

Files are ``senhealth/migrations/NNNN_name.sql``. :func:`migrate` takes a PostgreSQL advisory lock, so
processes migrating the same database at once queue up and each file is applied exactly once; it records
every file in ``schema_migrations`` (version, name, SHA-256 checksum, applied_at) and refuses to run when
an applied file has changed since, or when the database holds migrations this code does not know.
Settings a migration needs reach it as ``senhealth.*`` configuration parameters (``senhealth.partitions``).

Written by hand, not with Alembic or yoyo: the schema is plain SQL (no ORM models to diff), and the whole
runner is this one small file on psycopg.

- advisory locks: https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS
- lock functions: https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS
- transactional DDL: https://wiki.postgresql.org/wiki/Transactional_DDL_in_PostgreSQL:_A_Competitive_Analysis
- psycopg transactions: https://www.psycopg.org/psycopg3/docs/basic/transactions.html
- several statements in one execute: https://www.psycopg.org/psycopg3/docs/basic/from_pg2.html#multiple-statements-in-the-same-query
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

from senhealth.core.config import get_settings
from senhealth.core.errors import SenHealthError

__all__ = [
    "LOCK_KEY",
    "AppliedMigration",
    "ChecksumMismatch",
    "Migration",
    "MigrationError",
    "MigrationStatus",
    "load_migrations",
    "migrate",
    "status",
]

LOCK_KEY = 0x53454E_4D494752  # "SENMIGR": the advisory lock every migrating process takes first
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


class MigrationError(SenHealthError):
    """The migrations cannot be applied as they are; the message says what to do."""


class ChecksumMismatch(MigrationError):
    """A migration file changed after it was applied to this database."""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    checksum: str
    sql: str = field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class AppliedMigration:
    """A row of ``schema_migrations``."""

    version: int
    name: str
    checksum: str
    applied_at: datetime

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class MigrationStatus:
    """Where a database stands against the migration files."""

    applied: list[AppliedMigration]
    pending: list[Migration]
    changed: list[Migration]  # applied, but the file is different now
    unknown: list[AppliedMigration]  # applied, but no such file here (newer code ran on this database)

    @property
    def up_to_date(self) -> bool:
        return not (self.pending or self.changed or self.unknown)


def _checksum(text: str) -> str:
    return hashlib.sha256(text.replace("\r\n", "\n").encode()).hexdigest()


def load_migrations(source: Path | Traversable | None = None) -> list[Migration]:
    """The migration files of ``source`` (default: the ``senhealth.migrations`` package), by version."""
    folder: Path | Traversable = source if source is not None else files("senhealth.migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        m = _FILE.match(entry.name)
        if not m:
            raise MigrationError(f"{entry.name}: migration files are named NNNN_lower_case_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"two migrations have version {version:04d}: renumber one")
        text = entry.read_text(encoding="utf-8")
        found[version] = Migration(version, m.group(2), _checksum(text), text)
    return [found[v] for v in sorted(found)]


def _applied(conn: psycopg.Connection[TupleRow]) -> list[AppliedMigration]:
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
        return []
    rows = conn.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
    return [AppliedMigration(*row) for row in rows.fetchall()]


def _compare(migrations: list[Migration], applied: list[AppliedMigration]) -> MigrationStatus:
    by_version = {m.version: m for m in migrations}
    done = {a.version for a in applied}
    changed = [
        by_version[a.version]
        for a in applied
        if a.version in by_version and by_version[a.version].checksum != a.checksum
    ]
    unknown = [a for a in applied if a.version not in by_version]
    pending = [m for m in migrations if m.version not in done]
    return MigrationStatus(applied, pending, changed, unknown)


def status(conninfo: str, *, source: Path | Traversable | None = None) -> MigrationStatus:
    """Applied, pending and changed migrations of the database at ``conninfo`` (read only, no lock)."""
    migrations = load_migrations(source)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return _compare(migrations, _applied(conn))


def migrate(conninfo: str, *, source: Path | Traversable | None = None) -> list[Migration]:
    """Apply the pending migrations in order, each in one transaction; return those applied now."""
    migrations = load_migrations(source)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(_CREATE_TABLE)
            state = _compare(migrations, _applied(conn))
            if state.changed:
                names = ", ".join(m.label for m in state.changed)
                raise ChecksumMismatch(
                    f"migration files changed after they were applied: {names}. Restore them as they "
                    "were and put the change in a new migration file"
                )
            if state.unknown:
                names = ", ".join(a.label for a in state.unknown)
                raise MigrationError(
                    f"the database has migrations this version of Sen Health does not know: {names}. "
                    "Upgrade Sen Health, or use the database of this version"
                )
            for m in state.pending:
                try:
                    with conn.transaction():
                        conn.execute(
                            "SELECT set_config('senhealth.partitions', %s, true)",
                            (str(get_settings().partitions),),
                        )
                        conn.execute(m.sql)
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (m.version, m.name, m.checksum),
                        )
                except psycopg.Error as e:
                    raise MigrationError(f"migration {m.label} failed and was rolled back: {e}") from e
            return state.pending
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
