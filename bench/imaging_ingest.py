"""Ingest benchmark of the DICOM archive: ``python -m bench.imaging_ingest``.

Stores ``--studies`` synthetic studies (default 1,000; ``--instances`` CT-like images of ``--size``²
16-bit pixels each) twice, into a fresh database on the local PostgreSQL and a temporary imaging
directory:

- STOW-RS: one ``POST /dicomweb/studies`` per study (multipart/related), from ``--clients`` concurrent
  HTTP clients, to the DICOMweb routes under uvicorn on loopback;
- C-STORE: one association per study (as a modality sends a study), from ``--clients`` concurrent
  pynetdicom SCUs, to the DICOM listener (``start_dicom_listener``).

Each stored instance costs: parsing, the file written and fsynced, the index rows, the Patient looked up
(created once per patient), the ImagingStudy created or updated, and an audit record (the platform's
sink); fsync and synchronous_commit stay on. Server and clients share this process (and its GIL), so the
rates are a floor. The server is ``SENHEALTH_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); a database ``senhealth_bench_<random>`` is created and
dropped. Prints a Markdown table with the machine it ran on and writes it to
``bench/results/imaging_ingest.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psycopg
import uvicorn
from fastapi import FastAPI
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from bench.__main__ import machine
from senhealth.api.dicomweb import dicomweb_router
from senhealth.api.fhir.errors import install_error_handlers
from senhealth.core import db
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.fhir import access
from senhealth.fhir.store import FhirStore
from senhealth.imaging.config import configure
from senhealth.imaging.dimse import start_dicom_listener
from senhealth.security.audit import PostgresAuditSink

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT_UID = "1.2.826.0.1.3680043.10.1047.9."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_study(index: int, instances: int, size: int) -> list[bytes]:
    """A synthetic CT study of a synthetic patient (10 studies per patient), as Part 10 files."""
    study_uid, series_uid = generate_uid(ROOT_UID), generate_uid(ROOT_UID)
    rng = np.random.default_rng(index)
    out = []
    for n in range(instances):
        ds = Dataset()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid(ROOT_UID)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.PatientID, ds.PatientName = f"BENCH-{index // 10:05d}", f"BENCH^PATIENT {index // 10}"
        ds.PatientBirthDate, ds.PatientSex = "19800101", "F"
        ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20260110", "083000", f"A{index:06d}"
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, n + 1
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = rng.integers(0, 4096, (size, size), dtype=np.uint16).tobytes()
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return out


def _stow(base: str, studies: list[list[bytes]], clients: int) -> float:
    boundary = "bench-boundary"
    headers = {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": "application/dicom+json",
    }

    def body(files: list[bytes]) -> bytes:
        parts = [
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + f + b"\r\n" for f in files
        ]
        return b"".join(parts) + f"--{boundary}--\r\n".encode()

    def send(chunk: list[list[bytes]]) -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            for files in chunk:
                r = client.post("/dicomweb/studies", content=body(files), headers=headers)
                if r.status_code != 200:
                    raise RuntimeError(f"STOW-RS answered {r.status_code}: {r.text[:300]}")

    chunks = [studies[i::clients] for i in range(clients)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, chunks))
    return time.perf_counter() - start


def _cstore(port: int, studies: list[list[bytes]], clients: int) -> float:
    def send(chunk: list[list[bytes]]) -> None:
        ae = AE(ae_title="BENCHSCU")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        for files in chunk:
            assoc = ae.associate("127.0.0.1", port, ae_title="SENHEALTH")
            if not assoc.is_established:
                raise RuntimeError("association refused")
            try:
                for data in files:
                    status = assoc.send_c_store(dcmread(io.BytesIO(data)))
                    if status.Status != 0:
                        raise RuntimeError(f"C-STORE status {status.Status:04X}")
            finally:
                assoc.release()

    chunks = [studies[i::clients] for i in range(clients)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, chunks))
    return time.perf_counter() - start


def run(server: str, studies_n: int, instances: int, size: int, clients: int) -> str:
    name = f"senhealth_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(server, dbname=name)
    tmp = Path(tempfile.mkdtemp(prefix="senhealth-imaging-bench-"))
    rows: list[tuple[str, float, int, int]] = []
    try:
        migrate(url)
        access.install(sink=PostgresAuditSink())
        settings = Settings(database_url=url, data_dir=tmp)
        config = configure(storage_dir=tmp / "imaging")
        print(f"generating {2 * studies_n} studies ...", flush=True)
        stow_set = [make_study(i, instances, size) for i in range(studies_n)]
        dimse_set = [make_study(studies_n + i, instances, size) for i in range(studies_n)]
        mb = sum(len(f) for s in stow_set for f in s) / 1e6

        app = FastAPI()
        app.state.settings = settings
        app.state.fhir_store = FhirStore()
        install_error_handlers(app)
        app.include_router(dicomweb_router(config))
        port = _free_port()
        server_obj = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))

        async def serve() -> None:
            await db.open_pool(url, max_size=8)
            try:
                await server_obj.serve()
            finally:
                await db.close_pool()

        thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
        thread.start()
        while not server_obj.started:
            time.sleep(0.05)
        try:
            print("STOW-RS ...", flush=True)
            seconds = _stow(f"http://127.0.0.1:{port}", stow_set, clients)
            rows.append(("STOW-RS (HTTP, multipart/related)", seconds, studies_n, studies_n * instances))
        finally:
            server_obj.should_exit = True
            thread.join(timeout=60)
        dimse_port = _free_port()
        listener = start_dicom_listener(settings, dimse_port, config=config)
        assert listener is not None
        try:
            print("C-STORE ...", flush=True)
            seconds = _cstore(dimse_port, dimse_set, clients)
            rows.append(
                ("C-STORE (DIMSE, one association per study)", seconds, studies_n, studies_n * instances)
            )
        finally:
            listener.stop()
        with psycopg.connect(url) as conn:
            counted = conn.execute("SELECT count(*) FROM imaging_study").fetchone()
        assert counted is not None and counted[0] == 2 * studies_n, counted
    finally:
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "# DICOM archive ingest",
        "",
        f"Machine: {machine()}.",
        f"{studies_n} studies per path, {instances} CT images of {size}×{size} 16-bit pixels each "
        f"({mb / studies_n:.2f} MB per study), {clients} concurrent clients; server and clients in one process.",
        "Each instance: parsed, file written and fsynced, index rows, Patient matched, ImagingStudy "
        "written, audit record; `python -m bench.imaging_ingest`.",
        "",
        "| path | studies | instances | seconds | studies/s | instances/s | MB/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, seconds, n_studies, n_instances in rows:
        lines.append(
            f"| {label} | {n_studies} | {n_instances} | {seconds:.1f} | {n_studies / seconds:.1f} | "
            f"{n_instances / seconds:.1f} | {mb / seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--no-write", action="store_true", help="print only, leave bench/results alone")
    args = parser.parse_args(argv)
    server = os.environ.get("SENHEALTH_BENCH_DATABASE_URL", DEFAULT_SERVER)
    table = run(server, args.studies, args.instances, args.size, args.clients)
    print(table)
    if not args.no_write:
        (ROOT / "bench" / "results" / "imaging_ingest.md").write_text(table)


if __name__ == "__main__":
    main()
