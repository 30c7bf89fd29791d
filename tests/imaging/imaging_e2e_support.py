"""The imaging pipeline's end-to-end world: a facility with the demonstration model enabled, a radiologist with
a signing certificate (the test PKI of tests/emr), a patient whose DICOM PatientID the archive links, and
synthetic chest phantoms (:mod:`senhealth.imaging.models.phantom_dicom`). Everything synthetic."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from senhealth.imaging.models.phantom_dicom import phantom_dataset

_EMR_TESTS = str(Path(__file__).resolve().parents[1] / "emr")
if _EMR_TESTS not in sys.path:  # the test PKI (tests/emr/emr_pki_support.py)
    sys.path.insert(0, _EMR_TESTS)

FACILITY = "bv-xquang"
OTHER_FACILITY = "ttyt-khac"
RADIOLOGIST = "prac-xquang"
RADIOLOGIST_USER = "bs.xquang"
RADIOLOGIST_NAME = "BS. Đỗ Thị Phim"
PATIENT = "pat-xquang"
PATIENT_ID = "BN-XQ-0001"  # the DICOM PatientID the modality sends
MRN = "https://bv-xquang.vn/mrn"
PASSWORD = "mat-khau-rat-dai-1"

from emr_pki_support import TestPki, make_test_pki  # type: ignore[import-not-found,unused-ignore]  # noqa: E402

__all__ = ["TestPki", "chest", "make_test_pki", "resources"]


def resources() -> list[dict[str, Any]]:
    """The facility, another one, the radiologist and the patient (managed by the facility)."""
    return [
        {"resourceType": "Organization", "id": FACILITY, "active": True, "name": "Bệnh viện Sen Hồng"},
        {
            "resourceType": "Organization",
            "id": OTHER_FACILITY,
            "active": True,
            "name": "Trung tâm Y tế Sen Tím",
        },
        {
            "resourceType": "Practitioner",
            "id": RADIOLOGIST,
            "name": [{"family": "Đỗ", "given": ["Thị", "Phim"], "text": RADIOLOGIST_NAME}],
        },
        {
            "resourceType": "Patient",
            "id": PATIENT,
            "identifier": [{"system": MRN, "value": PATIENT_ID}],
            "name": [{"family": "Hoàng", "given": ["Văn", "Phổi"], "text": "Hoàng Văn Phổi"}],
            "gender": "male",
            "birthDate": "1961-09-02",
            "managingOrganization": {"reference": f"Organization/{FACILITY}"},
        },
    ]


def chest(seed: int, *, nodule: bool, frames: int = 1) -> list[Dataset]:
    """A synthetic chest study of the patient: ``frames`` DX images of one series (a nodule drawn in when
    asked, large and contrasted so the demonstration model calls it)."""
    rng = np.random.default_rng(seed)
    out: list[Dataset] = []
    study_uid: str | None = None
    series_uid: str | None = None
    for n in range(frames):
        ds, _ = phantom_dataset(
            rng,
            nodule=nodule,
            radius=22.0 if nodule else None,
            contrast=0.3 if nodule else None,
            patient_id=PATIENT_ID,
            patient_name="HOANG^VAN PHOI",
            study_uid=study_uid,
            accession=f"XQ-{seed}",
        )
        if series_uid is not None:
            ds.SeriesInstanceUID = series_uid
        study_uid, series_uid = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
        ds.InstanceNumber = n + 1
        out.append(ds)
    return out
