"""Pieces of the web application without a database: catalogues, search, record shaping, charts,
consents, CSRF, keys, headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from pydantic import SecretStr

from senhealth.core.config import Settings
from senhealth.web import csrf
from senhealth.web.consent import PURPOSES, consent_resource, current_choices
from senhealth.web.i18n import catalogue, translator
from senhealth.web.keys import WebSecretMissing, load_keys
from senhealth.web.record import build_record
from senhealth.web.svg import Series, line_chart
from senhealth.web.views.staff import search_params

WEB = Path(__file__).resolve().parents[2] / "senhealth" / "web"


def test_every_message_has_a_vietnamese_translation() -> None:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "N_": None, "gettext": None, "PageError": (2,)}
    found = {m[2] for m in extract_from_dir(str(WEB), method_map, keywords=keywords) if isinstance(m[2], str)}
    assert len(found) > 100
    missing = sorted(found - set(catalogue("vi")))
    assert not missing, missing


def test_dates_in_vietnamese_and_english() -> None:
    assert translator("vi").date("2026-03-05") == "05/03/2026"
    assert translator("vi").datetime("2026-03-05T01:30:00Z") == "05/03/2026 08:30"  # Asia/Ho_Chi_Minh
    assert translator("en").date("2026-03-05") == "Mar 5, 2026"
    assert translator("vi").gettext("{n} patients found", n=3) == "Tìm thấy 3 người bệnh"


def test_search_parameters() -> None:
    assert search_params("001080012345", "") == [
        ("identifier", "https://senhealth.vn/fhir/sid/cccd|001080012345")
    ]
    assert search_params("dn4010012345678", "") == [
        ("identifier", "https://senhealth.vn/fhir/sid/bhyt|DN4010012345678")
    ]
    assert search_params("Nguyễn Văn  An", "1980") == [
        ("name", "nguyen"),
        ("name", "van"),
        ("name", "an"),
        ("birthdate", "1980"),
        ("_count", "50"),
    ]
    assert search_params("  ", "1980") is None


def test_record_sections_and_blood_pressure_series() -> None:
    patient = {"resourceType": "Patient", "id": "p", "name": [{"family": "Trần", "given": ["Thị", "Mai"]}]}
    bp = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "effectiveDateTime": "2026-01-02T08:00:00+07:00",
        "component": [
            {"code": {"coding": [{"code": "8480-6"}]}, "valueQuantity": {"value": 140, "unit": "mmHg"}},
            {"code": {"coding": [{"code": "8462-4"}]}, "valueQuantity": {"value": 90, "unit": "mmHg"}},
        ],
    }
    weight = {
        "resourceType": "Observation",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"coding": [{"code": "29463-7", "display": "Cân nặng"}]},
        "effectiveDateTime": "2026-01-02",
        "valueQuantity": {"value": 60.5, "unit": "kg"},
    }
    record = build_record(
        patient, [bp, weight, {"resourceType": "Encounter", "period": {"start": "2026-01-02"}}]
    )
    assert record.name == "Trần Thị Mai"
    assert [(s, d) for _, s, d in record.blood_pressure] == [(140.0, 90.0)]
    assert [s.label for s in record.vitals] == ["Cân nặng"]
    assert len(record.encounters) == 1 and not record.allergies


def test_line_chart_is_escaped_svg() -> None:
    import datetime as dt

    points = [(dt.datetime(2026, 1, d, tzinfo=dt.UTC), 100.0 + d) for d in (1, 5, 9)]
    svg = str(
        line_chart(
            [Series("<b>x</b>", points)], title="T&T", unit="kg", date_label=lambda d: d.strftime("%d/%m")
        )
    )
    assert svg.startswith("<svg") and "<polyline" in svg and "<b>" not in svg and "T&amp;T" in svg
    assert str(line_chart([Series("a", [])], title="t", unit="", date_label=str)) == ""


def test_consent_defaults_and_shape() -> None:
    choices = current_choices([])
    assert {code: permitted for code, (permitted, _) in choices.items()} == {
        "TREAT": True,
        "HPAYMT": True,
        "PUBHLTH": True,
        "HRESCH": False,
    }
    deny = consent_resource("p1", "TREAT", False, existing_id="c1")
    assert deny["id"] == "c1" and deny["provision"]["type"] == "deny"
    assert deny["policyRule"]["coding"][0]["code"] == "OPTOUT"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$", deny["dateTime"])
    assert current_choices([deny])["TREAT"][0] is False
    public = consent_resource("p1", "PUBHLTH", True)
    public["provision"]["type"] = "deny"  # made by another client: the portal cannot build it
    assert current_choices([public])["PUBHLTH"][0] is True  # required by law: a refusal does not count
    withdrawn = {**deny, "status": "inactive"}
    assert current_choices([withdrawn])["TREAT"] == (True, withdrawn)  # updated in place when changed
    assert [p.code for p in PURPOSES] == ["TREAT", "HPAYMT", "PUBHLTH", "HRESCH"]


def test_csrf_tokens_are_bound_to_the_session(tmp_path: Path) -> None:
    keys = load_keys(Settings(data_dir=tmp_path))
    token = csrf.token_for(keys, session_id="abc")
    assert csrf.check(keys, token, session_id="abc")
    assert not csrf.check(keys, token, session_id="abd")
    assert not csrf.check(keys, "", session_id="abc")
    assert csrf.check(keys, csrf.token_for(keys, pre_session="p"), pre_session="p")


def test_no_default_secret_outside_development(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(environment="production", data_dir=tmp_path)
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=SecretStr("change-me"), data_dir=tmp_path)
    unchecked = Settings.model_construct(environment="production", secret_key=None, data_dir=tmp_path)
    with pytest.raises(WebSecretMissing):
        load_keys(unchecked)  # refused here too, even if the settings' check were bypassed
    assert not (tmp_path / "web").exists()
    dev = load_keys(Settings(data_dir=tmp_path))  # development: a random key kept in the data directory
    assert (tmp_path / "web" / "secret-key").stat().st_mode & 0o777 == 0o600
    assert load_keys(Settings(data_dir=tmp_path)).csrf == dev.csrf
    good = load_keys(Settings(environment="production", secret_key=SecretStr("k" * 40), data_dir=tmp_path))
    assert good.csrf != dev.csrf
