"""``senhealth claims export|import``: the insurance claim XML (``GIAMDINHHS``) from the command line.

- ``senhealth claims export --encounter ID --out FILE``: the Encounter's claim file, every table checked
  field by field, signed with the key of its facility (the PKI key store's key of the Organization in
  ``Encounter.serviceProvider``; or ``--key-file``/``--cert-file``, PEM; ``--unsigned`` writes it
  unsigned, for tests);
- ``senhealth claims import FILE...``: each file verified (trust roots: the installation's, or
  ``--trust-roots`` PEM files), validated and written in one transaction, with a progress bar and one
  result line per file; the exit code is 1 when any file was refused, 2 for a usage error.

The same code as ``$claim-xml`` / ``$import-claim-xml`` (:mod:`senhealth.emr.claims`), run in this process
on the database of ``SENHEALTH_DATABASE_URL`` (or the embedded PostgreSQL), without the access policy:
the command line is the operator's. Wiring in ``senhealth/cli.py``::

    from senhealth.cli_claims import claims_app
    app.add_typer(claims_app, name="claims")

Typer: https://typer.tiangolo.com/ · Rich progress bars: https://rich.readthedocs.io/en/stable/progress.html
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from cryptography import x509

    from senhealth.emr.pki.keys import SigningKey

__all__ = ["claims_app"]

out = Console()
err = Console(stderr=True)

claims_app = typer.Typer(
    help="Hồ sơ XML giám định BHYT / insurance claim XML (QĐ 130/4750/3176): export, import.",
    no_args_is_help=True,
    add_completion=False,
)


def _key_from_files(key_file: Path, cert_file: Path, passphrase: str | None) -> SigningKey:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from senhealth.emr.pki.keys import LocalSigningKey

    certificates = x509.load_pem_x509_certificates(cert_file.read_bytes())
    key = serialization.load_pem_private_key(
        key_file.read_bytes(), password=passphrase.encode() if passphrase else None
    )
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the key file holds neither an RSA nor an EC private key")
    return LocalSigningKey(certificates[0], tuple(certificates[1:]), key)


@claims_app.command("export")
def export_command(
    encounter: Annotated[str, typer.Option("--encounter", help="Encounter id.")],
    out_file: Annotated[Path, typer.Option("--out", help="Tệp ghi ra / the file to write.")],
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="Facility private key (PEM) instead of the key store.")
    ] = None,
    cert_file: Annotated[
        Path | None, typer.Option("--cert-file", help="Its certificate, then its chain (PEM).")
    ] = None,
    passphrase: Annotated[
        str | None, typer.Option(envvar="SENHEALTH_CLAIMS_KEY_PASSPHRASE", help="Passphrase of --key-file.")
    ] = None,
    unsigned: Annotated[bool, typer.Option("--unsigned", help="Write the file without a signature.")] = False,
) -> None:
    """Write the signed claim file (GIAMDINHHS) of an Encounter."""
    from senhealth.cli_database import run_on_database
    from senhealth.core.config import get_settings
    from senhealth.core.db import get_pool
    from senhealth.emr.claims.envelope import build_envelope, sign_envelope
    from senhealth.emr.claims.export import ClaimInvalid, claim_files, encounter_data
    from senhealth.emr.claims.export_mapping import ExportError
    from senhealth.emr.pki.errors import PkiError
    from senhealth.emr.pki.keystore import signing_key
    from senhealth.fhir.store import FhirStore, NotFound

    if (key_file is None) != (cert_file is None):
        err.print("[red]--key-file and --cert-file go together[/]")
        raise typer.Exit(2)

    async def work() -> bytes:
        data = await encounter_data(FhirStore(get_pool()), encounter)
        facility, files = claim_files(data)
        document = build_envelope(facility, [files])
        if unsigned:
            return document
        if key_file is not None and cert_file is not None:
            key = _key_from_files(key_file, cert_file, passphrase)
        else:
            provider = str((data.encounter.get("serviceProvider") or {}).get("reference") or "")
            if not provider.startswith("Organization/"):
                raise ExportError(
                    "Encounter.serviceProvider is not a stored Organization", "Encounter.serviceProvider"
                )
            key = signing_key(get_settings(), organization=provider.removeprefix("Organization/"))
        return sign_envelope(document, key)

    try:
        content = run_on_database(work)
    except NotFound:
        err.print(f"[red]Không có lượt khám / no Encounter {encounter}[/]")
        raise typer.Exit(1) from None
    except ClaimInvalid as exc:
        for error in exc.errors:
            err.print(f"[red]✗[/] {error.message}")
        raise typer.Exit(1) from None
    except ExportError as exc:
        err.print(f"[red]✗[/] {exc.expression}: {exc}")
        raise typer.Exit(1) from None
    except (PkiError, ValueError) as exc:
        err.print(f"[red]✗ {exc}[/]")
        raise typer.Exit(1) from None
    out_file.write_bytes(content)
    out.print(f"Đã ghi / written: {out_file} ({len(content):,} bytes{', unsigned' if unsigned else ''})")


def _roots(files: list[Path] | None) -> tuple[x509.Certificate, ...]:
    from cryptography import x509

    from senhealth.core.config import get_settings
    from senhealth.emr.pki.installation import trust_roots

    if files:
        return tuple(c for f in files for c in x509.load_pem_x509_certificates(f.read_bytes()))
    return trust_roots(get_settings())


@claims_app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="Tệp XML hồ sơ / claim files (GIAMDINHHS).")],
    trust_roots: Annotated[
        list[Path] | None,
        typer.Option("--trust-roots", help="Trusted root certificates (PEM), instead of the installation's."),
    ] = None,
    allow_unsigned: Annotated[
        bool, typer.Option("--allow-unsigned", help="Accept files without a signature.")
    ] = False,
) -> None:
    """Import claim files: each one verified, validated and written whole, or refused with its reasons."""
    from senhealth.cli_database import run_on_database
    from senhealth.core.db import get_pool
    from senhealth.core.progress import progress_bar
    from senhealth.emr.claims.importer import ImportResult, import_claim
    from senhealth.fhir.store import FhirStore

    missing = [f for f in files if not f.is_file()]
    if missing:
        err.print(f"[red]Không có tệp / no such file: {missing[0]}[/]")
        raise typer.Exit(2)
    roots = _roots(trust_roots)

    async def work() -> list[tuple[Path, ImportResult]]:
        store = FhirStore(get_pool())
        results: list[tuple[Path, ImportResult]] = []
        with progress_bar(err, disable=not err.is_terminal) as bar:
            task = bar.add_task("Nhập / importing", total=len(files))
            for path in files:
                result = await import_claim(
                    store, path.read_bytes(), trust_roots=roots, allow_unsigned=allow_unsigned
                )
                results.append((path, result))
                out.print(_line(path, result), highlight=False, markup=False)
                bar.advance(task)
        return results

    results = run_on_database(work)
    refused = sum(1 for _, r in results if not r.accepted)
    written = sum(r.resources for _, r in results if r.accepted)
    out.print(
        f"{len(results) - refused} nhận / accepted, {refused} từ chối / refused; {written} resources written"
    )
    if refused:
        raise typer.Exit(1)


def _line(path: Path, result: object) -> str:
    from senhealth.emr.claims.importer import ImportResult

    assert isinstance(result, ImportResult)
    if result.accepted:
        visits = ", ".join(result.visits)
        return f"✓ {path.name}: MA_LK {visits}; {result.resources} resources ({result.created} new)"
    first = result.issues[0].message if result.issues else "refused"
    more = f" (+{len(result.issues) - 1} more)" if len(result.issues) > 1 else ""
    return f"✗ {path.name}: {first}{more}"
