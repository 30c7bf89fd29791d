"""The DICOM listener with a pynetdicom SCU: C-ECHO, C-STORE into the archive (then back through WADO-RS
byte for byte), C-FIND at the study, series and image levels, C-MOVE to a known AE, the per-AE
permissions, the ``on_study_stored`` hook once per association, and the audit of each service."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from imaging_support import Live, Patient, dataset_bytes, free_port, iter_multipart, part10, study
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.presentation import StoragePresentationContexts

from senhealth.api.dicomweb import dicomweb_router
from senhealth.api.fhir.errors import install_error_handlers
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.fhir import access
from senhealth.fhir.store import FhirStore
from senhealth.imaging.config import ImagingConfig, configure, get_config
from senhealth.imaging.dimse import DicomListener, start_dicom_listener
from senhealth.imaging.storage import StudyStored, on_study_stored
from senhealth.security.audit import PostgresAuditSink

VERIFICATION = "1.2.840.10008.1.1"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
PATIENT = Patient("BN-DIMSE-1", "PHAM^MINH KHOA", "19600101", "M")


@dataclass
class Receiver:
    """A storage SCP (the C-MOVE destination ``VIEWER``): keeps what it receives."""

    port: int = field(default_factory=free_port)
    received: dict[str, bytes] = field(default_factory=dict)
    server: Any = None

    def start(self) -> None:
        ae = AE(ae_title="VIEWER")
        ae.supported_contexts = StoragePresentationContexts

        def on_store(event: Any) -> int:
            self.received[event.request.AffectedSOPInstanceUID] = event.encoded_dataset(include_meta=False)
            return 0x0000

        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
        )


@dataclass
class World:
    listener: DicomListener
    port: int
    http: str
    receiver: Receiver
    url: str
    events: list[StudyStored]

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    schema = f"test_dimse_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    data_dir: Path = tmp_path_factory.mktemp("dimse")
    saved = get_config().model_dump()
    events: list[StudyStored] = []

    async def hook(conn: Any, event: StudyStored) -> None:
        events.append(event)

    remove = on_study_stored(hook)
    receiver = Receiver()
    receiver.start()
    try:
        migrate(url)
        access.install(sink=PostgresAuditSink())
        settings = Settings(database_url=url, data_dir=data_dir)
        config = ImagingConfig(
            storage_dir=data_dir / "imaging",
            known_aes={
                "VIEWER": {"host": "127.0.0.1", "port": receiver.port},
                "RIS": {"host": "127.0.0.1", "port": 9},
            },
        )
        configure(**config.model_dump())
        app = FastAPI()
        app.state.settings = settings
        app.state.fhir_store = FhirStore()
        install_error_handlers(app)
        app.include_router(dicomweb_router(config))
        port = free_port()
        listener = start_dicom_listener(settings, port, config=config)
        assert listener is not None
        try:
            with Live(app, url) as live:
                yield World(listener, port, live.url, receiver, url, events)
        finally:
            listener.stop()
    finally:
        remove()
        receiver.server.shutdown()
        configure(**saved)
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _assoc(w: World, ae_title: str = "MODALITY", contexts: list[str] | None = None) -> Any:
    ae = AE(ae_title=ae_title)
    if contexts is None:
        # the modality proposes the transfer syntax its files are in (Explicit VR Little Endian)
        for cx in StoragePresentationContexts[:120]:
            ae.add_requested_context(cx.abstract_syntax, ExplicitVRLittleEndian)
        ae.add_requested_context(VERIFICATION)
    else:
        for cx in contexts:
            ae.add_requested_context(cx)
    assoc = ae.associate("127.0.0.1", w.port, ae_title="SENHEALTH")
    assert assoc.is_established
    return assoc


def test_start_with_port_zero_is_off(tmp_path: Path) -> None:
    assert start_dicom_listener(Settings(data_dir=tmp_path), 0) is None


def test_c_echo(world: World) -> None:
    assoc = _assoc(world)
    try:
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def test_c_store_then_wado_rs_bit_identical(world: World, tmp_path: Path) -> None:
    datasets = study(PATIENT, series=1, per_series=2)
    files = {}
    for ds in datasets:
        path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
        path.write_bytes(part10(ds))
        files[ds.SOPInstanceUID] = path
    before = len(world.events)
    assoc = _assoc(world)
    try:
        for path in files.values():
            assert assoc.send_c_store(path).Status == 0x0000  # sent from the file, not re-encoded
    finally:
        assoc.release()
    uid, series_uid = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID
    # the hook: once for the association's study, with both instances
    deadline = time.monotonic() + 10
    while len(world.events) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    (event,) = world.events[before:]
    assert (event.study_uid, event.source, set(event.instances)) == (uid, "C-STORE", set(files))
    # WADO-RS, as stored: the data set the SCU sent, byte for byte, in the file the archive keeps
    r = httpx.get(
        f"{world.http}/dicomweb/studies/{uid}/series/{series_uid}",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
    )
    assert r.status_code == 200
    parts = [data for _, data in iter_multipart(r.content, r.headers["content-type"])]
    assert len(parts) == 2
    for data in parts:
        sop = dcmread(io.BytesIO(data)).SOPInstanceUID
        original = files[sop].read_bytes()
        assert dataset_bytes(data) == dataset_bytes(original)
        stored = (world.listener.config.storage_dir or Path()) / uid / series_uid / f"{sop}.dcm"
        assert stored.read_bytes() == data
    # the ImagingStudy, and the audit of the C-STORE under the calling AE
    rows = world.sql(
        "SELECT content->>'numberOfInstances' FROM fhir_resource WHERE res_type = 'ImagingStudy' AND res_id = %s",
        uid,
    )
    assert rows == [("2",)]
    audit = world.sql(
        "SELECT principal_subject, details->>'dicom' FROM audit_event WHERE res_id = %s AND action IN ('create', 'update')",
        uid,
    )
    assert audit and all(a == ("dicom-ae:MODALITY", "C-STORE") for a in audit)


def _find(w: World, identifier: Dataset, ae_title: str = "VIEWER") -> tuple[list[Dataset], int]:
    assoc = _assoc(w, ae_title, [STUDY_FIND])
    found, last = [], -1
    try:
        for status, ds in assoc.send_c_find(identifier, STUDY_FIND):
            last = status.Status
            if status.Status == 0xFF00:
                found.append(ds)
    finally:
        assoc.release()
    return found, last


def test_c_find_levels_and_matching(world: World) -> None:
    datasets = study(PATIENT, series=2, per_series=2, study_date="20260301")
    assoc = _assoc(world)
    try:
        for ds in datasets:
            assert assoc.send_c_store(ds).Status == 0x0000
    finally:
        assoc.release()
    uid = datasets[0].StudyInstanceUID
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.PatientID = "BN-DIMSE-*"
    q.PatientName = ""
    q.StudyInstanceUID = ""
    q.StudyDate = "20260201-20260331"
    q.NumberOfStudyRelatedInstances = ""
    found, last = _find(world, q)
    assert last == 0x0000
    assert [str(f.StudyInstanceUID) for f in found] == [uid]
    assert str(found[0].PatientName) == "PHAM^MINH KHOA" and found[0].NumberOfStudyRelatedInstances == 4
    assert "AccessionNumber" not in found[0]  # only the keys asked for
    q = Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.StudyInstanceUID = uid
    q.SeriesInstanceUID = ""
    q.Modality = "CT"
    q.NumberOfSeriesRelatedInstances = ""
    found, _ = _find(world, q)
    assert sorted(str(f.SeriesInstanceUID) for f in found) == sorted({d.SeriesInstanceUID for d in datasets})
    q = Dataset()
    q.QueryRetrieveLevel = "IMAGE"
    q.StudyInstanceUID = uid
    q.SeriesInstanceUID = datasets[0].SeriesInstanceUID
    q.SOPInstanceUID = ""
    q.InstanceNumber = "2"
    found, _ = _find(world, q)
    assert [str(f.SOPInstanceUID) for f in found] == [datasets[1].SOPInstanceUID]
    # an AE not configured may not query (always_allow_find is off)
    found, last = _find(world, q, ae_title="STRANGER")
    assert found == [] and last == 0x0124
    searches = world.sql(
        "SELECT principal_subject FROM audit_event WHERE action = 'search' AND details->>'dicom' = 'C-FIND'"
    )
    assert ("dicom-ae:VIEWER",) in searches


def test_c_move_to_a_known_ae(world: World) -> None:
    datasets = study(PATIENT, series=1, per_series=3)
    assoc = _assoc(world)
    try:
        for ds in datasets:
            assert assoc.send_c_store(ds).Status == 0x0000
    finally:
        assoc.release()
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = datasets[0].StudyInstanceUID
    assoc = _assoc(world, "VIEWER", [STUDY_MOVE])
    try:
        statuses = [s.Status for s, _ in assoc.send_c_move(q, "VIEWER", STUDY_MOVE)]
        unknown = [s.Status for s, _ in assoc.send_c_move(q, "NOWHERE", STUDY_MOVE)]
    finally:
        assoc.release()
    assert statuses[-1] == 0x0000
    assert unknown[-1] == 0xA801
    for ds in datasets:
        assert world.receiver.received[ds.SOPInstanceUID] == dataset_bytes(part10(ds))
    moved = world.sql(
        "SELECT details->>'destination', (details->>'instances')::int FROM audit_event WHERE details->>'dicom' = 'C-MOVE' AND res_id = %s",
        datasets[0].StudyInstanceUID,
    )
    assert ("VIEWER", 3) in moved


def test_a_store_the_listener_cannot_read_is_refused(world: World) -> None:
    ds = study(PATIENT, per_series=1)[0]
    del ds.StudyInstanceUID
    assoc = _assoc(world)
    try:
        status = assoc.send_c_store(ds).Status
    finally:
        assoc.release()
    assert status == 0xA900
