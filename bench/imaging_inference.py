"""Imaging AI inference latency per study on the CPU: ``python -m bench.imaging_inference [--studies N]``.

Measures, on this machine, for ``demo-chest-nodule`` over synthetic 256×256 chest phantom studies (DX,
12-bit, pydicom-made; half with a nodule; generated beforehand, not counted), per study:

- **read**: decoding the DICOM file (pydicom) and the model's preprocessing;
- **model**: one onnxruntime run (the CPU provider unless ``SENHEALTH_IMAGING_AI_DEVICE`` allows CUDA and
  onnxruntime has it), batch of one;
- **objects**: the DICOM Segmentation and TID 1500 SR (highdicom);
- **pipeline**: the whole worker (:func:`senhealth.imaging.inference.run_inference`): the study read from
  the storage, the model, the SR and SEG stored, the FHIR result (Observation, DiagnosticReport, Task,
  Provenance) and the audit event written in one transaction. Needs PostgreSQL: ``--database-url`` or
  ``SENHEALTH_DATABASE_URL`` (a schema of its own is created, migrated and dropped); skipped without one.

Each figure is the median and the 95th percentile over the studies, after two warm-up studies (the first
run opens the onnxruntime session). Prints a Markdown table with the machine it ran on (``--out`` also
writes it to a file).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from bench.__main__ import machine
from senhealth.imaging.inference.dicom_objects import measurement_report, segmentation
from senhealth.imaging.inference.runtime import frame_input, predict, providers, session
from senhealth.imaging.inference.storage import MemoryStudyStorage, encode
from senhealth.imaging.models.card import BUILTIN_DIR, DEMO_MODEL, ModelCard
from senhealth.imaging.models.phantom_dicom import phantom_dataset

WARM_UP = 2


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def components(card: ModelCard, files: list[bytes]) -> dict[str, list[float]]:
    model = session(BUILTIN_DIR / card.file, card.sha256)
    times: dict[str, list[float]] = {"read": [], "model": [], "objects": []}
    for i, data in enumerate(files):
        t0 = time.perf_counter()
        ds, image = _read(data, card)
        t1 = time.perf_counter()
        pred = predict(model, image)
        t2 = time.perf_counter()
        segmentation(ds, pred.heatmap, card)
        measurement_report(ds, pred.probability, pred.heatmap, card, device_uid="1.2.3")
        t3 = time.perf_counter()
        if i >= WARM_UP:
            times["read"].append(t1 - t0)
            times["model"].append(t2 - t1)
            times["objects"].append(t3 - t2)
    return times


def _read(data: bytes, card: ModelCard) -> tuple[Any, Any]:
    ds = pydicom.dcmread(BytesIO(data))
    return ds, frame_input(ds, card)


def pipeline(url: str, datasets: list[Any]) -> list[float]:
    """The whole worker per study, on a schema of its own."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from senhealth.core.db import create_pool
    from senhealth.core.migrate import migrate
    from senhealth.fhir.store import FhirStore
    from senhealth.imaging.inference import run_inference
    from senhealth.imaging.models import enable, register_builtin

    schema = f"bench_imaging_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    schema_url = make_conninfo(url, options=f"-c search_path={schema}")
    try:
        migrate(schema_url)

        async def run() -> list[float]:
            pool = create_pool(schema_url, min_size=1, max_size=4)
            await pool.open(wait=True)
            try:
                store = FhirStore(pool)
                await store.update({"resourceType": "Organization", "id": "bench-facility", "name": "Bench"})
                await store.update(
                    {
                        "resourceType": "Patient",
                        "id": "bench-patient",
                        "managingOrganization": {"reference": "Organization/bench-facility"},
                    }
                )
                await register_builtin(store)
                device = await enable(store, DEMO_MODEL, "bench-facility")
                storage = MemoryStudyStorage()
                out = []
                for i, ds in enumerate(datasets):
                    storage.add([ds])
                    study = {
                        "resourceType": "ImagingStudy",
                        "id": f"bench-{i}",
                        "identifier": [
                            {"system": "urn:dicom:uid", "value": f"urn:oid:{ds.StudyInstanceUID}"}
                        ],
                        "status": "available",
                        "subject": {"reference": "Patient/bench-patient"},
                    }
                    await store.update(study)
                    t = time.perf_counter()
                    outcome = await run_inference(store, f"bench-{i}", str(device["id"]), storage)
                    if outcome.status != "done":
                        raise RuntimeError(f"study {i}: {outcome}")
                    if i >= WARM_UP:
                        out.append(time.perf_counter() - t)
                return out
            finally:
                await pool.close()

        return asyncio.run(run())
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main() -> None:
    parser = argparse.ArgumentParser(description="Imaging AI inference latency per study (CPU).")
    parser.add_argument("--studies", type=int, default=40)
    parser.add_argument("--database-url", default=os.environ.get("SENHEALTH_DATABASE_URL", ""))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    card = ModelCard.load(BUILTIN_DIR / f"{DEMO_MODEL}.json")
    rng = np.random.default_rng(7)
    n = args.studies + WARM_UP
    datasets = [phantom_dataset(rng, nodule=i % 2 == 0)[0] for i in range(n)]
    files = [encode(ds) for ds in datasets]
    times = components(card, files)
    rows = [(name, *_stats(values)) for name, values in times.items()]
    if args.database_url:
        rows.append(("pipeline (worker, FHIR + audit)", *_stats(pipeline(args.database_url, datasets))))
    lines = [
        f"Imaging AI inference per study: {card.label}, {args.studies} studies of 256×256 (after {WARM_UP} warm-up)",
        "",
        f"Machine: {machine()}; onnxruntime providers: {', '.join(providers())}",
        "",
        "| step | median ms | p95 ms |",
        "|---|---:|---:|",
        *[f"| {name} | {med:.1f} | {p95:.1f} |" for name, med, p95 in rows],
    ]
    if not args.database_url:
        lines += ["", "(pipeline skipped: no --database-url / SENHEALTH_DATABASE_URL)"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
