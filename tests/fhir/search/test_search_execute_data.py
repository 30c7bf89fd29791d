"""The hand-made dataset of the search execution tests, and the fixtures that load it through the store.

A small province: a provincial hospital with a commune station under it and a district centre, two
practitioners, six patients with Vietnamese names, their observations (vital signs and laboratory values
in several units, one panel with components), encounters, a diagnostic report, a condition, a list,
three locations, risk assessments and value sets. Everything is synthetic.

``search_data`` (session) is a schema of its own holding the dataset, written once with
``FhirStore.update``. ``search_db`` is what the tests use: it runs every case on two roads,
``search_db[sql]`` (:class:`SearchDb`: ``parse_search`` and ``execute.search`` on a connection) and
``search_db[http]`` (:class:`HttpSearchDb`: the same search sent to the real app, ``create_app``, through
``httpx.ASGITransport``; one app, client and pool per test module, on the same schema). Both answer
``search(params, res_type, compartment=..., strict=...)`` with a ``SearchResult`` (or raise
``SearchError``) and ``pages(params, res_type)`` with every page (the cursor passed back by hand, or
the ``next`` links followed). Import ``search_db_fixture``, ``search_backend_fixture``,
``search_data_fixture`` and ``search_http_fixture`` into a test module to use them.

Cases where the HTTP answer differs are listed in ``search_http.HTTP_DISAGREEMENTS``: ``search_db``
marks them ``xfail(strict=True)`` on the HTTP road only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from unittest import mock

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from search_http import disagreement, http_pages, http_search, serve

from senhealth.api.fhir import search as api_search
from senhealth.core.db import create_pool
from senhealth.core.migrate import migrate
from senhealth.fhir.search.execute import SearchResult, search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore

T = TypeVar("T")

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CCCD = "https://senhealth.vn/fhir/sid/cccd"
BHYT = "https://senhealth.vn/fhir/sid/bhyt"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
TAGS = "https://senhealth.vn/fhir/tags"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
#: "now" for the ``ap`` prefix on dates, so the tests do not age
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _ref(target: str) -> dict[str, str]:
    return {"reference": target}


def _patient(
    pid: str, family: str, given: str, gender: str, birth: str | None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": family, "given": given.split()}],
        "gender": gender,
        **extra,
    }
    if birth is not None:
        out["birthDate"] = birth
    return out


def _obs(
    oid: str,
    subject: str,
    code: str,
    display: str,
    *,
    when: dict[str, Any],
    value: dict[str, Any] | None = None,
    status: str = "final",
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": _ref(subject),
        **when,
        **extra,
    }
    if value is not None:
        out["valueQuantity"] = value
    return out


def _qty(value: Any, code: str, unit: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"value": value, "unit": unit or code, "system": UCUM, "code": code, **extra}


ORGANIZATIONS = [
    {
        "resourceType": "Organization",
        "id": "org-bv",
        "name": "Bệnh viện Đa khoa tỉnh Lào Cai",
        "active": True,
        "address": [{"city": "Lào Cai", "country": "VN"}],
    },
    {
        "resourceType": "Organization",
        "id": "org-tyt",
        "name": "Trạm Y tế xã Tả Van",
        "active": True,
        "partOf": _ref("Organization/org-ttyt"),
    },
    {
        "resourceType": "Organization",
        "id": "org-ttyt",
        "name": "Trung tâm Y tế huyện Sa Pa",
        "active": False,
        "partOf": _ref("Organization/org-bv"),
    },
]

PRACTITIONERS = [
    {"resourceType": "Practitioner", "id": "prac-1", "name": [{"family": "Trần", "given": ["Văn", "Minh"]}]},
    {"resourceType": "Practitioner", "id": "prac-2", "name": [{"family": "Lê", "given": ["Thị", "Hoa"]}]},
]

PATIENTS = [
    _patient(
        "pat-1",
        "Nguyễn",
        "Thị Đào",
        "female",
        "1990-05-17",
        active=True,
        identifier=[
            {
                "system": CCCD,
                "value": "001190000001",
                "type": {"coding": [{"system": V2_0203, "code": "NI"}], "text": "Căn cước công dân"},
            },
            {"system": BHYT, "value": "HN4010190000001"},
        ],
        telecom=[{"system": "phone", "value": "0912345678", "use": "mobile"}],
        address=[{"line": ["Thôn Lao Chải"], "district": "Sa Pa", "city": "Lào Cai"}],
        managingOrganization=_ref("Organization/org-bv"),
        generalPractitioner=[_ref("Practitioner/prac-1")],
        meta={
            "tag": [{"system": TAGS, "code": "demo"}],
            "profile": ["https://senhealth.vn/fhir/StructureDefinition/vn-patient"],
            "source": "https://tyt-tavan.senhealth.vn/fhir",
        },
    ),
    _patient(
        "pat-2",
        "Trần",
        "Văn Hùng",
        "male",
        "1985-01-02",
        active=True,
        identifier=[{"system": CCCD, "value": "001085000002"}],
        managingOrganization=_ref("Organization/org-tyt"),
        generalPractitioner=[_ref("Practitioner/prac-2")],
        meta={"tag": [{"system": TAGS, "code": "demo"}, {"system": TAGS, "code": "ncd"}]},
    ),
    _patient(
        "pat-3",
        "Lê",
        "Văn Đức",
        "male",
        "1972-11",
        deceasedBoolean=True,
        managingOrganization=_ref("Organization/org-ttyt"),
    ),
    _patient(
        "pat-4",
        "Phạm",
        "Thị Hương",
        "female",
        "2001-07-30",
        active=False,
        meta={
            "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
            "profile": ["https://senhealth.vn/fhir/StructureDefinition/vn-patient-restricted"],
        },
    ),
    _patient(
        "pat-5",
        "Nguyễn",
        "Văn An",
        "male",
        "1990",
        managingOrganization=_ref("Organization/org-bv"),
        link=[{"other": _ref("Patient/pat-1"), "type": "seealso"}],
    ),
    _patient("pat-6", "Hoàng", "Đức Anh", "other", None),
]

HEART_RATE, GLUCOSE_MASS, GLUCOSE_MOLES, BP_PANEL = "8867-4", "2339-0", "15074-8", "85354-9"
SYSTOLIC, DIASTOLIC, WEIGHT, HBA1C, TEMPERATURE = "8480-6", "8462-4", "29463-7", "4548-4", "8310-5"

OBSERVATIONS = [
    _obs(
        "obs-1",
        "Patient/pat-1",
        HEART_RATE,
        "Nhịp tim",
        when={"effectiveDateTime": "2024-01-15T08:30:00+07:00"},
        value=_qty(72, "/min", "lần/phút"),
        performer=[_ref("Practitioner/prac-1")],
        encounter=_ref("Encounter/enc-1"),
        note=[{"text": "Bệnh nhân nghỉ ngơi 5 phút trước khi đo"}],
        category=[
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
    ),
    _obs(
        "obs-2",
        "Patient/pat-1",
        GLUCOSE_MASS,
        "Glucose máu",
        when={"effectiveDateTime": "2024-02-20"},
        value=_qty(97, "mg/dL"),
        performer=[_ref("Practitioner/prac-2")],
    ),
    _obs(
        "obs-3",
        "Patient/pat-2",
        GLUCOSE_MOLES,
        "Glucose máu (mol)",
        when={"effectiveDateTime": "2023-12-31T23:30:00+07:00"},
        value=_qty(6.1, "mmol/L"),
        encounter=_ref("Encounter/enc-2"),
    ),
    {
        **_obs(
            "obs-4",
            "Patient/pat-2",
            BP_PANEL,
            "Huyết áp",
            when={"effectiveDateTime": "2024-03-01T07:00:00+07:00"},
            performer=[_ref("Practitioner/prac-1")],
        ),
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": SYSTOLIC, "display": "Tâm thu"}]},
                "valueQuantity": _qty(140, "mm[Hg]"),
            },
            {
                "code": {"coding": [{"system": LOINC, "code": DIASTOLIC, "display": "Tâm trương"}]},
                "valueQuantity": _qty(90, "mm[Hg]"),
            },
        ],
    },
    _obs(
        "obs-5",
        "Patient/pat-3",
        WEIGHT,
        "Cân nặng",
        when={"effectivePeriod": {"start": "2023-06-01", "end": "2023-06-30"}},
        value=_qty(65.5, "kg"),
        status="preliminary",
    ),
    _obs(
        "obs-6",
        "Patient/pat-4",
        HEART_RATE,
        "Nhịp tim",
        when={"effectiveDateTime": "2024-01-15"},
        value=_qty(100, "/min"),
        status="amended",
    ),
    _obs(
        "obs-7",
        "Patient/pat-5",
        HBA1C,
        "HbA1c",
        when={"effectiveDateTime": "2022-05"},
        value=_qty(7.2, "%"),
    ),
    _obs(
        "obs-8",
        "Patient/pat-1",
        TEMPERATURE,
        "Nhiệt độ cơ thể",
        when={"effectiveDateTime": "2024-01-15T09:00:00+07:00"},
        value=_qty(37.5, "Cel", "°C"),
        encounter=_ref("Encounter/enc-1"),
    ),
    _obs(
        "obs-9",
        "Patient/pat-1",
        GLUCOSE_MASS,
        "Glucose máu",
        when={"effectivePeriod": {"start": "2024-04-01T06:00:00+07:00"}},
        value=_qty(300, "mg/dL", comparator=">"),
    ),
    _obs("obs-10", "Patient/pat-6", HEART_RATE, "Nhịp tim", when={}, status="cancelled"),
]

ENCOUNTERS = [
    {
        "resourceType": "Encounter",
        "id": "enc-1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": _ref("Patient/pat-1"),
        "participant": [{"individual": _ref("Practitioner/prac-1")}],
        "period": {"start": "2024-01-15T08:00:00+07:00", "end": "2024-01-15T10:00:00+07:00"},
        "serviceProvider": _ref("Organization/org-tyt"),
        "length": {"value": 120, "unit": "min", "system": UCUM, "code": "min"},
    },
    {
        "resourceType": "Encounter",
        "id": "enc-2",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": _ref("Patient/pat-2"),
        "period": {"start": "2023-12-30"},
        "serviceProvider": _ref("Organization/org-bv"),
    },
    {
        "resourceType": "Encounter",
        "id": "enc-3",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": _ref("Patient/pat-3"),
        "period": {"start": "2023-06-01", "end": "2023-06-30"},
        "serviceProvider": _ref("Organization/org-ttyt"),
        "length": {"value": 2, "unit": "h", "system": UCUM, "code": "h"},
    },
]

OTHERS = [
    {
        "resourceType": "DiagnosticReport",
        "id": "dr-1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "24323-8", "display": "Xét nghiệm sinh hoá"}]},
        "subject": _ref("Patient/pat-1"),
        "result": [_ref("Observation/obs-2"), _ref("Observation/obs-9")],
    },
    {
        "resourceType": "DiagnosticReport",
        "id": "dr-2",
        "status": "preliminary",
        "code": {"coding": [{"system": LOINC, "code": "24323-8"}]},
        "subject": _ref("Patient/pat-2"),
        "result": [_ref("Observation/obs-3")],
    },
    {
        "resourceType": "DiagnosticReport",
        "id": "dr-3",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "24323-8"}]},
        "subject": {"identifier": {"system": CCCD, "value": "001190000001"}, "type": "Patient"},
        "performer": [_ref("https://benhvien-khac.vn/fhir/Organization/bv-99")],
    },
    {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-1",
        "status": "completed",
        "questionnaire": "https://senhealth.vn/fhir/Questionnaire/kham-sang-loc|2.0",
        "subject": _ref("Patient/pat-1"),
    },
    {
        "resourceType": "Condition",
        "id": "cond-1",
        "code": {"coding": [{"system": ICD10, "code": "E11", "display": "Bệnh đái tháo đường typ 2"}]},
        "subject": _ref("Patient/pat-2"),
        "onsetDateTime": "2020",
    },
    {
        "resourceType": "List",
        "id": "list-1",
        "status": "current",
        "mode": "working",
        "entry": [
            {"item": _ref("Observation/obs-1")},
            {"item": _ref("Observation/obs-6")},
            {"item": _ref("Patient/pat-3")},
        ],
    },
    {
        "resourceType": "Location",
        "id": "loc-sapa",
        "name": "Thị xã Sa Pa",
        "position": {"latitude": 22.3364, "longitude": 103.8438},
    },
    {
        "resourceType": "Location",
        "id": "loc-laocai",
        "name": "Thành phố Lào Cai",
        "position": {"latitude": 22.4856, "longitude": 103.9707},
    },
    {
        "resourceType": "Location",
        "id": "loc-hanoi",
        "name": "Hà Nội",
        "position": {"latitude": 21.0285, "longitude": 105.8542},
    },
    # number: ChargeItem.factorOverride (RiskAssessment.probabilityDecimal trips the validator, see below)
    *(
        {
            "resourceType": "ChargeItem",
            "id": cid,
            "status": "billable",
            "code": {"text": "Khám bệnh"},
            "subject": _ref(subject),
            "factorOverride": factor,
        }
        for cid, subject, factor in (
            ("ci-1", "Patient/pat-1", 0.8),
            ("ci-2", "Patient/pat-2", 1),
            ("ci-3", "Patient/pat-2", 1.05),
            ("ci-4", "Patient/pat-3", 100),
            ("ci-5", "Patient/pat-4", -0.5),
        )
    ),
    {
        "resourceType": "RiskAssessment",
        "id": "ra-3",
        "status": "final",
        "subject": _ref("Patient/pat-3"),
        "prediction": [{"probabilityRange": {"low": {"value": 0.1}, "high": {"value": 0.3}}}],
    },
    {
        "resourceType": "ValueSet",
        "id": "vs-1",
        "url": "https://senhealth.vn/fhir/ValueSet/dan-toc",
        "status": "active",
    },
    {
        "resourceType": "ValueSet",
        "id": "vs-2",
        "url": "https://senhealth.vn/fhir/ValueSet/dan-toc/thieu-so",
        "status": "draft",
    },
    {
        "resourceType": "ValueSet",
        "id": "vs-3",
        "url": "https://senhealth.vn/fhir/ValueSet/gioi-tinh",
        "status": "active",
    },
]

DATASET: list[dict[str, Any]] = [
    *ORGANIZATIONS,
    *PRACTITIONERS,
    *PATIENTS,
    *OBSERVATIONS,
    *ENCOUNTERS,
    *OTHERS,
]


def ids_of(result: SearchResult, included: bool = False) -> set[str]:
    """``Type/id`` of the matches (or of the included resources)."""
    rows = result.included if included else result.matches
    return {f"{r.res_type}/{r.res_id}" for r in rows}


def bare(result: SearchResult, included: bool = False) -> set[str]:
    """The ids of the matches (or included resources), without the type."""
    rows = result.included if included else result.matches
    return {r.res_id for r in rows}


def _pairs(params: list[tuple[str, str]] | str) -> list[tuple[str, str]]:
    """``params`` as pairs (a query string is split on ``&`` and the first ``=``, without escapes)."""
    if isinstance(params, str):
        return [tuple(p.split("=", 1)) for p in params.split("&") if p]  # type: ignore[misc]
    return list(params)


@dataclass
class SearchDb:
    url: str
    param_ids: dict[tuple[str, str], int]

    def run(self, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        async def main() -> T:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                return await fn(conn)

        return asyncio.run(main())

    def search(
        self,
        params: list[tuple[str, str]] | str,
        res_type: str | None = "Observation",
        *,
        compartment: tuple[str, str] | None = None,
        strict: bool = False,
    ) -> SearchResult:
        """Parse and run one search (``params`` as pairs, or a query string without escapes)."""
        request = parse_search(res_type, _pairs(params), strict=strict)
        return self.run(lambda conn: search(conn, request, self.param_ids, compartment=compartment, now=NOW))

    def pages(
        self, params: list[tuple[str, str]] | str, res_type: str | None = "Observation"
    ) -> list[SearchResult]:
        """Every page of a search, passing each page's ``next_cursor`` back as ``_cursor``."""
        out: list[SearchResult] = []
        cursor: str | None = None
        while True:
            out.append(self.search(_pairs(params) + ([("_cursor", cursor)] if cursor else []), res_type))
            cursor = out[-1].next_cursor
            if cursor is None:
                return out
            assert len(out) < 50


class HttpSearchDb:
    """The same searches over HTTP, on the real app: ``GET /fhir/{type}?...`` (a stable sample by
    ``POST /fhir/{type}/_search`` with a form body), ``GET /fhir?...`` without a type,
    ``GET /fhir/Patient/{id}/{type}?...`` in a compartment; ``Prefer: handling=strict`` when strict.

    The app's clock for ``ap`` on dates is pinned to ``NOW``, as ``SearchDb`` pins it.
    """

    def __init__(self, runner: asyncio.Runner, client: httpx.AsyncClient) -> None:
        self.runner = runner
        self.client = client

    def _run(self, coro: Awaitable[T]) -> T:
        with mock.patch.object(api_search, "search", functools.partial(search, now=NOW)):
            return self.runner.run(coro)  # type: ignore[arg-type]

    def search(
        self,
        params: list[tuple[str, str]] | str,
        res_type: str | None = "Observation",
        *,
        compartment: tuple[str, str] | None = None,
        strict: bool = False,
    ) -> SearchResult:
        return self._run(
            http_search(self.client, _pairs(params), res_type, compartment=compartment, strict=strict)
        )

    def pages(
        self, params: list[tuple[str, str]] | str, res_type: str | None = "Observation"
    ) -> list[SearchResult]:
        """Every page of a search, following the ``next`` links."""

        async def collect() -> list[SearchResult]:
            out: list[SearchResult] = []
            async for page in http_pages(self.client, _pairs(params), res_type):
                out.append(page)
                assert len(out) < 50
            return out

        return self._run(collect())


async def write_all(url: str, resources: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    pool = create_pool(url, min_size=1, max_size=2)
    await pool.open(wait=True)
    try:
        store = FhirStore(pool)
        ids = await store.param_ids()
        async with store.transaction() as tx:
            for resource in resources:
                await tx.update(resource)
        return ids
    finally:
        await pool.close()


@pytest.fixture(scope="session", name="search_data")
def search_data_fixture(database_url: str) -> Iterator[SearchDb]:
    schema = f"search_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    try:
        migrate(url)
        ids = asyncio.run(write_all(url, DATASET))
        yield SearchDb(url, ids)
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module", name="search_http")
def search_http_fixture(search_data: SearchDb) -> Iterator[HttpSearchDb]:
    """One app, pool and client per test module, on the dataset's schema."""
    with asyncio.Runner() as runner:
        stack = contextlib.AsyncExitStack()
        client = runner.run(stack.enter_async_context(serve(search_data.url)))
        try:
            yield HttpSearchDb(runner, client)
        finally:
            runner.run(stack.aclose())


@pytest.fixture(scope="module", name="search_backend", params=["sql", "http"])
def search_backend_fixture(request: pytest.FixtureRequest, search_data: SearchDb) -> SearchDb | HttpSearchDb:
    if request.param == "http":
        backend: HttpSearchDb = request.getfixturevalue("search_http")
        return backend
    return search_data


@pytest.fixture(name="search_db")
def search_db_fixture(request: pytest.FixtureRequest, search_backend: SearchDb | HttpSearchDb) -> SearchDb:
    """The case's road: ``sql`` or ``http``; a known HTTP disagreement is ``xfail(strict=True)`` there."""
    if isinstance(search_backend, HttpSearchDb):
        callspec = getattr(request.node, "callspec", None)
        reason = disagreement(request.node.originalname, callspec.params if callspec else {})
        if reason is not None:
            request.node.add_marker(pytest.mark.xfail(strict=True, reason=f"API disagrees: {reason}"))
    return search_backend  # type: ignore[return-value]
