"""Synthetic claim files for tests and benchmarks: varied visits, some broken on purpose.

Spec: the claim tables and envelope (:mod:`senhealth.emr.claims.tables`,
:mod:`senhealth.emr.claims.envelope`). Everything here is made up: names, personal IDs (well-formed,
12 digits with a real province code), insurance cards, drug and service codes ("DMDC"-shaped, not
the Ministry's list), prices. ICD-10 codes are real codes of the Ministry's list.

:func:`generate_claims` yields ``n`` files from a seed (the same seed, the same files): outpatient
visits, inpatient stays (XML5 progress notes, XML7 discharge paper, XML8 summary), referrals (XML13),
re-visit appointments (XML14), drugs (XML2), services and supplies (XML3) with results (XML4). Some
patients come back for another visit (the import must find them again). A share of the files is
broken with one known fault each (:data:`DEFECTS`): :attr:`SyntheticClaim.expected` is the
expression the import must report, and nothing of the file may be written.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from senhealth.emr.claims.envelope import build_envelope, sign_envelope
from senhealth.emr.claims.fhir_terms import number_text
from senhealth.emr.claims.xml_tables import write_table
from senhealth.emr.pki.keys import SigningKey
from senhealth.mpi.identifiers import cccd_provinces

__all__ = ["DEFECTS", "SyntheticClaim", "generate_claims", "visit_records"]

Record = dict[str, str]

#: defect -> what it breaks (the import must name exactly this; see ``expected``)
DEFECTS: Final[dict[str, str]] = {
    "sex-code": "XML1 GIOI_TINH outside 1/2/3",
    "bad-date": "XML1 NGAY_VAO on 30 February",
    "quantity-text": "XML2 SO_LUONG written in words",
    "unknown-icd10": "XML1 MA_BENH_CHINH not in the Ministry's ICD-10 list",
    "missing-name": "XML1 HO_TEN empty",
    "unit-too-long": "XML3 DON_VI_TINH longer than 50 characters",
    "other-visit": "XML2 MA_LK of another visit",
    "result-date": "XML4 NGAY_KQ as 2025-03-01",
    "tampered": "a byte of a table changed after signing",
    "unsigned": "no signature",
}

_FAMILY = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
)
_MIDDLE_M = ("Văn", "Hữu", "Đức", "Minh", "Quang", "Công")
_MIDDLE_F = ("Thị", "Ngọc", "Thu", "Thanh", "Mai", "Kim")
_GIVEN_M = ("An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khánh", "Long", "Nam", "Phúc", "Sơn", "Tuấn")
_GIVEN_F = ("Anh", "Chi", "Dung", "Hà", "Hạnh", "Hoa", "Lan", "Linh", "Ngân", "Phương", "Thảo", "Yến")
_CARD_CATEGORIES = ("DN", "HT", "HS", "GD", "TE", "CN", "NO", "HC")
_OUTPATIENT_ICD = (
    "J06.9",
    "A09",
    "I10",
    "E11.9",
    "K29.7",
    "J20.9",
    "M54.5",
    "N39.0",
    "K21.9",
    "J45.9",
    "E78.5",
)
_INPATIENT_ICD = ("J18.9", "A97.0", "A90", "B08.4", "K35.8", "S52.5", "I20.9", "O80")
_DRUGS = (  # (synthetic active-ingredient code, name, strength, unit, route, price)
    ("05.1020", "Paracetamol", "500mg", "Viên", "1.01", "1200"),
    ("05.2210", "Amoxicilin", "500mg", "Viên", "1.01", "2350"),
    ("05.3305", "Omeprazol", "20mg", "Viên", "1.01", "1800"),
    ("05.4101", "Amlodipin", "5mg", "Viên", "1.01", "950"),
    ("05.4420", "Metformin", "850mg", "Viên", "1.01", "1100"),
    ("05.5507", "Natri clorid 0,9%", "500ml", "Chai", "2.15", "12500"),
    ("05.6610", "Ceftriaxon", "1g", "Lọ", "2.10", "28000"),
    ("40.17", "Oxy dược dụng", "", "Lít", "3.05", "15.5"),
)
_EXAM = ("02.1896", "Khám Nội", "Lần", "38700")
_LABS = (  # (service code, service name, index code, index name, unit, low, high, decimals)
    ("22.0120", "Định lượng Glucose", "GLU", "Glucose", "mmol/L", 4.0, 9.5, 1),
    ("22.0121", "Định lượng Creatinin", "CRE", "Creatinin", "µmol/L", 55.0, 130.0, 0),
    ("22.0018", "Tổng phân tích tế bào máu", "PLT", "Số lượng tiểu cầu", "G/L", 40.0, 380.0, 0),
    ("22.0018", "Tổng phân tích tế bào máu", "HCT", "Hematocrit", "%", 30.0, 52.0, 1),
)
_BED = ("K15.1903", "Giường Nội khoa loại 1", "Ngày", "214600")
_SUPPLY = ("N03.02.070", "Bơm tiêm nhựa 5ml", "Cái", "1150")


@dataclass(frozen=True, slots=True)
class SyntheticClaim:
    """One generated file: its name, bytes, what was generated, and (broken files) what is wrong."""

    name: str
    data: bytes
    tables: dict[str, list[Record]]
    defect: str | None = None
    expected: tuple[str, ...] = ()

    @property
    def ma_lk(self) -> str:
        return self.tables["XML1"][0]["MA_LK"]


@dataclass(frozen=True, slots=True)
class _Person:
    number: str
    name: str
    sex: str  # "1" / "2"
    birth: str  # yyyymmddHHMM
    cccd: str
    card: str
    card_from: str
    card_to: str
    address: str
    province: str
    commune: str
    phone: str


def _person(rng: random.Random, n: int, facility: str) -> _Person:
    sex = rng.choice("12")
    year = rng.randint(1940, 2022)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    male = sex == "1"
    name = " ".join(
        (
            rng.choice(_FAMILY),
            rng.choice(_MIDDLE_M if male else _MIDDLE_F),
            rng.choice(_GIVEN_M if male else _GIVEN_F),
        )
    )
    province = rng.choice(sorted(cccd_provinces()))
    century = (year // 100 - 19) * 2 + (0 if male else 1)
    cccd = f"{province}{century}{year % 100:02d}{rng.randint(0, 999_999):06d}"
    card = ""
    if rng.random() < 0.85:
        card = f"{rng.choice(_CARD_CATEGORIES)}{rng.randint(1, 5)}{rng.randint(1, 96):02d}{rng.randint(0, 10**10 - 1):010d}"
    commune = f"{rng.randint(1, 32000):05d}"
    return _Person(
        number=f"BN{facility}{n:07d}",
        name=name,
        sex=sex,
        birth=f"{year:04d}{month:02d}{day:02d}0000",
        cccd=cccd,
        card=card,
        card_from="20250101" if card else "",
        card_to="20261231" if card else "",
        address=f"Số {rng.randint(1, 300)}, thôn {rng.randint(1, 12)}, xã mẫu (dữ liệu tổng hợp)",
        province=f"{rng.randint(1, 34):02d}",
        commune=commune,
        phone=f"09{rng.randint(0, 99_999_999):08d}",
    )


def _t(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M")


def _money(value: Decimal) -> str:
    return number_text(value, 2)


def visit_records(rng: random.Random, person: _Person, ma_lk: str, facility: str) -> dict[str, list[Record]]:
    """The tables of one synthetic visit of ``person`` (valid: every field passes the checks)."""
    roll = rng.random()
    kind = "03" if roll < 0.25 else "02" if roll < 0.35 else "09" if roll < 0.40 else "01"
    start = datetime(2025, 1, 1, 7, 0) + timedelta(days=rng.randint(0, 330), minutes=rng.randint(0, 600))
    inpatient = kind == "03"
    end = start + (
        timedelta(days=rng.randint(2, 9), hours=rng.randint(0, 6))
        if inpatient
        else timedelta(minutes=rng.randint(25, 180))
    )
    principal = rng.choice(_INPATIENT_ICD if inpatient else _OUTPATIENT_ICD)
    others = [c for c in rng.sample(_OUTPATIENT_ICD, rng.randint(0, 3)) if c != principal]
    referral = rng.random() < 0.08
    revisit = not referral and rng.random() < 0.2
    benefit = "80" if person.card else "0"
    doctor = f"{rng.randint(1, 9999):06d}/HNO-CCHN"
    lines2: list[Record] = []
    lines3: list[Record] = []
    lines4: list[Record] = []

    def money(quantity: Decimal, price: Decimal, row: Record) -> None:
        total = quantity * price
        insured = total * Decimal(benefit) / 100
        row.update(
            {
                "THANH_TIEN_BV": _money(total),
                "THANH_TIEN_BH": _money(insured),
                "MUC_HUONG": benefit,
                "T_BNTT": _money(Decimal(0) if person.card else total),
                "T_BNCCT": _money(total - insured if person.card else Decimal(0)),
                "T_BHTT": _money(insured),
                "PHAM_VI": "1" if person.card else "2",
                "MA_PTTT": "1",
            }
        )

    order = start + timedelta(minutes=10)
    for code, name, strength, unit, route, price in rng.sample(_DRUGS, rng.randint(1, 4)):
        quantity = Decimal(rng.randint(1, 30)) if unit != "Lít" else Decimal(rng.randint(10, 300)) / 2
        row: Record = {
            "MA_THUOC": code,
            "MA_NHOM": "4",
            "TEN_THUOC": name,
            "DON_VI_TINH": unit,
            "HAM_LUONG": strength,
            "DUONG_DUNG": route,
            "LIEU_DUNG": f"{rng.randint(1, 2)} {unit.lower()}/lần x {rng.randint(1, 3)} lần/ngày",
            "CACH_DUNG": "Uống sau ăn" if route == "1.01" else "Theo chỉ định",
            "SO_DANG_KY": f"VD-{rng.randint(10000, 39999)}-{rng.randint(18, 24)}",
            "SO_LUONG": number_text(quantity, 3),
            "DON_GIA": price,
            "TYLE_TT_BH": "100",
            "NGUON_CTRA": "1",
            "MA_KHOA": "K01",
            "MA_BAC_SI": doctor,
            "NGAY_YL": _t(order),
        }
        money(quantity, Decimal(price), row)
        lines2.append(row)
    exam: Record = {
        "MA_DICH_VU": _EXAM[0],
        "TEN_DICH_VU": _EXAM[1],
        "DON_VI_TINH": _EXAM[2],
        "MA_NHOM": "13",
        "SO_LUONG": "1",
        "DON_GIA_BV": _EXAM[3],
        "DON_GIA_BH": _EXAM[3],
        "TYLE_TT_DV": "100",
        "TYLE_TT_BH": "100",
        "MA_KHOA": "K01",
        "MA_BAC_SI": doctor,
        "NGAY_YL": _t(start),
        "NGAY_TH_YL": _t(start + timedelta(minutes=5)),
    }
    money(Decimal(1), Decimal(_EXAM[3]), exam)
    lines3.append(exam)
    done = start + timedelta(minutes=40)
    for service, service_name, index, index_name, unit, low, high, places in rng.sample(
        _LABS, rng.randint(0, 3)
    ):
        if not any(r.get("MA_DICH_VU") == service for r in lines3):
            row = {
                "MA_DICH_VU": service,
                "TEN_DICH_VU": service_name,
                "DON_VI_TINH": "Lần",
                "MA_NHOM": "1",
                "SO_LUONG": "1",
                "DON_GIA_BV": "26900",
                "DON_GIA_BH": "26900",
                "TYLE_TT_DV": "100",
                "TYLE_TT_BH": "100",
                "MA_KHOA": "K01",
                "MA_BAC_SI": doctor,
                "NGAY_YL": _t(start + timedelta(minutes=15)),
                "NGAY_TH_YL": _t(start + timedelta(minutes=20)),
                "NGAY_KQ": _t(done),
            }
            money(Decimal(1), Decimal("26900"), row)
            lines3.append(row)
        value = round(rng.uniform(low, high), places)
        lines4.append(
            {
                "MA_DICH_VU": service,
                "MA_CHI_SO": index,
                "TEN_CHI_SO": index_name,
                "GIA_TRI": number_text(value, places),
                "DON_VI_DO": unit,
                "NGAY_KQ": _t(done),
                "MA_BS_DOC_KQ": doctor,
            }
        )
    if inpatient:
        days = Decimal((end.date() - start.date()).days)
        bed: Record = {
            "MA_DICH_VU": _BED[0],
            "TEN_DICH_VU": _BED[1],
            "DON_VI_TINH": _BED[2],
            "MA_NHOM": "15",
            "SO_LUONG": number_text(days, 3),
            "DON_GIA_BV": _BED[3],
            "DON_GIA_BH": _BED[3],
            "MA_KHOA": "K01",
            "MA_GIUONG": f"H{rng.randint(1, 40):03d}",
            "MA_BAC_SI": doctor,
            "NGAY_YL": _t(start),
            "NGAY_TH_YL": _t(start),
        }
        money(days, Decimal(_BED[3]), bed)
        lines3.append(bed)
    if rng.random() < 0.5:
        supply: Record = {
            "MA_VAT_TU": _SUPPLY[0],
            "TEN_VAT_TU": _SUPPLY[1],
            "DON_VI_TINH": _SUPPLY[2],
            "MA_NHOM": "10",
            "SO_LUONG": str(rng.randint(1, 6)),
            "DON_GIA_BV": _SUPPLY[3],
            "DON_GIA_BH": _SUPPLY[3],
            "MA_KHOA": "K01",
            "MA_BAC_SI": doctor,
            "NGAY_YL": _t(order),
        }
        money(Decimal(supply["SO_LUONG"]), Decimal(_SUPPLY[3]), supply)
        lines3.append(supply)
    for rows in (lines2, lines3, lines4):
        for n, row in enumerate(rows, 1):
            row["MA_LK"], row["STT"] = ma_lk, str(n)

    def total(rows: list[Record], name: str) -> str:
        return _money(sum((Decimal(r[name]) for r in rows if r.get(name)), Decimal(0)))

    both = lines2 + lines3
    diagnosis = f"{principal}" + "".join(f"; {c}" for c in others)
    discharge = "2" if referral else "1"
    xml1: Record = {
        "MA_LK": ma_lk,
        "STT": "1",
        "MA_BN": person.number,
        "HO_TEN": person.name,
        "SO_CCCD": person.cccd,
        "NGAY_SINH": person.birth,
        "GIOI_TINH": person.sex,
        "MA_QUOCTICH": "000",
        "MA_DANTOC": "01",
        "MA_NGHE_NGHIEP": "00",
        "DIA_CHI": person.address,
        "MATINH_CU_TRU": person.province,
        "MAXA_CU_TRU": person.commune,
        "DIEN_THOAI": person.phone,
        "MA_THE_BHYT": person.card,
        "MA_DKBD": facility if person.card else "",
        "GT_THE_TU": person.card_from,
        "GT_THE_DEN": person.card_to,
        "LY_DO_VV": "Khám bệnh" if not inpatient else "Vào viện điều trị",
        "CHAN_DOAN_VAO": diagnosis,
        "CHAN_DOAN_RV": diagnosis,
        "MA_BENH_CHINH": principal,
        "MA_BENH_KT": ";".join(others),
        "MA_DOITUONG_KCB": "1.1",
        "NGAY_VAO": _t(start),
        "NGAY_RA": _t(end),
        "SO_NGAY_DTRI": "0" if kind in ("01", "09") else str((end.date() - start.date()).days + 1),
        "KET_QUA_DTRI": rng.choice("12") if inpatient else "2",
        "MA_LOAI_RV": discharge,
        "NGAY_TTOAN": _t(end + timedelta(minutes=30)),
        "T_THUOC": total(lines2, "THANH_TIEN_BV"),
        "T_VTYT": total([r for r in lines3 if r.get("MA_VAT_TU")], "THANH_TIEN_BV"),
        "T_TONGCHI_BV": total(both, "THANH_TIEN_BV"),
        "T_TONGCHI_BH": total(both, "THANH_TIEN_BH"),
        "T_BNTT": total(both, "T_BNTT"),
        "T_BNCCT": total(both, "T_BNCCT"),
        "T_BHTT": total(both, "T_BHTT"),
        "NAM_QT": f"{end.year}",
        "THANG_QT": str(end.month),
        "MA_LOAI_KCB": kind,
        "MA_KHOA": "K01",
        "MA_CSKCB": facility,
        "CAN_NANG": number_text(round(rng.uniform(8, 90), 1), 2),
        "MA_HSBA": f"HSBA-{ma_lk}",
        "MA_TTDV": "001234/HNO-CCHN",
    }
    if inpatient:
        xml1["NGAY_VAO_NOI_TRU"] = _t(start + timedelta(minutes=30))
    if revisit:
        xml1["NGAY_TAI_KHAM"] = (end + timedelta(days=rng.randint(7, 30))).strftime("%Y%m%d")
    if referral:
        xml1["MA_NOI_DEN"] = "01002"
    out: dict[str, list[Record]] = {
        "XML0": [
            {
                "MA_LK": ma_lk,
                "STT": "1",
                "MA_BN": person.number,
                "HO_TEN": person.name,
                "SO_CCCD": person.cccd,
                "NGAY_SINH": person.birth,
                "GIOI_TINH": person.sex,
                "MA_THE_BHYT": person.card,
                "MA_DKBD": xml1["MA_DKBD"],
                "GT_THE_TU": person.card_from,
                "GT_THE_DEN": person.card_to,
                "MA_DOITUONG_KCB": "1.1",
                "NGAY_VAO": xml1["NGAY_VAO"],
                "MA_LOAI_KCB": kind,
                "MA_CSKCB": facility,
                "MA_DICH_VU": _EXAM[0],
                "TEN_DICH_VU": _EXAM[1],
                "NGAY_YL": _t(start),
            }
        ],
        "XML1": [xml1],
        "XML2": lines2,
        "XML3": lines3,
    }
    if lines4:
        out["XML4"] = lines4
    if inpatient:
        out["XML5"] = [
            {
                "MA_LK": ma_lk,
                "STT": str(n),
                "DIEN_BIEN_LS": f"Ngày {n}: người bệnh tỉnh, sốt {round(rng.uniform(36.6, 39.2), 1)} độ",
                "GIAI_DOAN_BENH": "Ổn định" if n > 1 else "Khởi phát",
                "THOI_DIEM_DBLS": _t(start + timedelta(days=n - 1, hours=1)),
                "NGUOI_THUC_HIEN": doctor,
            }
            for n in range(1, min((end.date() - start.date()).days, 4) + 1)
        ]
        out["XML7"] = [
            {
                "MA_LK": ma_lk,
                "SO_LUU_TRU": f"LT-{ma_lk}",
                "MA_YTE": person.number,
                "MA_KHOA_RV": "K01",
                "NGAY_VAO": xml1["NGAY_VAO"],
                "NGAY_RA": xml1["NGAY_RA"],
                "MA_DINH_CHI_THAI": "0",
                "CHAN_DOAN_RV": diagnosis,
                "PP_DIEUTRI": "Nội khoa",
                "GHI_CHU": "Tái khám khi có bất thường",
                "MA_TTDV": "001234/HNO-CCHN",
                "MA_BS": doctor,
                "TEN_BS": "Bác sĩ tổng hợp",
                "NGAY_CT": end.strftime("%Y%m%d"),
            }
        ]
        out["XML8"] = [
            {
                "MA_LK": ma_lk,
                "MA_LOAI_KCB": kind,
                "NGAY_VAO": xml1["NGAY_VAO"],
                "NGAY_RA": xml1["NGAY_RA"],
                "CHAN_DOAN_VAO": diagnosis,
                "CHAN_DOAN_RV": diagnosis,
                "QT_BENHLY": "Sốt, mệt mỏi; điều trị nội khoa, đáp ứng tốt",
                "TOMTAT_KQ": "; ".join(f"{r['TEN_CHI_SO']}: {r['GIA_TRI']} {r['DON_VI_DO']}" for r in lines4)
                or "Không",
                "PP_DIEUTRI": "Nội khoa",
                "KET_QUA_DTRI": xml1["KET_QUA_DTRI"],
                "MA_TTDV": "001234/HNO-CCHN",
                "NGAY_CT": end.strftime("%Y%m%d"),
            }
        ]
    if referral:
        out["XML13"] = [
            {
                "MA_LK": ma_lk,
                "SO_HOSO": f"CT-{ma_lk}"[:50],
                "SO_CHUYENTUYEN": f"{rng.randint(1, 999)}/CT",
                "MA_CSKCB": facility,
                "MA_CSKCB_DEN": "01002",
                "HO_TEN": person.name,
                "NGAY_SINH": person.birth,
                "GIOI_TINH": person.sex,
                "DIA_CHI": person.address,
                "MA_THE_BHYT": person.card,
                "GT_THE_DEN": person.card_to,
                "NGAY_VAO": xml1["NGAY_VAO"],
                "NGAY_RA": xml1["NGAY_RA"],
                "DAU_HIEU_LS": "Sốt cao, mệt",
                "CHAN_DOAN_RV": diagnosis,
                "MA_BENH_CHINH": principal,
                "MA_BENH_KT": ";".join(others),
                "MA_LOAI_RV": "2",
                "MA_LYDO_CT": "1",
                "HUONG_DIEU_TRI": "Chuyển tuyến trên điều trị tiếp",
                "PHUONGTIEN_VC": "Xe cứu thương",
                "MA_BAC_SI": doctor,
                "MA_TTDV": "001234/HNO-CCHN",
            }
        ]
    if revisit:
        out["XML14"] = [
            {
                "MA_LK": ma_lk,
                "SO_GIAYHEN_KL": f"HK-{ma_lk}"[:50],
                "MA_CSKCB": facility,
                "HO_TEN": person.name,
                "NGAY_SINH": person.birth,
                "GIOI_TINH": person.sex,
                "DIA_CHI": person.address,
                "MA_THE_BHYT": person.card,
                "GT_THE_DEN": person.card_to,
                "NGAY_VAO": xml1["NGAY_VAO"],
                "NGAY_RA": xml1["NGAY_RA"],
                "NGAY_HEN_KL": xml1["NGAY_TAI_KHAM"],
                "CHAN_DOAN_RV": diagnosis,
                "MA_BENH_CHINH": principal,
                "MA_BENH_KT": ";".join(others),
                "MA_DOITUONG_KCB": "1.1",
                "MA_BAC_SI": doctor,
                "MA_TTDV": "001234/HNO-CCHN",
                "NGAY_CT": end.strftime("%Y%m%d"),
            }
        ]
    return out


def _break(defect: str, tables: dict[str, list[Record]]) -> str:
    """Break ``tables`` in place with ``defect``; the expression the import must report."""
    if defect == "sex-code":
        tables["XML1"][0]["GIOI_TINH"] = "4"
        return "XML1[1].GIOI_TINH"
    if defect == "bad-date":
        tables["XML1"][0]["NGAY_VAO"] = tables["XML1"][0]["NGAY_VAO"][:4] + "02300800"
        return "XML1[1].NGAY_VAO"
    if defect == "quantity-text":
        k = len(tables["XML2"])
        tables["XML2"][k - 1]["SO_LUONG"] = "mười"
        return f"XML2[{k}].SO_LUONG"
    if defect == "unknown-icd10":
        tables["XML1"][0]["MA_BENH_CHINH"] = "Z99.99"
        return "XML1[1].MA_BENH_CHINH"
    if defect == "missing-name":
        tables["XML1"][0]["HO_TEN"] = ""
        return "XML1[1].HO_TEN"
    if defect == "unit-too-long":
        k = len(tables["XML3"])
        tables["XML3"][k - 1]["DON_VI_TINH"] = "Đơn vị tính rất dài " * 3
        return f"XML3[{k}].DON_VI_TINH"
    if defect == "other-visit":
        tables["XML2"][0]["MA_LK"] = tables["XML2"][0]["MA_LK"] + "-X"
        return "XML2[1].MA_LK"
    if defect == "result-date":
        if "XML4" not in tables:
            tables["XML4"] = [
                {
                    "MA_LK": tables["XML1"][0]["MA_LK"],
                    "STT": "1",
                    "TEN_CHI_SO": "Glucose",
                    "GIA_TRI": "5.6",
                    "DON_VI_DO": "mmol/L",
                }
            ]
        tables["XML4"][0]["NGAY_KQ"] = "2025-03-01"
        return "XML4[1].NGAY_KQ"
    return "CHUKYDONVI"  # tampered, unsigned


def _tamper(data: bytes) -> bytes:
    """Change one base64 character inside the first table's content (still valid base64)."""
    start = data.index(b"<NOIDUNGFILE>") + len(b"<NOIDUNGFILE>") + 40
    out = bytearray(data)
    out[start] = ord("B") if out[start] != ord("B") else ord("C")
    return bytes(out)


def generate_claims(
    n: int,
    *,
    seed: int = 1,
    key: SigningKey | None = None,
    broken: float = 0.1,
    facility: str = "01001",
    returning: float = 0.25,
) -> Iterator[SyntheticClaim]:
    """``n`` claim files (see the module docstring), signed with ``key`` (unsigned when None; then the
    ``tampered`` and ``unsigned`` defects are not drawn). ``broken``: the share of broken files;
    ``returning``: the share of visits by a patient seen before."""
    rng = random.Random(seed)
    people: list[_Person] = []
    defects = [d for d in DEFECTS if key is not None or d not in ("tampered", "unsigned")]
    for i in range(n):
        if people and rng.random() < returning:
            person = rng.choice(people)
        else:
            person = _person(rng, len(people) + 1, facility)
            people.append(person)
        ma_lk = f"{facility}{seed:03d}{i + 1:07d}"
        tables = visit_records(rng, person, ma_lk, facility)
        defect = defects[rng.randrange(len(defects))] if rng.random() < broken else None
        expected: tuple[str, ...] = ()
        if defect is not None:
            expected = (_break(defect, tables),)
        files = [(name, write_table(name, rows)) for name, rows in tables.items() if rows]
        document = build_envelope(facility, [files], created=datetime(2025, 12, 31, 8, 0))
        data = sign_envelope(document, key) if key is not None and defect != "unsigned" else document
        if defect == "tampered":
            data = _tamper(data)
        yield SyntheticClaim(f"claim-{ma_lk}.xml", data, tables, defect, expected)
