"""``senhealth imaging``: the DICOM archive from the command line (docs/imaging-dicom.md).

- ``senhealth imaging export-research STUDY_UID... --out DIR``: de-identified copies (DICOM PS3.15 Annex E
  basic profile) of stored studies, for research; the key behind new UIDs and pseudonyms comes from
  ``SENHEALTH_IMAGING_EXPORT_KEY`` (16 bytes or more), never from the command line. Audited.

Wiring in ``senhealth/cli.py``::

    from senhealth.cli_imaging import imaging_app
    app.add_typer(imaging_app, name="imaging")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from senhealth.cli_database import run_command

__all__ = ["imaging_app"]

imaging_app = typer.Typer(help="Kho ảnh DICOM / the DICOM archive.", no_args_is_help=True)
err = Console(stderr=True, highlight=False)


@imaging_app.command("export-research")
def export_research_command(
    studies: Annotated[list[str], typer.Argument(help="Study Instance UIDs.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the de-identified files.")],
) -> None:
    """Write de-identified copies of stored studies (PS3.15 Annex E basic profile) under --out."""
    key = os.environ.get("SENHEALTH_IMAGING_EXPORT_KEY", "").encode()
    if len(key) < 16:
        err.print(
            "[red]Đặt SENHEALTH_IMAGING_EXPORT_KEY (≥ 16 ký tự) / set SENHEALTH_IMAGING_EXPORT_KEY (16+ bytes)[/]"
        )
        raise typer.Exit(2)

    async def work() -> object:
        from senhealth.core.config import get_settings
        from senhealth.fhir import access
        from senhealth.fhir.access import Principal
        from senhealth.fhir.store import FhirStore
        from senhealth.imaging.config import get_config
        from senhealth.imaging.deid import export_research
        from senhealth.imaging.storage import blob_store
        from senhealth.security.audit import PostgresAuditSink

        if access.audit_sink() is access.NO_AUDIT:
            access.install(sink=PostgresAuditSink())
        who = Principal(kind="system", subject=f"cli:{os.environ.get('USER', 'unknown')}")
        blobs = blob_store(get_config(), get_settings().data_dir)
        return await export_research(FhirStore(), blobs, studies, out, key, principal=who)

    report = run_command(work)
    err.print(
        f"Đã xuất / exported: {report.studies} studies, {len(report.written)} files → {out}; "  # type: ignore[attr-defined]
        f"bỏ qua / left out (burned-in annotation): {len(report.burned_in)}; "  # type: ignore[attr-defined]
        f"không có / not in the archive: {', '.join(report.missing) or '-'}"  # type: ignore[attr-defined]
    )
