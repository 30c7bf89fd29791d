"""The ``HoSoBenhAn`` export on a real database: the 11 groups of Dispatch 365 in JSON and XML, and the
facts of the record in them (patient, admission, treatment, drugs, orders, results, referral, emergency,
procedures and surgery)."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from exchange_support import Seeded, run_async, seed, seed_emergency

from senhealth.core.migrate import migrate
from senhealth.emr.documents.builder import create_document
from senhealth.emr.documents.record import load_record
from senhealth.emr.exchange.hosobenhan import GROUPS, encounter_record, patient_records, to_json, to_xml
from senhealth.fhir.store import FhirStore


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def _build(url: str) -> tuple[dict[str, Any], dict[str, Any], Seeded]:
    async def go(store: FhirStore) -> tuple[dict[str, Any], dict[str, Any], Seeded]:
        s = await seed(store)
        await seed_emergency(store, s)
        await create_document(
            store,
            "referral-paper",
            patient_id=s.patient,
            encounter_id=s.encounter,
            author_practitioner_id=s.doctor,
            custodian_org_id=s.facility,
            fields={
                "transport.transport": "Xe cứu thương",
                "transport.escort": "Điều dưỡng Lê Văn Bình",
                "transfer-state.state": "Tỉnh, SpO2 94%",
            },
        )
        record = await load_record(store, s.patient)
        return encounter_record(record, s.encounter), patient_records(record), s

    return run_async(url, go)


def test_one_encounter_in_the_eleven_groups(url: str) -> None:
    one, _, s = _build(url)
    hs = one["HoSoBenhAn"]
    assert [k for k in hs if k in GROUPS] == list(GROUPS)
    patient = hs["ThongTinBenhNhan"]
    assert patient["HoTen"] == "NGUYỄN VĂN AN"
    assert patient["SoCCCD"] == "079085001234"
    assert patient["NgaySinh"] == "19850412"
    assert patient["GioiTinh"] == "1"
    assert patient["MaTheBHYT"] == "DN4797900123456" and patient["GtTheDen"] == "20261231"
    assert patient["NhomMau"] == "O Rh+"
    admission = hs["ThongTinVaoVien"]
    assert admission["MaLK"] == s.encounter
    assert admission["NgayVao"] == "202603020815"
    assert admission["MaLoaiKCB"] == "03" and admission["NgayVaoNoiTru"] == "202603020815"
    assert admission["MaCSKCB"] == "79001" and hs["MaCSKCB"] == "79001"
    assert admission["MaBenhVao"] == "J18.9"
    assert admission["LyDoVV"] == "Sốt cao, ho có đờm 5 ngày"
    treatment = hs["ThongTinDieuTri"]
    assert treatment["MaBenhChinh"] == "J15.9"
    assert treatment["MaBenhKT"] == "E11.9"
    assert treatment["NgayRa"] == "202603091030"
    assert treatment["SoNgayDieuTri"] == "8"
    assert treatment["MaLoaiRV"] == "2"  # referred on
    assert treatment["MaPTTTQT"] == "96.04"
    assert treatment["CanNang"] == "62" and treatment["ChieuCao"] == "168"
    assert treatment["NgayTaiKham"] == "20260323"
    assert {v["MaChiSo"] for v in treatment["DauHieuSinhTon"]} >= {"8310-5", "8867-4", "85354-9"}
    assert "Amoxicilin 500mg" in treatment["PhuongPhapDieuTri"]
    drugs = hs["YLenhThuocVatTu"]
    assert [d["MaThuoc"] for d in drugs] == ["J01CA04", "N02BE01"]
    assert drugs[0]["SoLuong"] == "21" and drugs[0]["DonViTinh"] == "viên"
    assert drugs[0]["CachDung"] == "Uống 1 viên x 3 lần/ngày, sau ăn"
    assert drugs[0]["MaBacSi"] == "001234/HCM-CCHN"
    assert [o["SoPhieu"] for o in hs["PhieuChiDinh"]] == ["sr-lab"]
    assert hs["PhieuChiDinh"][0]["LoaiChiDinh"] == "XN"
    labs = {r["MaChiSo"]: r for r in hs["KetQuaXetNghiem"]}
    assert labs["6690-2"]["GiaTri"] == "15.2" and labs["6690-2"]["MaDichVu"] == "58410-2"
    assert labs["6690-2"]["KhoangThamChieu"] == "4-10 G/L"
    imaging = hs["KetQuaChanDoanHinhAnh"]
    assert len(imaging) == 1 and imaging[0]["KetLuan"] == "Viêm phổi thùy dưới phải"
    assert imaging[0]["MoTa"] == "Đám mờ thùy dưới phổi phải"
    referral = hs["GiayChuyenVien"]
    assert referral["TenNoiDen"] == "Bệnh viện Chợ Rẫy" and referral["MaNoiDen"] == "79010"
    assert referral["LyDoChuyen"] == "Vượt quá khả năng chuyên môn"
    assert referral["PhuongTienVanChuyen"] == "Xe cứu thương"  # from the signed form's fields
    assert referral["TinhTrangChuyenVien"] == "Tỉnh, SpO2 94%"
    assert referral["NgayChuyen"] == "202603091000"
    assert hs["HoSoCapCuu"] == {}
    assert [p["MaPTTT"] for p in hs["PhieuThuThuat"]] == ["96.04"]
    assert hs["PhieuPhauThuat"] == []


def test_patient_records_json_and_xml(url: str) -> None:
    _, everything, _ = _build(url)
    records = everything["DanhSachHoSoBenhAn"]
    assert [r["ThongTinVaoVien"]["MaLK"] for r in records] == ["enc-1", "enc-er"]
    er = records[1]
    assert er["HoSoCapCuu"]["LyDo"] == "Đau hố chậu phải"
    assert er["HoSoCapCuu"]["ThoiGianVao"] == "202605102205"
    assert er["HoSoCapCuu"]["XuTri"][0]["NoiDung"] == "Cắt ruột thừa nội soi"
    assert [p["MaPTTT"] for p in er["PhieuPhauThuat"]] == ["47.01"]
    assert er["PhieuThuThuat"] == [] and er["GiayChuyenVien"] == {}
    assert er["ThongTinDieuTri"]["MaBenhChinh"] == "K35.8"

    assert json.loads(to_json(everything)) == everything
    assert "NGUYỄN VĂN AN".encode() in to_json(everything)  # UTF-8, not \\u escapes

    xml = to_xml(everything)
    assert xml.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(xml)
    assert root.tag == "DanhSachHoSoBenhAn"
    records_xml = root.findall("HoSoBenhAn")
    assert len(records_xml) == 2
    first = records_xml[0]
    assert [c.tag for c in first if c.tag in GROUPS] == list(GROUPS)
    assert first.findtext("ThongTinDieuTri/MaBenhChinh") == "J15.9"
    assert first.findtext("ThongTinBenhNhan/HoTen") == "NGUYỄN VĂN AN"
    assert [y.findtext("TenThuoc") for y in first.findall("YLenhThuocVatTu/YLenh")] == [
        "Amoxicilin 500mg",
        "Paracetamol 500mg",
    ]
    assert first.findtext("GiayChuyenVien/TenNoiDen") == "Bệnh viện Chợ Rẫy"
    assert first.find("HoSoCapCuu") is not None and len(first.find("HoSoCapCuu") or []) == 0
    assert records_xml[1].findtext("PhieuPhauThuat/PhauThuat/MaPTTT") == "47.01"
    assert records_xml[1].findtext("HoSoCapCuu/XuTri/Muc/Loai") == "Thủ thuật"

    one = {"HoSoBenhAn": records[0]}
    single = ET.fromstring(to_xml(one))
    assert single.tag == "HoSoBenhAn" and single.findtext("ThongTinVaoVien/MaLK") == "enc-1"
