"""Form 14/BCT on a demo province equals an independent SQL query over the store's own tables.

The independent query below reads ``fhir_resource`` (the resources' JSON) directly, with its own chapter
table and its own JSON paths: it shares no code with ``senhealth.analytics.reports`` (no views, no
materialised tables). Every cell of every chapter must agree, before and after the data changes (which
the report sees through the views' incremental refresh).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import psycopg
import pypdf
import pytest
from typer.testing import CliRunner

from senhealth.analytics.reports import report_14bct
from senhealth.analytics.reports.bct14 import KEYS, Report14BCT
from senhealth.api import create_app
from senhealth.api.reports import reports_router
from senhealth.cli_reports import reports_app
from senhealth.core.config import Settings, get_settings
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore

from .province_support import PROVINCE, Province, loaded_province

runner = CliRunner()

CHAPTERS = [
    ("I", "A00", "B99"), ("II", "C00", "D48"), ("III", "D50", "D89"), ("IV", "E00", "E90"),
    ("V", "F00", "F99"), ("VI", "G00", "G99"), ("VII", "H00", "H59"), ("VIII", "H60", "H95"),
    ("IX", "I00", "I99"), ("X", "J00", "J99"), ("XI", "K00", "K93"), ("XII", "L00", "L99"),
    ("XIII", "M00", "M99"), ("XIV", "N00", "N99"), ("XV", "O00", "O99"), ("XVI", "P00", "P96"),
    ("XVII", "Q00", "Q99"), ("XVIII", "R00", "R99"), ("XIX", "S00", "T98"), ("XX", "V01", "Y98"),
    ("XXI", "Z00", "Z99"), ("XXII", "U00", "U99"),
]  # fmt: skip

INDEPENDENT = """
WITH chapters(chapter, low, high) AS (SELECT * FROM unnest(%(ch)s::text[], %(lo)s::text[], %(hi)s::text[])),
org AS (
    SELECT res_id FROM fhir_resource
    WHERE res_type = 'Organization'
      AND jsonb_path_query_first(content,
            '$.address[0].extension[*] ? (@.url == "https://senhealth.vn/fhir/StructureDefinition/administrative-unit").extension[*] ? (@.url == "province").valueCoding.code'
          ) #>> '{}' = %(province)s
),
e AS (
    SELECT enc.res_id,
           enc.content->'class'->>'code' AS cls,
           enc.content->>'status' AS status,
           enc.content->'period'->>'start' AS started,
           enc.content->'period'->>'end' AS ended,
           substr(enc.content->'subject'->>'reference', 9) AS patient,
           enc.content->'hospitalization'->'dischargeDisposition'->'coding'->0->>'code' AS disposition,
           (SELECT substr(d->'condition'->>'reference', 11)
              FROM jsonb_array_elements(coalesce(enc.content->'diagnosis', '[]'::jsonb)) WITH ORDINALITY AS t(d, i)
             ORDER BY coalesce((d->>'rank')::int = 1, false) DESC, i LIMIT 1) AS condition_id,
           jsonb_path_query_first(enc.content,
             '$.reasonCode[*].coding[*] ? (@.system == "https://senhealth.vn/fhir/CodeSystem/icd10-vn").code') #>> '{}' AS reason
    FROM fhir_resource enc
    JOIN org ON org.res_id = substr(enc.content->'serviceProvider'->>'reference', 14)
    WHERE enc.res_type = 'Encounter'
      AND enc.content->>'status' NOT IN ('planned', 'cancelled', 'entered-in-error')
),
counted AS (
    SELECT e.*,
           e.cls = 'IMP' AS inp,
           timezone('Asia/Ho_Chi_Minh', (CASE WHEN e.cls = 'IMP' THEN e.ended ELSE e.started END)::timestamptz)::date AS day,
           upper(coalesce(
             (SELECT jsonb_path_query_first(c.content,
                 '$.code.coding[*] ? (@.system == "https://senhealth.vn/fhir/CodeSystem/icd10-vn").code') #>> '{}'
                FROM fhir_resource c WHERE c.res_type = 'Condition' AND c.res_id = e.condition_id),
             e.reason)) AS icd,
           p.content->>'gender' = 'female' AS female,
           (p.content->>'birthDate')::date AS born
    FROM e LEFT JOIN fhir_resource p ON p.res_type = 'Patient' AND p.res_id = e.patient
    WHERE (e.cls <> 'IMP' OR e.status = 'finished')
),
month AS (
    SELECT *, extract(year FROM age(day, born)) AS age_years, coalesce(disposition = 'exp', false) AS died
    FROM counted WHERE day >= make_date(%(year)s, %(month)s, 1)
                   AND day < make_date(%(year)s, %(month)s, 1) + interval '1 month'
)
SELECT ch.chapter,
       count(*), count(*) FILTER (WHERE female),
       count(*) FILTER (WHERE NOT inp), count(*) FILTER (WHERE NOT inp AND female),
       count(*) FILTER (WHERE inp), count(*) FILTER (WHERE inp AND female),
       count(*) FILTER (WHERE died), count(*) FILTER (WHERE died AND female),
       count(*) FILTER (WHERE died AND inp), count(*) FILTER (WHERE died AND inp AND female),
       count(*) FILTER (WHERE age_years < 15), count(*) FILTER (WHERE age_years < 5),
       count(*) FILTER (WHERE died AND age_years < 15), count(*) FILTER (WHERE died AND age_years < 5)
FROM month m JOIN chapters ch ON substr(m.icd, 1, 3) BETWEEN ch.low AND ch.high
GROUP BY ch.chapter
"""


def independent(url: str, year: int, month: int) -> dict[str, dict[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            INDEPENDENT,
            {
                "ch": [c[0] for c in CHAPTERS],
                "lo": [c[1] for c in CHAPTERS],
                "hi": [c[2] for c in CHAPTERS],
                "province": PROVINCE,
                "year": year,
                "month": month,
            },
        ).fetchall()
    found = {r[0]: dict(zip(KEYS, (int(v) for v in r[1:]), strict=True)) for r in rows}
    return {c[0]: found.get(c[0], dict.fromkeys(KEYS, 0)) for c in CHAPTERS}


@pytest.fixture(scope="module")
def province(database_url: str) -> Iterator[Province]:
    with loaded_province(database_url) as p:
        yield p


def _report(province: Province) -> Report14BCT:
    async def work(store: FhirStore) -> Report14BCT:
        return await report_14bct(
            store.pool,
            province.year,
            province.month,
            PROVINCE,
            param_ids=await store.param_ids(),
            schema=province.schema,
        )

    return province.run(work)


def _as_table(report: Report14BCT) -> dict[str, dict[str, int]]:
    return {r["chapter"]: {k: r[k] for k in KEYS} for r in report.rows}


def test_14bct_equals_an_independent_query(province: Province) -> None:
    report = _report(province)
    expected = independent(province.url, province.year, province.month)
    assert [r["chapter"] for r in report.rows] == [c[0] for c in CHAPTERS]
    assert [r["icd_range"] for r in report.rows] == [f"{c[1]}-{c[2]}" for c in CHAPTERS]
    assert _as_table(report) == expected
    # the month is not trivial: many cases in several chapters, inpatients, children, the deaths made
    total = report.total
    assert total["cases"] >= 15
    assert sum(1 for r in report.rows if r["cases"]) >= 4
    assert total["inpatient_cases"] >= 2 and total["children_u15_cases"] >= 1
    assert total["deaths"] == len(province.dead) - sum(
        1 for e in province.resources if e["id"] in province.dead and province.foreign_org in str(e)
    )
    assert total["inpatient_deaths"] == 2
    assert report.rows[0]["name_vi"] == "Bệnh nhiễm trùng và ký sinh trùng"
    assert report.unclassified["cases"] == 0  # every demo encounter has an ICD-10 reason


def test_14bct_follows_changes_and_excludes_other_provinces(province: Province) -> None:
    before = _report(province)
    # the foreign hospital's encounters are not counted: moving one of them home adds one case
    moved = next(
        r
        for r in province.resources
        if r["resourceType"] == "Encounter" and province.foreign_org in r["serviceProvider"]["reference"]
    )
    home = next(
        r["id"] for r in province.resources if r["resourceType"] == "Organization" and r.get("identifier")
    )
    cancelled = next(
        r
        for r in province.resources
        if r["resourceType"] == "Encounter"
        and r["class"]["code"] == "AMB"
        and r["id"] not in province.dead
        and province.foreign_org not in r["serviceProvider"]["reference"]
        and r["period"]["start"].startswith(f"{province.year}-{province.month:02d}")
    )

    async def change(store: FhirStore) -> None:
        await store.update({**moved, "serviceProvider": {"reference": f"Organization/{home}"}})
        await store.update({**cancelled, "status": "entered-in-error"})

    province.run(change)
    after = _report(province)
    assert after.total["cases"] == before.total["cases"]  # +1 moved home, -1 entered in error
    assert _as_table(after) == independent(province.url, province.year, province.month)
    assert _as_table(after) != _as_table(before) or moved["reasonCode"] == cancelled["reasonCode"]


def _as_json(report: Report14BCT) -> dict[str, Any]:
    return report.to_json()


def test_14bct_json_shape(province: Province) -> None:
    body = _as_json(_report(province))
    assert {"year", "month", "province", "rows"} <= body.keys()
    assert body["province"] == PROVINCE and body["province_name"] == "Bắc Ninh"
    row = body["rows"][9]
    assert row["chapter"] == "X" and row["icd_range"] == "J00-J99"
    assert {
        "cases",
        "deaths",
        "name_vi",
        "outpatient_cases",
        "inpatient_cases",
        "children_u5_cases",
    } <= row.keys()
    assert body["assumptions"]


# --- over HTTP: roles and formats ------------------------------------------------------------------

PRINCIPALS = {
    "officer": Principal("user", "u1", frozenset({"provincial_officer"})),
    "analyst": Principal("user", "u2", frozenset({"data_analyst"})),
    "doctor": Principal("user", "u3", frozenset({"doctor"}), facility="Organization/x"),
    "admin": Principal("user", "u4", frozenset({"facility_admin"}), facility="Organization/x"),
}


def _call(province: Province, requests: list[tuple[str | None, str]]) -> list[httpx.Response]:
    async def authenticate(headers: Mapping[str, str]) -> Principal | None:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        return PRINCIPALS.get(token)

    async def main() -> list[httpx.Response]:
        app = create_app(
            Settings(database_url=province.url, auth_required=True),
            authenticate=authenticate,
            extra_routers=[reports_router(schema=province.schema)],
        )
        out = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                for who, path in requests:
                    headers = {"Authorization": f"Bearer {who}"} if who else {}
                    out.append(await client.get(path, headers=headers))
        return out

    return asyncio.run(main())


def test_14bct_api_roles_and_formats(province: Province) -> None:
    query = f"/api/reports/14bct?year={province.year}&month={province.month}&province={PROVINCE}"
    responses = _call(
        province,
        [
            (None, query),
            ("doctor", query),
            ("admin", query),
            ("officer", query),
            ("analyst", query + "&format=csv"),
            ("officer", query + "&format=xlsx"),
            ("officer", query + "&format=pdf"),
            ("officer", f"/api/reports/14bct?year={province.year}&month=13&province={PROVINCE}"),
            ("officer", f"/api/reports/14bct?year={province.year}&month=1&province=ABC"),
            ("officer", query + "&format=doc"),
        ],
    )
    anonymous, doctor, admin, officer, csv_, xlsx, pdf, bad_month, bad_province, bad_format = responses
    assert anonymous.status_code == 401 and anonymous.json()["resourceType"] == "OperationOutcome"
    assert doctor.status_code == admin.status_code == 403
    assert officer.status_code == 200, officer.text[:300]
    body = officer.json()
    assert (body["year"], body["month"], body["province"]) == (province.year, province.month, PROVINCE)
    expected = independent(province.url, province.year, province.month)
    assert {r["chapter"]: {k: r[k] for k in KEYS} for r in body["rows"]} == expected

    assert csv_.status_code == 200 and csv_.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(csv_.content.decode("utf-8-sig"))))
    assert table[0][:4] == ["chapter", "icd_range", "name_vi", "cases"]
    assert [int(x) for x in table[10][3:]] == [expected["X"][k] for k in KEYS]
    assert xlsx.headers["content-disposition"].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.cell(5, 1).value == "I"
    assert sheet.cell(5, 4).value == expected["I"]["cases"]
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "14/BCT" in text and "Bắc Ninh" in text and "A00" in text and "Bệnh hệ hô hấp" in text
    assert bad_month.status_code == 400  # the query's validation, as the app answers it
    assert bad_province.status_code == 400 and bad_format.status_code == 400


# --- the command line -------------------------------------------------------------------------------


@pytest.fixture
def cli_env(province: Province, monkeypatch: pytest.MonkeyPatch) -> Iterator[Province]:
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", province.url)
    get_settings.cache_clear()
    yield province
    get_settings.cache_clear()


def test_14bct_cli_formats(cli_env: Province, tmp_path: Path) -> None:
    p = cli_env
    args = ["14bct", "--year", str(p.year), "--month", str(p.month)]  # province: the facilities' (24)
    result = runner.invoke(reports_app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    expected = independent(p.url, p.year, p.month)
    assert body["province"] == PROVINCE
    assert {r["chapter"]: {k: r[k] for k in KEYS} for r in body["rows"]} == expected

    result = runner.invoke(reports_app, [*args, "--format", "csv", "--province", PROVINCE])
    assert result.exit_code == 0 and result.stdout.lstrip("\ufeff").startswith("chapter,icd_range")

    for fmt in ("xlsx", "pdf"):
        out = tmp_path / f"r.{fmt}"
        result = runner.invoke(reports_app, [*args, "--format", fmt, "--output", str(out)])
        assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    sheet = book["14-BCT"]
    assert [sheet.cell(5 + i, 4).value for i in range(22)] == [expected[c[0]]["cases"] for c in CHAPTERS]
    text = "".join(page.extract_text() for page in pypdf.PdfReader(tmp_path / "r.pdf").pages)
    assert "Tổng số" in text and "XXII" in text

    refused = runner.invoke(reports_app, [*args, "--format", "pdf"])
    assert refused.exit_code == 2 and "--output" in refused.output
