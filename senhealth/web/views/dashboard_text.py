"""The texts of the province's dashboards in both languages, and how their numbers and periods read.

Kept here (a page-local table, like :data:`senhealth.web.views.dashboard_checkup.TEXT`) rather than in the
pages' message catalogue, so that the pages land without editing the shared catalogue; moving them is a
mechanical change (docs/web-dashboards.md).
"""

from __future__ import annotations

from typing import Final

from senhealth.analytics.indicators import Indicator, Period

__all__ = ["MEASURE_TITLES", "TEXT", "fmt_value", "indicator_title", "period_label", "text_of"]

TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "dashboards": "Bảng điều khiển",
        "overview": "Tổng quan y tế toàn tỉnh",
        "period": "Kỳ báo cáo",
        "months": "Tháng",
        "quarters": "Quý",
        "years": "Năm",
        "province": "Tỉnh, thành phố",
        "show": "Xem",
        "indicator": "Chỉ số",
        "value": "Giá trị",
        "numerator": "Tử số",
        "denominator": "Mẫu số",
        "version": "Phiên bản",
        "trend": "Xu hướng 12 kỳ",
        "details": "Bản đồ, bảng và xu hướng",
        "not_computed": "Chưa tính được",
        "province_only": "Chỉ có số liệu toàn tỉnh",
        "map": "Bản đồ theo xã",
        "map_of": "Bản đồ {indicator}, {period}",
        "map_indicator": "Chỉ số trên bản đồ",
        "no_data": "Không có số liệu",
        "no_data_of": "{name}: không có số liệu",
        "legend": "Chú giải",
        "below": "dưới {high}",
        "from_to": "{low} đến dưới {high}",
        "from": "từ {low} trở lên",
        "commune": "Xã, phường",
        "communes": "Các xã, phường",
        "code": "Mã",
        "facility": "Cơ sở y tế",
        "facilities": "Các cơ sở y tế trong xã",
        "key": "Mã",
        "label": "Tên",
        "total": "Toàn tỉnh",
        "csv": "Tải CSV",
        "xlsx": "Tải Excel (XLSX)",
        "pdf": "Tải PDF",
        "summary_caption": "Các chỉ số của {area}, {period}",
        "rows_caption": "{indicator}, {period}: chi tiết",
        "trend_caption": "{title}: 12 kỳ gần nhất",
        "period_col": "Kỳ",
        "commune_page": "Xã, phường {name}",
        "facility_page": "{name}",
        "facility_caption": "Các chỉ số của cơ sở, {period}",
        "reports": "Báo cáo",
        "bct14": "Biểu 14/BCT: bệnh tật, tử vong theo chương ICD-10",
        "bct14_caption": "Biểu 14/BCT, tháng {month}/{year}, {province}",
        "chapter": "Chương",
        "icd_range": "Mã ICD-10",
        "chapter_name": "Tên chương bệnh",
        "unclassified": "Không có mã ICD-10",
        "year": "Năm",
        "month": "Tháng",
        "scheduled": "Báo cáo định kỳ (PDF)",
        "scheduled_caption": "Các báo cáo tháng đã lập tự động",
        "scheduled_none": "Chưa có báo cáo định kỳ nào được lưu.",
        "created": "Lập lúc",
        "download": "Tải về",
        "size": "Dung lượng",
        "drill": "Xem chi tiết",
        "back_province": "Về tổng quan toàn tỉnh",
        "own_facility": "Bạn xem số liệu của cơ sở mình.",
        "assumptions": "Giả định của biểu",
        "forbidden": "Bảng điều khiển này dành cho cán bộ Sở Y tế, CDC và chuyên viên phân tích dữ liệu; "
        "quản trị cơ sở xem trang của cơ sở mình.",
        "forbidden_facility": "Bạn chỉ xem được bảng điều khiển của cơ sở mình.",
        "bad_period": "Kỳ báo cáo không hợp lệ (YYYYMM, YYYYQn hoặc YYYY).",
        "bad_province": "Mã tỉnh không hợp lệ hoặc không có bản đồ.",
        "bad_indicator": "Chỉ số không có trong thư viện.",
        "bad_format": "Định dạng không hỗ trợ.",
        "bad_table": "Không có bảng này.",
        "bad_month": "Năm hoặc tháng không hợp lệ.",
        "no_commune": "Không có xã, phường này trong tỉnh.",
        "no_facility": "Không có cơ sở y tế này.",
        "no_report": "Không có báo cáo này.",
        "no_province": "Chưa có cơ sở y tế nào: chưa có số liệu.",
    },
    "en": {
        "dashboards": "Dashboards",
        "overview": "The province's health at a glance",
        "period": "Period",
        "months": "Months",
        "quarters": "Quarters",
        "years": "Years",
        "province": "Province",
        "show": "Show",
        "indicator": "Indicator",
        "value": "Value",
        "numerator": "Numerator",
        "denominator": "Denominator",
        "version": "Version",
        "trend": "Trend over 12 periods",
        "details": "Map, table and trend",
        "not_computed": "Not computed",
        "province_only": "Province-wide only",
        "map": "Map by commune",
        "map_of": "Map of {indicator}, {period}",
        "map_indicator": "Indicator on the map",
        "no_data": "No data",
        "no_data_of": "{name}: no data",
        "legend": "Legend",
        "below": "below {high}",
        "from_to": "{low} to below {high}",
        "from": "{low} or more",
        "commune": "Commune",
        "communes": "Communes",
        "code": "Code",
        "facility": "Facility",
        "facilities": "Facilities in the commune",
        "key": "Key",
        "label": "Name",
        "total": "Province total",
        "csv": "Download CSV",
        "xlsx": "Download Excel (XLSX)",
        "pdf": "Download PDF",
        "summary_caption": "Indicators of {area}, {period}",
        "rows_caption": "{indicator}, {period}: breakdown",
        "trend_caption": "{title}: the last 12 periods",
        "period_col": "Period",
        "commune_page": "Commune {name}",
        "facility_page": "{name}",
        "facility_caption": "The facility's indicators, {period}",
        "reports": "Reports",
        "bct14": "Form 14/BCT: morbidity and mortality by ICD-10 chapter",
        "bct14_caption": "Form 14/BCT, {month}/{year}, {province}",
        "chapter": "Chapter",
        "icd_range": "ICD-10 codes",
        "chapter_name": "Chapter",
        "unclassified": "No ICD-10 code",
        "year": "Year",
        "month": "Month",
        "scheduled": "Scheduled reports (PDF)",
        "scheduled_caption": "Monthly reports made on schedule",
        "scheduled_none": "No scheduled report has been stored yet.",
        "created": "Made",
        "download": "Download",
        "size": "Size",
        "drill": "Details",
        "back_province": "Back to the province overview",
        "own_facility": "You see your own facility.",
        "assumptions": "The form's assumptions",
        "forbidden": "These dashboards are for the provincial health department, CDC officers and data "
        "analysts; facility administrators see their own facility's page.",
        "forbidden_facility": "You may only see your own facility's dashboard.",
        "bad_period": "Invalid period (YYYYMM, YYYYQn or YYYY).",
        "bad_province": "Invalid province code, or no map of it.",
        "bad_indicator": "No such indicator in the library.",
        "bad_format": "Unsupported format.",
        "bad_table": "No such table.",
        "bad_month": "Invalid year or month.",
        "no_commune": "No such commune in the province.",
        "no_facility": "No such facility.",
        "no_report": "No such report.",
        "no_province": "No facility yet: no numbers.",
    },
}

MEASURE_TITLES: Final[dict[str, tuple[str, str]]] = {
    "emr-adoption": (
        "Tỷ lệ lượt khám có hồ sơ bệnh án điện tử đã ký số",
        "Share of visits with a signed EMR",
    ),
    "visits": ("Lượt khám chữa bệnh", "Visits"),
    "referrals-out": ("Chuyển tuyến đi", "Referrals sent"),
    "referrals-in": ("Chuyển tuyến đến", "Referrals received"),
    "telemedicine-volume": ("Lượt khám chữa bệnh từ xa", "Telemedicine volume"),
    "dq-missing-personal-id": (
        "Tỷ lệ người bệnh thiếu số định danh cá nhân",
        "Patients seen without a personal ID",
    ),
}


def text_of(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "vi"]


def indicator_title(indicator: Indicator, lang: str) -> str:
    return indicator.title_en if lang == "en" else indicator.title_vi


def period_label(period: Period, lang: str) -> str:
    if "Q" in period.id:
        quarter = period.id[-1]
        return f"Q{quarter} {period.year}" if lang == "en" else f"Quý {quarter}/{period.year}"
    if len(period.id) == 4:
        return period.id if lang == "en" else f"Năm {period.id}"
    return f"{period.start:%m/%Y}"


def fmt_value(value: float | None, kind: str, lang: str) -> str:
    """A value as the page shows it: a percentage, a rate per 100,000 or a count."""
    if value is None:
        return "–"
    if kind == "ratio":
        text = f"{100 * value:.1f}"
        return f"{text.replace('.', ',')} %" if lang == "vi" else f"{text}%"
    if kind == "per100k":
        text = f"{value:.1f}"
        return text.replace(".", ",") if lang == "vi" else text
    text = f"{value:,.0f}"
    return text.replace(",", ".") if lang == "vi" else text
