"""``senhealth pki init|issue|revoke|list|crl``: the development certificate authority (docs/pki.md).

``init`` creates, for a fresh installation, a root and an intermediate CA ("Sen Health Dev CA"), the OCSP
responder's and the timestamp authority's certificates and the first CRLs (refused when
``SENHEALTH_ENVIRONMENT=production``; a second run says so and changes nothing). ``issue --user U``
makes a key pair for the account ``U`` in the key store and a signing certificate for it;
``--organization ID`` the same for the facility ``Organization/ID``. ``revoke SERIAL`` revokes from now and
rewrites the CRL files; ``list`` shows what was issued; ``crl`` rewrites the CRL files. Uses the database
of ``SENHEALTH_DATABASE_URL`` or, when it is unset, the embedded PostgreSQL, migrated first. Wiring in
``senhealth/cli.py``::

    from senhealth.cli_pki import pki_app
    app.add_typer(pki_app, name="pki")

- Typer: https://typer.tiangolo.com/ · Rich tables: https://rich.readthedocs.io/en/stable/tables.html
- Certificates: https://www.rfc-editor.org/rfc/rfc5280
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from senhealth.cli_database import run_command
from senhealth.core.errors import SenHealthError

__all__ = ["pki_app"]

T = TypeVar("T")

out = Console()
err = Console(stderr=True)

pki_app = typer.Typer(
    help="Hạ tầng khóa công khai / PKI: development CA, signing certificates, revocation, CRL.",
    no_args_is_help=True,
    add_completion=False,
)


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` with the pool open on the configured (or embedded) database, migrated."""
    return run_command(work)


def _settings() -> Any:
    from senhealth.core.config import get_settings

    return get_settings()


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/]")
    return typer.Exit(1)


@pki_app.command("init")
def init_command(
    base_url: Annotated[
        str | None,
        typer.Option(
            help="Public base URL of this server, written into certificates (OCSP, CRL, CA addresses); "
            "default: SENHEALTH_PKI_BASE_URL, SENHEALTH_ISSUER_URL, else http://localhost:8000."
        ),
    ] = None,
) -> None:
    """Create the development CA, OCSP responder, TSA and CRLs (not in production)."""
    from senhealth.emr.pki.installation import InitResult, init_pki

    settings = _settings()
    if str(getattr(settings, "environment", "development")) == "production":
        raise _fail(
            "Không tạo CA phát triển ở chế độ production / the development CA is refused in production: use "
            "certificates from a licensed CA and list its roots in SENHEALTH_PKI_TRUST_ROOTS"
        )

    async def work() -> InitResult:
        return await init_pki(settings, base_url=base_url)

    result = _run(work)
    if not result.created:
        err.print(
            f"[yellow]Đã khởi tạo từ trước / already initialised[/] ({result.base_url}); nothing changed. "
            f"Root: {result.root.subject.rfc4514_string()}"
        )
        return
    table = Table("", "Chứng thư / certificate", "Hết hạn / expires")
    table.add_row(
        "CA gốc / root", result.root.subject.rfc4514_string(), f"{result.root.not_valid_after_utc:%Y-%m-%d}"
    )
    table.add_row(
        "CA trung gian / intermediate",
        result.intermediate.subject.rfc4514_string(),
        f"{result.intermediate.not_valid_after_utc:%Y-%m-%d}",
    )
    out.print(table)
    err.print(
        f"Đã tạo CA phát triển / development CA created in [bold]{result.folder}[/]; OCSP, CRL and TSA "
        f"answer under {result.base_url}/pki/"
    )


async def _organization_name(organization_id: str) -> str | None:
    from senhealth.fhir.store import FhirStore, Gone, NotFound

    try:
        stored = await FhirStore().read("Organization", organization_id)
    except (NotFound, Gone):
        return None
    name = (stored.content or {}).get("name")
    return str(name) if name else None


@pki_app.command("issue")
def issue_command(
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Username of the account to issue for.")
    ] = None,
    organization: Annotated[
        str | None, typer.Option("--organization", "-o", help="Organization id of the facility to issue for.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Facility name (default: the Organization's name in the store).")
    ] = None,
) -> None:
    """Issue a signing certificate (and a new key in the key store) to a user or a facility."""
    from senhealth.emr.pki.installation import issue_organization_key, issue_user_key
    from senhealth.emr.pki.registry import IssuedCertificate
    from senhealth.security.accounts import get_user

    if (user is None) == (organization is None):
        raise _fail(
            "Cần đúng một trong --user hoặc --organization / give exactly one of --user or --organization"
        )
    settings = _settings()

    async def work() -> IssuedCertificate:
        if user is not None:
            account = await get_user(user)
            if account is None:
                raise SenHealthError(f"Không có tài khoản / no account named {user!r}")
            if account.disabled:
                raise SenHealthError(f"Tài khoản bị vô hiệu / the account {account.username} is disabled")
            facility = None
            if account.facility:
                facility = await _organization_name(account.facility.split("/", 1)[-1])
            return await issue_user_key(
                settings,
                account.username,
                display_name=account.display_name or account.username,
                organization=facility,
            )
        assert organization is not None
        facility_name = name or await _organization_name(organization)
        if not facility_name:
            raise SenHealthError(
                f"Không có Organization/{organization} / no Organization/{organization} in the store: give --name"
            )
        return await issue_organization_key(settings, organization, name=facility_name)

    record = _run(work)
    err.print(
        f"Đã cấp chứng thư số / certificate issued: serial [bold]{record.serial_hex}[/], "
        f"{record.subject}, hết hạn / expires {record.not_after:%Y-%m-%d}"
    )


@pki_app.command("revoke")
def revoke_command(
    serial: Annotated[
        str, typer.Argument(help="Serial number of the certificate (hexadecimal, as `pki list` shows).")
    ],
    reason: Annotated[
        str | None,
        typer.Option(
            help="RFC 5280 reason: keyCompromise, affiliationChanged, superseded, cessationOfOperation..."
        ),
    ] = None,
) -> None:
    """Revoke a certificate from now; signatures made before stay valid at their signing time."""
    from senhealth.emr.pki.installation import revoke_certificate
    from senhealth.emr.pki.registry import IssuedCertificate, parse_reason

    try:
        number = int(serial.replace(":", "").strip(), 16)
    except ValueError:
        raise _fail(f"Số sê-ri không hợp lệ / invalid serial number {serial!r} (hexadecimal)") from None
    try:
        parse_reason(reason)
    except SenHealthError as e:
        raise _fail(e.message) from None
    settings = _settings()

    async def work() -> IssuedCertificate:
        return await revoke_certificate(settings, number, reason=reason, at=datetime.now(UTC))

    record = _run(work)
    assert record.revoked_at is not None
    err.print(
        f"Đã thu hồi / revoked: [bold]{record.serial_hex}[/] ({record.subject}) từ / from "
        f"{record.revoked_at:%Y-%m-%d %H:%M:%S} UTC, {record.revocation_reason}"
    )


@pki_app.command("list")
def list_command(
    holder: Annotated[
        str | None, typer.Option(help="Only certificates of this username or Organization id.")
    ] = None,
) -> None:
    """List the certificates issued here and their status."""
    from senhealth.emr.pki.certificate_store import PostgresRegistry
    from senhealth.emr.pki.registry import IssuedCertificate

    async def work() -> list[IssuedCertificate]:
        return await PostgresRegistry().list(holder=holder)

    records = _run(work)
    if not records:
        err.print("Chưa cấp chứng thư nào / no certificates issued (run `senhealth pki init`)")
        return
    now = datetime.now(UTC)
    table = Table(
        "Sê-ri / serial",
        "Loại / kind",
        "Chủ thể / holder",
        "Tên / subject",
        "Hết hạn / expires",
        "Trạng thái / status",
    )
    for r in records:
        if r.revoked_at is not None:
            status = f"[red]thu hồi / revoked {r.revoked_at:%Y-%m-%d}[/]"
        elif r.not_after < now:
            status = "[yellow]hết hạn / expired[/]"
        else:
            status = "[green]hiệu lực / valid[/]"
        table.add_row(r.serial_hex, r.kind, r.holder or "", r.subject, f"{r.not_after:%Y-%m-%d}", status)
    out.print(table)


@pki_app.command("crl")
def crl_command() -> None:
    """Write the current CRLs of the root and intermediate CAs to the PKI folder."""
    from pathlib import Path

    from senhealth.emr.pki.installation import load_authority, write_crls
    from senhealth.emr.pki.keystore import pki_dir

    settings = _settings()

    async def work() -> list[tuple[Path, int]]:
        authority = load_authority(settings)
        paths = await write_crls(authority, pki_dir(settings))
        counts = [len(await authority.registry.revoked(name)) for name in ("root", "intermediate")]
        return list(zip(paths, counts, strict=True))

    for path, count in _run(work):
        err.print(f"CRL: [bold]{path}[/] ({count} đã thu hồi / revoked)")
