"""What the archive reads from a DICOM instance: its UIDs, the attributes the index and the queries need,
and its attributes as DICOM JSON (without bulk data) split by level.

Spec: the DICOM JSON model PS3.18 Annex F https://dicom.nema.org/medical/dicom/current/output/chtml/part18/chapter_F.html;
the Patient, General Study, General Series and SOP Common modules PS3.3 C.7.1.1, C.7.2.1, C.7.3.1,
C.12.1 https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.7.html; the attributes
QIDO-RS returns per level PS3.18 §10.6.3.3 https://dicom.nema.org/medical/dicom/current/output/chtml/part18/sect_10.6.3.3.html.

Parsing and the JSON are pydicom's (https://pydicom.github.io/pydicom/stable/); this module only picks.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any, Final

from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from senhealth.imaging.storage.files import InvalidUID, check_uid

__all__ = [
    "BULK_PREFIX",
    "SERIES_TAGS",
    "STUDY_TAGS",
    "InstanceInfo",
    "NotDicom",
    "as_part10",
    "dicom_json",
    "read_instance",
]

#: Placeholder of a bulk data value in the stored JSON (``BulkDataURI``), replaced by a URL when served.
BULK_PREFIX: Final = "bulk:"

#: Study-level attributes (besides the whole Patient group 0010): General Study, Patient Study modules.
STUDY_TAGS: Final = frozenset(
    {
        "00080005",  # Specific Character Set
        "00080020",  # Study Date
        "00080030",  # Study Time
        "00080050",  # Accession Number
        "00080051",  # Issuer of Accession Number Sequence
        "00080090",  # Referring Physician's Name
        "00080201",  # Timezone Offset From UTC
        "00081030",  # Study Description
        "00081060",  # Name of Physician(s) Reading Study
        "00081080",  # Admitting Diagnoses Description
        "0020000D",  # Study Instance UID
        "00200010",  # Study ID
        "00321032",  # Requesting Physician
        "00321060",  # Requested Procedure Description
        "00401001",  # Requested Procedure ID
    }
)
#: Series-level attributes: General Series, General Equipment, Frame of Reference modules.
SERIES_TAGS: Final = frozenset(
    {
        "00080005",
        "00080021",  # Series Date
        "00080031",  # Series Time
        "00080060",  # Modality
        "00080070",  # Manufacturer
        "00080080",  # Institution Name
        "00081010",  # Station Name
        "0008103E",  # Series Description
        "00081050",  # Performing Physician's Name
        "00081090",  # Manufacturer's Model Name
        "00180015",  # Body Part Examined
        "00185100",  # Patient Position
        "0020000E",  # Series Instance UID
        "00200011",  # Series Number
        "00200052",  # Frame of Reference UID
        "00200060",  # Laterality
        "00400244",  # Performed Procedure Step Start Date
        "00400245",  # Performed Procedure Step Start Time
        "00400275",  # Request Attributes Sequence
    }
)


class NotDicom(ValueError):
    """Bytes that are not a DICOM Part 10 file this archive can keep; ``reason`` is a DIMSE status."""

    def __init__(
        self, message: str, reason: int = 0xC000, sop_class: str = "", sop_instance: str = ""
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.sop_class = sop_class
        self.sop_instance = sop_instance


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    return str(value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _bulk(element: DataElement) -> str:
    return f"{BULK_PREFIX}{element.tag:08X}"


def dicom_json(ds: Dataset) -> dict[str, Any]:
    """``ds`` as DICOM JSON; values of bulk data VRs over 1 KiB become a ``BulkDataURI`` placeholder."""
    out: dict[str, Any] = ds.to_json_dict(
        bulk_data_threshold=1024, bulk_data_element_handler=_bulk, suppress_invalid_tags=True
    )
    pixel = out.get("7FE00010")
    if pixel is not None and "BulkDataURI" not in pixel:  # small pixel data still leaves the JSON
        out["7FE00010"] = {"vr": pixel.get("vr", "OW"), "BulkDataURI": f"{BULK_PREFIX}7FE00010"}
    return out


@dataclass(slots=True)
class InstanceInfo:
    """One instance as the archive indexes it."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    sha256: str
    size: int
    study: dict[str, Any] = field(default_factory=dict)  # index columns of imaging_study
    series: dict[str, Any] = field(default_factory=dict)
    instance: dict[str, Any] = field(default_factory=dict)
    study_attrs: dict[str, Any] = field(default_factory=dict)
    series_attrs: dict[str, Any] = field(default_factory=dict)
    instance_attrs: dict[str, Any] = field(default_factory=dict)


def _normal_time(value: str) -> str:
    return value.replace(":", "")


def as_part10(data: bytes) -> bytes:
    """``data`` with the 128-byte preamble and ``DICM`` prefix when it starts with the file meta group
    without them (what pydicom writes for a data set that was never read from a file); else unchanged."""
    if data[:2] == b"\x02\x00" and data[128:132] != b"DICM":
        return bytes(128) + b"DICM" + data
    return data


def read_instance(data: bytes) -> InstanceInfo:
    """Read a Part 10 file (pixel data not decoded); :class:`NotDicom` when it is not one or lacks its UIDs."""
    try:
        ds = dcmread(io.BytesIO(data), force=False)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OSError) as exc:
        raise NotDicom(f"not a DICOM Part 10 file: {exc}") from exc
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    sop_class = _text(ds, "SOPClassUID") or (str(meta.get("MediaStorageSOPClassUID", "")) if meta else "")
    sop_uid = _text(ds, "SOPInstanceUID")
    try:
        check_uid(sop_class, "SOP Class UID")
        check_uid(sop_uid, "SOP Instance UID")
        study_uid = check_uid(_text(ds, "StudyInstanceUID"), "Study Instance UID")
        series_uid = check_uid(_text(ds, "SeriesInstanceUID"), "Series Instance UID")
        check_uid(syntax, "Transfer Syntax UID")
    except InvalidUID as exc:
        raise NotDicom(str(exc), 0xA900, sop_class, sop_uid) from exc
    try:
        attrs = dicom_json(ds)
    except Exception as exc:  # a value pydicom cannot turn into JSON
        raise NotDicom(f"attributes not readable: {exc}", 0xA900, sop_class, sop_uid) from exc
    info = InstanceInfo(
        study_uid=study_uid,
        series_uid=series_uid,
        sop_uid=sop_uid,
        sop_class_uid=sop_class,
        transfer_syntax=syntax,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    info.study = {
        "patient_id": _text(ds, "PatientID"),
        "issuer": _text(ds, "IssuerOfPatientID"),
        "patient_name": _text(ds, "PatientName"),
        "patient_birth_date": _text(ds, "PatientBirthDate"),
        "patient_sex": _text(ds, "PatientSex"),
        "study_date": _text(ds, "StudyDate"),
        "study_time": _normal_time(_text(ds, "StudyTime")),
        "accession_number": _text(ds, "AccessionNumber"),
        "study_id": _text(ds, "StudyID"),
        "study_description": _text(ds, "StudyDescription"),
        "referring_physician": _text(ds, "ReferringPhysicianName"),
    }
    info.series = {
        "modality": _text(ds, "Modality"),
        "series_number": _int(ds, "SeriesNumber"),
        "series_description": _text(ds, "SeriesDescription"),
        "body_part": _text(ds, "BodyPartExamined"),
        "series_date": _text(ds, "SeriesDate"),
        "performed_date": _text(ds, "PerformedProcedureStepStartDate"),
    }
    info.instance = {
        "instance_number": _int(ds, "InstanceNumber"),
        "rows": _int(ds, "Rows"),
        "columns": _int(ds, "Columns"),
        "frames": _int(ds, "NumberOfFrames") or (1 if "PixelData" in ds else None),
        "bits_allocated": _int(ds, "BitsAllocated"),
    }
    info.study_attrs = {k: v for k, v in attrs.items() if k.startswith("0010") or k in STUDY_TAGS}
    info.series_attrs = {k: v for k, v in attrs.items() if k in SERIES_TAGS}
    info.instance_attrs = attrs
    return info
