"""De-identification by the PS3.15 Annex E basic profile: every attribute the profile lists is removed,
emptied, replaced or re-identified as it says; UIDs stay consistent within an export; the research export
writes de-identified files of stored studies and leaves burned-in annotation out."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path

import psycopg
import pytest
from imaging_support import Patient, image, part10, study
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pydicom import dcmread
from pydicom.dataset import Dataset

from senhealth.core import db
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.imaging.config import ImagingConfig
from senhealth.imaging.deid import basic_profile, deidentify, export_research, pseudonym
from senhealth.imaging.storage import FileStore, ingest

KEY = b"khoa-nghien-cuu-thu-nghiem-32byte"
IDENTIFYING = {
    "PatientName": "NGUYEN^VAN AN",
    "PatientID": "BN-0001",
    "PatientBirthDate": "19700215",
    "PatientAddress": "12 Duong Le Loi, Hue",
    "OtherPatientIDs": "CCCD-079070000123",
    "InstitutionName": "Benh vien tinh (synthetic)",
    "ReferringPhysicianName": "TRAN^THI BINH",
    "OperatorsName": "LE^VAN CUONG",
    "AccessionNumber": "ACC-1",
    "DeviceSerialNumber": "SN-12345",
    "StationName": "CT-01",
}


def _source() -> Dataset:
    ds = image(Patient())
    ds.StudyComments = "patient called back"  # X in the profile
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.10.1047.999"
    ds.ReferencedImageSequence = [ref]  # X/Z/U*: kept, its UIDs replaced
    return ds


def test_the_profile_table_is_the_standards() -> None:
    profile = basic_profile()
    assert len(profile) > 600
    # a few rows of PS3.15 Table E.1-1, checked by hand
    assert profile["00100010"] == "Z"  # Patient's Name
    assert profile["00100020"] == "Z/D"  # Patient ID
    assert profile["00101040"] == "X"  # Patient's Address
    assert profile["0020000D"] == "U"  # Study Instance UID
    assert profile["00080050"] == "Z"  # Accession Number
    assert profile["00081140"] == "X/Z/U*"  # Referenced Image Sequence


def test_every_listed_attribute_is_handled_as_the_profile_says() -> None:
    ds = _source()
    before = {kw: str(ds.data_element(kw).value) for kw in IDENTIFYING}
    out = deidentify(ds, KEY)
    profile = basic_profile()
    assert str(ds.PatientName) == "NGUYEN^VAN AN"  # the original is untouched
    for element in ds:
        tag = f"{int(element.tag):08X}"
        action = profile.get(tag)
        if element.tag.is_private:
            assert element.tag not in out
            continue
        if action is None or action == "K":
            continue
        if action == "X":
            assert element.tag not in out, element.keyword
        elif action in ("Z", "X/Z"):
            assert out[element.tag].value in ("", None) or not out[element.tag].value, element.keyword
        elif action in ("D", "X/D", "X/Z/D", "Z/D"):
            assert out[element.tag].value != element.value, element.keyword
        elif action == "U":
            assert str(out[element.tag].value).startswith("2.25."), element.keyword
            assert out[element.tag].value != element.value
    # nothing that identified the patient is left anywhere in the file
    text = part10(out)
    for value in before.values():
        for word in value.replace("^", " ").split():
            if len(word) > 3:
                assert word.encode() not in text, word
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert out.PatientID == pseudonym(KEY, "BN-0001") and str(out.PatientName) == ""
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID.startswith("2.25.")
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.PixelData == ds.PixelData  # pixels kept
    assert 0x00091010 not in out and "StudyComments" not in out


def test_uids_stay_consistent_within_an_export_and_differ_between_keys() -> None:
    a, b = study(Patient(), per_series=2)
    da, db_ = deidentify(a, KEY), deidentify(b, KEY)
    assert da.StudyInstanceUID == db_.StudyInstanceUID != a.StudyInstanceUID
    assert da.SeriesInstanceUID == db_.SeriesInstanceUID
    assert da.SOPInstanceUID != db_.SOPInstanceUID
    other = deidentify(a, b"another-key-for-another-export")
    assert other.StudyInstanceUID != da.StudyInstanceUID and other.PatientID != da.PatientID


def test_research_export_of_stored_studies(database_url: str, tmp_path: Path) -> None:
    schema = f"test_deid_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    try:
        migrate(url)
        clean = study(Patient(), per_series=2)
        burned = image(Patient(), study_uid=clean[0].StudyInstanceUID, extra={"BurnedInAnnotation": "YES"})

        async def main() -> None:
            await db.open_pool(url, max_size=4)
            try:
                store, blobs = FhirStore(), FileStore(tmp_path / "archive")
                result = await ingest(
                    store,
                    blobs,
                    ImagingConfig(),
                    [part10(d) for d in [*clean, burned]],
                    source="STOW-RS",
                    principal=None,
                )
                assert not result.failed
                report = await export_research(
                    store, blobs, [clean[0].StudyInstanceUID, "1.2.3.999"], tmp_path / "out", KEY
                )
                assert report.studies == 1 and report.missing == ["1.2.3.999"]
                assert report.burned_in == [burned.SOPInstanceUID]
                assert len(report.written) == 2
                for path in report.written:
                    ds = dcmread(path)
                    assert ds.PatientIdentityRemoved == "YES" and "PatientAddress" not in ds
                    assert ds.StudyInstanceUID.startswith("2.25.")
                    assert path.parts[-3] == ds.StudyInstanceUID
                    assert dcmread(io.BytesIO(path.read_bytes())).SOPInstanceUID == ds.SOPInstanceUID
                with pytest.raises(ValueError):
                    await export_research(store, blobs, [], tmp_path / "x", b"short")
            finally:
                await db.close_pool()

        asyncio.run(main())
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
