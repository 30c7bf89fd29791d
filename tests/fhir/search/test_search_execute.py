"""Searches run on PostgreSQL over the hand-made dataset: every parameter type, prefix and modifier.

Spec: https://hl7.org/fhir/R4/search.html. Expected results are exact sets of ids; the dataset and the
reasoning behind each expectation are in ``test_search_execute_data.py``.
"""

from __future__ import annotations

import pytest
from test_search_execute_data import (  # noqa: F401  (fixtures)
    SearchDb,
    bare,
    ids_of,
    search_backend_fixture,
    search_data_fixture,
    search_db_fixture,
    search_http_fixture,
)

from senhealth.fhir.search.request import SearchError

pytestmark = pytest.mark.usefixtures("search_db")

ALL_OBS = {f"obs-{i}" for i in range(1, 11)}


def obs(*numbers: int) -> set[str]:
    return {f"obs-{n}" for n in numbers}


def pats(*numbers: int) -> set[str]:
    return {f"pat-{n}" for n in numbers}


def check(db: SearchDb, query: str, expected: set[str], res_type: str = "Observation") -> None:
    result = db.search(query, res_type)
    assert bare(result) == expected, query
    assert result.total == len(expected), query


# --- number: ChargeItem.factorOverride = 0.8 (ci-1), 1 (ci-2), 1.05 (ci-3), 100 (ci-4), -0.5 (ci-5) ---
# RiskAssessment ra-3 has the Range 0.1 .. 0.3.


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("factor-override=1", {"ci-1", "ci-2", "ci-3"}),  # [0.5, 1.5): one significant digit
        ("factor-override=1.0", {"ci-2"}),  # [0.95, 1.05)
        ("factor-override=1.05", {"ci-3"}),
        ("factor-override=100", {"ci-4"}),
        ("factor-override=1e2", {"ci-4"}),  # [50, 150)
        ("factor-override=-0.5", {"ci-5"}),
        ("factor-override=eq1.00", {"ci-2"}),
        ("factor-override=ne1", {"ci-4", "ci-5"}),
        ("factor-override=gt1", {"ci-3", "ci-4"}),  # greater than exactly 1
        ("factor-override=ge1", {"ci-2", "ci-3", "ci-4"}),
        ("factor-override=lt1", {"ci-1", "ci-5"}),
        ("factor-override=le1", {"ci-1", "ci-2", "ci-5"}),
        ("factor-override=sa1", {"ci-3", "ci-4"}),
        ("factor-override=eb1", {"ci-1", "ci-5"}),
        ("factor-override=ap1.00", {"ci-2", "ci-3"}),  # 1.00 ± 10 %
        ("factor-override=ap100", {"ci-4"}),
        ("factor-override=0.8,100", {"ci-1", "ci-4"}),
        ("factor-override=gt0&factor-override=lt1", {"ci-1"}),
        ("factor-override:missing=false", {"ci-1", "ci-2", "ci-3", "ci-4", "ci-5"}),
    ],
)
def test_number(search_db: SearchDb, query: str, expected: set[str]) -> None:
    check(search_db, query, expected, "ChargeItem")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("probability=0.2", set()),  # the range 0.1 .. 0.3 is not within [0.15, 0.25)
        ("probability=gt0.2", {"ra-3"}),
        ("probability=lt0.2", {"ra-3"}),
        ("probability=sa0.05", {"ra-3"}),
        ("probability=sa0.2", set()),
        ("probability=eb0.5", {"ra-3"}),
        ("probability=ap0.2", {"ra-3"}),
        ("probability=0.2,gt0.9", set()),
    ],
)
def test_number_on_a_range(search_db: SearchDb, query: str, expected: set[str]) -> None:
    check(search_db, query, expected, "RiskAssessment")


# --- date: Observation.effective (see the dataset for each value's UTC range) ---------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("date=2024", obs(1, 2, 4, 6, 8)),  # obs-3 is 2023-12-31 23:30 +07:00; obs-9 is open-ended
        ("date=2023", obs(3, 5)),
        ("date=2024-01-15", obs(1, 6, 8)),
        ("date=2024-01-15T08:30:00+07:00", obs(1)),
        ("date=2024-01-15T01:30:00Z", obs(1)),
        ("date=eq2024-01", obs(1, 6, 8)),
        ("date=ne2024-01-15", obs(2, 3, 4, 5, 7, 9)),
        ("date=gt2024-01-15", obs(2, 4, 9)),
        ("date=ge2024-01-15", obs(1, 2, 4, 6, 8, 9)),
        ("date=lt2024-01-15", obs(3, 5, 7)),
        ("date=le2024-01-15", obs(1, 3, 5, 6, 7, 8)),
        ("date=sa2024-01-15", obs(2, 4, 9)),
        ("date=eb2024-01-15", obs(3, 5, 7)),
        ("date=gt2023-06-15", obs(1, 2, 3, 4, 5, 6, 8, 9)),  # the June 2023 period reaches past the 15th
        ("date=sa2023-06-15", obs(1, 2, 3, 4, 6, 8, 9)),  # ... but does not lie after it
        ("date=lt2023-06-15", obs(5, 7)),
        ("date=eb2023-06-15", obs(7)),
        ("date=ap2024-02-10", obs(2)),  # ± 10 % of the 112 days to "now" (2024-06-01)
        ("date=2024-02-10", set()),
        ("date=gt2030", obs(9)),  # open-ended: started 2024-04-01, no end
        ("date=2022,2023", obs(3, 5, 7)),
        ("date=ge2024-01-01&date=lt2024-02-01", obs(1, 6, 8)),
        ("date:missing=true", obs(10)),
        ("date:missing=false", obs(1, 2, 3, 4, 5, 6, 7, 8, 9)),
    ],
)
def test_date(search_db: SearchDb, query: str, expected: set[str]) -> None:
    check(search_db, query, expected)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("birthdate=1990", pats(1, 5)),  # a day and a whole year, both within 1990
        ("birthdate=1990-05", pats(1)),  # the year 1990 is not within May
        ("birthdate=1972", pats(3)),  # the month 1972-11 is within 1972
        ("birthdate=1972-11-15", set()),  # ... but not within one of its days
        ("birthdate=ap1972-11-15", pats(3)),
        ("birthdate=lt1980", pats(3)),
        ("birthdate=ge2000", pats(4)),
        ("birthdate:missing=true", pats(6)),
        ("death-date:missing=true", pats(1, 2, 3, 4, 5, 6)),
        ("_lastUpdated=gt2020", pats(1, 2, 3, 4, 5, 6)),
        ("_lastUpdated=lt2020", set()),
        ("_lastUpdated:missing=true", set()),
    ],
)
def test_date_on_patients(search_db: SearchDb, query: str, expected: set[str]) -> None:
    check(search_db, query, expected, "Patient")


def test_last_updated_exact_instant(search_db: SearchDb) -> None:
    first = search_db.search("_id=pat-1", "Patient").matches[0]
    stamp = first.last_updated.isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert bare(search_db.search([("_id", "pat-1"), ("_lastUpdated", stamp)], "Patient")) == pats(1)
    assert bare(search_db.search([("_id", "pat-1"), ("_lastUpdated", "gt" + stamp)], "Patient")) == set()


# --- string ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=nguyen", pats(1, 5)),
        ("name=Nguyễn", pats(1, 5)),
        ("name=NGUYỄN", pats(1, 5)),
        ("name=đào", pats(1)),
        ("name=dao", pats(1)),
        ("name=van", pats(2, 3, 5)),
        ("name=Nguyễn Thị", pats(1)),  # the assembled full name, family first
        ("name=thi dao nguyen", pats(1)),  # ... and given names first
        ("name=h", pats(2, 4, 6)),
        ("name=le,pham", pats(3, 4)),
        ("name=le&gender=female", set()),
        ("name:exact=Nguyễn", pats(1, 5)),
        ("name:exact=nguyễn", set()),
        ("name:exact=Nguyen", set()),
        ("name:exact=Thị Đào", set()),  # a whole value, not a prefix: Thị and Đào are separate givens
        ("name:contains=uc", pats(3, 6)),
        ("name:contains=an", pats(2, 3, 5, 6)),
        ("name:contains=%", set()),  # LIKE wildcards are literal
        ("name:contains=_", set()),
        ("family=tr", pats(2)),
        ("given=anh", pats(6)),
        ("address-city=lao cai", pats(1)),
        ("address=Thôn Lao", pats(1)),
        ("address=Lao Chai", set()),  # a line is "Thôn Lao Chải": prefix match
        ("address:contains=Lao Chai", pats(1)),
        ("address=sa pa", pats(1)),
        ("name:missing=false", pats(1, 2, 3, 4, 5, 6)),
        ("address:missing=true", pats(2, 3, 4, 5, 6)),
    ],
)
def test_string(search_db: SearchDb, query: str, expected: set[str]) -> None:
    check(search_db, query, expected, "Patient")


def test_string_escaped_comma(search_db: SearchDb) -> None:
    assert bare(search_db.search([("name", r"nguyen\,van")], "Patient")) == set()
    assert bare(
        search_db.search([("name", "benh vien"), ("name:contains", r"lao\,cai,tinh")], "Organization")
    ) == {"org-bv"}


def test_string_on_organizations(search_db: SearchDb) -> None:
    assert bare(search_db.search("name:contains=y te", "Organization")) == {"org-tyt", "org-ttyt"}
    assert bare(search_db.search("name=Bệnh viện", "Organization")) == {"org-bv"}


# --- token ----------------------------------------------------------------------------------------------

CCCD = "https://senhealth.vn/fhir/sid/cccd"
NI = "http://terminology.hl7.org/CodeSystem/v2-0203|NI"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("gender=male", pats(2, 3, 5)),
        ("gender=female,other", pats(1, 4, 6)),
        ("gender:not=male", pats(1, 4, 6)),
        ("gender:not=male,female", pats(6)),
        ("identifier=001190000001", pats(1)),
        (f"identifier={CCCD}|", pats(1, 2)),
        (f"identifier={CCCD}|001085000002", pats(2)),
        (f"identifier={CCCD}|001190000001,{CCCD}|001085000002", pats(1, 2)),
        ("identifier=|001190000001", set()),  # it has a system
        ("identifier=https://senhealth.vn/fhir/sid/bhyt|001190000001", set()),
        (f"identifier:of-type={NI}|001190000001", pats(1)),
        (f"identifier:of-type={NI}|001085000002", set()),  # no type on pat-2's identifier
        ("identifier:text=can cuoc", pats(1)),
        ("active=true", pats(1, 2)),
        ("active:not=true", pats(3, 4, 5, 6)),  # :not includes resources without a value
        ("active:missing=true", pats(3, 5, 6)),
        ("deceased=true", pats(3)),
        ("deceased=false", pats(1, 2, 4, 5, 6)),
        ("telecom=0912345678", pats(1)),
        ("phone=0912345678", pats(1)),
        ("_id=pat-1,pat-3", pats(1, 3)),
        ("_id=nobody", set()),
        ("_id:not=pat-1", pats(2, 3, 4, 5, 6)),
        ("_tag=https://senhealth.vn/fhir/tags|demo", pats(1, 2)),
        ("_tag=ncd", pats(2)),
        ("_tag:missing=true", pats(3, 4, 5, 6)),
        ("_tag:not=ncd", pats(1, 3, 4, 5, 6)),
        ("_security=R", pats(4)),
        ("_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R", pats(4)),
    ],
)
def test_token_on_patients(search_db: SearchDb, query: str, expected: set[str]) -> None:
    check(search_db, query, expected, "Patient")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("code=http://loinc.org|8867-4", obs(1, 6, 10)),
        ("code=8867-4", obs(1, 6, 10)),
        ("code=http://loinc.org|", ALL_OBS),
        ("code=http://snomed.info/sct|8867-4", set()),
        ("code=8867-4,2339-0", obs(1, 2, 6, 9, 10)),
        ("code:not=http://loinc.org|8867-4", obs(2, 3, 4, 5, 7, 8, 9)),
        ("code:text=nhip", obs(1, 6, 10)),
        ("code:text=Glucose máu", obs(2, 3, 9)),
        ("code:text=tim", set()),  # :text matches from the start of the text
        ("status=final", obs(1, 2, 3, 4, 7, 8, 9)),
        ("status:not=final", obs(5, 6, 10)),
        ("status=final&code=2339-0", obs(2, 9)),
        ("category=vital-signs", obs(1)),
        ("combo-code=8480-6", obs(4)),  # a component's code
        ("component-code=85354-9", set()),
    ],
)
def test_token_on_observations(search_db: SearchDb, query: str, expected: set[str]) -> None:
    check(search_db, query, expected)


# --- uri ------------------------------------------------------------------------------------------------

VS = "https://senhealth.vn/fhir/ValueSet"


@pytest.mark.parametrize(
    ("query", "expected", "res_type"),
    [
        (f"url={VS}/dan-toc", {"vs-1"}, "ValueSet"),
        (f"url={VS}/dan", set(), "ValueSet"),
        (f"url:below={VS}/dan-toc", {"vs-1", "vs-2"}, "ValueSet"),
        ("url:below=https://senhealth.vn/fhir/", {"vs-1", "vs-2", "vs-3"}, "ValueSet"),
        (f"url:above={VS}/dan-toc/thieu-so/mong", {"vs-1", "vs-2"}, "ValueSet"),
        (f"url:above={VS}/gioi-tinh", {"vs-3"}, "ValueSet"),
        ("_profile=https://senhealth.vn/fhir/StructureDefinition/vn-patient", {"pat-1"}, "Patient"),
        (
            "_profile:below=https://senhealth.vn/fhir/StructureDefinition/vn-patient",
            {"pat-1", "pat-4"},
            "Patient",
        ),
        ("_source=https://tyt-tavan.senhealth.vn/fhir", {"pat-1"}, "Patient"),
        ("_profile:missing=true", pats(2, 3, 5, 6), "Patient"),
    ],
)
def test_uri(search_db: SearchDb, query: str, expected: set[str], res_type: str) -> None:
    check(search_db, query, expected, res_type)


# --- reference ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected", "res_type"),
    [
        ("subject=Patient/pat-1", obs(1, 2, 8, 9), "Observation"),
        ("subject=pat-1", obs(1, 2, 8, 9), "Observation"),
        ("subject:Patient=pat-1", obs(1, 2, 8, 9), "Observation"),
        ("patient=pat-1", obs(1, 2, 8, 9), "Observation"),
        ("subject:Group=pat-1", set(), "Observation"),
        ("subject=Patient/pat-1,Patient/pat-4", obs(1, 2, 6, 8, 9), "Observation"),
        ("performer=Practitioner/prac-1", obs(1, 4), "Observation"),
        ("encounter=enc-1", obs(1, 8), "Observation"),
        ("encounter:missing=true", obs(2, 4, 5, 6, 7, 9, 10), "Observation"),
        ("subject:missing=false", ALL_OBS, "Observation"),
        ("organization=Organization/org-bv", pats(1, 5), "Patient"),
        ("general-practitioner=prac-2", pats(2), "Patient"),
        ("link=pat-1", pats(5), "Patient"),
        (f"subject:identifier={CCCD}|001190000001", {"dr-3"}, "DiagnosticReport"),
        (
            "patient:identifier=001190000001",
            {"dr-3"},
            "DiagnosticReport",
        ),  # a logical reference typed Patient
        ("performer=https://benhvien-khac.vn/fhir/Organization/bv-99", {"dr-3"}, "DiagnosticReport"),
        ("performer=Organization/bv-99", set(), "DiagnosticReport"),  # external, not local
        ("result=Observation/obs-2", {"dr-1"}, "DiagnosticReport"),
        (
            "questionnaire=https://senhealth.vn/fhir/Questionnaire/kham-sang-loc",
            {"qr-1"},
            "QuestionnaireResponse",
        ),
        (
            "questionnaire=https://senhealth.vn/fhir/Questionnaire/kham-sang-loc|2.0",
            {"qr-1"},
            "QuestionnaireResponse",
        ),
        (
            "questionnaire=https://senhealth.vn/fhir/Questionnaire/kham-sang-loc|1.0",
            set(),
            "QuestionnaireResponse",
        ),
        ("partof=org-bv", {"org-ttyt"}, "Organization"),
    ],
)
def test_reference(search_db: SearchDb, query: str, expected: set[str], res_type: str) -> None:
    check(search_db, query, expected, res_type)


# --- quantity: UCUM units compare in canonical form ------------------------------------------------------

U = "http://unitsofmeasure.org"


@pytest.mark.parametrize(
    ("query", "expected", "res_type"),
    [
        ("value-quantity=97", obs(2), "Observation"),
        ("value-quantity=97||mg/dL", obs(2), "Observation"),
        (f"value-quantity=97|{U}|mg/dL", obs(2), "Observation"),
        (f"value-quantity=0.97|{U}|g/L", obs(2), "Observation"),  # 97 mg/dL
        (f"value-quantity=970|{U}|mg/L", obs(2), "Observation"),
        (f"value-quantity=lt100|{U}|mg/dL", obs(2), "Observation"),  # obs-9 is > 300
        (f"value-quantity=gt200|{U}|mg/dL", obs(9), "Observation"),  # open above
        (f"value-quantity=6.1|{U}|mmol/L", obs(3), "Observation"),
        (f"value-quantity=6100|{U}|umol/L", obs(3), "Observation"),
        (f"value-quantity=37.5|{U}|Cel", obs(8), "Observation"),
        (f"value-quantity=99.5|{U}|[degF]", obs(8), "Observation"),
        ("value-quantity=ge70||/min", obs(1, 6), "Observation"),
        (f"value-quantity=ap7|{U}|%", obs(7), "Observation"),
        (f"value-quantity=65.5|{U}|kg", obs(5), "Observation"),
        (f"value-quantity=65500|{U}|g", obs(5), "Observation"),
        (f"value-quantity=65.5|{U}|g", set(), "Observation"),
        ("value-quantity=65.5|http://example.org/units|kg", set(), "Observation"),
        ("value-quantity=ne72", obs(1, 2, 3, 5, 6, 7, 8, 9) - obs(1), "Observation"),
        ("value-quantity:missing=true", obs(4, 10), "Observation"),
        (f"length=2|{U}|h", {"enc-1", "enc-3"}, "Encounter"),  # 120 min is 2 h
        (f"length=120|{U}|min", {"enc-1", "enc-3"}, "Encounter"),
        (f"length=gt7000|{U}|s", {"enc-1", "enc-3"}, "Encounter"),
        ("length=2||h", {"enc-1", "enc-3"}, "Encounter"),
    ],
)
def test_quantity(search_db: SearchDb, query: str, expected: set[str], res_type: str) -> None:
    check(search_db, query, expected, res_type)


# --- composite ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"code-value-quantity=http://loinc.org|2339-0$gt100|{U}|mg/dL", obs(9)),
        (f"code-value-quantity=http://loinc.org|2339-0$lt1|{U}|g/L", obs(2)),
        ("code-value-quantity=8867-4$72", obs(1)),
        ("code-value-quantity=8867-4$ge72,2339-0$97", obs(1, 2, 6)),
        (f"component-code-value-quantity=http://loinc.org|8480-6$ge140|{U}|mm[Hg]", obs(4)),
        (f"component-code-value-quantity=http://loinc.org|8480-6$gt140|{U}|mm[Hg]", set()),
        ("component-code-value-quantity=8462-4$140", set()),  # a code never pairs with another's value
        ("component-code-value-quantity=8462-4$90", obs(4)),
        ("combo-code-value-quantity=8867-4$72", obs(1)),
        ("combo-code-value-quantity=8480-6$140", obs(4)),
        ("code-value-quantity:missing=true", obs(4, 10)),
    ],
)
def test_composite(search_db: SearchDb, query: str, expected: set[str]) -> None:
    check(search_db, query, expected)


# --- special: near (Sa Pa to Lào Cai city is about 21 km; Hà Nội about 250 km) --------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("near=22.3364|103.8438|5|km", {"loc-sapa"}),
        ("near=22.3364|103.8438|20|km", {"loc-sapa"}),
        ("near=22.3364|103.8438|25|km", {"loc-sapa", "loc-laocai"}),
        ("near=22.3364|103.8438|25000|m", {"loc-sapa", "loc-laocai"}),
        ("near=22.3364|103.8438|300|km", {"loc-sapa", "loc-laocai", "loc-hanoi"}),
        ("near=22.36|103.85", {"loc-sapa"}),  # the default radius is 5 km: Sa Pa is 2.7 km away
        ("near=22.40|103.90", set()),  # ... and 9 km from here
        ("near=21.03|105.85", {"loc-hanoi"}),
    ],
)
def test_near(search_db: SearchDb, query: str, expected: set[str]) -> None:
    check(search_db, query, expected, "Location")


# --- _list, system-level search, handling ---------------------------------------------------------------


def test_list(search_db: SearchDb) -> None:
    assert bare(search_db.search("_list=list-1")) == obs(1, 6)
    assert bare(search_db.search("_list=list-1", "Patient")) == pats(3)
    assert bare(search_db.search("_list=list-1,nope&status=final")) == obs(1)
    assert bare(search_db.search("_list=nope")) == set()


def test_system_level_search(search_db: SearchDb) -> None:
    assert ids_of(search_db.search("_type=Patient,Practitioner&name=tran", None)) == {
        "Patient/pat-2",
        "Practitioner/prac-1",
    }
    assert ids_of(search_db.search("_id=pat-1,prac-1,obs-1", None)) == {
        "Patient/pat-1",
        "Practitioner/prac-1",
        "Observation/obs-1",
    }
    assert ids_of(search_db.search("_tag=demo", None)) == {"Patient/pat-1", "Patient/pat-2"}
    assert ids_of(search_db.search("_type=Organization,Location&_sort=_id&_count=2", None)) == {
        "Location/loc-hanoi",
        "Location/loc-laocai",
    }


def test_lenient_handling_reports_and_ignores(search_db: SearchDb) -> None:
    result = search_db.search("colour=blue&gender=female", "Patient")
    assert bare(result) == pats(1, 4)
    assert result.warnings[0]["expression"] == ["colour"]
    with pytest.raises(SearchError) as info:
        search_db.search("colour=blue&gender=female", "Patient", strict=True)
    assert info.value.expression == "colour"
