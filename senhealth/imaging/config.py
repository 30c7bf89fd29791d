"""Settings of the imaging archive (``SENHEALTH_IMAGING_*`` environment variables).

Spec: DICOM PS3.8 (application entities: AE titles of 16 characters) https://dicom.nema.org/medical/dicom/current/output/chtml/part08/chapter_7.html;
the per-peer permissions follow Orthanc's (``DicomAlwaysAllowEcho``, ``DicomAlwaysAllowStore`` on, find and
move only for known peers) https://orthanc.uclouvain.be/book/users/configuration.html.

Its own pydantic-settings class, beside :class:`senhealth.core.config.Settings`, as the video rooms' and the
subscriptions': this subsystem's knobs live with it. :func:`get_config` is cached per process;
:func:`configure` replaces values (tests, the app at start-up). docs/imaging-dicom.md.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ImagingConfig", "KnownAE", "configure", "get_config", "storage_dir"]


class KnownAE(BaseModel):
    """A DICOM peer (modality, archive, workstation): where C-MOVE sends to, and what it may ask."""

    host: str
    port: int = Field(ge=1, le=65535)
    allow_find: bool = True
    allow_move: bool = True
    allow_store: bool = True


class ImagingConfig(BaseSettings):
    """Storage, patient matching and the DICOM listener; each value has an environment variable
    ``SENHEALTH_IMAGING_<NAME>`` (dictionaries as JSON)."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_IMAGING_", extra="ignore")

    storage_dir: Path | None = Field(
        default=None, description="Where DICOM files are kept (default: <data_dir>/imaging)."
    )
    storage_backend: Literal["filesystem"] = Field(
        default="filesystem",
        description="Only the file system is built in; an S3-compatible store plugs in through "
        "senhealth.imaging.storage.files.BlobStore (docs/imaging-dicom.md).",
    )
    patient_id_system: str | None = Field(
        default=None,
        description="The identifier system DICOM PatientIDs belong to (a hospital's record numbers); "
        "None: a Patient whose identifier of any system has the PatientID's value.",
    )
    issuer_systems: dict[str, str] = Field(
        default_factory=dict,
        description='IssuerOfPatientID (0010,0021) → identifier system, e.g. {"BVT": "https://bv-tinh.vn/mrn"}.',
    )
    create_patients: bool = Field(
        default=True,
        description="Create a Patient from the DICOM demographics when no Patient matches (the patient "
        "index links it later); off: the ImagingStudy names the patient by identifier only.",
    )
    ae_title: str = Field(default="SENHEALTH", max_length=16, description="The listener's AE title.")
    known_aes: dict[str, KnownAE] = Field(
        default_factory=dict,
        description='Peers by AE title: {"ORTHANC": {"host": "10.0.0.5", "port": 4242}}; C-MOVE '
        "destinations must be among them.",
    )
    always_allow_echo: bool = Field(default=True, description="C-ECHO from any calling AE.")
    always_allow_store: bool = Field(default=True, description="C-STORE from any calling AE.")
    always_allow_find: bool = Field(default=False, description="C-FIND from any calling AE.")
    always_allow_move: bool = Field(default=False, description="C-MOVE asked by any calling AE.")
    public_url: str | None = Field(
        default=None,
        description="The DICOMweb base URL written in responses (RetrieveURL, BulkDataURI), e.g. "
        "https://pacs.bv-tinh.vn/dicomweb; default: the request's own scheme, Host and /dicomweb.",
    )
    max_stow_bytes: int = Field(
        default=2 * 1024**3, ge=1024, description="Largest STOW-RS request body (bytes); 413 beyond."
    )
    dimse_timeout_s: float = Field(default=30.0, gt=0, description="DIMSE and network timeouts (s).")


@cache
def get_config() -> ImagingConfig:
    """The process's imaging settings (from the environment, once)."""
    return ImagingConfig()


def configure(**values: Any) -> ImagingConfig:
    """Replace settings in this process (validated); returns the new configuration."""
    current = get_config()
    updated = ImagingConfig.model_validate({**current.model_dump(), **values})
    for name in ImagingConfig.model_fields:
        setattr(current, name, getattr(updated, name))
    return current


def storage_dir(config: ImagingConfig, data_dir: Path) -> Path:
    """The directory of the DICOM files: the configured one, else ``<data_dir>/imaging``."""
    return config.storage_dir if config.storage_dir is not None else data_dir / "imaging"
