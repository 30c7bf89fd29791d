"""What Sen Health reads from the claim field tables: layouts, formats, code lists, required fields.

Spec: the field tables of Decision 130/QĐ-BYT as amended by Decisions 4750/QĐ-BYT and 3176/QĐ-BYT
(packaged by :mod:`senhealth.emr.claims.derive_tables`). The tables give each field a type (string or
number), a maximum size and an explanation; everything below is read from those explanations, by hand,
and kept here so that a reviewer can compare it with the text:

- **layouts**: the XML elements of each table (root, list, record). No XSD is published with the
  decisions; these are the element names the insurance portal and hospital systems use (XML12's are not
  confirmed by a second source);
- **formats**: ``yyyymmddHHMM`` (12 characters) or ``yyyymmdd`` (8), as the explanation of each date field
  says; ``NGAY_SINH`` may carry ``00`` for an unknown day or month ("mặc định là 0000");
- **lists**: fields whose explanation says several values are separated by ``;``;
- **codes**: the closed code lists the explanations define (``GIOI_TINH`` 1/2/3, ``KET_QUA_DTRI`` 1–8,
  ``MA_LOAI_RV`` 1–5 ...). ``MA_LOAI_KCB`` 01–09 are defined in the tables' explanations (XML1
  ``SO_NGAY_DTRI``, XML8 ``MA_LOAI_KCB``); 10–14 come from the Ministry's common code list
  ("Bộ mã DMDC"), whose meanings are not confirmed here (*unverified*): accepted, not interpreted;
- **required**: the tables do not mark required fields. Sen Health requires the keys (``MA_LK``,
  ``STT``) and the fields every explanation asks for in every case (who, when, what); a field the
  explanation allows to be empty ("để trống") is never required;
- **renames**: Decision 3176 renames three XML13 fields (``MA_NOI_DI`` → ``MA_CSKCB_DI``,
  ``MA_NOI_DEN`` → ``MA_CSKCB_DEN``, ``PP_DIEU_TRI`` → ``TINH_TRANG_CT``); the old names are read too;
- **corrections**: where the text of Decision 3176 changes a type or size that its table's column
  still shows unchanged (XML6 ``MA_XU_TRI``: string of 10; XML3 ``TT_THAU``: 50), the text wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "CODES",
    "CORRECTIONS",
    "DATE_FIELDS",
    "ICD10_FIELDS",
    "LAYOUTS",
    "LIST_FIELDS",
    "MAX_ITEMS",
    "ONE_OF",
    "PATTERNS",
    "RENAMES",
    "REQUIRED",
    "TITLES",
    "Layout",
]


@dataclass(frozen=True, slots=True)
class Layout:
    """The elements of a table: ``root`` > ``list`` > ``record`` (one record: ``root`` is the record)."""

    root: str
    record: str
    list: str | None = None

    @property
    def single(self) -> bool:
        return self.list is None


LAYOUTS: Final[Mapping[str, Layout]] = {
    "XML0": Layout("CHI_TIEU_TRANG_THAI_KCB", "TRANG_THAI_KCB", "DSACH_TRANG_THAI_KCB"),
    "XML1": Layout("TONG_HOP", "TONG_HOP"),
    "XML2": Layout("CHITIEU_CHITIET_THUOC", "CHI_TIET_THUOC", "DSACH_CHI_TIET_THUOC"),
    "XML3": Layout("CHITIEU_CHITIET_DVKT_VTYT", "CHI_TIET_DVKT", "DSACH_CHI_TIET_DVKT"),
    "XML4": Layout("CHITIEU_CHITIET_DICHVUCANLAMSANG", "CHI_TIET_CLS", "DSACH_CHI_TIET_CLS"),
    "XML5": Layout(
        "CHITIEU_CHITIET_DIENBIENLAMSANG", "CHI_TIET_DIEN_BIEN_BENH", "DSACH_CHI_TIET_DIEN_BIEN_BENH"
    ),
    "XML6": Layout(
        "CHI_TIEU_HO_SO_BENH_AN_CHAM_SOC_VA_DIEU_TRI_HIV_AIDS",
        "HO_SO_BENH_AN_CHAM_SOC_VA_DIEU_TRI_HIV_AIDS",
        "DSACH_HO_SO_BENH_AN_CHAM_SOC_VA_DIEU_TRI_HIV_AIDS",
    ),
    "XML7": Layout("CHI_TIEU_DU_LIEU_GIAY_RA_VIEN", "CHI_TIEU_DU_LIEU_GIAY_RA_VIEN"),
    "XML8": Layout("CHI_TIEU_DU_LIEU_TOM_TAT_HO_SO_BENH_AN", "CHI_TIEU_DU_LIEU_TOM_TAT_HO_SO_BENH_AN"),
    "XML9": Layout("CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH", "DU_LIEU_GIAY_CHUNG_SINH", "DSACH_GIAYCHUNGSINH"),
    "XML10": Layout("CHI_TIEU_DU_LIEU_GIAY_NGHI_DUONG_THAI", "CHI_TIEU_DU_LIEU_GIAY_NGHI_DUONG_THAI"),
    "XML11": Layout(
        "CHI_TIEU_DU_LIEU_GIAY_CHUNG_NHAN_NGHI_VIEC_HUONG_BAO_HIEM_XA_HOI",
        "CHI_TIEU_DU_LIEU_GIAY_CHUNG_NHAN_NGHI_VIEC_HUONG_BAO_HIEM_XA_HOI",
    ),
    "XML12": Layout("CHI_TIEU_DU_LIEU_GIAM_DINH_Y_KHOA", "GIAM_DINH_Y_KHOA", "DSACH_GIAM_DINH_Y_KHOA"),
    "XML13": Layout("CHI_TIEU_GIAYCHUYENTUYEN", "CHI_TIEU_GIAYCHUYENTUYEN"),
    "XML14": Layout("CHI_TIEU_GIAYHEN_KHAMLAI", "CHI_TIEU_GIAYHEN_KHAMLAI"),
    "XML15": Layout("CHI_TIEU_DIEUTRI_BENHLAO", "CHITIET_DIEUTRI_BENHLAO", "DSACH_CHITIET_DIEUTRI_BENHLAO"),
}

#: table -> (Vietnamese title, English title)
TITLES: Final[Mapping[str, tuple[str, str]]] = {
    "XML0": ("Trạng thái khám bệnh, chữa bệnh (check-in)", "Check-in status"),
    "XML1": ("Chỉ tiêu tổng hợp khám bệnh, chữa bệnh", "Visit summary"),
    "XML2": ("Chỉ tiêu chi tiết thuốc", "Drugs"),
    "XML3": ("Chỉ tiêu chi tiết dịch vụ kỹ thuật và vật tư y tế", "Services and supplies"),
    "XML4": ("Chỉ tiêu chi tiết dịch vụ cận lâm sàng", "Paraclinical results"),
    "XML5": ("Chỉ tiêu chi tiết diễn biến lâm sàng", "Clinical progress"),
    "XML6": ("Hồ sơ bệnh án chăm sóc và điều trị HIV/AIDS", "HIV/AIDS care"),
    "XML7": ("Giấy ra viện", "Discharge paper"),
    "XML8": ("Tóm tắt hồ sơ bệnh án", "Record summary"),
    "XML9": ("Giấy chứng sinh", "Birth certificate"),
    "XML10": ("Giấy chứng nhận nghỉ dưỡng thai", "Pregnancy leave certificate"),
    "XML11": ("Giấy chứng nhận nghỉ việc hưởng bảo hiểm xã hội", "Sick leave certificate"),
    "XML12": ("Giám định y khoa", "Medical assessment"),
    "XML13": ("Giấy chuyển tuyến / chuyển cơ sở khám bệnh, chữa bệnh", "Referral paper"),
    "XML14": ("Giấy hẹn khám lại", "Re-visit appointment"),
    "XML15": ("Thông tin quản lý điều trị bệnh lao", "Tuberculosis treatment"),
}

#: (table, name in the table) -> the name Decision 3176 gives it
RENAMES: Final[Mapping[tuple[str, str], str]] = {
    ("XML13", "MA_NOI_DI"): "MA_CSKCB_DI",
    ("XML13", "MA_NOI_DEN"): "MA_CSKCB_DEN",
    ("XML13", "PP_DIEU_TRI"): "TINH_TRANG_CT",
}

#: (table, field) -> (type, size) where the text of Decision 3176 corrects its own table's column
CORRECTIONS: Final[Mapping[tuple[str, str], tuple[str, int | None]]] = {
    ("XML6", "MA_XU_TRI"): ("string", 10),
    ("XML3", "TT_THAU"): ("string", 50),
}

_DATETIME = "datetime"  # yyyymmddHHMM
_DATE = "date"  # yyyymmdd
_EITHER = "date-or-datetime"
_BIRTH = "birth"  # yyyymmddHHMM, day and month may be 00

#: field name -> format, in every table that has the field (see :data:`DATE_OVERRIDES`)
_DATE_BY_NAME: Final[Mapping[str, str]] = {
    "NGAY_SINH": _BIRTH,
    "NGAY_VAO": _DATETIME,
    "NGAY_VAO_NOI_TRU": _DATETIME,
    "NGAY_RA": _DATETIME,
    "NGAY_TTOAN": _DATETIME,
    "NGAY_YL": _DATETIME,
    "NGAY_TH_YL": _DATETIME,
    "NGAY_KQ": _DATETIME,
    "THOI_DIEM_DBLS": _DATETIME,
    "THOIGIAN_DINHCHI": _DATETIME,
    "NGAY_SINH_CON": _DATETIME,
    "NGAY_MIEN_CCT": _EITHER,
    "GT_THE_TU": _DATE,
    "GT_THE_DEN": _DATE,
    "NAM_NAM_LIEN_TUC": _DATE,
    "NGAY_TAI_KHAM": _DATE,
    "NGAY_CT": _DATE,
    "NGAY_HEN_KL": _DATE,
    "NGOAITRU_TUNGAY": _DATE,
    "NGOAITRU_DENNGAY": _DATE,
    "NGAY_SINHCON": _DATE,
    "NGAY_CONCHET": _DATE,
    "NGAYSINH_NND": _DATE,
    "NGAYCAP_CCCD_NND": _DATE,
    "TU_NGAY": _DATE,
    "DEN_NGAY": _DATE,
    "NGAY_HOP": _DATE,
    "NGAY_CAP_CCCD": _DATE,
    "NGAY_CHUNG_TU": _DATE,
    "NGAY_DE_NGHI": _DATE,
    "NGAYKD_HIV": _DATE,
    "BDDT_ARV": _DATE,
    "NGAYBD_DTRI_LAO": _DATE,
    "NGAYKT_DTRI_LAO": _DATE,
    "NGAY_XN_TLVR": _DATE,
    "NGAY_KQ_XN_TLVR": _DATE,
    "NGAY_XN_PCR": _DATE,
    "NGAY_KQ_XN_PCR": _DATE,
    "NGAY_NHAN_TT_MANG_THAI": _DATE,
    "NGAY_BAT_DAU_DT_CTX": _DATE,
    "NGAY_BAT_DAU_XU_TRI": _DATE,
    "NGAY_KET_THUC_XU_TRI": _DATE,
    "NGAY_CHUYEN_PHAC_DO": _DATE,
}
#: (table, field) -> format, where a table differs from the name's usual format
_DATE_OVERRIDES: Final[Mapping[tuple[str, str], str]] = {
    ("XML12", "NGAY_SINH"): _DATE,  # "Chuỗi 8": yyyymmdd in the medical-assessment table
}


def _date_fields() -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for table in LAYOUTS:
        for name, fmt in _DATE_BY_NAME.items():
            out[(table, name)] = _DATE_OVERRIDES.get((table, name), fmt)
    return out


#: (table, field) -> "datetime" | "date" | "date-or-datetime" | "birth" (for tables that have the field)
DATE_FIELDS: Final[Mapping[tuple[str, str], str]] = _date_fields()

#: fields holding several values separated by ";" (their explanations say so), in any table
LIST_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "MA_THE_BHYT",
        "MA_DKBD",
        "GT_THE_TU",
        "GT_THE_DEN",
        "MA_BENH_KT",
        "MA_BENH_YHCT",
        "MA_PTTT_QT",
        "MA_KHOA",
        "CAN_NANG_CON",
        "NGAY_TAI_KHAM",
        "MA_BENH",
        "MA_CSKCB_DI",
        "MA_BAC_SI",
        "NGUOI_THUC_HIEN",
    }
)

#: (table, field) -> at most this many ";"-separated values
MAX_ITEMS: Final[Mapping[tuple[str, str], int]] = {
    ("XML1", "MA_BENH_KT"): 12,
    ("XML13", "MA_BENH_KT"): 12,
    ("XML14", "MA_BENH_KT"): 12,
    ("XML1", "MA_BENH_YHCT"): 13,
}

#: (table, field) holding ICD-10 codes of the Ministry's list (one, or ";"-separated when a list field)
ICD10_FIELDS: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        ("XML1", "MA_BENH_CHINH"),
        ("XML1", "MA_BENH_KT"),
        ("XML3", "MA_BENH"),
        ("XML13", "MA_BENH_CHINH"),
        ("XML13", "MA_BENH_KT"),
        ("XML14", "MA_BENH_CHINH"),
        ("XML14", "MA_BENH_KT"),
    }
)

_SEX = {"1": "Nam", "2": "Nữ", "3": "Chưa xác định"}
_ZERO_ONE = {"0": "Không", "1": "Có"}
_MA_LOAI_KCB = {
    "01": "Khám bệnh",
    "02": "Điều trị ngoại trú",
    "03": "Điều trị nội trú",
    "04": "Điều trị nội trú ban ngày",
    "05": "Điều trị ngoại trú bệnh mạn tính dài ngày, có khám bệnh và lĩnh thuốc",
    "06": "Điều trị lưu tại Trạm Y tế tuyến xã, Phòng khám đa khoa khu vực",
    "07": "Nhận thuốc theo hẹn (không khám bệnh)",
    "08": "Điều trị ngoại trú bệnh mạn tính dài ngày, có khám bệnh, dịch vụ kỹ thuật và/hoặc thuốc",
    "09": "Điều trị nội trú dưới 04 giờ",
    "10": "Bộ mã DMDC (chưa xác minh)",
    "11": "Bộ mã DMDC (chưa xác minh)",
    "12": "Bộ mã DMDC (chưa xác minh)",
    "13": "Bộ mã DMDC (chưa xác minh)",
    "14": "Khám chữa bệnh từ xa (chưa xác minh)",
}
_KET_QUA_DTRI = {
    "1": "Khỏi",
    "2": "Đỡ",
    "3": "Không thay đổi",
    "4": "Nặng hơn",
    "5": "Tử vong tại cơ sở KBCB",
    "6": "Tiên lượng nặng xin về",
    "7": "Chưa xác định",
    "8": "Tử vong ngoại viện",
}
_MA_LOAI_RV = {
    "1": "Ra viện",
    "2": "Chuyển tuyến/chuyển cơ sở KBCB theo yêu cầu chuyên môn",
    "3": "Trốn viện",
    "4": "Xin ra viện",
    "5": "Chuyển tuyến/chuyển cơ sở KBCB theo yêu cầu người bệnh",
}
_PHAM_VI = {
    "1": "Được quỹ BHYT thanh toán",
    "2": "Người bệnh tự trả",
    "3": "Đối tượng quân đội, công an, cơ yếu (Nghị định 70/2015)",
}
_MA_PTTT = {"1": "Phí dịch vụ", "2": "Định suất", "3": "Trường hợp bệnh (DRG)"}
_LOAI_DTRI_LAO = {"0": "Không điều trị lao", "1": "Lao tiềm ẩn", "2": "Điều trị lao", "3": "Lao kháng thuốc"}


def _range(first: int, last: int) -> dict[str, str]:
    return {str(n): str(n) for n in range(first, last + 1)}


#: (table, field) -> code -> meaning, the closed lists the explanations define
CODES: Final[Mapping[tuple[str, str], Mapping[str, str]]] = {
    ("XML0", "GIOI_TINH"): _SEX,
    ("XML1", "GIOI_TINH"): _SEX,
    ("XML6", "GIOI_TINH"): _SEX,
    ("XML13", "GIOI_TINH"): _SEX,
    ("XML14", "GIOI_TINH"): _SEX,
    ("XML9", "GIOI_TINH_CON"): _SEX,
    ("XML0", "MA_LOAI_KCB"): _MA_LOAI_KCB,
    ("XML1", "MA_LOAI_KCB"): _MA_LOAI_KCB,
    ("XML8", "MA_LOAI_KCB"): _MA_LOAI_KCB,
    ("XML1", "KET_QUA_DTRI"): _KET_QUA_DTRI,
    ("XML8", "KET_QUA_DTRI"): _KET_QUA_DTRI,
    ("XML1", "MA_LOAI_RV"): _MA_LOAI_RV,
    ("XML13", "MA_LOAI_RV"): _MA_LOAI_RV,
    ("XML13", "MA_LYDO_CT"): {
        "1": "Đủ điều kiện chuyển tuyến/chuyển cơ sở KBCB",
        "2": "Không phù hợp với khả năng đáp ứng của cơ sở KBCB",
        "3": "Theo yêu cầu của người bệnh hoặc người đại diện hợp pháp",
    },
    ("XML2", "PHAM_VI"): _PHAM_VI,
    ("XML3", "PHAM_VI"): _PHAM_VI,
    ("XML2", "MA_PTTT"): _MA_PTTT,
    ("XML3", "MA_PTTT"): _MA_PTTT,
    ("XML2", "NGUON_CTRA"): {
        "1": "Quỹ BHYT chi trả",
        "2": "Dự án hoặc viện trợ",
        "3": "Chương trình mục tiêu quốc gia",
        "4": "Nguồn khác",
    },
    ("XML2", "VET_THUONG_TP"): {"1": "Vết thương, bệnh tật tái phát"},
    ("XML3", "VET_THUONG_TP"): {"1": "Vết thương, bệnh tật tái phát"},
    ("XML3", "PP_VO_CAM"): {"1": "Gây mê", "2": "Gây tê", "3": "Châm tê", "4": "Phương pháp vô cảm khác"},
    ("XML3", "TAI_SU_DUNG"): {"1": "Vật tư y tế tái sử dụng"},
    ("XML7", "MA_DINH_CHI_THAI"): _ZERO_ONE,
    ("XML11", "MA_DINH_CHI_THAI"): _ZERO_ONE,
    ("XML9", "SINHCON_PHAUTHUAT"): _ZERO_ONE,
    ("XML9", "SINHCON_DUOI32TUAN"): _ZERO_ONE,
    ("XML12", "CHUC_VU"): {"1": "Chủ tịch", "2": "Người ký thay chủ tịch"},
    ("XML12", "KHAM_GIAM_DINH"): _range(1, 8),
    ("XML12", "DANG_KHUYETTAT"): _range(1, 6),
    ("XML12", "MUC_DO_KHUYETTAT"): _range(1, 4),
    ("XML6", "MA_BAC_PHAC_DO_BD"): _range(1, 3),
    ("XML6", "MA_BAC_PHAC_DO"): _range(1, 3),
    ("XML6", "MA_LYDO_DTRI"): _range(1, 5),
    ("XML6", "LOAI_DTRI_LAO"): _LOAI_DTRI_LAO,
    ("XML6", "SANG_LOC_LAO"): _range(1, 4),
    ("XML6", "KQ_DTRI_LAO"): _range(1, 7),
    ("XML6", "MA_LYDO_XNTL_VR"): _range(1, 3),
    ("XML6", "KQ_XNTL_VR"): _range(1, 5),
    ("XML6", "MA_LOAI_BN"): _range(1, 5),
    ("XML6", "GIAI_DOAN_LAM_SANG"): _range(1, 4),
    ("XML6", "NHOM_DOI_TUONG"): _range(1, 11),
    ("XML6", "LAN_XN_PCR"): _range(1, 3),
    ("XML6", "MA_KQ_XN_PCR"): _range(0, 1),
    ("XML6", "LY_DO_CHUYEN_PHAC_DO"): _range(1, 6),
    ("XML15", "PHANLOAI_LAO_VITRI"): _range(1, 2),
    ("XML15", "PHANLOAI_LAO_TS"): _range(1, 6),
    ("XML15", "PHANLOAI_LAO_HIV"): _range(1, 3),
    ("XML15", "PHANLOAI_LAO_VK"): _range(1, 2),
    ("XML15", "PHANLOAI_LAO_KT"): _range(1, 6),
    ("XML15", "LOAI_DTRI_LAO"): _LOAI_DTRI_LAO,
    ("XML15", "KET_QUA_DTRI_LAO"): _range(1, 6),
}

#: field name -> (regular expression, what it means in Vietnamese, in English), in any table
PATTERNS: Final[Mapping[str, tuple[str, str, str]]] = {
    "MA_CSKCB": (r"[0-9A-Z]{5}", "mã cơ sở KBCB gồm 5 ký tự", "a 5-character facility code"),
    "MA_NOI_DI": (r"[0-9A-Z]{5}", "mã cơ sở KBCB gồm 5 ký tự", "a 5-character facility code"),
    "MA_NOI_DEN": (r"[0-9A-Z]{5}", "mã cơ sở KBCB gồm 5 ký tự", "a 5-character facility code"),
    "MA_CSKCB_DI": (r"[0-9A-Z]{5}", "mã cơ sở KBCB gồm 5 ký tự", "a 5-character facility code"),
    "MA_CSKCB_DEN": (r"[0-9A-Z]{5}", "mã cơ sở KBCB gồm 5 ký tự", "a 5-character facility code"),
    "MA_DKBD": (r"[0-9A-Z]{5}", "mã cơ sở KBCB gồm 5 ký tự", "a 5-character facility code"),
    "MA_THE_BHYT": (
        r"[A-Z]{2}[1-5][0-9]{12}",
        "mã thẻ BHYT gồm 15 ký tự (2 chữ, mức hưởng 1–5, 12 chữ số)",
        "a 15-character insurance card number (2 letters, benefit level 1–5, 12 digits)",
    ),
    "MA_DANTOC": (r"(0[1-9]|[1-4][0-9]|5[0-5])", "mã dân tộc 01–55", "an ethnic-group code 01–55"),
    "MATINH_CU_TRU": (r"[0-9]{2,3}", "mã tỉnh gồm chữ số", "a numeric province code"),
    "MAXA_CU_TRU": (r"[0-9]{5}", "mã xã gồm 5 chữ số", "a 5-digit commune code"),
    "NAM_QT": (r"(19|20)[0-9]{2}", "năm gồm 4 chữ số", "a 4-digit year"),
    "THANG_QT": (r"([1-9]|1[0-2])", "tháng 1–12", "a month 1–12"),
    "CAN_NANG": (
        r"[0-9]{1,3}(\.[0-9]{1,2})?",
        "số kg, tối đa 2 chữ số thập phân",
        "kilograms, 2 decimals at most",
    ),
}

#: table -> the fields it requires (see the module docstring)
REQUIRED: Final[Mapping[str, frozenset[str]]] = {
    "XML0": frozenset(
        {"MA_LK", "STT", "MA_BN", "HO_TEN", "NGAY_SINH", "GIOI_TINH", "NGAY_VAO", "MA_LOAI_KCB", "MA_CSKCB"}
    ),
    "XML1": frozenset(
        {
            "MA_LK",
            "STT",
            "MA_BN",
            "HO_TEN",
            "NGAY_SINH",
            "GIOI_TINH",
            "CHAN_DOAN_RV",
            "MA_BENH_CHINH",
            "NGAY_VAO",
            "NGAY_RA",
            "SO_NGAY_DTRI",
            "KET_QUA_DTRI",
            "MA_LOAI_RV",
            "NAM_QT",
            "THANG_QT",
            "MA_LOAI_KCB",
            "MA_CSKCB",
        }
    ),
    "XML2": frozenset({"MA_LK", "STT", "MA_THUOC", "TEN_THUOC", "DON_VI_TINH", "SO_LUONG", "NGAY_YL"}),
    "XML3": frozenset({"MA_LK", "STT", "MA_NHOM", "DON_VI_TINH", "SO_LUONG", "NGAY_YL"}),
    "XML4": frozenset({"MA_LK", "STT", "TEN_CHI_SO"}),
    "XML5": frozenset({"MA_LK", "STT", "DIEN_BIEN_LS", "THOI_DIEM_DBLS"}),
    "XML6": frozenset({"MA_LK", "MA_CSKCB"}),
    "XML7": frozenset({"MA_LK", "MA_YTE", "NGAY_VAO", "NGAY_RA", "CHAN_DOAN_RV", "NGAY_CT"}),
    "XML8": frozenset(
        {"MA_LK", "MA_LOAI_KCB", "NGAY_VAO", "NGAY_RA", "CHAN_DOAN_RV", "KET_QUA_DTRI", "NGAY_CT"}
    ),
    "XML9": frozenset({"MA_LK", "HO_TEN_NND", "NGAY_SINH_CON", "GIOI_TINH_CON", "NGAY_CT"}),
    "XML10": frozenset({"MA_LK", "SO_NGAY", "TU_NGAY", "DEN_NGAY", "NGAY_CT"}),
    "XML11": frozenset({"MA_LK", "SO_NGAY_NGHI", "TU_NGAY", "DEN_NGAY", "NGAY_CT"}),
    "XML12": frozenset({"HO_TEN", "NGAY_SINH", "NGAY_HOP"}),
    "XML13": frozenset(
        {
            "MA_LK",
            "SO_HOSO",
            "MA_CSKCB",
            "MA_CSKCB_DEN",
            "HO_TEN",
            "NGAY_SINH",
            "GIOI_TINH",
            "NGAY_VAO",
            "NGAY_RA",
            "CHAN_DOAN_RV",
            "MA_BENH_CHINH",
            "MA_LOAI_RV",
            "MA_LYDO_CT",
        }
    ),
    "XML14": frozenset(
        {
            "MA_LK",
            "SO_GIAYHEN_KL",
            "MA_CSKCB",
            "HO_TEN",
            "NGAY_SINH",
            "GIOI_TINH",
            "NGAY_VAO",
            "NGAY_RA",
            "NGAY_HEN_KL",
            "CHAN_DOAN_RV",
            "MA_BENH_CHINH",
            "NGAY_CT",
        }
    ),
    "XML15": frozenset({"MA_LK", "STT", "MA_BN", "HO_TEN", "MA_CSKCB"}),
}

#: table -> groups of fields of which at least one must be filled (a service line names its service or
#: its supply)
ONE_OF: Final[Mapping[str, tuple[frozenset[str], ...]]] = {
    "XML3": (frozenset({"MA_DICH_VU", "MA_VAT_TU"}),),
}
