"""DICOMweb (STOW-RS, QIDO-RS, WADO-RS) on the assembled platform, with ``dicomweb-client`` as the client
against a live server on loopback: storing, the ImagingStudy kept in step and linked to the Patient, the
matching rules, retrieval byte for byte, metadata, frames, bulk data, rendered images, access and audit.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from imaging_support import Patient, Platform, image, iter_multipart, part10, platform, study
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from requests.exceptions import HTTPError

from senhealth.imaging.storage import StudyStored, on_study_stored

FHIR_JSON = {"Content-Type": "application/fhir+json"}
PA = Patient("BN-0001", "NGUYEN^VAN AN", "19700215", "M")
PB = Patient("BN-0002", "TRAN^THI BICH", "19851102", "F")


@pytest.fixture(scope="module")
def plat(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with platform(database_url, tmp_path_factory.mktemp("dicomweb")) as p:
        for pid, mrn in (("pa", PA.pid), ("pb", PB.pid)):
            patient = {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [{"system": "https://bv1.example.vn/fhir/sid/mrn", "value": mrn}],
                "managingOrganization": {"reference": "Organization/bv1"},
            }
            r = httpx.put(
                f"{p.url}/fhir/Patient/{pid}",
                content=orjson.dumps(patient),
                headers={**FHIR_JSON, **p.tokens["system"]},
            )
            assert r.status_code in (200, 201), r.text
        yield p


@pytest.fixture
def events() -> Iterator[list[StudyStored]]:
    got: list[StudyStored] = []

    async def hook(conn: Any, event: StudyStored) -> None:
        got.append(event)

    remove = on_study_stored(hook)
    yield got
    remove()


def _stow_files(p: Platform, files: list[bytes]) -> httpx.Response:
    """STOW-RS of Part 10 files as they are (not re-encoded by a client library)."""
    boundary = "b0undary-42"
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + f + b"\r\n" for f in files
        )
        + f"--{boundary}--\r\n".encode()
    )
    headers = {
        **p.tokens["system"],
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": "application/dicom+json",
    }
    return httpx.post(p.dicomweb + "/studies", content=body, headers=headers, timeout=60)


def _store(p: Platform, datasets: list[Dataset], who: str = "system") -> Dataset:
    result: Dataset = p.client(who).store_instances(datasets)
    return result


def test_stow_stores_links_the_patient_and_keeps_the_imaging_study(
    plat: Platform, events: list[StudyStored]
) -> None:
    datasets = study(PA, series=2, per_series=2)
    uid = datasets[0].StudyInstanceUID
    result = _store(plat, datasets)
    assert sorted(i.ReferencedSOPInstanceUID for i in result.ReferencedSOPSequence) == sorted(
        d.SOPInstanceUID for d in datasets
    )
    assert "FailedSOPSequence" not in result
    assert result.RetrieveURL.endswith(f"/dicomweb/studies/{uid}")
    # the hook: once for the study, with its four instances
    assert [(e.study_uid, e.patient, len(e.instances), e.source, e.modalities) for e in events] == [
        (uid, "pa", 4, "STOW-RS", ("CT",))
    ]
    r = plat.get("system", f"/fhir/ImagingStudy/{uid}")
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["subject"]["reference"] == "Patient/pa"
    assert res["identifier"][0] == {"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}
    assert (res["numberOfSeries"], res["numberOfInstances"]) == (2, 4)
    assert res["modality"] == [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}]
    assert res["started"] == "2026-01-10T08:30:00+07:00"
    assert {i["uid"] for s in res["series"] for i in s["instance"]} == {d.SOPInstanceUID for d in datasets}
    # found through the patient's compartment too
    r = plat.get("system", "/fhir/ImagingStudy", params={"subject": "Patient/pa"})
    assert uid in {e["resource"]["id"] for e in r.json().get("entry", [])}
    # one more series later: the same ImagingStudy, updated
    more = image(PA, study_uid=uid, series_number=3, modality="CT")
    _store(plat, [more])
    res2 = plat.get("system", f"/fhir/ImagingStudy/{uid}").json()
    assert (res2["numberOfSeries"], res2["numberOfInstances"]) == (3, 5)
    assert int(res2["meta"]["versionId"]) == int(res["meta"]["versionId"]) + 1
    audit = plat.wait_audit(
        "res_type = 'ImagingStudy' AND res_id = %s AND action IN ('create', 'update')", uid
    )
    assert sorted(a[0] for a in audit) == ["create", "update"]
    assert all(a[2] == ["pa"] and a[3]["dicom"] == "STOW-RS" for a in audit)


def test_an_unknown_patient_id_makes_one_patient(plat: Platform) -> None:
    stranger = Patient("NEW-777", "LE^VAN DUNG", "20010304", "M")
    first, second = study(stranger, per_series=1), study(stranger, per_series=1)
    _store(plat, first)
    _store(plat, second)
    subjects = {
        plat.get("system", f"/fhir/ImagingStudy/{s[0].StudyInstanceUID}").json()["subject"]["reference"]
        for s in (first, second)
    }
    assert len(subjects) == 1
    patient = plat.get("system", f"/fhir/{subjects.pop()}").json()
    assert patient["identifier"][0]["value"] == "NEW-777"
    assert patient["name"][0] == {"text": "LE VAN DUNG", "family": "LE", "given": ["VAN", "DUNG"]}
    assert (patient["gender"], patient["birthDate"]) == ("male", "2001-03-04")


def _uids(found: list[dict[str, Any]], tag: str = "0020000D") -> set[str]:
    return {f[tag]["Value"][0] for f in found}


def test_qido_matching(plat: Platform) -> None:
    c = plat.client()
    chest = study(PB, modality="CR", per_series=1, study_date="20250301", accession="ACC-CR-9")
    head = study(PB, per_series=3, study_date="20250615", study_time="141500", accession="ACC-CT-9")
    _store(plat, chest + head)
    cr_uid, ct_uid = chest[0].StudyInstanceUID, head[0].StudyInstanceUID
    # exact and wildcard, names case-insensitive, fuzzy on any word
    assert _uids(c.search_for_studies(search_filters={"PatientID": "BN-0002"})) == {cr_uid, ct_uid}
    assert _uids(c.search_for_studies(search_filters={"PatientID": "BN-000?"})) >= {cr_uid, ct_uid}
    assert _uids(c.search_for_studies(search_filters={"PatientName": "tran^thi*"})) == {cr_uid, ct_uid}
    assert c.search_for_studies(search_filters={"PatientName": "BICH"}) == []
    assert _uids(c.search_for_studies(search_filters={"PatientName": "BICH"}, fuzzymatching=True)) == {
        cr_uid,
        ct_uid,
    }
    assert _uids(c.search_for_studies(search_filters={"AccessionNumber": "ACC-CR-9"})) == {cr_uid}
    # date and time ranges
    assert _uids(c.search_for_studies(search_filters={"StudyDate": "20250101-20250331"})) == {cr_uid}
    assert _uids(c.search_for_studies(search_filters={"StudyDate": "20250601-", "PatientID": "BN-0002"})) == {
        ct_uid
    }
    assert _uids(c.search_for_studies(search_filters={"StudyTime": "1400-1500", "PatientID": "BN-0002"})) == {
        ct_uid
    }
    # modalities in study, list of UIDs, tags instead of keywords
    assert _uids(
        c.search_for_studies(search_filters={"ModalitiesInStudy": "CR", "PatientID": "BN-0002"})
    ) == {cr_uid}
    assert _uids(c.search_for_studies(search_filters={"StudyInstanceUID": f"{cr_uid},{ct_uid}"})) == {
        cr_uid,
        ct_uid,
    }
    assert _uids(c.search_for_studies(search_filters={"00100020": "BN-0002"})) == {cr_uid, ct_uid}
    # the attributes returned: the required ones, computed counts, includefield
    found = c.search_for_studies(
        search_filters={"StudyInstanceUID": ct_uid}, fields=["StudyDescription", "00100030"]
    )
    (one,) = found
    assert one["00201206"]["Value"] == [1] and one["00201208"]["Value"] == [3]
    assert one["00080061"]["Value"] == ["CT"]
    assert one["00081030"]["Value"] == ["Synthetic head CT"] and one["00100030"]["Value"] == ["19851102"]
    assert one["00081190"]["Value"] == [f"{plat.dicomweb}/studies/{ct_uid}"]
    assert "00181000" not in one  # not asked for
    everything = c.search_for_studies(search_filters={"StudyInstanceUID": ct_uid}, fields=["all"])[0]
    assert everything["00101040"]["Value"] == ["12 Duong Le Loi, Hue"]
    # limit and offset page through the matches in a stable order
    all_pb = c.search_for_studies(search_filters={"PatientID": "BN-0002"})
    page1 = c.search_for_studies(search_filters={"PatientID": "BN-0002"}, limit=1, offset=0)
    page2 = c.search_for_studies(search_filters={"PatientID": "BN-0002"}, limit=1, offset=1)
    assert [_uids(page1), _uids(page2)] == [_uids(all_pb[:1]), _uids(all_pb[1:2])]
    assert _uids(page1) != _uids(page2)
    # series and instances
    series = c.search_for_series(ct_uid)
    assert [s["00201209"]["Value"] for s in series] == [[3]]
    assert series[0]["00080060"]["Value"] == ["CT"]
    assert _uids(
        c.search_for_series(search_filters={"Modality": "CR", "PatientID": "BN-0002"}), "0020000E"
    ) == {chest[0].SeriesInstanceUID}
    inst = c.search_for_instances(ct_uid, head[0].SeriesInstanceUID, search_filters={"InstanceNumber": "2"})
    assert _uids(inst, "00080018") == {head[1].SOPInstanceUID}
    assert inst[0]["00280010"]["Value"] == [32]
    cr_inst = c.search_for_instances(
        search_filters={"SOPClassUID": "1.2.840.10008.5.1.4.1.1.1", "PatientID": "BN-0002"}
    )
    assert _uids(cr_inst, "00080018") == {chest[0].SOPInstanceUID}
    # bad queries: 400
    r = plat.get("system", "/dicomweb/studies", params={"NoSuchKeyword": "x"})
    assert r.status_code == 400
    r = plat.get("system", "/dicomweb/studies", params={"limit": "0"})
    assert r.status_code == 400


def _raw_parts(
    p: Platform, path: str, accept: str, who: str = "system"
) -> list[tuple[dict[str, str], bytes]]:
    r = p.get(who, path, headers={"Accept": accept})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("multipart/related")
    return list(iter_multipart(r.content, r.headers["content-type"]))


def test_wado_returns_what_was_stored(plat: Platform) -> None:
    c = plat.client()
    datasets = study(PA, series=1, per_series=3)
    files = {d.SOPInstanceUID: part10(d) for d in datasets}
    assert _stow_files(plat, list(files.values())).status_code == 200
    uid, series_uid = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID
    # the client's retrieval: the same instances, pixel for pixel
    got = c.retrieve_study(uid)
    assert {d.SOPInstanceUID for d in got} == set(files)
    for d in got:
        assert d.PixelData == dcmread(io.BytesIO(files[d.SOPInstanceUID])).PixelData
    # byte for byte, as stored (transfer-syntax=*), at each level
    for path in (f"/dicomweb/studies/{uid}", f"/dicomweb/studies/{uid}/series/{series_uid}"):
        parts = _raw_parts(plat, path, 'multipart/related; type="application/dicom"; transfer-syntax=*')
        assert sorted(data for _, data in parts) == sorted(files.values())
    sop = datasets[1].SOPInstanceUID
    (part,) = _raw_parts(
        plat,
        f"/dicomweb/studies/{uid}/series/{series_uid}/instances/{sop}",
        'multipart/related; type="application/dicom"',
    )
    assert part[1] == files[sop]  # already Explicit VR Little Endian: nothing to convert
    # metadata: bulk data by reference, the reference retrievable
    meta = c.retrieve_series_metadata(uid, series_uid)
    assert len(meta) == 3
    item = next(m for m in meta if m["00080018"]["Value"] == [sop])
    uri = item["7FE00010"]["BulkDataURI"]
    assert uri.endswith(f"/instances/{sop}/bulkdata/7FE00010")
    assert c.retrieve_bulkdata(uri)[0] == datasets[1].PixelData
    assert c.retrieve_instance_frames(uid, series_uid, sop, frame_numbers=[1])[0] == datasets[1].PixelData
    # unknown: 404
    with pytest.raises(HTTPError) as err:
        c.retrieve_study("1.2.3.4.5.6")
    assert err.value.response.status_code == 404


def test_rendered_png_and_jpeg_with_window(plat: Platform) -> None:
    c = plat.client()
    ct = image(PA, modality="CT")
    cr = image(PA, modality="CR")
    _store(plat, [ct])
    _store(plat, [cr])
    png = c.retrieve_instance_rendered(
        ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID, media_types=("image/png",)
    )
    img = np.asarray(Image.open(io.BytesIO(png)))
    assert img.shape == (32, 32)
    # the stored window 40/400: the disc (60 HU) is bright grey, air (-1000 HU) black
    assert img[16, 16] == pytest.approx(255 * (60 - (40 - 0.5)) / 399 + 127.5, abs=2) and img[0, 0] == 0
    narrow = c.retrieve_instance_rendered(
        ct.StudyInstanceUID,
        ct.SeriesInstanceUID,
        ct.SOPInstanceUID,
        media_types=("image/png",),
        params={"window": "60,2"},
    )
    assert np.asarray(Image.open(io.BytesIO(narrow)))[16, 16] >= 127
    url = (
        f"/dicomweb/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
    )
    r = plat.get(
        "system", url + "/frames/1/rendered", params={"viewport": "64,64"}, headers={"Accept": "image/jpeg"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (64, 64)
    assert plat.get("system", url + "/rendered", params={"window": "1,x"}).status_code == 400
    assert plat.get("system", url + "/frames/2/rendered").status_code == 404
    # MONOCHROME1 (CR): shown inverted, the dense disc dark
    cr_png = c.retrieve_instance_rendered(cr.StudyInstanceUID, cr.SeriesInstanceUID, cr.SOPInstanceUID)
    cr_img = np.asarray(Image.open(io.BytesIO(cr_png)))
    assert cr_img[16, 16] < cr_img[0, 0]


def test_stow_failures(plat: Platform) -> None:
    good = image(PA)
    boundary = "b0undary"

    def body(*parts: bytes) -> bytes:
        out = b""
        for part in parts:
            out += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
        return out + f"--{boundary}--\r\n".encode()

    ctype = f'multipart/related; type="application/dicom"; boundary={boundary}'
    headers = {**plat.tokens["system"], "Content-Type": ctype, "Accept": "application/dicom+json"}
    r = httpx.post(plat.dicomweb + "/studies", content=body(b"not dicom at all"), headers=headers)
    assert r.status_code == 409
    assert r.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    r = httpx.post(plat.dicomweb + "/studies", content=body(part10(good), b"junk"), headers=headers)
    assert r.status_code == 202
    assert len(r.json()["00081199"]["Value"]) == 1 and len(r.json()["00081198"]["Value"]) == 1
    other = image(PA)
    r = httpx.post(
        f"{plat.dicomweb}/studies/{good.StudyInstanceUID}", content=body(part10(other)), headers=headers
    )
    assert r.status_code == 409
    failed = r.json()["00081198"]["Value"][0]
    assert failed["00081155"]["Value"] == [other.SOPInstanceUID] and failed["00081197"]["Value"] == [0xA900]
    r = httpx.post(
        plat.dicomweb + "/studies", content=b"{}", headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 415
    assert plat.sql(
        "SELECT count(*) FROM imaging_instance WHERE sop_instance_uid = %s", other.SOPInstanceUID
    ) == [(0,)]


def test_access_follows_the_patient_and_every_access_is_audited(plat: Platform) -> None:
    mine, theirs = study(PA, per_series=1), study(PB, per_series=1)
    _store(plat, mine)
    _store(plat, theirs)
    m, t = mine[0], theirs[0]
    # no token: 401, as the rest of the API
    assert httpx.get(plat.dicomweb + "/studies").status_code == 401
    # a citizen sees their own images only
    citizen = plat.client("citizen")
    seen = _uids(citizen.search_for_studies())
    assert m.StudyInstanceUID in seen and t.StudyInstanceUID not in seen
    assert citizen.retrieve_study(m.StudyInstanceUID)[0].SOPInstanceUID == m.SOPInstanceUID
    with pytest.raises(HTTPError) as err:
        citizen.retrieve_study(t.StudyInstanceUID)
    assert err.value.response.status_code == 404
    with pytest.raises(HTTPError) as err:
        citizen.retrieve_instance_rendered(t.StudyInstanceUID, t.SeriesInstanceUID, t.SOPInstanceUID)
    assert err.value.response.status_code == 404
    # a citizen may not store images
    with pytest.raises(HTTPError) as err:
        _store(plat, study(PA, per_series=1), who="citizen")
    assert err.value.response.status_code == 403
    # a doctor of the facility sees both patients of bv1
    doctor = _uids(plat.client("doctor").search_for_studies(search_filters={"PatientID": "BN-000*"}))
    assert {m.StudyInstanceUID, t.StudyInstanceUID} <= doctor
    # the audit: the citizen's read of their study, the refused read, the searches naming the patients
    reads = plat.wait_audit(
        "action = 'read' AND res_id = %s AND principal_subject IS NOT NULL AND 'patient' = ANY(principal_roles)",
        m.StudyInstanceUID,
    )
    assert reads and reads[0][2] == ["pa"] and reads[0][3]["dicomweb"] == "WADO-RS"
    refused = plat.wait_audit("action = 'read' AND res_id = %s AND status = 404", t.StudyInstanceUID)
    assert refused
    searches = plat.wait_audit(
        "action = 'search' AND res_type = 'ImagingStudy' AND 'patient' = ANY(principal_roles)"
    )
    assert searches and all(set(s[2]) <= {"pa"} for s in searches)
