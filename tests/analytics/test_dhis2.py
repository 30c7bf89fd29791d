"""DHIS2-style aggregate forms: validation rules, the approval workflow on the store, dataValueSets over HTTP.

Spec: https://docs.dhis2.org/en/develop/using-the-api/dhis-core-version-master/data.html (data value sets,
import summaries); validation rule semantics as DHIS2 documents them (operators, missing value strategies).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx
import pytest

from senhealth.analytics.dhis2 import data_set, validate
from senhealth.analytics.dhis2.model import ValidationRule
from senhealth.analytics.dhis2.validation import evaluate, operands
from senhealth.api import create_app
from senhealth.api.reports import reports_router
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.fhir.access import Principal

DS = data_set("SH_MONTHLY_FACILITY")


def test_expressions() -> None:
    values = {("OPD_VISITS", "M"): 10.0, ("OPD_VISITS", "F"): 12.0, ("IPD_ADMISSIONS", "F"): 3.0}
    assert evaluate("#{OPD_VISITS}", values, DS) == 22
    assert evaluate("#{OPD_VISITS.F} - #{IPD_ADMISSIONS}", values, DS) == 9
    assert evaluate("(#{OPD_VISITS} + 2) * 2 / 4", values, DS) == 12
    assert evaluate("-#{REFERRALS_OUT} + 1", values, DS) == 1  # missing counts as 0
    assert operands("#{A} + #{B.F} * 3") == [("A", None), ("B", "F")]
    for bad in ("#{OPD_VISITS} +", "2 ** 3", "#{OPD_VISITS.X}", "#{OPD_VISITS} )", "import os"):
        with pytest.raises(ValueError):
            evaluate(bad, values, DS)


def _codes(values: Mapping[tuple[str, str], float]) -> list[str]:
    return [v.rule.code for v in validate(DS, values)]


def test_validation_rules() -> None:
    assert _codes({}) == []  # every rule skips (or is satisfied by) an empty form
    ok = {("IPD_ADMISSIONS", "M"): 2.0, ("IPD_ADMISSIONS", "F"): 2.0, ("IPD_DEATHS", "F"): 1.0}
    assert _codes({**ok, ("OPD_VISITS", "M"): 5.0}) == []
    assert _codes({**ok, ("IPD_DEATHS", "M"): 4.0}) == ["VR_DEATHS_LE_ADMISSIONS"]
    assert _codes({**ok, ("IPD_DEATHS", "F"): 3.0}) == ["VR_FEMALE_DEATHS_LE_ADMISSIONS"]  # 3 <= 4 in all
    assert _codes({**ok, ("IPD_DEATHS", "F"): 5.0}) == [
        "VR_DEATHS_LE_ADMISSIONS",
        "VR_FEMALE_DEATHS_LE_ADMISSIONS",
    ]
    # compulsory pair: one side alone breaks it; the comparison rule is skipped while all its values are missing
    assert _codes({("HTN_REGISTERED", "default"): 10.0}) == ["VR_HTN_PAIR"]
    assert _codes({("HTN_REGISTERED", "default"): 10.0, ("HTN_CONTROLLED", "default"): 11.0}) == [
        "VR_HTN_CONTROLLED_LE_REGISTERED"
    ]
    # NEVER_SKIP: referrals with no visits at all are compared with 0
    assert _codes({("REFERRALS_OUT", "default"): 1.0}) == ["VR_REFERRALS_LE_VISITS"]
    exclusive = replace(
        DS, rules=(ValidationRule("X", "", "", "#{OPD_VISITS}", "exclusive_pair", "#{IPD_ADMISSIONS.F}"),)
    )
    assert validate(exclusive, {("OPD_VISITS", "M"): 1.0}) == []
    assert [
        v.rule.code for v in validate(exclusive, {("OPD_VISITS", "M"): 1.0, ("IPD_ADMISSIONS", "F"): 0.0})
    ] == ["X"]
    assert validate(exclusive, {("OPD_VISITS", "M"): 1.0, ("IPD_ADMISSIONS", "M"): 1.0}) == []


# --- forms, workflow and exchange over HTTP ---------------------------------------------------------

UNIT = "https://senhealth.vn/fhir/StructureDefinition/administrative-unit"


def _org(org_id: str, code: str, province: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": org_id,
        "identifier": [{"system": "https://senhealth.vn/fhir/sid/facility", "value": code}],
        "name": f"Trạm Y tế {code}",
        "address": [
            {
                "extension": [
                    {
                        "url": UNIT,
                        "extension": [
                            {
                                "url": "province",
                                "valueCoding": {
                                    "system": "https://senhealth.vn/fhir/CodeSystem/province-2025",
                                    "code": province,
                                },
                            }
                        ],
                    }
                ]
            }
        ],
    }


PRINCIPALS = {
    "officer": Principal(
        "user", "u1", frozenset({"provincial_officer"}), claims={"preferred_username": "so.yte"}
    ),
    "analyst": Principal("user", "u2", frozenset({"data_analyst"})),
    "admin-a": Principal("user", "u3", frozenset({"facility_admin"}), facility="Organization/org-a"),
    "chw-a": Principal("user", "u4", frozenset({"commune_health_worker"}), facility="Organization/org-a"),
    "admin-b": Principal("user", "u5", frozenset({"facility_admin"}), facility="Organization/org-b"),
}


def _session(url: str, steps: list[tuple[str, str | None, str, Any]]) -> list[httpx.Response]:
    async def authenticate(headers: Mapping[str, str]) -> Principal | None:
        return PRINCIPALS.get(headers.get("authorization", "").removeprefix("Bearer "))

    async def main() -> list[httpx.Response]:
        app = create_app(
            Settings(database_url=url, auth_required=True),
            authenticate=authenticate,
            extra_routers=[reports_router()],
        )
        out = []
        async with app.router.lifespan_context(app):
            from senhealth.core.db import get_pool
            from senhealth.fhir.store import FhirStore

            store = FhirStore(get_pool())
            for org in (
                _org("org-a", "24101", "24"),
                _org("org-b", "24102", "24"),
                _org("org-c", "01101", "01"),
            ):
                await store.update(org)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                for method, who, path, body in steps:
                    headers = {"Authorization": f"Bearer {who}"} if who else {}
                    if method == "GET":
                        out.append(await client.get(path, headers=headers))
                    else:
                        out.append(await client.post(path, headers=headers, json=body))
        return out

    return asyncio.run(main())


def _values(org_unit: str, **values: int) -> dict[str, Any]:
    data = []
    for key, value in values.items():
        element, _, combo = key.partition("__")
        item: dict[str, Any] = {"dataElement": element, "value": str(value)}
        if combo:
            item["categoryOptionCombo"] = combo
        data.append(item)
    return {"dataSet": "SH_MONTHLY_FACILITY", "period": "202503", "orgUnit": org_unit, "dataValues": data}


FORM = "/api/dhis2/forms/SH_MONTHLY_FACILITY/202503/24101"
EXPORT = "/api/dhis2/dataValueSets?period=202503&orgUnit="


def test_forms_workflow_and_data_value_sets(schema_url: str) -> None:
    migrate(schema_url)
    bad = _values("24101", IPD_ADMISSIONS__F=1, IPD_DEATHS__F=2, OPD_VISITS__M=30, OPD_VISITS__F=41)
    r = _session(
        schema_url,
        [
            ("POST", None, "/api/dhis2/dataValueSets", bad),  # 0 no token
            ("POST", "admin-b", "/api/dhis2/dataValueSets", bad),  # 1 another facility's admin
            ("POST", "chw-a", "/api/dhis2/dataValueSets", bad),  # 2 the facility's health worker enters
            ("POST", "admin-a", f"{FORM}/submit", None),  # 3 breaks a HIGH rule: refused
            (
                "POST",
                "admin-a",
                "/api/dhis2/dataValueSets",
                _values("24101", IPD_DEATHS__F=1, REFERRALS_OUT=4),
            ),  # 4
            ("POST", "admin-a", f"{FORM}/approve", None),  # 5 only the province approves
            ("POST", "admin-a", f"{FORM}/submit", None),  # 6
            ("POST", "chw-a", "/api/dhis2/dataValueSets", _values("24101", OPD_VISITS__M=31)),  # 7 locked
            ("GET", "analyst", EXPORT + "24", None),  # 8 province export
            ("POST", "officer", f"{FORM}/return", {}),  # 9 a return needs a reason
            ("POST", "officer", f"{FORM}/approve", None),  # 10
            ("GET", "admin-a", EXPORT + "24101&approvedOnly=true", None),  # 11 own facility
            ("GET", "admin-a", EXPORT + "24102", None),  # 12 another facility
            ("GET", "admin-a", EXPORT + "24", None),  # 13 the province: provincial roles only
            ("POST", "officer", f"{FORM}/accept", None),  # 14
            ("POST", "officer", f"{FORM}/return", {"reason": "Số tử vong cần kiểm tra lại"}),  # 15
            ("GET", "admin-a", FORM, None),  # 16
            ("POST", "officer", "/api/dhis2/dataValueSets", _values("24101", NOPE=1, OPD_VISITS__X=2)),  # 17
            ("GET", "officer", EXPORT + "99999", None),  # 18
            ("GET", "officer", "/api/dhis2/dataValueSets?period=2025-03&orgUnit=24101", None),  # 19
        ],
    )
    assert r[0].status_code == 401 and r[1].status_code == 403
    summary = r[2].json()
    assert r[2].status_code == 200, r[2].text
    assert summary["status"] == "SUCCESS"
    assert summary["importCount"] == {"imported": 4, "updated": 0, "ignored": 0, "deleted": 0}
    assert r[3].status_code == 400 and "VR_DEATHS_LE_ADMISSIONS" in r[3].text
    assert r[4].json()["importCount"] == {"imported": 1, "updated": 1, "ignored": 0, "deleted": 0}
    assert r[5].status_code == 403
    assert r[6].status_code == 200 and r[6].json()["state"] == "submitted"
    assert r[7].json()["status"] == "ERROR" and r[7].json()["importCount"]["ignored"] == 1
    export = r[8].json()
    assert r[8].status_code == 200 and export["period"] == "202503" and "orgUnit" not in export
    got = {
        (v["orgUnit"], v["dataElement"], v["categoryOptionCombo"]): v["value"] for v in export["dataValues"]
    }
    assert got == {
        ("24101", "IPD_ADMISSIONS", "F"): "1",
        ("24101", "IPD_DEATHS", "F"): "1",
        ("24101", "OPD_VISITS", "M"): "30",
        ("24101", "OPD_VISITS", "F"): "41",
        ("24101", "REFERRALS_OUT", "default"): "4",
    }
    assert r[9].status_code == 400
    assert r[10].status_code == 200 and r[10].json()["state"] == "approved"
    own = r[11].json()
    assert r[11].status_code == 200 and own["orgUnit"] == "24101" and len(own["dataValues"]) == 5
    assert own["completeDate"] and all(v["period"] == "202503" for v in own["dataValues"])
    assert r[12].status_code == 403 and r[13].status_code == 403
    assert r[14].json()["state"] == "accepted"
    assert r[15].json()["state"] == "draft"
    form = r[16].json()
    assert [s["action"] for s in form["steps"]] == ["submit", "approve", "accept", "return"]
    assert form["steps"][1]["by"] == "so.yte" and form["steps"][3]["reason"] == "Số tử vong cần kiểm tra lại"
    assert form["violations"] == []
    assert r[17].json()["importCount"]["ignored"] == 2 and len(r[17].json()["conflicts"]) == 2
    assert r[18].status_code == 404 and r[19].status_code == 400


def test_form_is_a_measure_report(schema_url: str) -> None:
    """The stored form is a valid FHIR MeasureReport (summary) whose history is the workflow."""
    migrate(schema_url)

    async def main() -> tuple[dict[str, Any], int]:
        from senhealth.analytics.dhis2 import facility_of, save_values, transition
        from senhealth.analytics.dhis2.forms import form_id
        from senhealth.analytics.indicators import parse_period
        from senhealth.core.db import create_pool
        from senhealth.fhir.store import FhirStore
        from senhealth.fhir.validation import validate as validate_resource

        pool = create_pool(schema_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        try:
            store = FhirStore(pool)
            await store.update(_org("org-a", "24101", "24"))
            facility = await facility_of(store, "24101")
            period = parse_period("202503")
            await save_values(store, DS, period, facility, {("OPD_VISITS", "F"): 7, ("OPD_VISITS", "M"): 5})
            await transition(store, DS, period, facility, "submit", by="tram.a")
            stored = await store.read("MeasureReport", form_id(DS, period, facility.code))
            assert stored.content is not None
            issues = [
                i for i in validate_resource(stored.content)["issue"] if i["severity"] in ("error", "fatal")
            ]
            assert issues == []
            history = await store.history("MeasureReport", stored.res_id)
            return dict(stored.content), len(history.entries)
        finally:
            await pool.close()

    content, versions = asyncio.run(main())
    assert content["type"] == "summary" and content["status"] == "pending"
    assert content["measure"] == "https://senhealth.vn/fhir/Measure/dhis2-SH_MONTHLY_FACILITY|1.0.0"
    assert content["period"] == {"start": "2025-03-01", "end": "2025-03-31"}
    group = content["group"][0]
    assert group["code"]["coding"][0]["code"] == "OPD_VISITS" and group["population"][0]["count"] == 12
    assert content["meta"]["tag"][0]["code"] == "submitted" and versions == 2
