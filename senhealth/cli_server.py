"""``senhealth serve`` and ``senhealth load``: run the FHIR server, fill the store from files.

Both use the database of ``SENHEALTH_DATABASE_URL`` or, when it is unset, the embedded PostgreSQL
(started if needed, stopped when the last user leaves: :func:`senhealth.core.embedded_postgres.database_conninfo`),
and apply pending migrations first. Server: uvicorn (https://www.uvicorn.org/), API docs at ``/docs``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from senhealth.core.progress import progress_bar

__all__ = ["load_command", "load_items", "serve_command"]

_BUNDLES = ("transaction", "batch")

err = Console(stderr=True)


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes. One is enough to try it; in production two per CPU core, so that "
            "a process busy validating a large Bundle never leaves a core idle.",
        ),
    ] = 1,
    dicom_port: Annotated[
        int,
        typer.Option(help="Also run the DICOM listener (AE title SENHEALTH) on this port; 0: no listener."),
    ] = 0,
) -> None:
    """Run the FHIR server (API at /fhir, DICOMweb at /dicomweb, docs at /docs) on the configured or embedded
    database; with --dicom-port, the DICOM listener (C-ECHO, C-STORE, C-FIND, C-MOVE) beside it."""
    import os

    import uvicorn

    from senhealth.core.config import get_settings
    from senhealth.core.db import display_url
    from senhealth.core.embedded_postgres import database_conninfo
    from senhealth.core.migrate import migrate

    with database_conninfo() as url:
        migrate(url)
        from senhealth.app import build_app

        settings = get_settings().model_copy(update={"database_url": url})
        err.print(f"Cơ sở dữ liệu / database: {display_url(url)}")
        err.print(
            f"Máy chủ FHIR / FHIR server: http://{host}:{port}/fhir  (API docs: http://{host}:{port}/docs)"
        )
        listener = None
        if dicom_port:
            from senhealth.app import bootstrap, install_platform
            from senhealth.imaging.dimse import start_dicom_listener

            bootstrap()
            install_platform(settings)
            listener = start_dicom_listener(settings, dicom_port, host)
            err.print(f"DICOM: {host}:{dicom_port} (AE SENHEALTH)")
        try:
            if workers == 1:
                uvicorn.run(build_app(settings), host=host, port=port, log_level=log_level)
            else:  # each process builds its own app from the environment
                os.environ["SENHEALTH_DATABASE_URL"] = url
                uvicorn.run(
                    "senhealth.app:build_app",
                    factory=True,
                    host=host,
                    port=port,
                    log_level=log_level,
                    workers=workers,
                )
        finally:
            if listener is not None:
                listener.stop()


def _read_items(path: Path) -> Iterator[Any]:
    if path.suffix in (".ndjson", ".jsonl"):
        with path.open("rb") as f:
            for line in f:
                if line.strip():
                    yield orjson.loads(line)
    else:
        yield orjson.loads(path.read_bytes())


async def load_items(
    url: str, items: Iterable[Any], *, batch_size: int = 1000, advance: Callable[[], None] | None = None
) -> dict[str, int]:
    """Load resources and Bundles into the store; return counts by outcome.

    Transaction Bundles of plain creates and updates go through the bulk path (flattened, then
    :meth:`FhirStore.load` in batches); other transaction and batch Bundles are processed entry by entry,
    as the REST API would; single resources are bulk-loaded. ``advance`` is called after each item.
    """
    from senhealth.api.fhir.dispatch import RestExecutor
    from senhealth.core import db
    from senhealth.fhir.bundle import BundleError, process_bundle
    from senhealth.fhir.bundle_flatten import flatten_transaction
    from senhealth.fhir.store import FhirStore

    counts = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0, "bundles": 0}
    pool = await db.open_pool(url, max_size=4)
    try:
        store = FhirStore(pool)
        pending: list[dict[str, Any]] = []

        async def flush() -> None:
            if not pending:
                return
            report = await store.load(list(pending), batch_size=batch_size)
            pending.clear()
            counts["created"] += report.created
            counts["updated"] += report.updated
            counts["unchanged"] += report.unchanged
            counts["rejected"] += len(report.rejected)
            for r in report.rejected[:5]:
                err.print(f"[yellow]bị từ chối / rejected:[/] {r}")

        for item in items:
            flat = flatten_transaction(item)
            if flat is not None:
                pending.extend(flat)
                counts["bundles"] += 1
            elif (
                isinstance(item, dict)
                and item.get("resourceType") == "Bundle"
                and item.get("type") in _BUNDLES
            ):
                await flush()
                try:
                    await process_bundle(store, item, RestExecutor(store, ""))
                    counts["bundles"] += 1
                except BundleError as e:
                    counts["rejected"] += 1
                    err.print(f"[red]Bundle bị từ chối / rejected:[/] {e}")
            elif isinstance(item, dict):
                pending.append(item)
            if len(pending) >= batch_size * 4:
                await flush()
            if advance is not None:
                advance()
        await flush()
    finally:
        await db.close_pool()
    return counts


def load_command(
    files: Annotated[
        list[Path], typer.Argument(help="FHIR resources, Bundles (transaction/batch) or NDJSON files.")
    ],
    batch_size: Annotated[int, typer.Option(help="Resources per database transaction.")] = 1000,
) -> None:
    """Load files into the store: every resource validated and indexed; a progress bar on stderr."""
    from senhealth.core.embedded_postgres import database_conninfo
    from senhealth.core.migrate import migrate

    missing = [str(f) for f in files if not f.exists()]
    if missing:
        err.print(f"[red]Không tìm thấy tệp / file not found:[/] {', '.join(missing)}")
        raise typer.Exit(2)
    with database_conninfo() as url:
        migrate(url)
        with progress_bar(err, disable=not err.is_terminal) as progress:
            task = progress.add_task("Nạp dữ liệu / loading", total=len(files))

            def items() -> Iterator[Any]:
                for path in files:
                    yield from _read_items(path)
                    progress.advance(task)

            counts = asyncio.run(load_items(url, items(), batch_size=batch_size))
    err.print(
        f"Đã nạp / loaded: {counts['created']} mới / created, {counts['updated']} cập nhật / updated, "
        f"{counts['unchanged']} không đổi / unchanged, {counts['rejected']} bị từ chối / rejected"
    )
    if counts["rejected"]:
        raise typer.Exit(1)
