"""Synthetic DICOM for the imaging tests: small CT- and CR-like images of made-up patients, built with
pydicom (never real data), and an archive on a migrated schema of its own."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import psycopg
import uvicorn
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
PREFIX = "1.2.826.0.1.3680043.10.1047."  # a test root; generate_uid adds a random suffix


@dataclass
class Patient:
    pid: str = "BN-0001"
    name: str = "NGUYEN^VAN AN"
    birth: str = "19700215"
    sex: str = "M"


def image(
    patient: Patient | None = None,
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    modality: str = "CT",
    number: int = 1,
    series_number: int = 1,
    study_date: str = "20260110",
    study_time: str = "083000",
    accession: str = "ACC-1",
    size: int = 32,
    seed: int = 0,
    extra: dict[str, Any] | None = None,
) -> Dataset:
    """A CT (signed 16-bit, HU rescale) or CR (unsigned 12-bit, MONOCHROME1) image with a bright disc."""
    p = patient or Patient()
    ds = Dataset()
    sop_class = CTImageStorage if modality == "CT" else CR_IMAGE_STORAGE
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid(PREFIX)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid(PREFIX)
    ds.SeriesInstanceUID = series_uid or generate_uid(PREFIX)
    ds.PatientID = p.pid
    ds.PatientName = p.name
    ds.PatientBirthDate = p.birth
    ds.PatientSex = p.sex
    ds.PatientAddress = "12 Duong Le Loi, Hue"
    ds.OtherPatientIDs = "CCCD-079070000123"
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    ds.SeriesDate = study_date
    ds.ContentDate = study_date
    ds.AccessionNumber = accession
    ds.StudyID = "S1"
    ds.StudyDescription = "Synthetic chest" if modality == "CR" else "Synthetic head CT"
    ds.ReferringPhysicianName = "TRAN^THI BINH"
    ds.InstitutionName = "Benh vien tinh (synthetic)"
    ds.StationName = "CT-01"
    ds.DeviceSerialNumber = "SN-12345"
    ds.OperatorsName = "LE^VAN CUONG"
    ds.Modality = modality
    ds.SeriesNumber = series_number
    ds.SeriesDescription = f"{modality} series {series_number}"
    ds.BodyPartExamined = "CHEST" if modality == "CR" else "HEAD"
    ds.InstanceNumber = number
    ds.FrameOfReferenceUID = generate_uid(PREFIX)
    ds.add_new(0x00091010, "LO", "private vendor data")  # a private attribute
    ds.add_new(0x00090010, "LO", "ACME 1.0")  # its private creator
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - size / 2) ** 2 + (xx - size / 2 - seed) ** 2) < (size / 4) ** 2
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.BitsAllocated = 16
    if modality == "CT":
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
        pixels = np.where(disc, 1024 + 60, 1024 - 1000).astype(np.int16)  # 60 HU in air
    else:
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
        pixels = np.where(disc, 3000, 500).astype(np.uint16)
    ds.PixelData = pixels.tobytes()
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    return ds


def part10(ds: Dataset) -> bytes:
    """``ds`` as a Part 10 file (preamble, file meta, data set)."""
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def study(
    patient: Patient | None = None, *, series: int = 1, per_series: int = 2, modality: str = "CT", **kw: Any
) -> list[Dataset]:
    """The instances of one study: ``series`` series of ``per_series`` images."""
    study_uid = generate_uid(PREFIX)
    out = []
    for s in range(series):
        series_uid = generate_uid(PREFIX)
        for n in range(per_series):
            out.append(
                image(
                    patient,
                    study_uid=study_uid,
                    series_uid=series_uid,
                    modality=modality,
                    number=n + 1,
                    series_number=s + 1,
                    seed=n,
                    **kw,
                )
            )
    return out


def dataset_bytes(data: bytes) -> bytes:
    """The data set of a Part 10 file: what follows its file meta information group."""
    assert data[128:132] == b"DICM"
    group_length = int.from_bytes(data[140:144], "little")  # (0002,0000) UL, explicit VR: 12 bytes header
    return data[144 + group_length :]


def iter_multipart(body: bytes, content_type: str) -> Iterator[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/related body, parsed by the standard library's e-mail parser (not the
    archive's own parser): (headers, content)."""
    from email import message_from_bytes
    from email.policy import HTTP

    message = message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body, policy=HTTP)
    assert message.is_multipart()
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        yield {k.lower(): str(v) for k, v in part.items()}, payload


# -- the assembled platform on loopback, with the DICOMweb routes ----------------------------------------

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Live:
    """An ASGI app under uvicorn on loopback, with the process's pool, on one event loop in a thread;
    ``run(coro)`` runs a coroutine there."""

    def __init__(self, app: Any, database_url: str) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        from senhealth.core import db

        self.loop = asyncio.get_running_loop()
        await db.open_pool(self.database_url, max_size=8)
        try:
            await self.server.serve()
        finally:
            await db.close_pool()

    def __enter__(self) -> Live:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the platform did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


@dataclass
class Platform:
    """The running platform: its URL, settings, bearer headers by caller, SQL on its schema."""

    live: Live
    url: str
    settings: Any
    config: Any
    tokens: dict[str, dict[str, str]]
    patients: dict[str, str]

    @property
    def dicomweb(self) -> str:
        return self.url + "/dicomweb"

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def client(self, who: str = "system") -> Any:
        from dicomweb_client.api import DICOMwebClient

        return DICOMwebClient(url=self.dicomweb, headers=self.tokens[who])

    def get(self, who: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**self.tokens.get(who, {}), **kw.pop("headers", {})}
        return httpx.get(self.url + path, headers=headers, timeout=60, **kw)

    def wait_audit(self, where: str, *params: Any, timeout: float = 10.0) -> list[tuple[Any, ...]]:
        """Audit rows matching ``where`` (read records are written a moment after the answer)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.sql(
                f"SELECT action, res_id, patients, details, principal_subject FROM audit_event WHERE {where}",
                *params,
            )
            if rows or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


@contextlib.contextmanager
def platform(database_url: str, data_dir: Path, **imaging: Any) -> Iterator[Platform]:
    """The platform (``build_app``: sign-in required, role policy, audit) with the DICOMweb router, on a
    schema of its own; callers: ``system`` (system/*.cruds), ``doctor`` (a doctor of bv1), ``citizen``
    (the patient ``Patient/pa``'s own account), ``other`` (another citizen)."""
    from senhealth.api.dicomweb import dicomweb_router
    from senhealth.app import build_app
    from senhealth.checkup.assessment.hook import uninstall_assessment
    from senhealth.cli_token import mint_user_token
    from senhealth.core.config import Settings
    from senhealth.core.migrate import migrate
    from senhealth.fhir import access, subscriptions
    from senhealth.fhir.operations.registry import all_operations, unregister
    from senhealth.imaging.config import configure, get_config
    from senhealth.mpi.operations import unregister_mpi_operations
    from senhealth.security import accounts
    from senhealth.security.directory import user_info
    from senhealth.security.oauth.config import OAuthConfig
    from senhealth.security.oauth.tokens import TokenService
    from senhealth.surveillance.cases.hook import uninstall_case_detection

    schema = f"test_imaging_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    migrate(url)
    settings = Settings(database_url=url, data_dir=data_dir, auth_required=True)
    saved = get_config().model_dump()
    config = configure(storage_dir=data_dir / "imaging", **imaging)
    operations_before = {op.name for op in all_operations()}
    oauth = OAuthConfig.from_settings(settings)
    service = TokenService.from_config(oauth)
    try:
        app = build_app(settings)
        app.include_router(dicomweb_router())
        with Live(app, url) as live:
            # dicomweb-client sends ``Host`` without the port: the URLs in answers are the configured ones
            configure(public_url=live.url + "/dicomweb")
            system = service.mint(
                service.access_claims(client_id="pacs-test", scope="system/*.cruds", user=None)
            )
            tokens = {"system": {"Authorization": f"Bearer {system}"}}
            users = {
                "doctor": ("bs.bv1", ["doctor"], {"facility": "Organization/bv1"}),
                "citizen": ("benh.nhan.pa", ["patient"], {"patient": "Patient/pa"}),
                "other": ("benh.nhan.pb", ["patient"], {"patient": "Patient/pb"}),
            }
            for key, (name, roles, kw) in users.items():
                user = live.run(accounts.create_user(name, "mat-khau-dai-123", roles, **kw))
                tokens[key] = {"Authorization": f"Bearer {mint_user_token(user_info(user), config=oauth)}"}
            yield Platform(live, live.url, settings, config, tokens, {})
    finally:
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)
        subscriptions.uninstall()
        uninstall_assessment()
        uninstall_case_detection()
        unregister_mpi_operations()
        configure(**saved)
        for op in list(all_operations()):
            if op.name not in operations_before:
                unregister(op.name)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
