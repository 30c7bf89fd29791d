"""The packaged field tables and the field-by-field validation of a claim table.

Spec: the field tables of Decision 130/QĐ-BYT as amended by 4750/QĐ-BYT and 3176/QĐ-BYT
(``../shared/data/claim-xml``, packaged in senhealth/emr/claims/data).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from senhealth.emr.claims import derive_tables
from senhealth.emr.claims.tables import TABLE_NAMES, source_document, table, tables
from senhealth.emr.claims.validate import FieldError, validate_table
from senhealth.emr.claims.xml_tables import write_table

SOURCE = Path(__file__).resolve().parents[4] / "shared" / "data" / "claim-xml"
DATA = Path(derive_tables.__file__).resolve().parent / "data"


@pytest.mark.skipif(not SOURCE.is_dir(), reason="the Ministry's tables (../shared) are not here")
@pytest.mark.parametrize("edition", sorted(derive_tables.EDITIONS))
def test_packaged_tables_are_the_source_tables(edition: str) -> None:
    derived = derive_tables.serialise(derive_tables.derive(SOURCE, edition))
    assert (DATA / f"claim-tables-{edition}.json.gz").read_bytes() == derived, "re-run derive_tables"


def test_every_table_with_its_fields_types_and_sizes() -> None:
    assert list(tables()) == list(TABLE_NAMES) == [f"XML{n}" for n in range(16)]
    sizes = {name: len(spec.fields) for name, spec in tables().items()}
    assert sizes["XML1"] == 66 and sizes["XML2"] == 39 and sizes["XML3"] == 47 and sizes["XML4"] == 12
    assert sizes["XML5"] == 9 and sizes["XML0"] == 26 and sizes["XML13"] == 39 and sizes["XML14"] == 22
    xml1 = table("xml1")
    assert [f.stt for f in xml1.fields] == list(range(1, 67))
    ma_lk = xml1.field("MA_LK")
    assert ma_lk is not None and (ma_lk.kind, ma_lk.max_size, ma_lk.required) == ("string", 100, True)
    cccd = xml1.field("SO_CCCD")
    assert cccd is not None and cccd.max_size is None  # "n": no limit (Decision 3176)
    sex = xml1.field("GIOI_TINH")
    assert (
        sex is not None
        and sex.kind == "number"
        and dict(sex.codes or {})
        == {
            "1": "Nam",
            "2": "Nữ",
            "3": "Chưa xác định",
        }
    )
    result = xml1.field("KET_QUA_DTRI")
    assert result is not None and list(result.codes or {}) == [str(n) for n in range(1, 9)]
    quantity = table("XML2").field("SO_LUONG")
    assert quantity is not None and quantity.decimals == 3  # "làm tròn số đến 3 chữ số thập phân"
    assert quantity.explanation.startswith("Ghi số lượng thuốc")  # the latest official text
    assert source_document()["edition"] == "qd3176"
    assert source_document("qd4750")["tables"]["XML1"]["fields"][0]["name"] == "MA_LK"


def test_decision_3176_renames_and_corrections() -> None:
    referral = table("XML13")
    assert referral.field("MA_CSKCB_DEN") is referral.field("MA_NOI_DEN")  # the old name still reads
    assert referral.by_name["MA_CSKCB_DI"].former_names == ("MA_NOI_DI",)
    assert referral.field("TINH_TRANG_CT") is not None and referral.field("PP_DIEUTRI") is not None
    treatment = table("XML6").field("MA_XU_TRI")
    assert treatment is not None and (treatment.kind, treatment.max_size) == ("string", 10)
    tender = table("XML3").field("TT_THAU")
    assert tender is not None and tender.max_size == 50


def _xml1(**fields: str) -> dict[str, str]:
    base = {
        "MA_LK": "LK001",
        "STT": "1",
        "MA_BN": "BN1",
        "HO_TEN": "Nguyễn Văn An",
        "NGAY_SINH": "198506150000",
        "GIOI_TINH": "1",
        "CHAN_DOAN_RV": "Viêm phổi",
        "MA_BENH_CHINH": "J18.9",
        "NGAY_VAO": "202503100815",
        "NGAY_RA": "202503141030",
        "SO_NGAY_DTRI": "5",
        "KET_QUA_DTRI": "2",
        "MA_LOAI_RV": "1",
        "NAM_QT": "2025",
        "THANG_QT": "3",
        "MA_LOAI_KCB": "03",
        "MA_CSKCB": "01001",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v}


def _errors(name: str, records: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(e.expression, e.code) for e in validate_table(name, write_table(name, records))]


def test_a_valid_table_has_no_error() -> None:
    assert _errors("XML1", [_xml1()]) == []
    assert (
        _errors(
            "XML1", [_xml1(MA_BENH_KT="I10;E11.9", NGAY_SINH="198500000000", MA_THE_BHYT="DN4010123456789")]
        )
        == []
    )
    assert _errors("XML1", [_xml1(MA_BENH_CHINH="J189")]) == []  # ICD-10 without the dot


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"HO_TEN": ""}, ("XML1[1].HO_TEN", "required")),
        ({"GIOI_TINH": "4"}, ("XML1[1].GIOI_TINH", "code")),
        ({"GIOI_TINH": "nam"}, ("XML1[1].GIOI_TINH", "type")),
        ({"NGAY_VAO": "20250230 0815"}, ("XML1[1].NGAY_VAO", "format")),
        ({"NGAY_VAO": "202502300815"}, ("XML1[1].NGAY_VAO", "format")),
        ({"NGAY_RA": "20250314"}, ("XML1[1].NGAY_RA", "format")),
        ({"NGAY_SINH": "198513150000"}, ("XML1[1].NGAY_SINH", "format")),
        ({"MA_BENH_CHINH": "Z99.99"}, ("XML1[1].MA_BENH_CHINH", "icd10")),
        ({"MA_BENH_KT": "I10;;E11.9"}, ("XML1[1].MA_BENH_KT", "format")),
        ({"MA_BENH_KT": ";".join(["I10"] * 13)}, ("XML1[1].MA_BENH_KT", "length")),
        ({"MA_LK": "X" * 101}, ("XML1[1].MA_LK", "length")),
        ({"MA_LOAI_RV": "6"}, ("XML1[1].MA_LOAI_RV", "code")),
        ({"MA_LOAI_KCB": "3"}, ("XML1[1].MA_LOAI_KCB", "code")),
        ({"KET_QUA_DTRI": "9"}, ("XML1[1].KET_QUA_DTRI", "code")),
        ({"MA_CSKCB": "1001"}, ("XML1[1].MA_CSKCB", "pattern")),
        ({"MA_THE_BHYT": "DN40101234"}, ("XML1[1].MA_THE_BHYT", "pattern")),
        ({"T_TONGCHI_BV": "1.000.000"}, ("XML1[1].T_TONGCHI_BV", "type")),
        ({"T_TONGCHI_BV": "1" * 16}, ("XML1[1].T_TONGCHI_BV", "length")),
    ],
)
def test_each_fault_names_table_record_and_field(fields: dict[str, str], expected: tuple[str, str]) -> None:
    assert _errors("XML1", [_xml1(**fields)]) == [expected]


def test_rows_of_a_list_table_are_numbered_from_one() -> None:
    def drug(n: int, **fields: str) -> dict[str, str]:
        row = {
            "MA_LK": "LK001",
            "STT": str(n),
            "MA_THUOC": "05.1020",
            "TEN_THUOC": "Paracetamol",
            "DON_VI_TINH": "Viên",
            "SO_LUONG": "10",
            "NGAY_YL": "202503100840",
        }
        row.update(fields)
        return row

    rows = [drug(1), drug(2), drug(3, SO_LUONG="10.1234"), drug(4, PHAM_VI="5", MA_THUOC="")]
    assert _errors("XML2", rows) == [
        ("XML2[3].SO_LUONG", "type"),  # 4 decimals where the table rounds to 3
        ("XML2[4].MA_THUOC", "required"),
        ("XML2[4].PHAM_VI", "code"),
    ]
    supply = {
        "MA_LK": "LK001",
        "STT": "1",
        "MA_NHOM": "10",
        "DON_VI_TINH": "Cái",
        "SO_LUONG": "1",
        "NGAY_YL": "202503100840",
    }
    assert _errors("XML3", [supply]) == [("XML3[1].MA_DICH_VU", "required")]  # a service or a supply
    assert _errors("XML3", [{**supply, "MA_VAT_TU": "N03.02.070"}]) == []


def test_structural_faults() -> None:
    good = write_table(
        "XML2",
        [
            {
                "MA_LK": "LK",
                "STT": "1",
                "MA_THUOC": "x",
                "TEN_THUOC": "y",
                "DON_VI_TINH": "z",
                "SO_LUONG": "1",
                "NGAY_YL": "202501010000",
            }
        ],
    )
    unknown = good.replace(b"<DU_PHONG/>", b"<DU_PHONG/><MA_LA/>")
    assert [(e.expression, e.code) for e in validate_table("XML2", unknown)] == [("XML2[1].MA_LA", "unknown")]
    twice = good.replace(b"<DU_PHONG/>", b"<DU_PHONG/><MA_THUOC>x</MA_THUOC>")
    assert [(e.expression, e.code) for e in validate_table("XML2", twice)] == [
        ("XML2[1].MA_THUOC", "duplicate")
    ]
    wrong_root = [(e.expression, e.code) for e in validate_table("XML2", b"<TONG_HOP/>")]
    assert wrong_root == [("XML2", "structure")]
    empty = [
        (e.expression, e.code)
        for e in validate_table(
            "XML2", b"<CHITIEU_CHITIET_THUOC><DSACH_CHI_TIET_THUOC/></CHITIEU_CHITIET_THUOC>"
        )
    ]
    assert empty == [("XML2", "structure")]
    assert [e.code for e in validate_table("XML2", b"<not closed")] == ["structure"]
    renamed = write_table("XML13", [{"MA_LK": "LK", "MA_CSKCB_DEN": "01002"}]).replace(
        b"MA_CSKCB_DEN>", b"MA_NOI_DEN>"
    )
    assert ("XML13[1].MA_CSKCB_DEN", "required") not in [
        (e.expression, e.code) for e in validate_table("XML13", renamed)
    ]


def test_messages_are_vietnamese_then_english() -> None:
    error = validate_table("XML1", write_table("XML1", [_xml1(GIOI_TINH="4")]))[0]
    assert isinstance(error, FieldError)
    assert (error.table, error.record, error.field, error.value) == ("XML1", 1, "GIOI_TINH", "4")
    assert "không có trong danh mục" in error.message_vi and "is not one of 1, 2, 3" in error.message_en
    assert error.message == f"XML1[1].GIOI_TINH: {error.message_vi} / {error.message_en}"
