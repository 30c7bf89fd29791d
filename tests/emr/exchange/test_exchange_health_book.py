"""The electronic-health-book extract: the VNeID sections with the record's facts, and never any HIV
data planted in the record (diagnoses, results, antiretrovirals, a visit whose only diagnosis is HIV, a
visit to an HIV clinic, notes, security labels), in the JSON or in the FHIR Bundle. The sensitivity
rules on their own, too."""

from __future__ import annotations

import json
from typing import Any

import pytest
from exchange_support import plant_everywhere, run_async, seed

from senhealth.core.migrate import migrate
from senhealth.emr.documents.record import load_record
from senhealth.emr.exchange.health_book import health_book
from senhealth.emr.exchange.hosobenhan import patient_records, to_json
from senhealth.emr.exchange.sensitive import RULES, is_sensitive, rules
from senhealth.fhir.store import FhirStore

ICD_VN = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"
ICD_WHO = "http://hl7.org/fhir/sid/icd-10"

#: Everything planted that must not appear, as text anywhere in the extract.
FORBIDDEN = (
    "B20",
    "B24",
    "Z21",
    "HIV",
    "7917-8",
    "J05AR06",
    "Tenofovir",
    "Ghi chú giữ kín",
    "Xét nghiệm giữ kín",
    "giữ kín theo yêu cầu",
    "Phòng khám ngoại trú",
    "CD4",
    "ARV",
    "enc-hiv-only",
    "enc-clinic",
    "cond-hiv",
    "med-arv",
    "obs-restricted",
)


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def _cond(system: str, code: str, text: str = "") -> dict[str, Any]:
    return {"resourceType": "Condition", "code": {"coding": [{"system": system, "code": code}], "text": text}}


def test_the_rules() -> None:
    for code in ("B20.7", "B24", "Z21", "R75", "O98.7", "Z20.6"):
        assert is_sensitive(_cond(ICD_VN, code)), code
        assert is_sensitive(_cond(ICD_WHO, code)), code
    for code in ("B19.9", "A15.0", "F32.9", "J18.9", "O98.1"):
        assert not is_sensitive(_cond(ICD_VN, code)), code
    with_mental = rules(enable=["mental-health"])
    assert is_sensitive(_cond(ICD_VN, "F32.9"), with_mental)
    assert not is_sensitive(_cond(ICD_VN, "B20"), rules(disable=["hiv-diagnosis", "hiv-laboratory"]))
    with pytest.raises(KeyError):
        rules(enable=["astrology"])
    atc = "http://www.whocc.no/atc"

    def med(code: str, text: str = "") -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "medicationCodeableConcept": {"coding": [{"system": atc, "code": code}], "text": text},
        }

    assert is_sensitive(med("J05AF07")) and is_sensitive(med("J05AJ03")) and is_sensitive(med("J05AX09"))
    assert not is_sensitive(med("J05AB01", "Aciclovir 400mg")) and not is_sensitive(med("J01CA04"))

    def lab(code: str, text: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": text},
        }

    assert is_sensitive(lab("7917-8", "Kháng thể"))
    assert is_sensitive(lab("99999-9", "Xét nghiệm nhanh HIV"))
    assert not is_sensitive(lab("6690-2", "Bạch cầu")) and not is_sensitive(lab("1-1", "HIVEX protein"))

    def labelled(system: str, code: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "meta": {"security": [{"system": system, "code": code}]}}

    assert is_sensitive(labelled("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R"))
    assert is_sensitive(labelled("http://terminology.hl7.org/CodeSystem/v3-ActCode", "PSY"))
    assert not is_sensitive(labelled("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N"))
    for rule in RULES:
        assert rule.source and rule.title_vi and rule.title_en


def test_the_book_has_the_record_and_none_of_the_hiv_data(url: str) -> None:
    async def go(store: FhirStore) -> tuple[Any, bytes]:
        s = await seed(store, hiv=True)
        await plant_everywhere(store, s)
        record = await load_record(store, s.patient)
        return health_book(record, base_url="https://ehr.example.vn/fhir"), to_json(patient_records(record))

    book, full_export = run_async(url, go)
    # the planted data is really in the record: the full export (for the record's holders) has it
    for planted in ("J05AR06", "7917-8", "Phòng khám ngoại trú HIV/AIDS", "B24", "CD4"):
        assert planted.encode() in full_export, planted

    text = json.dumps(book.json, ensure_ascii=False)
    bundle_text = json.dumps(book.bundle, ensure_ascii=False)
    for word in FORBIDDEN:
        assert word not in text, word
        assert word not in bundle_text, word

    b = book.json["SoSucKhoeDienTu"]
    assert list(b) == [
        "PhienBan",
        "NgayTao",
        "ThongTinHanhChinh",
        "NguoiDaiDienHopPhap",
        "TienSuDiUng",
        "TienSuBenhTat",
        "TienSuTiemChung",
        "LanKham",
        "TomTatHoSo",
    ]
    admin = b["ThongTinHanhChinh"]
    assert admin["SoDinhDanhCaNhan"] == "079085001234" and admin["HoTen"] == "NGUYỄN VĂN AN"
    assert admin["NhomMau"] == "O Rh+"
    assert b["TienSuDiUng"][0]["TacNhan"] == "Penicilin"
    assert {d["MaBenh"] for d in b["TienSuBenhTat"]} == {"J18.9", "J15.9", "E11.9", "I10"}
    assert b["TienSuTiemChung"][0]["TenVacXin"] == "Vắc xin viêm gan B"
    visits = b["LanKham"]
    assert [v["MaLuotKham"] for v in visits] == ["enc-1"]  # the HIV-only visit and the clinic visit withheld
    visit = visits[0]
    assert visit["CoSoKCB"] == "Bệnh viện Đa khoa Sen Hồng" and visit["MaCSKCB"] == "79001"
    assert visit["HinhThucKCB"] == "Điều trị nội trú"
    assert visit["ThoiGianVao"] == "202603020815" and visit["ThoiGianRa"] == "202603091030"
    assert [d["MaBenh"] for d in visit["ChanDoanRaVien"]] == ["J15.9", "E11.9"]
    assert visit["ChieuCao"] == "168 cm" and visit["CanNang"] == "62 kg"
    assert [d["TenThuoc"] for d in visit["Thuoc"]] == ["Amoxicilin 500mg", "Paracetamol 500mg"]
    assert visit["ThuThuatPhauThuat"][0]["MaPTTT"] == "96.04"
    assert any(r["TenChiSo"] == "Bạch cầu" and r["GiaTri"] == "15.2" for r in visit["KetQuaCanLamSang"])
    assert visit["KetQuaDieuTri"] == "Về nhà"
    summary = b["TomTatHoSo"]
    assert summary["SoLanKham"] == 1 and summary["DiUng"] == ["Penicilin"] and summary["SoMuiTiem"] == 1

    # the FHIR form: a collection of what stays, references to withheld resources taken out
    assert book.bundle["type"] == "collection"
    resources = [e["resource"] for e in book.bundle["entry"]]
    ids = {f"{r['resourceType']}/{r['id']}" for r in resources}
    assert "Encounter/enc-1" in ids and "Observation/obs-crp" in ids and "Organization/org-1" in ids
    for gone in (
        "Condition/cond-hiv",
        "Condition/cond-z21",
        "Observation/obs-hiv",
        "MedicationRequest/med-arv",
        "Observation/obs-restricted",
        "Encounter/enc-hiv-only",
        "Observation/obs-cd4",
        "Encounter/enc-clinic",
        "Observation/obs-clinic-weight",
        "Condition/cond-very-restricted",
        "Organization/org-opc",
    ):
        assert gone not in ids, gone
    enc = next(r for r in resources if r["id"] == "enc-1")
    assert [d["condition"]["reference"] for d in enc["diagnosis"]] == [
        "Condition/cond-adm",
        "Condition/cond-main",
        "Condition/cond-other",
    ]
    crp = next(r for r in resources if r["id"] == "obs-crp")
    assert crp["note"] == [{"text": "Lấy mẫu lúc đói"}]
    assert all("text" not in r for r in resources)
    assert all(e["fullUrl"].startswith("https://ehr.example.vn/fhir/") for e in book.bundle["entry"])
    assert book.withheld["hiv-diagnosis"] >= 3 and book.withheld["security-label"] == 2
