"""Searches on the hand-made dataset: chains, reverse chains, includes, sorting, paging, totals,
compartments, _summary and _elements.

Spec: https://hl7.org/fhir/R4/search.html (§3.1.1.5.4 includes, §3.1.1.5.5 sort, §3.1.1.5.6 paging,
§3.1.1.5.7 total, §3.1.1.5.8 summary, §3.1.1.5.9 elements, §3.1.1.5.11 chaining, §3.1.1.5.12 _has).
"""

from __future__ import annotations

from unittest import mock

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

from senhealth.fhir.search import execute
from senhealth.fhir.search.execute import SearchResult
from senhealth.fhir.search.request import SearchError

pytestmark = pytest.mark.usefixtures("search_db")


def obs(*numbers: int) -> set[str]:
    return {f"obs-{n}" for n in numbers}


def pats(*numbers: int) -> set[str]:
    return {f"pat-{n}" for n in numbers}


# --- chaining -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected", "res_type"),
    [
        ("subject:Patient.name=nguyen", obs(1, 2, 7, 8, 9), "Observation"),
        ("subject.name=nguyen", obs(1, 2, 7, 8, 9), "Observation"),
        ("patient.gender=female", obs(1, 2, 6, 8, 9), "Observation"),
        ("patient.gender=female&code=8867-4", obs(1, 6), "Observation"),
        ("patient.birthdate=lt1980", obs(5), "Observation"),
        ("patient.identifier=https://senhealth.vn/fhir/sid/cccd|001085000002", obs(3, 4), "Observation"),
        ("patient.organization.name=benh vien", obs(1, 2, 7, 8, 9), "Observation"),
        ("patient.organization.partof.name=Trung tam", obs(3, 4), "Observation"),  # three links
        ("patient.organization.partof.partof=org-bv", obs(3, 4), "Observation"),
        ("patient.organization:missing=true", obs(6, 10), "Observation"),
        ("performer:Practitioner.name=minh", obs(1, 4), "Observation"),
        ("encounter.service-provider.name:exact=Trạm Y tế xã Tả Van", obs(1, 8), "Observation"),
        ("service-provider.partof=org-bv", {"enc-3"}, "Encounter"),
        ("result.code=2339-0", {"dr-1"}, "DiagnosticReport"),
        ("result.value-quantity=gt5|http://unitsofmeasure.org|mmol/L", {"dr-2"}, "DiagnosticReport"),
        ("general-practitioner.name=le,tran", pats(1, 2), "Patient"),
        ("link.name=dao&link.gender=female", pats(5), "Patient"),
    ],
)
def test_chain(search_db: SearchDb, query: str, expected: set[str], res_type: str) -> None:
    assert bare(search_db.search(query, res_type)) == expected


# --- reverse chaining -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected", "res_type"),
    [
        ("_has:Observation:patient:code=8867-4", pats(1, 4, 6), "Patient"),
        ("_has:Observation:subject:code=2339-0", pats(1), "Patient"),
        ("_has:Observation:patient:code=8867-4&gender=female", pats(1, 4), "Patient"),
        ("_has:Observation:patient:code=8867-4&_has:Observation:patient:code=2339-0", pats(1), "Patient"),
        ("_has:Observation:patient:code=8867-4,2339-0", pats(1, 4, 6), "Patient"),
        ("_has:Observation:patient:value-quantity=gt90||/min", pats(4), "Patient"),
        ("_has:Observation:patient:_has:DiagnosticReport:result:status=final", pats(1), "Patient"),
        ("_has:Observation:patient:_has:DiagnosticReport:result:status=preliminary", pats(2), "Patient"),
        ("_has:Observation:patient:performer:Practitioner.name=minh", pats(1, 2), "Patient"),
        ("_has:Observation:performer:code=85354-9", {"prac-1"}, "Practitioner"),
        (
            "_has:Patient:organization:_has:Observation:patient:status=preliminary",
            {"org-ttyt"},
            "Organization",
        ),
        ("_has:Patient:organization:_has:Observation:patient:status=amended", set(), "Organization"),
        ("_has:List:item:status=current", obs(1, 6), "Observation"),
    ],
)
@pytest.mark.parametrize("probe", [False, True], ids=["collected", "probed"])
def test_has(search_db: SearchDb, query: str, expected: set[str], res_type: str, probe: bool) -> None:
    """Both shapes of a top-level ``_has``: its matches collected (few), or probed per resource in page
    order (many: forced here by a threshold of one match)."""
    with mock.patch.multiple(execute, PROBE_MIN=1 if probe else execute.PROBE_MIN, PROBE_FACTOR=0):
        assert bare(search_db.search(query, res_type)) == expected


# --- _include / _revinclude -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "res_type", "matches", "included"),
    [
        (
            "code=8867-4&_include=Observation:subject",
            "Observation",
            obs(1, 6, 10),
            {"Patient/pat-1", "Patient/pat-4", "Patient/pat-6"},
        ),
        ("code=8867-4&_include=Observation:subject:Group", "Observation", obs(1, 6, 10), set()),
        ("code=8867-4&_include=Observation:performer", "Observation", obs(1, 6, 10), {"Practitioner/prac-1"}),
        (
            "_id=obs-1&_include=*",
            "Observation",
            obs(1),
            {"Patient/pat-1", "Practitioner/prac-1", "Encounter/enc-1"},
        ),
        (
            "_id=obs-1&_include=Observation:*",
            "Observation",
            obs(1),
            {"Patient/pat-1", "Practitioner/prac-1", "Encounter/enc-1"},
        ),
        (  # without :iterate, Patient:organization applies to the matches (Observations) only
            "_id=obs-1&_include=Observation:patient&_include=Patient:organization",
            "Observation",
            obs(1),
            {"Patient/pat-1"},
        ),
        (
            "_id=obs-1&_include=Observation:patient&_include:iterate=Patient:organization",
            "Observation",
            obs(1),
            {"Patient/pat-1", "Organization/org-bv"},
        ),
        (
            "_id=enc-1&_include=Encounter:service-provider&_include:iterate=Organization:partof",
            "Encounter",
            {"enc-1"},
            {"Organization/org-tyt", "Organization/org-ttyt", "Organization/org-bv"},
        ),
        (
            "_id=pat-1&_revinclude=Observation:subject",
            "Patient",
            pats(1),
            {"Observation/obs-1", "Observation/obs-2", "Observation/obs-8", "Observation/obs-9"},
        ),
        ("_id=pat-1&_revinclude=DiagnosticReport:subject", "Patient", pats(1), {"DiagnosticReport/dr-1"}),
        (
            "_id=pat-2&_revinclude=Observation:subject&_revinclude:iterate=DiagnosticReport:result",
            "Patient",
            pats(2),
            {"Observation/obs-3", "Observation/obs-4", "DiagnosticReport/dr-2"},
        ),
        (
            "_id=pat-1&_revinclude=*",
            "Patient",
            pats(1),
            {
                "Observation/obs-1",
                "Observation/obs-2",
                "Observation/obs-8",
                "Observation/obs-9",
                "Encounter/enc-1",
                "DiagnosticReport/dr-1",
                "ChargeItem/ci-1",
                "Patient/pat-5",
                "QuestionnaireResponse/qr-1",
            },
        ),
        (
            "_id=obs-2&_revinclude=DiagnosticReport:result&_include=Observation:subject",
            "Observation",
            obs(2),
            {"DiagnosticReport/dr-1", "Patient/pat-1"},
        ),
        ("_id=pat-1,pat-5&_include=Patient:link", "Patient", pats(1, 5), set()),  # already a match
        (
            "_id=org-bv&_revinclude:iterate=Organization:partof",
            "Organization",
            {"org-bv"},
            {"Organization/org-ttyt", "Organization/org-tyt"},
        ),
        ("_id=nobody&_include=*", "Observation", set(), set()),
    ],
)
def test_include(
    search_db: SearchDb, query: str, res_type: str, matches: set[str], included: set[str]
) -> None:
    result = search_db.search(query, res_type)
    assert bare(result) == matches
    assert ids_of(result, included=True) == included
    assert len(result.included) == len(included)  # no duplicates


def test_included_rows_carry_content(search_db: SearchDb) -> None:
    result = search_db.search("_id=obs-1&_include=Observation:subject")
    (patient,) = result.included
    assert patient.content["resourceType"] == "Patient" and patient.content["id"] == "pat-1"
    assert patient.content["name"][0]["family"] == "Nguyễn"
    assert patient.version == 1 and patient.content["meta"]["versionId"] == "1"


# --- sorting --------------------------------------------------------------------------------------------


def order(result: SearchResult) -> list[str]:
    return [r.res_id for r in result.matches]


@pytest.mark.parametrize(
    ("query", "expected", "res_type"),
    [
        ("_sort=birthdate", ["pat-3", "pat-2", "pat-5", "pat-1", "pat-4", "pat-6"], "Patient"),
        ("_sort=-birthdate", ["pat-4", "pat-5", "pat-1", "pat-2", "pat-3", "pat-6"], "Patient"),
        ("_sort=family", ["pat-6", "pat-3", "pat-1", "pat-5", "pat-4", "pat-2"], "Patient"),
        ("_sort=family,-birthdate", ["pat-6", "pat-3", "pat-5", "pat-1", "pat-4", "pat-2"], "Patient"),
        ("_sort=-family,birthdate", ["pat-2", "pat-4", "pat-5", "pat-1", "pat-3", "pat-6"], "Patient"),
        ("_sort=_id", ["pat-1", "pat-2", "pat-3", "pat-4", "pat-5", "pat-6"], "Patient"),
        ("_sort=-_id", ["pat-6", "pat-5", "pat-4", "pat-3", "pat-2", "pat-1"], "Patient"),
        ("_sort=gender,_id", ["pat-1", "pat-4", "pat-2", "pat-3", "pat-5", "pat-6"], "Patient"),
        (
            "_sort=date",
            ["obs-7", "obs-5", "obs-3", "obs-6", "obs-1", "obs-8", "obs-2", "obs-4", "obs-9", "obs-10"],
            "Observation",
        ),
        (
            "_sort=-date",
            ["obs-9", "obs-4", "obs-2", "obs-6", "obs-8", "obs-1", "obs-3", "obs-5", "obs-7", "obs-10"],
            "Observation",
        ),
        (
            "_sort=status,_id",
            ["obs-6", "obs-10", "obs-1", "obs-2", "obs-3", "obs-4", "obs-7", "obs-8", "obs-9", "obs-5"],
            "Observation",
        ),
        ("code=8867-4&_sort=-value-quantity", ["obs-6", "obs-1", "obs-10"], "Observation"),
        ("code=8867-4&_sort=value-quantity", ["obs-1", "obs-6", "obs-10"], "Observation"),
        (
            "_sort=subject,_id",
            ["obs-1", "obs-2", "obs-8", "obs-9", "obs-3", "obs-4", "obs-5", "obs-6", "obs-7", "obs-10"],
            "Observation",
        ),
        ("_sort=factor-override", ["ci-5", "ci-1", "ci-2", "ci-3", "ci-4"], "ChargeItem"),
        ("_sort=-factor-override", ["ci-4", "ci-3", "ci-2", "ci-1", "ci-5"], "ChargeItem"),
        ("_sort=url", ["vs-1", "vs-2", "vs-3"], "ValueSet"),
        ("_sort=_lastUpdated,_id&_count=3", ["pat-1", "pat-2", "pat-3"], "Patient"),
    ],
)
def test_sort(search_db: SearchDb, query: str, expected: list[str], res_type: str) -> None:
    assert order(search_db.search(query, res_type)) == expected


# --- paging ---------------------------------------------------------------------------------------------


def all_pages(db: SearchDb, params: list[tuple[str, str]], res_type: str = "Observation") -> list[list[str]]:
    """Every page in order: the cursor passed back (SQL), or the ``next`` links followed (HTTP)."""
    return [order(page) for page in db.pages(params, res_type)]


@pytest.mark.parametrize(
    ("sort", "count", "res_type"),
    [
        ("", 3, "Observation"),
        ("date", 3, "Observation"),
        ("-date", 4, "Observation"),
        ("date,-_id", 1, "Observation"),
        ("-value-quantity", 2, "Observation"),
        ("status,-date", 3, "Observation"),
        ("family,-birthdate", 2, "Patient"),
        ("-given", 4, "Patient"),
        ("birthdate", 5, "Patient"),
        ("_lastUpdated", 2, "Patient"),
        ("-_lastUpdated", 2, "Patient"),
        ("subject", 3, "Observation"),
        ("factor-override", 2, "ChargeItem"),
    ],
)
def test_paging_reproduces_the_sorted_list(search_db: SearchDb, sort: str, count: int, res_type: str) -> None:
    sort_params = [("_sort", sort)] if sort else []
    everything = order(search_db.search([*sort_params, ("_count", "100")], res_type))
    pages = all_pages(search_db, [*sort_params, ("_count", str(count))], res_type)
    assert [r for page in pages for r in page] == everything
    assert all(len(p) == count for p in pages[:-1]) and 0 < len(pages[-1]) <= count


def test_paging_with_filters_and_types(search_db: SearchDb) -> None:
    pages = all_pages(search_db, [("_type", "Patient,Practitioner,Organization"), ("_count", "4")], None)  # type: ignore[arg-type]
    flat = [r for p in pages for r in p]
    assert len(flat) == len(set(flat)) == 11
    pages = all_pages(search_db, [("status", "final"), ("_count", "2")])
    assert sorted(r for p in pages for r in p) == sorted(obs(1, 2, 3, 4, 7, 8, 9))


def test_last_page_has_no_cursor(search_db: SearchDb) -> None:
    assert search_db.search("_count=10").next_cursor is None
    assert search_db.search("_count=9").next_cursor is not None


def test_cursor_is_pinned_to_its_query(search_db: SearchDb) -> None:
    cursor = search_db.search("_count=2&status=final").next_cursor
    assert cursor is not None
    # the same query with another page size goes on
    assert order(search_db.search([("status", "final"), ("_count", "3"), ("_cursor", cursor)])) == [
        "obs-3",
        "obs-4",
        "obs-7",
    ]
    for other in ("status=amended", "status=final&_sort=date", "status=final&code=8867-4"):
        with pytest.raises(SearchError) as info:
            search_db.search(f"{other}&_cursor={cursor}")
        assert info.value.expression == "_cursor"
    with pytest.raises(SearchError):
        search_db.search(f"status=final&_cursor={cursor}", compartment=("Patient", "pat-1"))


@pytest.mark.parametrize(
    "cursor", ["x", "!!!", "eyJ2IjoxfQ", "e30", "eyJ2IjoxLCJxIjoiYSIsImsiOltdfQ", "a" * 9000]
)
def test_bad_cursors_are_400(search_db: SearchDb, cursor: str) -> None:
    with pytest.raises(SearchError) as info:
        search_db.search([("_cursor", cursor)])
    assert info.value.code == "invalid" and info.value.expression == "_cursor"


def test_tampered_cursor_values(search_db: SearchDb) -> None:
    import base64
    import json

    from senhealth.fhir.search.request import parse_search

    cursor = search_db.search("_sort=date&_count=2").next_cursor
    assert cursor is not None
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    fingerprint = payload["q"]
    for keys in (
        [["t", "x"], ["i", 1]],
        [["d", "not a date"], ["i", 1]],
        [["d", "2020-01-01T00:00:00"], ["i", 1]],
        [None, ["i", "1"]],
        [None],
    ):
        raw = json.dumps({"v": 1, "q": fingerprint, "k": keys}).encode()
        bad = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        with pytest.raises(SearchError):
            search_db.search([("_sort", "date"), ("_count", "2"), ("_cursor", bad)])
    assert parse_search("Observation", [("_cursor", cursor)]).cursor == cursor


# --- totals ---------------------------------------------------------------------------------------------


def test_totals(search_db: SearchDb) -> None:
    assert search_db.search("_count=2&_total=accurate").total == 10
    first = search_db.search("_count=2")
    assert first.total is None  # the default gives only a free total: this first page is full
    assert search_db.search("status=final").total == 7  # ... and this one holds every match
    later = search_db.search([("_count", "2"), ("_cursor", first.next_cursor or "")])
    assert later.total is None  # ... and none on later pages
    assert (
        search_db.search(
            [("_count", "2"), ("_total", "accurate"), ("_cursor", first.next_cursor or "")]
        ).total
        == 10
    )
    assert search_db.search("_count=2&_total=none").total is None
    assert search_db.search("status=final&_total=none").total is None
    estimate = search_db.search("_count=2&_total=estimate").total
    assert isinstance(estimate, int) and estimate >= 1
    assert search_db.search("_total=estimate&status=final").total == 7  # one page: exact anyway
    counted = search_db.search("_summary=count&status=final")
    assert counted.matches == [] and counted.total == 7 and counted.next_cursor is None
    zero = search_db.search("_count=0&status=final")
    assert zero.matches == [] and zero.total == 7


# --- compartments ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "res_type", "patient", "expected"),
    [
        ("", "Observation", "pat-1", obs(1, 2, 8, 9)),
        ("code=2339-0", "Observation", "pat-1", obs(2, 9)),
        ("code=2339-0", "Observation", "pat-2", set()),
        ("", "Observation", "pat-6", obs(10)),
        ("", "Encounter", "pat-2", {"enc-2"}),
        ("", "ChargeItem", "pat-2", {"ci-2", "ci-3"}),
        ("_sort=-factor-override", "ChargeItem", "pat-2", {"ci-2", "ci-3"}),
        ("", "Patient", "pat-1", pats(1, 5)),  # pat-5 links to pat-1
        ("subject.name=nguyen", "Observation", "pat-2", set()),
    ],
)
def test_compartment(
    search_db: SearchDb, query: str, res_type: str, patient: str, expected: set[str]
) -> None:
    result = search_db.search(query, res_type, compartment=("Patient", patient))
    assert bare(result) == expected and result.total == len(expected)


def test_compartment_rejects_a_type_outside_it(search_db: SearchDb) -> None:
    with pytest.raises(SearchError, match="not in the Patient compartment"):
        search_db.search("", "Organization", compartment=("Patient", "pat-1"))


# --- _summary and _elements ------------------------------------------------------------------------------


def test_elements(search_db: SearchDb) -> None:
    (row,) = search_db.search("_id=pat-1&_elements=name,birthDate", "Patient").matches
    assert set(row.content) == {"resourceType", "id", "meta", "name", "birthDate"}
    assert {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
        "code": "SUBSETTED",
    } in row.content["meta"]["tag"]
    assert {"system": "https://senhealth.vn/fhir/tags", "code": "demo"} in row.content["meta"]["tag"]
    (obs1,) = search_db.search("_id=obs-1&_elements=valueQuantity").matches
    assert set(obs1.content) == {
        "resourceType",
        "id",
        "meta",
        "status",
        "code",
        "valueQuantity",
    }  # mandatory kept


def test_summary(search_db: SearchDb) -> None:
    (full,) = search_db.search("_id=obs-1").matches
    (short,) = search_db.search("_id=obs-1&_summary=true").matches
    assert "note" in full.content and "note" not in short.content
    assert (
        short.content["code"] == full.content["code"]
        and short.content["valueQuantity"] == full.content["valueQuantity"]
    )
    assert short.content["meta"]["tag"][-1]["code"] == "SUBSETTED"
    (data,) = search_db.search("_id=obs-1&_summary=data").matches
    assert data.content == full.content  # no narrative to drop: unchanged, not tagged
    (text,) = search_db.search("_id=obs-1&_summary=text").matches
    assert set(text.content) == {"resourceType", "id", "meta", "status", "code"}
    (plain,) = search_db.search("_id=obs-1&_summary=false").matches
    assert plain.content == full.content
    with_includes = search_db.search("_id=obs-1&_summary=true&_include=Observation:subject")
    assert "address" in with_includes.included[0].content  # includes are returned whole
