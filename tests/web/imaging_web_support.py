"""The platform as the radiologist's pages need it, and the studies they show.

``install_imaging_web(app, settings)`` completes an application made by ``senhealth.app.build_app`` with
what it does not wire yet (each step skipped once the platform does it): the connection of the archive and
the AI (:func:`senhealth.imaging.platform.install_imaging`: the worker's storage, the hook, the
``$ai-review`` operation) and the pages' routes (:data:`senhealth.web.views.imaging_review.ROUTES`).
``build_imaging_app()`` is the factory for ``uvicorn --factory`` (the browser test's server).

``arrive(client, settings)`` plays the X-ray room and the worker: the demonstration model registered and
enabled at the provincial hospital (``bv-tinh`` of the web tests' dataset), two synthetic chest studies of
``Patient/p-an`` (linked by the DICOM PatientID, the patient's CCCD number) stored through STOW-RS, one
with a nodule (urgent, three frames), one without (routine), and the job worker run until the queue is
empty. Returns the reports' ids by kind (``urgent``, ``routine``). Everything synthetic.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI
from pydicom.dataset import Dataset
from web_dataset import system_token

from senhealth.core.config import Settings
from senhealth.imaging.models.phantom_dicom import phantom_dataset

PATIENT = "p-an"
PATIENT_ID = "001080012345"  # p-an's CCCD number: the modality sends it as PatientID
FACILITY = "bv-tinh"
DOCTOR = "bs.binh"
HOSPITAL = "Bệnh viện Đa khoa tỉnh"


def _has_route(routes: list[Any], path: str) -> bool:
    return any(getattr(r, "path", None) == path for r in routes)


def install_imaging_web(app: FastAPI, settings: Any) -> None:
    """See the module docstring."""
    from senhealth.fhir.operations.registry import get_operation
    from senhealth.imaging.inference import study_storage
    from senhealth.imaging.platform import install_imaging
    from senhealth.web.views import imaging_review

    if get_operation("ai-review") is None or study_storage() is None:
        install_imaging(settings)
    routes = app.state.senhealth_web.router.routes
    if not _has_route(routes, imaging_review.ROUTES[0].path):
        routes[0:0] = list(imaging_review.ROUTES)


def build_imaging_app() -> FastAPI:
    """``uvicorn --factory imaging_web_support:build_imaging_app``."""
    from senhealth.app import build_app
    from senhealth.core.config import get_settings

    settings = get_settings()
    app = build_app(settings)
    install_imaging_web(app, settings)
    return app


def chest(seed: int, *, nodule: bool, frames: int = 1) -> list[Dataset]:
    rng = np.random.default_rng(seed)
    out: list[Dataset] = []
    for n in range(frames):
        ds, _ = phantom_dataset(
            rng,
            nodule=nodule,
            radius=22.0 if nodule else None,
            contrast=0.3 if nodule else None,
            patient_id=PATIENT_ID,
            patient_name="NGUYEN^VAN AN",
            study_uid=str(out[0].StudyInstanceUID) if out else None,
        )
        if out:
            ds.SeriesInstanceUID = out[0].SeriesInstanceUID
        ds.InstanceNumber = n + 1
        out.append(ds)
    return out


def _multipart(datasets: list[Dataset]) -> tuple[bytes, str]:
    from io import BytesIO

    boundary = "senhealth-test-boundary"
    body = b""
    for ds in datasets:
        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + buf.getvalue() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


async def arrive(client: httpx.AsyncClient, settings: Settings) -> dict[str, str]:
    """See the module docstring."""
    from senhealth.fhir.store import FhirStore
    from senhealth.imaging.models import DEMO_MODEL, enable, register_builtin
    from senhealth.jobs.worker import run_worker

    store = FhirStore()
    await register_builtin(store)
    await enable(store, DEMO_MODEL, FACILITY)
    headers = {"Authorization": f"Bearer {system_token(settings)}"}
    studies = {"urgent": chest(401, nodule=True, frames=3), "routine": chest(402, nodule=False)}
    for datasets in studies.values():
        body, content_type = _multipart(datasets)
        r = await client.post(
            "/dicomweb/studies", content=body, headers={**headers, "Content-Type": content_type}
        )
        assert r.status_code == 200, r.text[:300]
    await run_worker(wait=False, install_signal_handlers=False, poll_interval_s=0.1)
    out: dict[str, str] = {}
    fhir = {**headers, "Accept": "application/fhir+json"}
    for kind, datasets in studies.items():
        r = await client.get(
            "/fhir/DiagnosticReport",
            params={"subject": f"Patient/{PATIENT}", "status": "preliminary"},
            headers=fhir,
        )
        for entry in r.json().get("entry", []):
            report = entry["resource"]
            if report["imagingStudy"][0]["reference"] == f"ImagingStudy/{datasets[0].StudyInstanceUID}":
                out[kind] = report["id"]
    assert set(out) == {"urgent", "routine"}, out
    return out
