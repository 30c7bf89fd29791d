"""Date extraction: inclusive UTC ranges at the value's precision, +07:00 where no offset is given."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from search_support import values

from senhealth.fhir.search.context import DEFAULT_TZ
from senhealth.fhir.search.params import DateValue
from senhealth.fhir.search.params.date import _general_range, _to_the_second, date_range


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


END = 999999  # last microsecond


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("1990", utc(1989, 12, 31, 17), utc(1990, 12, 31, 16, 59, 59, END)),
        ("1990-02", utc(1990, 1, 31, 17), utc(1990, 2, 28, 16, 59, 59, END)),
        ("2024-02", utc(2024, 1, 31, 17), utc(2024, 2, 29, 16, 59, 59, END)),
        ("1990-12", utc(1990, 11, 30, 17), utc(1990, 12, 31, 16, 59, 59, END)),
        ("1990-05-17", utc(1990, 5, 16, 17), utc(1990, 5, 17, 16, 59, 59, END)),
        ("2020-03-04T10:30:00+07:00", utc(2020, 3, 4, 3, 30), utc(2020, 3, 4, 3, 30, 0, END)),
        ("2020-03-04T10:30:00Z", utc(2020, 3, 4, 10, 30), utc(2020, 3, 4, 10, 30, 0, END)),
        ("2020-03-04T10:30:00+00:00", utc(2020, 3, 4, 10, 30), utc(2020, 3, 4, 10, 30, 0, END)),
        ("2020-03-04T10:30:00", utc(2020, 3, 4, 3, 30), utc(2020, 3, 4, 3, 30, 0, END)),  # no offset: +07:00
        (
            "2020-03-04T10:30:00.12-05:00",
            utc(2020, 3, 4, 15, 30, 0, 120000),
            utc(2020, 3, 4, 15, 30, 0, 129999),
        ),
        (
            "2020-03-04T10:30:00.123456789Z",
            utc(2020, 3, 4, 10, 30, 0, 123456),
            utc(2020, 3, 4, 10, 30, 0, 123456),
        ),
        (
            "2020-03-04T10:30+07:00",
            utc(2020, 3, 4, 3, 30),
            utc(2020, 3, 4, 3, 30, 59, END),
        ),  # lenient: minutes
        ("0001-01-01", datetime.min.replace(tzinfo=UTC), utc(1, 1, 1, 16, 59, 59, END)),  # clamped
        ("9999", utc(9998, 12, 31, 17), utc(9999, 12, 31, 16, 59, 59, END)),
    ],
)
def test_precision_and_zone(text: str, low: datetime, high: datetime) -> None:
    assert date_range(text, DEFAULT_TZ) == (low, high)


@pytest.mark.parametrize(
    "text", ["", "20200304", "2020-13", "2020-02-30", "yesterday", "2020-03-04T25:00:00Z"]
)
def test_not_a_date(text: str) -> None:
    assert date_range(text, DEFAULT_TZ) is None


D = DateValue


@pytest.mark.parametrize(
    ("resource", "code", "expected"),
    [
        (
            {"resourceType": "Patient", "birthDate": "1990-05-17"},
            "birthdate",
            [D(utc(1990, 5, 16, 17), utc(1990, 5, 17, 16, 59, 59, END))],
        ),
        # dateTime
        (
            {"resourceType": "Observation", "effectiveDateTime": "2020-03-04T10:30:00+07:00"},
            "date",
            [D(utc(2020, 3, 4, 3, 30), utc(2020, 3, 4, 3, 30, 0, END))],
        ),
        # instant
        (
            {"resourceType": "Observation", "effectiveInstant": "2020-03-04T10:30:00.5Z"},
            "date",
            [D(utc(2020, 3, 4, 10, 30, 0, 500000), utc(2020, 3, 4, 10, 30, 0, 599999))],
        ),
        (
            {"resourceType": "DiagnosticReport", "issued": "2020-03-04T10:30:00.320+00:00"},
            "issued",
            [D(utc(2020, 3, 4, 10, 30, 0, 320000), utc(2020, 3, 4, 10, 30, 0, 320999))],
        ),
        # Period, closed and open at either end
        (
            {"resourceType": "Encounter", "period": {"start": "2020-03-04", "end": "2020-03-06"}},
            "date",
            [D(utc(2020, 3, 3, 17), utc(2020, 3, 6, 16, 59, 59, END))],
        ),
        (
            {"resourceType": "Encounter", "period": {"start": "2020-03-04T08:00:00+07:00"}},
            "date",
            [D(utc(2020, 3, 4, 1), None)],
        ),
        (
            {"resourceType": "Encounter", "period": {"end": "2020"}},
            "date",
            [D(None, utc(2020, 12, 31, 16, 59, 59, END))],
        ),
        ({"resourceType": "Encounter", "period": {}}, "date", []),
        # MedicationRequest.dosageInstruction.timing.event: each event is a dateTime of its own
        (
            {
                "resourceType": "MedicationRequest",
                "dosageInstruction": [{"timing": {"event": ["2020-01-05", "2020-01-02T08:00:00+07:00"]}}],
            },
            "date",
            [
                D(utc(2020, 1, 4, 17), utc(2020, 1, 5, 16, 59, 59, END)),
                D(utc(2020, 1, 2, 1), utc(2020, 1, 2, 1, 0, 0, END)),
            ],
        ),
        # Timing: the outer limits of its events and bounds (CarePlan.activity.detail.scheduled[x])
        (
            {
                "resourceType": "CarePlan",
                "activity": [
                    {
                        "detail": {
                            "scheduledTiming": {
                                "event": ["2020-01-05", "2020-01-02T08:00:00+07:00"],
                                "repeat": {"boundsPeriod": {"start": "2020-01-03", "end": "2020-02"}},
                            }
                        }
                    }
                ],
            },
            "activity-date",
            [D(utc(2020, 1, 2, 1), utc(2020, 2, 29, 16, 59, 59, END))],
        ),
        # Timing with repeat.boundsPeriod, open-ended
        (
            {
                "resourceType": "CarePlan",
                "activity": [
                    {
                        "detail": {
                            "scheduledTiming": {
                                "repeat": {"boundsPeriod": {"start": "2021-01-01"}, "frequency": 1}
                            }
                        }
                    }
                ],
            },
            "activity-date",
            [D(utc(2020, 12, 31, 17), None)],
        ),
        # Choice types that are not dates give nothing: Age, Range, string
        ({"resourceType": "Procedure", "performedAge": {"value": 40, "unit": "a"}}, "date", []),
        ({"resourceType": "Procedure", "performedString": "last spring"}, "date", []),
        # Condition.onset.ofType(dateTime) | Condition.onset.ofType(Period)
        (
            {"resourceType": "Condition", "onsetPeriod": {"start": "2019-06"}},
            "onset-date",
            [D(utc(2019, 5, 31, 17), None)],
        ),
        ({"resourceType": "Patient", "birthDate": "17/05/1990"}, "birthdate", []),
    ],
)
def test_date(resource: dict[str, Any], code: str, expected: list[DateValue]) -> None:
    assert values(resource, code) == expected


def test_default_zone_is_a_parameter() -> None:
    patient = {"resourceType": "Patient", "birthDate": "1990-05-17"}
    assert values(patient, "birthdate", tz=UTC) == [D(utc(1990, 5, 17), utc(1990, 5, 17, 23, 59, 59, END))]
    assert str(DEFAULT_TZ.utcoffset(None)) == "7:00:00"


# The fast path for ``YYYY-MM-DDThh:mm:ss`` with ``Z`` or an offset must give what the general parser gives.
_DIGITS = st.text(alphabet="0123456789", min_size=2, max_size=2)


@given(
    year=st.integers(min_value=1, max_value=9999),
    month=st.integers(min_value=0, max_value=13),
    day=st.integers(min_value=0, max_value=32),
    hour=st.integers(min_value=0, max_value=25),
    minute=st.integers(min_value=0, max_value=61),
    second=st.integers(min_value=0, max_value=61),
    zone=st.sampled_from(["Z", "+07:00", "-05:30", "+14:00", "-12:00", "+00:00", "+24:00", "-00:60"]),
)
def test_the_fast_path_agrees_with_the_general_parser(
    year: int, month: int, day: int, hour: int, minute: int, second: int, zone: str
) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{zone}"
    for tz in (DEFAULT_TZ, UTC):
        assert date_range.__wrapped__(text, tz) == _general_range(text, tz), text


@given(st.text(alphabet="0123456789-T:Z+. ", max_size=26))
def test_the_fast_path_never_accepts_what_the_general_parser_refuses(text: str) -> None:
    fast = _to_the_second(text)
    if fast is not None:
        assert fast == _general_range(text, DEFAULT_TZ), text
