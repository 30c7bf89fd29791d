"""Chronic disease at the published prevalence, seasonal epidemics, values that follow the conditions."""

from __future__ import annotations

from statistics import mean

from province_summary import ProvinceSummary

from senhealth.demo.seasons import HFMD_SEASON, dengue_season


def _share(province: ProvinceSummary, code_prefix: str) -> float:
    adults = province.adults()
    having = sum(any(c.startswith(code_prefix) for c in province.chronic[p["id"]]) for p in adults)
    return having / len(adults)


def test_hypertension_about_a_quarter_of_adults(province: ProvinceSummary) -> None:
    share = _share(province, "I10")
    print(f"hypertension: {share:.1%} of {len(province.adults())} adults")
    assert 0.20 <= share <= 0.30


def test_diabetes_about_seven_percent_of_adults(province: ProvinceSummary) -> None:
    share = _share(province, "E11")
    print(f"diabetes: {share:.1%} of adults")
    assert 0.04 <= share <= 0.10


def test_no_chronic_hypertension_or_diabetes_in_children(province: ProvinceSummary) -> None:
    adults = {p["id"] for p in province.adults()}
    for pid, codes in province.chronic.items():
        if pid not in adults:
            assert not {"I10", "E11.9"} & codes


def _in_and_out(province: ProvinceSummary, key: str, season: frozenset[int]) -> tuple[float, float]:
    inside = sum(n for (k, month), n in province.case_months.items() if k == key and month in season)
    outside = sum(n for (k, month), n in province.case_months.items() if k == key and month not in season)
    return inside / len(season), outside / (12 - len(season))


def test_dengue_peaks_in_the_rainy_season(province: ProvinceSummary) -> None:
    per_month_in, per_month_out = _in_and_out(province, "dengue", dengue_season("north"))
    print(f"dengue cases per month: {per_month_in:.1f} in season (Jun–Nov), {per_month_out:.1f} out")
    assert per_month_in > 2 * per_month_out
    assert sum(n for (k, _), n in province.case_months.items() if k == "dengue") >= 10


def test_hand_foot_and_mouth_in_young_children_and_in_season(province: ProvinceSummary) -> None:
    per_month_in, per_month_out = _in_and_out(province, "hfmd", HFMD_SEASON)
    print(f"HFMD cases per month: {per_month_in:.1f} in season (Mar–May, Sep–Nov), {per_month_out:.1f} out")
    assert per_month_in > per_month_out
    ages = province.case_ages["hfmd"]
    assert ages and sum(a < 5 for a in ages) / len(ages) >= 0.8 and max(ages) < 10


def test_measurements_follow_the_conditions(province: ProvinceSummary) -> None:
    assert mean(province.systolic[True]) > mean(province.systolic[False]) + 15
    assert mean(province.glucose[True]) > 126 > 100 > mean(province.glucose[False])
    assert mean(province.hba1c[True]) > 6.5 and not province.hba1c[False], (
        "HbA1c is a diabetes follow-up test"
    )


def test_encounters_at_every_level_and_class(province: ProvinceSummary) -> None:
    classes = {klass for klass, _ in province.encounter_classes}
    assert classes == {"AMB", "EMER", "IMP"}
    kinds = {kind for _, kind in province.encounter_classes}
    assert {"Khám bệnh", "Khám quản lý bệnh mạn tính", "Khám sức khỏe định kỳ", "Cấp cứu"} <= kinds
