"""Synthetic chest radiograph studies as DICOM: a phantom (:mod:`.phantom`) in a Digital X-Ray image.

Spec: DICOM PS3.3 A.26 (Digital X-Ray Image IOD, "For Presentation"), C.8.11.7 (DX Image), PS3.5 (little
endian explicit VR). Made with pydicom (https://pydicom.github.io/pydicom/stable/); every value is
synthetic, the patient's too. Used by the tests, the benchmark and demonstrations of the imaging AI pipeline.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from senhealth.imaging.models.phantom import Phantom, phantom, to_pixels

__all__ = ["DX_SOP_CLASS", "phantom_dataset"]

#: Digital X-Ray Image Storage - For Presentation.
DX_SOP_CLASS = UID("1.2.840.10008.5.1.4.1.1.1.1")


def phantom_dataset(
    rng: np.random.Generator,
    *,
    size: int = 256,
    nodule: bool | None = None,
    radius: float | None = None,
    contrast: float | None = None,
    patient_id: str = "SYN-0001",
    patient_name: str = "PHANTOM^SYNTHETIC",
    study_uid: str | None = None,
    accession: str = "",
    body_part: str = "CHEST",
    modality: str = "DX",
) -> tuple[Dataset, Phantom]:
    """A DX instance holding a new phantom, and the phantom (its truth)."""
    ph = phantom(rng, size=size, nodule=nodule, radius=radius, contrast=contrast)
    now = datetime.now(UTC)
    meta = FileMetaDataset()
    sop_uid = generate_uid()
    meta.MediaStorageSOPClassUID = DX_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = generate_uid(prefix="1.2.826.0.1.3680043.10.1439.")
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = DX_SOP_CLASS
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = accession
    ds.Modality = modality
    ds.Manufacturer = "Sen Health phantom"
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.BodyPartExamined = body_part
    ds.ViewPosition = "PA"
    ds.PatientOrientation = ["L", "F"]
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImagerPixelSpacing = [0.7 * 512 / size, 0.7 * 512 / size]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PixelData = to_pixels(ph.image).tobytes()
    return ds, ph
