"""End to end over the real pieces: a study arrives → inference → a preliminary report with its overlay → the
radiologist signs → the final report in the patient's record; every step audited.

The platform as ``senhealth serve`` builds it (sign-in required, the role policy, the audit sink), on
loopback under uvicorn, with the connection of :mod:`senhealth.imaging.platform` installed, the DICOM
listener on a port of its own and a real test PKI (CA, OCSP, timestamp authority on loopback). Two synthetic
chest studies arrive, one by STOW-RS (``dicomweb-client``), one by C-STORE (a pynetdicom SCU); the hook
queues ``imaging.infer`` in the storing transaction; the real job worker (``run_worker``) runs the
demonstration model; the SR and SEG are found through QIDO-RS and WADO-RS; the radiologist reviews through
``DiagnosticReport/$ai-review`` with her own certificate; the final reports are in ``Patient/$everything``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from imaging_e2e_support import (
    FACILITY,
    OTHER_FACILITY,
    PASSWORD,
    PATIENT,
    RADIOLOGIST,
    RADIOLOGIST_NAME,
    RADIOLOGIST_USER,
    TestPki,
    chest,
    make_test_pki,
    resources,
)
from imaging_support import Platform, free_port, part10, platform
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE

from senhealth.fhir.store import FhirStore
from senhealth.imaging.dimse import start_dicom_listener
from senhealth.imaging.models import DEMO_MODEL, enable, register_builtin
from senhealth.imaging.platform import install_imaging, uninstall_imaging
from senhealth.jobs.worker import run_worker

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
DX_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[tuple[Platform, TestPki]]:
    with platform(database_url, tmp_path) as p:
        pki = make_test_pki(tmp_path, p.settings)
        install_imaging(p.settings)
        try:
            yield p, pki
        finally:
            uninstall_imaging()
            pki.close()


def _fhir(p: Platform, who: str, method: str, path: str, **kw: Any) -> httpx.Response:
    headers = {**p.tokens[who], "Content-Type": "application/fhir+json", **kw.pop("headers", {})}
    return httpx.request(method, p.url + "/fhir/" + path, headers=headers, timeout=120, **kw)


def _seed(p: Platform) -> None:
    from senhealth.cli_token import mint_user_token
    from senhealth.security import accounts
    from senhealth.security.directory import user_info
    from senhealth.security.oauth.config import OAuthConfig

    for resource in resources():
        r = _fhir(p, "system", "PUT", f"{resource['resourceType']}/{resource['id']}", json=resource)
        assert r.status_code in (200, 201), r.text
    oauth = OAuthConfig.from_settings(p.settings)
    users = {
        "radiologist": (
            RADIOLOGIST_USER,
            ["doctor"],
            f"Organization/{FACILITY}",
            f"Practitioner/{RADIOLOGIST}",
        ),
        "elsewhere": ("bs.noikhac", ["doctor"], f"Organization/{OTHER_FACILITY}", None),
        "nurse": ("dd.xquang", ["nurse"], f"Organization/{FACILITY}", None),
    }
    for key, (name, roles, facility, practitioner) in users.items():
        user = p.live.run(
            accounts.create_user(
                name,
                PASSWORD,
                roles,
                display_name=RADIOLOGIST_NAME if key == "radiologist" else name,
                facility=facility,
                practitioner=practitioner,
            )
        )
        p.tokens[key] = {"Authorization": f"Bearer {mint_user_token(user_info(user), config=oauth)}"}

    async def models() -> None:
        store = FhirStore()
        await register_builtin(store)
        await enable(store, DEMO_MODEL, FACILITY)

    p.live.run(models())


def _jobs(p: Platform, study_uid: str) -> list[tuple[Any, ...]]:
    return p.sql(
        "SELECT id, status, args FROM procrastinate_jobs WHERE task_name = 'imaging.infer' AND args->>'study' = %s",
        study_uid,
    )


def _c_store(port: int, datasets: list[Any], tmp_path: Path) -> None:
    ae = AE(ae_title="XQUANG-DR")
    ae.add_requested_context(DX_CLASS, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title="SENHEALTH")
    assert assoc.is_established
    try:
        for ds in datasets:
            path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
            path.write_bytes(part10(ds))
            assert assoc.send_c_store(path).Status == 0x0000
    finally:
        assoc.release()


def _param(body: dict[str, Any], name: str) -> Any:
    for p in body.get("parameter", []):
        if p["name"] == name:
            return p.get("resource") or next((v for k, v in p.items() if k.startswith("value")), None)
    return None


def test_study_to_signed_final_report_over_stow_and_c_store(
    world: tuple[Platform, TestPki], tmp_path: Path
) -> None:
    p, pki = world
    _seed(p)
    pki.issue_user(RADIOLOGIST_USER, RADIOLOGIST_NAME)

    # 1. a study with a nodule arrives by STOW-RS: the job exists as soon as the study is stored
    positive = chest(301, nodule=True)
    stow_uid = str(positive[0].StudyInstanceUID)
    p.client("system").store_instances(positive)
    (job,) = _jobs(p, stow_uid)
    assert job[1] == "todo" and job[2]["device"] == f"ai-{DEMO_MODEL}-at-{FACILITY}"
    # the study was linked to the patient by the DICOM PatientID
    assert p.sql("SELECT patient_ref FROM imaging_study WHERE study_uid = %s", stow_uid) == [(PATIENT,)]

    # 2. another, without a nodule, arrives over DIMSE from the X-ray room (three images)
    negative = chest(302, nodule=False, frames=3)
    dimse_uid = str(negative[0].StudyInstanceUID)
    port = free_port()
    listener = start_dicom_listener(p.settings, port, config=p.config)
    assert listener is not None
    try:
        _c_store(port, negative, tmp_path)
        deadline = time.monotonic() + 15
        while not _jobs(p, dimse_uid) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
    assert len(_jobs(p, dimse_uid)) == 1  # once per association, not per image

    # 3. the real worker runs the jobs (until the queue is empty)
    started = time.perf_counter()
    p.live.run(run_worker(wait=False, install_signal_handlers=False, poll_interval_s=0.1))
    worker_s = time.perf_counter() - started
    assert {r[1] for r in _jobs(p, stow_uid) + _jobs(p, dimse_uid)} == {"succeeded"}, worker_s

    # 4. the preliminary reports, visible to the radiologist, urgent first on the worklist
    r = _fhir(p, "radiologist", "GET", f"DiagnosticReport?subject=Patient/{PATIENT}&status=preliminary")
    assert r.status_code == 200, r.text
    reports = {e["resource"]["imagingStudy"][0]["reference"]: e["resource"] for e in r.json()["entry"]}
    assert set(reports) == {f"ImagingStudy/{stow_uid}", f"ImagingStudy/{dimse_uid}"}
    pos_report = reports[f"ImagingStudy/{stow_uid}"]
    neg_report = reports[f"ImagingStudy/{dimse_uid}"]
    assert pos_report["conclusionCode"][0]["coding"][0]["code"] == "27925004"  # nodule
    assert neg_report["conclusionCode"][0]["coding"][0]["code"] == "272519000"  # absent
    r = _fhir(p, "radiologist", "GET", f"Task?owner=Organization/{FACILITY}&status=requested")
    priorities = {e["resource"]["focus"]["reference"]: e["resource"]["priority"] for e in r.json()["entry"]}
    assert priorities[f"DiagnosticReport/{pos_report['id']}"] == "urgent"
    assert priorities[f"DiagnosticReport/{neg_report['id']}"] == "routine"

    # 5. the SR and SEG are stored with the study: QIDO-RS finds them, WADO-RS returns them, the
    #    ImagingStudy lists them (the overlay the viewer shows is the SEG)
    client = p.client("radiologist")
    for uid in (stow_uid, dimse_uid):
        series = client.search_for_series(study_instance_uid=uid)
        modalities = sorted(s["00080060"]["Value"][0] for s in series)
        assert modalities == ["DX", "SEG", "SR"], modalities
    seg_uid = next(
        ext["valueReference"]["identifier"]["value"].removeprefix("urn:oid:")
        for ext in pos_report["extension"]
        if ext["valueReference"].get("display") == "SEG"
    )
    seg_rows = p.sql("SELECT series_uid FROM imaging_instance WHERE sop_instance_uid = %s", seg_uid)
    seg = client.retrieve_instance(stow_uid, seg_rows[0][0], seg_uid)
    assert seg.SOPClassUID == SEG_CLASS and seg.SegmentationType == "FRACTIONAL"
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == positive[0].SeriesInstanceUID
    overlay = p.get(
        "radiologist",
        f"/dicomweb/studies/{stow_uid}/series/{seg_rows[0][0]}/instances/{seg_uid}/frames/1/rendered",
        params={"window": "128,256"},
    )
    assert overlay.status_code == 200 and overlay.content[:4] == b"\x89PNG"
    study = _fhir(p, "radiologist", "GET", f"ImagingStudy/{stow_uid}").json()
    assert study["numberOfSeries"] == 3 and study["subject"]["reference"] == f"Patient/{PATIENT}"
    # the files the worker stored are the ones the archive serves (read back byte for byte)
    stored = p.sql("SELECT storage_key FROM imaging_instance WHERE sop_instance_uid = %s", seg_uid)[0][0]
    on_disk = dcmread(io.BytesIO((p.config.storage_dir / stored).read_bytes()))
    assert on_disk.SOPInstanceUID == seg_uid

    # 6. who may review: not a nurse, not a doctor of another facility
    accept = {"resourceType": "Parameters", "parameter": [{"name": "verdict", "valueCode": "accept"}]}
    path = f"DiagnosticReport/{pos_report['id']}/$ai-review"
    assert _fhir(p, "nurse", "POST", path, json=accept).status_code == 403
    refused = _fhir(p, "elsewhere", "POST", path, json=accept)
    assert refused.status_code in (403, 404), refused.text  # another facility's patient is not even seen

    # 7. the radiologist accepts the positive call and signs; rejects the negative one with her words
    r = _fhir(p, "radiologist", "POST", path, json=accept)
    assert r.status_code == 200, r.text
    body = r.json()
    assert _param(body, "verdict") == "accepted" and _param(body, "agrees") is True
    assert _param(body, "signed") is True
    final = _param(body, "report")
    assert final["status"] == "final"
    assert final["resultsInterpreter"][0]["reference"] == f"Practitioner/{RADIOLOGIST}"
    composition = _param(body, "composition")["reference"]
    again = _fhir(p, "radiologist", "POST", path, json=accept)
    assert again.status_code == 409  # reviewed once
    reject = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "verdict", "valueCode": "reject"},
            {"name": "conclusion", "valueString": "Nốt mờ nhỏ thùy trên phổi phải, đề nghị chụp CT."},
        ],
    }
    r = _fhir(p, "radiologist", "POST", f"DiagnosticReport/{neg_report['id']}/$ai-review", json=reject)
    assert r.status_code == 200, r.text
    assert _param(r.json(), "agrees") is False

    # 8. the signature holds, and the final reports are in the patient's record
    verify = _fhir(p, "radiologist", "GET", f"{composition}/$verify").json()
    assert _param(verify, "valid") is True
    everything = _fhir(p, "system", "GET", f"Patient/{PATIENT}/$everything?_count=200").json()
    in_record = {
        (e["resource"]["resourceType"], e["resource"]["id"]): e["resource"]
        for e in everything.get("entry", [])
    }
    for rep in (pos_report, neg_report):
        assert in_record[("DiagnosticReport", rep["id"])]["status"] == "final"
    assert ("Composition", composition.split("/")[1]) in in_record
    assert ("ImagingStudy", stow_uid) in in_record

    # 9. every step audited: store (STOW-RS, C-STORE, the AI's objects), inference, review, signature
    rows = p.sql(
        "SELECT action, res_type, res_id, query, details, principal_subject FROM audit_event ORDER BY seq"
    )
    stores = {(r[4].get("dicom"), r[2]) for r in rows if r[1] == "ImagingStudy" and r[4].get("dicom")}
    assert {("STOW-RS", stow_uid), ("C-STORE", dimse_uid), ("AI", stow_uid), ("AI", dimse_uid)} <= stores
    inferred = {r[2] for r in rows if r[3] == "ai-inference"}
    assert inferred == {pos_report["id"], neg_report["id"]}
    reviews = [r for r in rows if r[3] == "ai-review"]
    assert {r[4]["verdict"] for r in reviews} == {"accepted", "rejected"}
    assert all(r[4]["radiologist"] == f"Practitioner/{RADIOLOGIST}" and r[4]["signed"] for r in reviews)
    signatures = [r for r in rows if r[3] == "ai-report-signature"]
    assert len(signatures) == 2 and signatures[0][4]["signer"] == f"Practitioner/{RADIOLOGIST}"
    calls = [r for r in rows if r[0] == "operation" and r[4].get("operation") == "ai-review"]
    assert {r[2] for r in calls} >= {pos_report["id"], neg_report["id"]}
