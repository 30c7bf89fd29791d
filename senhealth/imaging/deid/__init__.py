"""De-identification for research (DICOM PS3.15 Annex E, the basic profile): :func:`deidentify` on one data
set, :func:`export_research` for stored studies. docs/imaging-dicom.md."""

from __future__ import annotations

from senhealth.imaging.deid.export import ExportReport, export_research
from senhealth.imaging.deid.profile import METHOD, basic_profile, deidentify, pseudonym, replace_uid

__all__ = [
    "METHOD",
    "ExportReport",
    "basic_profile",
    "deidentify",
    "export_research",
    "pseudonym",
    "replace_uid",
]
