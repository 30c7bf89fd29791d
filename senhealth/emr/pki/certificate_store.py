"""The register of issued certificates and revocations in PostgreSQL (table ``pki_certificate``).

Spec: https://www.rfc-editor.org/rfc/rfc5280#section-5 (what a CRL lists), https://www.rfc-editor.org/rfc/rfc6960
(what OCSP answers). Migration: ``senhealth/migrations/0018_pki.sql``.

:class:`PostgresRegistry` implements :class:`~senhealth.emr.pki.registry.CertificateRegistry` on the
process's connection pool (``senhealth.core.db``). A revocation is one ``UPDATE ... WHERE revoked_at IS
NULL``: the first revocation of a certificate stands, a second one changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from senhealth.core.db import Pool, transaction
from senhealth.emr.pki.errors import UnknownCertificate
from senhealth.emr.pki.registry import IssuedCertificate, parse_reason, revocation_time

__all__ = ["PostgresRegistry"]

_COLUMNS: Final = "serial, kind, holder, issuer, subject, not_before, not_after, der, issued_at, revoked_at, revocation_reason"


def _record(row: tuple[Any, ...]) -> IssuedCertificate:
    return IssuedCertificate(
        serial=int(row[0], 16),
        kind=row[1],
        holder=row[2],
        issuer=row[3],
        subject=row[4],
        not_before=row[5],
        not_after=row[6],
        der=bytes(row[7]),
        issued_at=row[8],
        revoked_at=row[9],
        revocation_reason=row[10],
    )


class PostgresRegistry:
    """A :class:`~senhealth.emr.pki.registry.CertificateRegistry` in the ``pki_certificate`` table, on
    ``pool`` (default: the process's pool)."""

    def __init__(self, pool: Pool | None = None) -> None:
        self._pool = pool

    async def add(self, record: IssuedCertificate) -> None:
        async with transaction(self._pool) as conn:
            await conn.execute(
                f"INSERT INTO pki_certificate ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    record.serial_hex,
                    record.kind,
                    record.holder,
                    record.issuer,
                    record.subject,
                    record.not_before,
                    record.not_after,
                    record.der,
                    record.issued_at,
                    record.revoked_at,
                    record.revocation_reason,
                ),
            )

    async def get(self, serial: int) -> IssuedCertificate | None:
        async with transaction(self._pool) as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM pki_certificate WHERE serial = %s", (format(serial, "x"),)
            )
            row = await cur.fetchone()
        return _record(row) if row else None

    async def revoke(self, serial: int, *, at: datetime, reason: str | None = None) -> IssuedCertificate:
        flag = parse_reason(reason)
        async with transaction(self._pool) as conn:
            await conn.execute(
                "UPDATE pki_certificate SET revoked_at = %s, revocation_reason = %s "
                "WHERE serial = %s AND revoked_at IS NULL",
                (revocation_time(at), flag.value, format(serial, "x")),
            )
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM pki_certificate WHERE serial = %s", (format(serial, "x"),)
            )
            row = await cur.fetchone()
        if row is None:
            raise UnknownCertificate(
                f"Không có chứng thư số / no certificate with serial {serial:x} was issued here"
            )
        return _record(row)

    async def revoked(self, issuer: str) -> list[IssuedCertificate]:
        async with transaction(self._pool) as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM pki_certificate WHERE issuer = %s AND revoked_at IS NOT NULL "
                "ORDER BY revoked_at, serial",
                (issuer,),
            )
            return [_record(r) for r in await cur.fetchall()]

    async def list(self, *, holder: str | None = None) -> list[IssuedCertificate]:
        async with transaction(self._pool) as conn:
            if holder is None:
                cur = await conn.execute(f"SELECT {_COLUMNS} FROM pki_certificate ORDER BY issued_at, serial")
            else:
                cur = await conn.execute(
                    f"SELECT {_COLUMNS} FROM pki_certificate WHERE holder = %s ORDER BY issued_at, serial",
                    (holder,),
                )
            return [_record(r) for r in await cur.fetchall()]
