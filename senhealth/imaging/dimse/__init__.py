"""The DICOM listener (AE title ``SENHEALTH``): C-ECHO, C-STORE, C-FIND and C-MOVE with pynetdicom.

Spec: DIMSE services PS3.7 https://dicom.nema.org/medical/dicom/current/output/chtml/part07/PS3.7.html;
Verification, Storage and Query/Retrieve service classes PS3.4 Annexes A, B and C
https://dicom.nema.org/medical/dicom/current/output/chtml/part04/PS3.4.html (Study Root and Patient Root
information models, at the STUDY, SERIES and IMAGE levels); pynetdicom
https://pydicom.github.io/pynetdicom/stable/ does the network protocol.

``senhealth serve --dicom-port N`` starts it through :func:`start_dicom_listener` (0: no listener). The
listener runs its own asyncio loop in a thread, with its own database pool (pynetdicom answers each
association in a thread of its own, and hands the archive's coroutines to that loop), so it does not
share the web server's loop. C-STORE writes into the same archive as STOW-RS
(:func:`senhealth.imaging.storage.ingest`); ``on_study_stored`` hooks run once per study when the
association ends. Who may do what: :mod:`senhealth.imaging.config` (``known_aes``, ``always_allow_*``).
"""

from __future__ import annotations

from senhealth.imaging.dimse.listener import DicomListener, start_dicom_listener

__all__ = ["DicomListener", "start_dicom_listener"]
