"""The FHIR ImagingStudy of an indexed DICOM study.

Spec: FHIR R4 ImagingStudy https://hl7.org/fhir/R4/imagingstudy.html (identifier ``urn:dicom:uid`` /
``urn:oid:<Study Instance UID>``, the accession number with type ``ACSN``, series and instances with
their UIDs and SOP classes, modalities from the DICOM DCM code system
http://dicom.nema.org/resources/ontology/DCM); the mapping of DICOM attributes follows the resource's
"DICOM" mapping column.

The resource's id is the Study Instance UID (a UID is a valid FHIR id: digits and dots, ≤ 64), so that
the archive and the record point at each other without a look-up table.
"""

from __future__ import annotations

import re
from typing import Any, Final

from senhealth.imaging.storage.index import StudyTree

__all__ = ["DCM", "imaging_study_resource", "started"]

DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
_DA: Final = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TM: Final = re.compile(r"^(\d{2})(\d{2})?(\d{2})?")


def started(date: str, time: str, offset: str = "+07:00") -> str | None:
    """A FHIR dateTime from DICOM DA and TM (the study's own zone, Viet Nam time when none is given)."""
    d = _DA.match(date)
    if d is None:
        return None
    day = f"{d[1]}-{d[2]}-{d[3]}"
    t = _TM.match(time)
    if t is None:
        return day
    return f"{day}T{t[1]}:{t[2] or '00'}:{t[3] or '00'}{offset}"


def _coding(modality: str) -> dict[str, str]:
    return {"system": DCM, "code": modality or "OT"}


def imaging_study_resource(tree: StudyTree, subject: dict[str, Any], base_url: str = "") -> dict[str, Any]:
    """The ImagingStudy of ``tree`` about ``subject`` (an R4 Reference)."""
    cols = tree.columns
    res: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": tree.imaging_study_id,
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{tree.uid}"}],
        "status": "available",
        "subject": subject,
    }
    if cols.get("accession_number"):
        res["identifier"].append(
            {
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]
                },
                "value": cols["accession_number"],
            }
        )
    modalities = sorted({s.modality or "OT" for s in tree.series})
    if modalities:
        res["modality"] = [_coding(m) for m in modalities]
    when = started(cols.get("study_date", ""), cols.get("study_time", ""))
    if when:
        res["started"] = when
    res["numberOfSeries"] = len(tree.series)
    res["numberOfInstances"] = tree.instance_count
    if cols.get("study_description"):
        res["description"] = cols["study_description"]
    series_out = []
    for s in tree.series:
        item: dict[str, Any] = {"uid": s.uid, "modality": _coding(s.modality)}
        if s.number is not None and s.number >= 0:
            item["number"] = s.number
        if s.description:
            item["description"] = s.description
        item["numberOfInstances"] = len(s.instances)
        if s.body_part:
            item["bodySite"] = {"display": s.body_part}
        instances = []
        for uid, sop_class, number in s.instances:
            inst: dict[str, Any] = {
                "uid": uid,
                "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{sop_class}"},
            }
            if number is not None and number >= 0:
                inst["number"] = number
            instances.append(inst)
        item["instance"] = instances
        series_out.append(item)
    res["series"] = series_out
    return res
