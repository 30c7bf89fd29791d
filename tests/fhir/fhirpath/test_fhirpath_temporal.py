"""Partial-precision dates and times: parsing, comparison, time zones, arithmetic, boundaries."""

from __future__ import annotations

from decimal import Decimal

import pytest

from senhealth.fhir import fhirpath
from senhealth.fhir.fhirpath.temporal import FPDate, FPDateTime, FPTime, add_duration, boundary, compare


def ev(expression: str) -> list[object]:
    return fhirpath.evaluate({}, expression)


def test_parse_and_literals() -> None:
    assert FPDate.parse("2019") == FPDate(2019)
    assert FPDate.parse("2019-02-30") is None
    assert FPDateTime.parse("2019-01-02T10:00:00Z") == FPDateTime(2019, 1, 2, 10, 0, 0, None, 0)
    assert FPDateTime.parse("2019-01-02T10:00:00.5-05:00") == FPDateTime(2019, 1, 2, 10, 0, 0, "5", -300)
    assert FPTime.parse("25:00") is None
    assert str(FPDateTime(2015)) == "@2015T"
    assert str(FPDateTime(2019, 1, 2, 10, 30, 0, "000", 420)) == "@2019-01-02T10:30:00.000+07:00"
    assert FPDateTime(2019, 1, 2, 10, 30).isoformat() == "2019-01-02T10:30"
    assert str(FPTime(14, 30)) == "@T14:30"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("@2012-04-15 = @2012-04-15", [True]),
        ("@2012-04-15 = @2012-04-15T10:00:00", []),  # precision differs
        ("@2012-04-15 = @2012-04-16T10:00:00", [False]),  # decided before the precision runs out
        ("@2012-04-15T15:30:31 = @2012-04-15T15:30:31.0", [True]),  # seconds and ms are one precision
        ("@2012-04-15T15:00:00+02:00 = @2012-04-15T16:00:00+03:00", [True]),
        ("@2012-04-15T15:00:00Z = @2012-04-15T10:00:00", []),  # one side has no zone
        ("@2012-04-15T15:00:00Z > @2012-04-10T10:00:00", [True]),  # ... but the answer is certain
        ("@2018-03 < @2018-03-01", []),
        ("@2012-04-15 ~ @2012-04-15T10:00:00", [False]),
        ("@T10:30 < @T10:30:00", []),
        ("@T10:30:00 <= @T10:30:00.0", [True]),
        ("@2019-01-01 != @T10:00", [True]),
    ],
)
def test_comparisons(expression: str, expected: list[object]) -> None:
    assert ev(expression) == expected


def test_compare_function() -> None:
    assert compare(FPDate(2019, 1), FPDate(2019, 1, 5)) is None
    assert compare(FPDate(2019, 1), FPDate(2019, 2, 5)) == -1
    with pytest.raises(TypeError):
        compare(FPDate(2019), FPTime(10))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("@2019-01-31 + 1 month", "@2019-02-28"),
        ("@2020-02-29 + 1 year", "@2021-02-28"),
        ("@1973-12-25 + 7.7 days", "@1974-01-01"),
        ("@2019-01-01 - 1 'wk'", "@2018-12-25"),
        ("@2019-01-01T23:30:00+07:00 + 1 hour", "@2019-01-02T00:30:00+07:00"),
        ("@2019-01-01T00:00:00.000 + 10 'ms'", "@2019-01-01T00:00:00.010"),
        ("@T23:30 + 1 hour", "@T00:30"),
        ("@2019 + 13 months", "@2020"),
    ],
)
def test_arithmetic(expression: str, expected: str) -> None:
    [result] = ev(expression)
    assert str(result) == expected


def test_arithmetic_refuses_ucum_months_and_years() -> None:
    with pytest.raises(fhirpath.FHIRPathEvaluationError):
        ev("@2019-01-01 + 1 'mo'")
    with pytest.raises(ValueError):
        add_duration(FPDate(2019), Decimal(1), "a")


def test_boundaries() -> None:
    assert str(boundary(FPDate(2014), 6, high=False)) == "@2014-01"
    assert str(boundary(FPDate(2014, 2), 8, high=True)) == "@2014-02-28"
    assert (
        str(boundary(FPDateTime(2014, 1, 1, 8, 5, tz=480), 17, high=False))
        == "@2014-01-01T08:05:00.000+08:00"
    )
    assert str(boundary(FPTime(10, 30), 9, high=True)) == "@T10:30:59.999"
    # a Date without a precision argument gives a DateTime, comparable with date-times
    assert str(boundary(FPDate(2001, 5, 6), None, high=False)) == "@2001-05-06T00:00:00.000+14:00"
    assert ev("@2001-05-06.lowBoundary() < @2001-05-06T10:10:10Z.highBoundary()") == [True]
    assert ev("@2014-01-05T10:30:00.000.precision()") == [17]


def test_now_today_are_stable_within_one_evaluation() -> None:
    assert ev("now() = now() and today() = today() and timeOfDay() = timeOfDay()") == [True]
    assert ev("today() <= now().toDate()") == [True]
    assert ev("(now() - 1 day) < now()") == [True]


def test_component_functions() -> None:
    assert ev("@2019-03-04T10:20:30.456+07:00.yearOf()") == [2019]
    assert ev("@2019-03-04T10:20:30.456+07:00.millisecondOf()") == [456]
    assert ev("@2019-03-04T10:20:30.456+07:00.timezoneOffsetOf()") == [Decimal(7)]
    assert ev("@2019-03.dayOf()") == []
