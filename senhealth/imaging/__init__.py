"""Imaging: the DICOM archive, DICOMweb, the DICOM listener, research de-identification, the AI model
registry, inference and radiologist review (issue 10; docs/imaging-dicom.md).

- :mod:`senhealth.imaging.storage`: one Part 10 file per SOP instance (file system), the index in
  PostgreSQL (migration ``0022_imaging.sql``), the FHIR ImagingStudy kept in step and linked to the Patient,
  and the hook other parts use to hear of new studies::

      from senhealth.imaging.storage import StudyStored, on_study_stored

      async def queue_models(conn, event: StudyStored) -> None:   # inside the store's transaction
          ...                                                     # e.g. senhealth.core.queue.enqueue(...)

      remove = on_study_stored(queue_models)

- :mod:`senhealth.imaging.dicomweb` with the routes :mod:`senhealth.api.dicomweb` (``/dicomweb``:
  STOW-RS, QIDO-RS, WADO-RS with rendered frames);
- :mod:`senhealth.imaging.dimse`: ``start_dicom_listener(settings, port)`` (AE ``SENHEALTH``: C-ECHO,
  C-STORE, C-FIND, C-MOVE);
- :mod:`senhealth.imaging.deid`: the PS3.15 Annex E basic profile and the research export;
- :mod:`senhealth.imaging.config`: the ``SENHEALTH_IMAGING_*`` settings;
- the AI model registry and inference: :mod:`senhealth.imaging.models`, :mod:`senhealth.imaging.inference`.
"""
