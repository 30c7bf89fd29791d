"""De-identification of a DICOM data set by the Basic Application Level Confidentiality Profile.

Spec: DICOM PS3.15 Annex E https://dicom.nema.org/medical/dicom/current/output/chtml/part15/chapter_E.html
(E.1.1: the actions D, Z, X, K, C, U; Table E.1-1: the action per attribute, ``data/basic_profile.json``;
E.1.1 (3)-(6): private attributes and curves/overlays removed, Patient Identity Removed (0012,0062)
``YES``, De-identification Method (0012,0063) and its Code Sequence (0012,0064) with ``113100`` "Basic
Application Confidentiality Profile" from DCM, PS3.16 CID 7050).

The choices where the table leaves one (E.1.1 "X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*"): keep the data set
conformant, so ``X/Z`` → Z, ``X/D``, ``X/Z/D`` and ``Z/D`` → D, ``X/Z/U*`` (a sequence of references) → its
items de-identified (the UIDs in it replaced). ``C`` (clean) is not part of the basic profile. UIDs are
replaced by ``2.25.<integer>`` (PS3.5 B.2) derived from the original UID with a keyed hash (HMAC-SHA-256
under the export's key), so that the instances of one export still reference each other, and two exports
under different keys cannot be linked. The dummy Patient ID (Z/D, so D here) is a pseudonym derived the same
way (``SH-`` and 10 hex digits), so a research set keeps one patient's studies together; the Patient's Name
(Z) is emptied.

Written here: pydicom gives the data model; no maintained library applies Table E.1-1 as published
(pydicom's ``deid`` needs recipes written by hand, ``dicognito`` uses its own rules).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any, Final

import orjson
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

__all__ = ["METHOD", "basic_profile", "deidentify", "pseudonym", "replace_uid"]

METHOD: Final = "PS3.15 Annex E Basic Application Confidentiality Profile"
_DUMMY_TEXT: Final = "ANONYMIZED"
_DUMMY: Final[dict[str, Any]] = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000D",
    "IS": "0",
    "DS": "0",
    "CS": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "LO": _DUMMY_TEXT,
    "ST": _DUMMY_TEXT,
    "LT": _DUMMY_TEXT,
    "UT": _DUMMY_TEXT,
    "UC": _DUMMY_TEXT,
    "PN": "ANONYMIZED",
    "AE": "ANONYMIZED",
    "UR": "http://anonymized.invalid",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "FL": 0.0,
    "FD": 0.0,
}


@cache
def basic_profile() -> dict[str, str]:
    """Table E.1-1's basic-profile action per tag (8 upper-case hex digits)."""
    raw = orjson.loads(resources.files(__package__).joinpath("data", "basic_profile.json").read_bytes())
    return {tag: entry[0] for tag, entry in raw["attributes"].items()}


def _digest(key: bytes, value: str) -> bytes:
    return hmac.new(key, value.encode("ascii", "replace"), hashlib.sha256).digest()


def replace_uid(key: bytes, uid: str) -> str:
    """The replacement of ``uid`` under ``key`` (``2.25.`` + a 128-bit integer)."""
    return "2.25." + str(int.from_bytes(_digest(key, "uid:" + uid)[:16], "big"))


def pseudonym(key: bytes, patient_id: str) -> str:
    """The research pseudonym of a Patient ID under ``key``."""
    return "SH-" + _digest(key, "pid:" + patient_id).hex()[:10].upper()


def _action(tag: int, profile: dict[str, str]) -> str | None:
    group, element = tag >> 16, tag & 0xFFFF
    if group % 2 == 1:
        return "X"  # private attributes (E.1.1 (3)); their creators too
    if 0x5000 <= group <= 0x50FF and group % 2 == 0:
        return "X"  # curves
    if 0x6000 <= group <= 0x60FF and group % 2 == 0 and element in (0x3000, 0x4000):
        return "X"  # overlay data and comments
    action = profile.get(f"{tag:08X}")
    if action is None:
        return None
    return {"X/Z": "Z", "X/D": "D", "X/Z/D": "D", "Z/D": "D", "X/Z/U*": "U*"}.get(action, action)


def _dummy(element: DataElement) -> Any:
    if element.VR == "UI":
        return None  # handled as U
    if element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        return b"\x00\x00"
    return _DUMMY.get(element.VR, _DUMMY_TEXT)


def _walk(ds: Dataset, key: bytes, profile: dict[str, str], patient_id: str) -> None:
    for element in list(ds):
        tag = int(element.tag)
        action = _action(tag, profile)
        if element.VR == "SQ":
            if action == "X":
                del ds[element.tag]
            elif action == "Z":
                element.value = Sequence()
            else:  # K, D, U* or not listed: keep the items, de-identified
                for item in element.value:
                    _walk(item, key, profile, patient_id)
            continue
        if action is None or action == "K" or action == "C":
            if action == "C":
                element.value = _dummy(element)  # clean: not in the basic profile's scope; dummy it
            continue
        if action == "X":
            del ds[element.tag]
        elif action == "Z":
            element.value = "" if element.VR not in ("US", "SS", "UL", "SL", "FL", "FD") else None
        elif action in ("U", "U*"):
            if element.VR == "UI" and element.value:
                values = element.value if element.VM > 1 else [element.value]
                new = [replace_uid(key, str(v)) for v in values]
                element.value = new if element.VM > 1 else new[0]
        elif action == "D":
            if tag == 0x00100020:  # Patient ID: the pseudonym, one per patient
                element.value = pseudonym(key, patient_id)
            elif element.VR == "UI":
                element.value = replace_uid(key, str(element.value))
            else:
                element.value = _dummy(element)


def deidentify(ds: Dataset, key: bytes, *, on_burned_in: Callable[[Dataset], None] | None = None) -> Dataset:
    """A de-identified copy of ``ds`` (see the module docstring); ``ds`` is left as it was.

    Pixel data are kept: an image whose Burned In Annotation (0028,0301) is not ``NO`` may show identity in
    its pixels; ``on_burned_in`` is called for it (the export leaves such images out)."""
    if on_burned_in is not None and str(ds.get("BurnedInAnnotation", "NO")).upper() != "NO":
        on_burned_in(ds)
    out = copy.deepcopy(ds)
    patient_id = str(ds.get("PatientID", ""))
    _walk(out, key, basic_profile(), patient_id)
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    out.DeidentificationMethodCodeSequence = Sequence([code])
    if "PatientID" not in out:
        out.PatientID = pseudonym(key, patient_id)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = out.SOPClassUID
    meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    original_meta = getattr(ds, "file_meta", None)
    syntax = original_meta.get("TransferSyntaxUID") if original_meta is not None else None
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    out.file_meta = meta
    return out
