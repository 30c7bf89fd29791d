"""The e-prescription message from a prescription document on a real database: the national system's
fields filled from the record, and the refusals (no personal ID, not a prescription, bad kind)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from exchange_support import Seeded, run_async, seed

from senhealth.core.migrate import migrate
from senhealth.emr.documents.builder import create_document
from senhealth.emr.documents.document import DocumentError
from senhealth.emr.documents.record import load_record
from senhealth.emr.exchange.eprescription import EPrescription, eprescription
from senhealth.fhir.store import FhirStore

WRITTEN = datetime.fromisoformat("2026-03-09T09:40:00+07:00")


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


async def _doc(store: FhirStore, s: Seeded, key: str, **fields: str) -> dict[str, Any]:
    return await create_document(
        store,
        key,
        patient_id=s.patient,
        encounter_id=s.encounter,
        author_practitioner_id=s.doctor,
        custodian_org_id=s.facility,
        fields=fields or None,
        now=WRITTEN,
    )


def test_the_message_fields(url: str) -> None:
    async def go(store: FhirStore) -> EPrescription:
        s = await seed(store)
        comp = await _doc(
            store, s, "prescription", **{"instructions.advice": "Uống nhiều nước, tái khám khi sốt lại"}
        )
        record = await load_record(store, s.patient)
        return eprescription(record, comp)

    message = run_async(url, go)
    p = message.payload
    assert list(p) == [
        "loai_don_thuoc",
        "ma_don_thuoc",
        "ho_ten_benh_nhan",
        "ma_dinh_danh_y_te",
        "ma_dinh_danh_cong_dan",
        "ngay_sinh_benh_nhan",
        "can_nang",
        "gioi_tinh",
        "ma_so_the_bao_hiem_y_te",
        "thong_tin_nguoi_giam_ho",
        "dia_chi",
        "chan_doan",
        "luu_y",
        "hinh_thuc_dieu_tri",
        "dot_dung_thuoc",
        "thong_tin_don_thuoc",
        "loi_dan",
        "so_dien_thoai_nguoi_kham_benh",
        "ngay_tai_kham",
        "ngay_gio_ke_don",
        "signature",
    ]
    assert p["loai_don_thuoc"] == "c"
    assert re.fullmatch(r"79001[A-Z0-9]{7}-c", p["ma_don_thuoc"])
    assert p["ho_ten_benh_nhan"] == "Nguyễn Văn An"
    assert p["ma_dinh_danh_cong_dan"] == "079085001234" == p["ma_dinh_danh_y_te"]
    assert p["ngay_sinh_benh_nhan"] == "12/04/1985"
    assert p["gioi_tinh"] == "2"
    assert p["ma_so_the_bao_hiem_y_te"] == "DN4797900123456"
    assert p["thong_tin_nguoi_giam_ho"] == ""  # an adult
    assert p["dia_chi"] == "45 Nguyễn Trãi, phường Bến Thành, TP Hồ Chí Minh"
    assert [d["ma_chan_doan"] for d in p["chan_doan"]] == ["J15.9", "E11.9"]
    assert p["chan_doan"][0]["ten_chan_doan"] == "Viêm phổi do vi khuẩn, không đặc hiệu"
    assert p["hinh_thuc_dieu_tri"] == "1"
    assert p["dot_dung_thuoc"] == {
        "dot": 1,
        "tu_ngay": "09/03/2026",
        "den_ngay": "15/03/2026",
        "so_thang_thuoc": 0,
    }
    drugs = p["thong_tin_don_thuoc"]
    assert drugs[0] == {
        "ma_thuoc": "J01CA04",
        "biet_duoc": "",
        "ten_thuoc": "Amoxicilin 500mg",
        "don_vi_tinh": "viên",
        "so_luong": "21",
        "cach_dung": "Uống 1 viên x 3 lần/ngày, sau ăn",
    }
    assert drugs[1]["ten_thuoc"] == "Paracetamol 500mg" and drugs[1]["so_luong"] == "10"
    assert p["loi_dan"] == "Uống nhiều nước, tái khám khi sốt lại"
    assert p["so_dien_thoai_nguoi_kham_benh"] == "0901234567"
    assert p["ngay_tai_kham"] == "14"  # 23/03 is 14 days after 09/03
    assert p["ngay_gio_ke_don"] == "2026-03-09 09:40:00"
    assert message.sender == {
        "ma_co_so_kham_chua_benh": "79001",
        "ten_co_so_kham_chua_benh": "Bệnh viện Đa khoa Sen Hồng",
        "ma_lien_thong_bac_si": "001234/HCM-CCHN",
        "ten_bac_si": "Trần Thị Lan",
    }
    assert message.as_json()["don_thuoc"] is p


def test_refusals(url: str) -> None:
    async def go(store: FhirStore) -> list[DocumentError]:
        s = await seed(store)
        prescription = await _doc(store, s, "prescription")
        discharge = await _doc(store, s, "discharge-paper")
        errors: list[DocumentError] = []
        record = await load_record(store, s.patient)
        for comp, kind in ((discharge, "c"), (prescription, "x")):
            try:
                eprescription(record, comp, kind=kind)
            except DocumentError as e:
                errors.append(e)
        narcotic = eprescription(record, prescription, kind="n")
        assert narcotic.payload["ma_don_thuoc"].endswith("-n") and narcotic.payload["loai_don_thuoc"] == "n"
        # the patient loses the personal ID: the message cannot be sent
        patient = (await store.read("Patient", s.patient)).content
        assert patient is not None
        await store.update(
            {**patient, "identifier": [i for i in patient["identifier"] if "cccd" not in i["system"]]}
        )
        try:
            eprescription(await load_record(store, s.patient), prescription)
        except DocumentError as e:
            errors.append(e)
        return errors

    errors = run_async(url, go)
    assert [e.status for e in errors] == [422, 400, 422]
    assert errors[0].expression == "Composition.type"
    assert errors[2].expression == "Patient.identifier" and "personal ID" in str(errors[2])
