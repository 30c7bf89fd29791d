"""The province's check-up dashboard: ``GET /dashboards/checkup`` (issue 7 build item 6; docs/dashboards.md).

``?year=Y&indicator=coverage|htn-control|dm-control|seen[&province=NN][&sort=name|code|numerator|
denominator|rate&dir=asc|desc][&format=csv][&lang=en]``: a choropleth map of the province's communes
(:mod:`.dashboard_choropleth`) beside a table of the same numbers (the map's text alternative, sortable
by links, so it works without script), the province's total, and the table as CSV. The numbers are
:func:`senhealth.checkup.dashboard.checkup_dashboard` (aggregates only: no person is named or listed).

Who may see it: the provincial roles (provincial health officer, CDC officer, data analyst) see every
commune; a facility administrator sees the commune of their own station only; everyone else gets 403.

The dashboard's texts are kept here in both languages (:data:`TEXT`) rather than in the pages' message
catalogue, so that the page can land without a change to the shared catalogue; moving them there is a
mechanical change (docs/dashboards.md).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from typing import Any, Final
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.checkup.dashboard import INDICATORS, CheckupDashboard, CommuneIndicators, checkup_dashboard
from senhealth.core.geo import ProvinceMap, province_map, province_of_commune
from senhealth.web.context import PageError, lang_of, render, require_staff, state
from senhealth.web.sessions import Session
from senhealth.web.views.dashboard_choropleth import RATE_BREAKS, Area, choropleth_svg, class_of, legend

__all__ = ["PROVINCIAL_ROLES", "ROUTES", "TEXT", "dashboard_checkup"]

ZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")
CSS: Final = "/static/web/dashboard.css"
PROVINCIAL_ROLES: Final = frozenset({"provincial_officer", "cdc_officer", "data_analyst"})
"""Roles that see every commune of the province."""
SORTS: Final = ("name", "code", "numerator", "denominator", "rate")

TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "page": "Khám sức khỏe và quản lý bệnh mạn tính theo xã",
        "dashboards": "Bảng điều khiển",
        "year": "Năm",
        "indicator": "Chỉ số",
        "province": "Tỉnh, thành phố",
        "show": "Xem",
        "coverage": "Tỷ lệ khám sức khỏe định kỳ",
        "coverage.num": "Đã khám",
        "coverage.den": "Dân số đích",
        "htn-control": "Kiểm soát huyết áp (tăng huyết áp)",
        "htn-control.num": "Huyết áp < 140/90 lần đo gần nhất",
        "htn-control.den": "Người bệnh tăng huyết áp được quản lý",
        "dm-control": "Kiểm soát đường huyết (đái tháo đường)",
        "dm-control.num": "Đường huyết đạt mục tiêu",
        "dm-control.den": "Người bệnh đái tháo đường được quản lý",
        "seen": "Được khám lại trong 3 tháng",
        "seen.num": "Có lần khám trong 90 ngày",
        "seen.den": "Người bệnh mạn tính được quản lý",
        "commune": "Xã, phường",
        "code": "Mã",
        "rate": "Tỷ lệ",
        "total": "Toàn tỉnh",
        "no_data": "Không có số liệu",
        "no_data_of": "{name}: không có số liệu",
        "unknown_commune": "Trạm chưa ghi mã xã",
        "legend": "Chú giải",
        "below": "dưới {high}",
        "from_to": "{low} đến dưới {high}",
        "from": "từ {low} trở lên",
        "csv": "Tải bảng (CSV)",
        "as_of": "Chỉ số quản lý bệnh mạn tính tính đến {when}.",
        "table_caption": "{indicator}, năm {year}: số liệu từng xã (bản đồ thể hiện cùng số liệu)",
        "map_title": "Bản đồ {indicator}, năm {year}",
        "sorted_asc": "sắp xếp tăng dần",
        "sorted_desc": "sắp xếp giảm dần",
        "unmeasured": "Chưa có kết quả đo: {n}",
        "own_commune": "Bạn xem số liệu xã của cơ sở mình.",
        "forbidden": "Bảng điều khiển này dành cho cán bộ Sở Y tế, CDC, chuyên viên phân tích dữ liệu và "
        "quản trị cơ sở (xã của mình).",
        "no_station": "Cơ sở của bạn không phải trạm y tế xã có người dân đăng ký.",
        "bad_year": "Năm không hợp lệ.",
        "bad_indicator": "Chỉ số không hợp lệ.",
        "bad_province": "Không có bản đồ của tỉnh này.",
        "no_map": "Chưa có trạm y tế xã nào có người dân đăng ký: chưa có bản đồ.",
    },
    "en": {
        "page": "Check-ups and chronic-disease care by commune",
        "dashboards": "Dashboards",
        "year": "Year",
        "indicator": "Indicator",
        "province": "Province",
        "show": "Show",
        "coverage": "Check-up coverage",
        "coverage.num": "Checked up",
        "coverage.den": "Target population",
        "htn-control": "Blood pressure control (hypertension)",
        "htn-control.num": "Latest BP < 140/90",
        "htn-control.den": "Patients in the hypertension registry",
        "dm-control": "Glycaemic control (diabetes)",
        "dm-control.num": "Glycaemia at target",
        "dm-control.den": "Patients in the diabetes registry",
        "seen": "Seen within 3 months",
        "seen.num": "Visit within 90 days",
        "seen.den": "Patients in the chronic-disease registries",
        "commune": "Commune",
        "code": "Code",
        "rate": "Rate",
        "total": "Province total",
        "no_data": "No data",
        "no_data_of": "{name}: no data",
        "unknown_commune": "Stations with no commune code",
        "legend": "Legend",
        "below": "below {high}",
        "from_to": "{low} to below {high}",
        "from": "{low} or more",
        "csv": "Download the table (CSV)",
        "as_of": "Chronic-disease indicators as of {when}.",
        "table_caption": "{indicator}, {year}: each commune's numbers (the map shows the same numbers)",
        "map_title": "Map of {indicator}, {year}",
        "sorted_asc": "sorted ascending",
        "sorted_desc": "sorted descending",
        "unmeasured": "No reading on record: {n}",
        "own_commune": "You see your own station's commune.",
        "forbidden": "This dashboard is for the provincial health department, CDC officers, data analysts and "
        "facility administrators (their own commune).",
        "no_station": "Your facility is not a commune health station with registered citizens.",
        "bad_year": "Invalid year.",
        "bad_indicator": "Invalid indicator.",
        "bad_province": "There is no map of this province.",
        "no_map": "No commune health station has registered citizens yet: no map.",
    },
}


def _refusal(status: int, tx: dict[str, str], key: str) -> PageError:
    """The page's refusal in the user's language (the texts are this page's own bilingual table)."""
    return PageError(status, tx[key])


def _text(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "vi"]


def _percent(rate: float | None, lang: str) -> str:
    if rate is None:
        return "–"
    text = f"{100 * rate:.1f}"
    return f"{text.replace('.', ',')} %" if lang == "vi" else f"{text}%"


def _bound(value: float, lang: str) -> str:
    text = f"{100 * value:.0f}"
    return f"{text} %" if lang == "vi" else f"{text}%"


def _scope(found: Session, tx: dict[str, str]) -> list[str] | None:
    """The communes the user may see: None for all (provincial roles), else their own station."""
    if found.role in PROVINCIAL_ROLES:
        return None
    if found.role == "facility_admin" and found.facility:
        return [found.facility.removeprefix("Organization/")]
    raise _refusal(403, tx, "forbidden")


def _int(value: str | None, default: int) -> int | None:
    if value is None or value == "":
        return default
    return int(value) if value.isdigit() else None


def _province(board: CheckupDashboard, asked: str | None, tx: dict[str, str]) -> ProvinceMap | None:
    """The map asked for, else the province of most of the stations' communes (None: no station)."""
    if asked:
        try:
            return province_map(asked)
        except KeyError:
            raise _refusal(400, tx, "bad_province") from None
    found = Counter(p for r in board.communes if (p := province_of_commune(r.commune_code)))
    if not found:
        return None
    return province_map(sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[0][0])


def _sorted(
    rows: list[CommuneIndicators], indicator: str, key: str, descending: bool
) -> list[CommuneIndicators]:
    def sort_key(r: CommuneIndicators) -> tuple[Any, ...]:
        ratio = r.ratio(indicator)
        if key == "code":
            return (r.commune_code,)
        if key == "numerator":
            return (ratio.numerator, r.commune_code)
        if key == "denominator":
            return (ratio.denominator, r.commune_code)
        if key == "rate":  # no data last whichever the direction
            rate = ratio.rate
            return (rate is not None if descending else rate is None, rate or 0.0, r.commune_code)
        return (r.commune_name.casefold(), r.commune_code)

    return sorted(rows, key=sort_key, reverse=descending)


def _csv(
    board: CheckupDashboard, indicator: str, rows: list[CommuneIndicators], tx: dict[str, str]
) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["year", "indicator", "commune_code", "commune_name", "numerator", "denominator", "rate"])
    labelled = [(r, r.commune_name or tx["unknown_commune"]) for r in rows] + [(board.total, tx["total"])]
    for r, name in labelled:
        ratio = r.ratio(indicator)
        rate = "" if ratio.rate is None else f"{ratio.rate:.4f}"
        writer.writerow(
            [board.year, indicator, r.commune_code, name, ratio.numerator, ratio.denominator, rate]
        )
    filename = f"checkup-{indicator}-{board.year}.csv"
    return Response(
        "\ufeff" + out.getvalue(),  # the byte-order mark: spreadsheets then read the file as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def dashboard_checkup(request: Request) -> Response:
    found = await require_staff(request)
    lang = lang_of(request)
    tx = _text(lang)
    scope = _scope(found, tx)
    params = request.query_params
    this_year = dt.datetime.now(ZONE).year
    year = _int(params.get("year"), this_year)
    if year is None or not 2000 <= year <= 2100:
        raise _refusal(400, tx, "bad_year")
    indicator = params.get("indicator") or "coverage"
    if indicator not in INDICATORS:
        raise _refusal(400, tx, "bad_indicator")
    sort = params.get("sort") if params.get("sort") in SORTS else "name"
    descending = params.get("dir") == "desc"
    try:
        board = await checkup_dashboard(state(request).fhir_store, year, communes=scope)
    except ValueError:
        raise _refusal(403, tx, "no_station") from None
    rows = _sorted(board.communes, indicator, str(sort), descending)
    if params.get("format") == "csv":
        return _csv(board, indicator, rows, tx)
    pmap = _province(board, params.get("province"), tx)
    name = tx[indicator]
    areas = {}
    for r in board.communes:
        ratio = r.ratio(indicator)
        if ratio.rate is None:
            continue
        title = f"{r.commune_name}: {_percent(ratio.rate, lang)} ({ratio.numerator}/{ratio.denominator})"
        areas[r.commune_code] = Area(r.commune_code, ratio.rate, title)
    svg = None
    if pmap is not None:
        svg = choropleth_svg(
            pmap,
            areas,
            title=tx["map_title"].format(indicator=name, year=year),
            no_data_title=lambda n: tx["no_data_of"].format(name=n),
            labelled_by="map-title",
        )

    def band(low: float | None, high: float | None) -> str:
        if low is None and high is not None:
            return tx["below"].format(high=_bound(high, lang))
        if high is None and low is not None:
            return tx["from"].format(low=_bound(low, lang))
        assert low is not None and high is not None
        return tx["from_to"].format(low=_bound(low, lang), high=_bound(high, lang))

    base: dict[str, str | int] = {"year": year, "indicator": indicator}
    if params.get("province"):
        base["province"] = str(params.get("province"))
    context = {
        "css": CSS,
        "L": tx,
        "year": year,
        "years": list(range(this_year, this_year - 5, -1)),
        "indicator": indicator,
        "indicators": INDICATORS,
        "indicator_name": name,
        "board": board,
        "rows": [
            {
                "code": r.commune_code,
                "name": r.commune_name or tx["unknown_commune"],
                "ratio": r.ratio(indicator),
                "percent": _percent(r.ratio(indicator).rate, lang),
                "css": class_of(r.ratio(indicator).rate, RATE_BREAKS),
                "unmeasured": r.htn_unmeasured if indicator == "htn-control" else r.dm_unmeasured,
            }
            for r in rows
        ],
        "total": board.total.ratio(indicator),
        "total_percent": _percent(board.total.ratio(indicator).rate, lang),
        "total_unmeasured": (
            board.total.htn_unmeasured if indicator == "htn-control" else board.total.dm_unmeasured
        ),
        "show_unmeasured": indicator in ("htn-control", "dm-control"),
        "as_of": board.as_of,
        "map": svg,
        "province": pmap,
        "legend": legend(RATE_BREAKS, band, tx["no_data"]),
        "sort": sort,
        "descending": descending,
        "base": base,
        "own_commune": scope is not None,
    }
    return render(request, "dashboards/checkup.html", context)


ROUTES: Final = [Route("/dashboards/checkup", dashboard_checkup, methods=["GET"])]
