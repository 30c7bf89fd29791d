"""CDS Hooks 1.0 (https://cds-hooks.hl7.org/1.0/) called by a real HTTP client on a live platform:
discovery, patient-view (from the FHIR store under the caller's token, and from prefetch alone),
order-select and order-sign, the 412 and 400 answers. Every response is validated against the spec's
shapes (cds_hooks_support)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from cds_hooks_support import (
    LivePlatform,
    authorized,
    check_cards,
    check_discovery,
    hook_request,
    post,
    put,
)

from senhealth.api import authn
from senhealth.checkup.cds.drug_catalogue import catalogue

LOINC = "http://loinc.org"
ICD10 = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"
ATC = "http://www.whocc.no/atc"
PV = "/cds-services/senhealth-patient-view"


def _born(age: int) -> str:
    today = date.today()
    return (
        date(today.year - age - 1, 1, 15).isoformat()
        if today < date(today.year, 1, 15)
        else date(today.year - age, 1, 15).isoformat()
    )


def _ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


def _obs(pid: str, code: str, days: int, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": _ago(days),
        **value,
    }


def _bp(pid: str, sbp: float, dbp: float, days: int) -> dict[str, Any]:
    obs = _obs(pid, "85354-9", days)
    obs["component"] = [
        {
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
            "valueQuantity": _quantity(sbp, "mm[Hg]"),
        },
        {
            "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
            "valueQuantity": _quantity(dbp, "mm[Hg]"),
        },
    ]
    return obs


def _condition(pid: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"coding": [{"system": ICD10, "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
    }


def _setup_network(c: httpx.Client, live: LivePlatform) -> None:
    for org in ("xa", "other"):
        put(
            c,
            f"/fhir/Organization/{org}",
            {"resourceType": "Organization", "id": org, "name": org},
            live.headers["admin"],
        )


def _high_risk_man(c: httpx.Client, live: LivePlatform) -> str:
    """A man of 62 at the commune station: smoker, diabetic, hypertensive, BP 172/104, cholesterol
    7.2 mmol/L (written in mg/dL as the demo does), last check-up two years ago."""
    _setup_network(c, live)
    h = live.headers["doctor"]
    patient = {
        "resourceType": "Patient",
        "gender": "male",
        "birthDate": _born(62),
        "managingOrganization": {"reference": "Organization/xa"},
    }
    pid = str(post(c, "/fhir/Patient", patient, h)["id"])
    post(c, "/fhir/Observation", _bp(pid, 150, 88, 400), h)  # older, lower reading: not the latest
    post(c, "/fhir/Observation", _bp(pid, 172, 104, 3), h)
    post(
        c,
        "/fhir/Observation",
        _obs(pid, "2093-3", 20, valueQuantity=_quantity(round(7.2 * 38.67, 1), "mg/dL")),
        h,
    )
    smoking = {"coding": [{"system": "http://snomed.info/sct", "code": "77176002"}]}
    post(c, "/fhir/Observation", _obs(pid, "72166-2", 20, valueCodeableConcept=smoking), h)
    post(c, "/fhir/Condition", _condition(pid, "I10"), h)
    post(c, "/fhir/Condition", _condition(pid, "E11.9"), h)
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [
            {"coding": [{"system": "https://senhealth.vn/fhir/CodeSystem/encounter-type", "code": "checkup"}]}
        ],
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": _ago(730), "end": _ago(730)},
    }
    post(c, "/fhir/Encounter", encounter, h)
    return pid


def test_discovery_lists_the_three_services(cds_platform: LivePlatform) -> None:
    with httpx.Client(base_url=cds_platform.url, timeout=30) as c:
        r = c.get("/cds-services", headers=cds_platform.headers["worker"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    check_discovery(body)
    hooks = {s["id"]: s["hook"] for s in body["services"]}
    assert hooks == {
        "senhealth-patient-view": "patient-view",
        "senhealth-order-select": "order-select",
        "senhealth-order-sign": "order-sign",
    }
    pv = next(s for s in body["services"] if s["hook"] == "patient-view")
    assert pv["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert (
        "85354-9" in pv["prefetch"]["bloodPressure"] and "{{context.patientId}}" in pv["prefetch"]["checkups"]
    )


@pytest.mark.skipif(
    "/cds-services" not in authn._OPEN_PATHS, reason="the open discovery path is wired by the lead"
)
def test_discovery_is_open_without_a_token(cds_platform: LivePlatform) -> None:
    with httpx.Client(base_url=cds_platform.url, timeout=30) as c:
        assert c.get("/cds-services").status_code == 200
        r = c.post(PV, json=hook_request("patient-view", "x"))
        assert r.status_code == 401  # the service itself needs a token


def test_patient_view_reads_the_store_under_the_callers_token(cds_platform: LivePlatform) -> None:
    live = cds_platform
    with httpx.Client(base_url=live.url, timeout=60) as c:
        pid = _high_risk_man(c, live)
        r = c.post(
            PV, json=hook_request("patient-view", pid, **authorized(live)), headers=live.headers["doctor"]
        )
        assert r.status_code == 200, r.text
        cards = check_cards(r.json())
        by = {card["source"]["label"].split(" ")[0]: card for card in cards}
        assert len(cards) == 3, [card["summary"] for card in cards]
        cvd = next(card for card in cards if "tim mạch" in card["summary"])
        assert cvd["indicator"] == "critical" and "%" in cvd["summary"]
        assert "biểu đồ có xét nghiệm" in cvd["detail"] and "cholesterol 7.2 mmol/L" in cvd["detail"]
        assert "172 mmHg" in cvd["detail"]  # the latest reading, not the older one
        overdue = next(card for card in cards if "khám sức khỏe" in card["summary"])
        assert overdue["indicator"] == "warning" and overdue["selectionBehavior"] == "at-most-one"
        action = overdue["suggestions"][0]["actions"][0]
        assert action["type"] == "create" and action["resource"]["subject"]["reference"] == f"Patient/{pid}"
        bp = next(card for card in cards if "Huyết áp chưa kiểm soát" in card["summary"])
        assert "172/104" in bp["summary"] and bp["indicator"] == "warning"
        assert by  # every card has a source label

        # English when the caller prefers it; the detail carries both languages.
        r = c.post(
            PV,
            json=hook_request("patient-view", pid, **authorized(live)),
            headers={**live.headers["doctor"], "Accept-Language": "en-GB,en;q=0.9,vi;q=0.5"},
        )
        cards = check_cards(r.json())
        assert any(card["summary"].startswith("10-year cardiovascular risk") for card in cards)
        assert any(
            "Đông Nam Á" in card.get("detail", "") for card in cards
        )  # the Vietnamese after the English

        # A doctor of an unrelated hospital sends their own token: the store shows them nothing.
        r = c.post(
            PV,
            json=hook_request("patient-view", pid, **authorized(live, "stranger")),
            headers=live.headers["stranger"],
        )
        assert r.status_code == 200 and check_cards(r.json()) == []


def test_patient_view_from_prefetch_alone(cds_platform: LivePlatform) -> None:
    """No FHIR access at all: a woman of 35, BP controlled, no screening recorded, a check-up last month."""
    patient = {"resourceType": "Patient", "id": "w1", "gender": "female", "birthDate": _born(35)}
    checkup = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "resource": {
                    "resourceType": "Encounter",
                    "id": "e1",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "period": {"start": _ago(30)},
                },
                "search": {"mode": "match"},
            }
        ],
    }
    prefetch = {
        "patient": patient,
        "bloodPressure": None,
        "cholesterol": None,
        "bmi": None,
        "smoking": None,
        "conditions": None,
        "checkups": checkup,
        "cervicalScreening": None,
    }
    with httpx.Client(base_url=cds_platform.url, timeout=30) as c:
        r = c.post(
            PV,
            json=hook_request("patient-view", "w1", prefetch=prefetch),
            headers=cds_platform.headers["worker"],
        )
    assert r.status_code == 200, r.text
    cards = check_cards(r.json())
    summaries = [card["summary"] for card in cards]
    assert len(cards) == 2, summaries
    assert any("cổ tử cung" in s for s in summaries)  # WHO 2021: from age 30
    assert any("không áp dụng cho tuổi 35" in s for s in summaries)  # the WHO chart covers 40-74 only


def test_missing_data_without_authorization_is_412(cds_platform: LivePlatform) -> None:
    live = cds_platform
    with httpx.Client(base_url=live.url, timeout=30) as c:
        r = c.post(PV, json=hook_request("patient-view", "p1"), headers=live.headers["doctor"])
        assert r.status_code == 412
        error = r.json()["error"]
        assert "fhirAuthorization" in error["message"] and "bloodPressure" in error["message"]
        foreign = authorized(live)
        foreign["fhirServer"] = "https://ehr.example.org/fhir"
        r = c.post(PV, json=hook_request("patient-view", "p1", **foreign), headers=live.headers["doctor"])
        assert r.status_code == 412 and "not this platform's" in r.json()["error"]["message"]
        bad = authorized(live)
        bad["fhirAuthorization"]["access_token"] = "not-a-token"
        r = c.post(PV, json=hook_request("patient-view", "p1", **bad), headers=live.headers["doctor"])
        assert r.status_code == 412 and "401" in r.json()["error"]["message"]


def _med(mid: str, status: str, concept: dict[str, Any], pid: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{pid}"},
    }


def test_order_select_warns_of_an_interaction_with_its_source(cds_platform: LivePlatform) -> None:
    live = cds_platform
    with httpx.Client(base_url=live.url, timeout=60) as c:
        pid = _high_risk_man(c, live)
        # In the store: ibuprofen, named only in Vietnamese text (no code), active.
        active = _med("x", "active", {"text": "Ibuprofen 400 mg viên nén"}, pid)
        del active["id"]
        post(c, "/fhir/MedicationRequest", active, live.headers["doctor"])
        warfarin = _med(
            "mr-new",
            "draft",
            {"coding": [{"system": ATC, "code": "B01AA03", "display": "Warfarin 5 mg"}]},
            pid,
        )
        paracetamol = _med("mr-2", "draft", {"text": "Paracetamol 500mg"}, pid)
        draft = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": warfarin}, {"resource": paracetamol}],
        }
        body = hook_request(
            "order-select",
            pid,
            context={"selections": ["MedicationRequest/mr-new"], "draftOrders": draft},
            **authorized(live),
        )
        r = c.post("/cds-services/senhealth-order-select", json=body, headers=live.headers["doctor"])
        assert r.status_code == 200, r.text
        cards = check_cards(r.json())
        assert len(cards) == 1, [card["summary"] for card in cards]
        card = cards[0]
        assert card["indicator"] == "warning"
        assert "Warfarin" in card["summary"] and "Ibuprofen" in card["summary"]
        assert card["source"]["label"].startswith("Holbrook") and card["source"]["url"].startswith(
            "https://doi.org/"
        )
        assert "Arch Intern Med 2005" in card["detail"]
        [suggestion] = card["suggestions"]
        assert suggestion["actions"] == [
            {
                "type": "delete",
                "description": "Xóa đơn nháp MedicationRequest/mr-new",
                "resource": "MedicationRequest/mr-new",
            }
        ]


def test_order_sign_finds_duplicates_and_contraindications_from_prefetch(cds_platform: LivePlatform) -> None:
    simva = _med("d1", "draft", {"coding": [{"system": ATC, "code": "C10AA01"}], "text": "Simvastatin 20 mg"})
    atorva = _med(
        "d2",
        "draft",
        {
            "coding": [{"system": "https://senhealth.vn/fhir/CodeSystem/dmdc-drug", "code": "zz"}],
            "text": "Atorvastatin 10mg",
        },
    )
    clari = _med(
        "a1", "active", {"coding": [{"system": ATC, "code": "J01FA09", "display": "Clarithromycin"}]}
    )
    meds = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": clari, "search": {"mode": "match"}}],
    }
    draft = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": simva}, {"resource": atorva}],
    }
    body = hook_request("order-sign", "p1", context={"draftOrders": draft}, prefetch={"medications": meds})
    with httpx.Client(base_url=cds_platform.url, timeout=30) as c:
        r = c.post("/cds-services/senhealth-order-sign", json=body, headers=cds_platform.headers["doctor"])
    assert r.status_code == 200, r.text
    cards = check_cards(r.json())
    summaries = sorted(card["summary"] for card in cards)
    duplicate = next(card for card in cards if card["summary"].startswith("Trùng nhóm"))
    assert "C10AA" in duplicate["summary"] and len(duplicate["suggestions"]) == 2
    contraindicated = next(card for card in cards if "Simvastatin + Clarithromycin" in card["summary"])
    assert contraindicated["indicator"] == "critical" and "FDA" in contraindicated["source"]["label"]
    moderate = next(card for card in cards if "Atorvastatin + Clarithromycin" in card["summary"])
    assert "source not verified" in moderate["detail"]  # marked as such in the data
    assert len(cards) == 3, summaries


_BAD: list[tuple[Any, str | None]] = [
    (b"{not json", None),
    ({"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": {}}, "hook"),
    ({**hook_request("patient-view", "p1"), "hookInstance": "abc"}, "hookInstance"),
    (hook_request("order-sign", "p1", context={"draftOrders": {}}), "hook"),
    ({**hook_request("patient-view", "p1"), "context": {"userId": "Practitioner/1"}}, "context.patientId"),
    (hook_request("patient-view", "p 1"), "context.patientId"),
    ({**hook_request("patient-view", "p1"), "prefetch": {"patient": "Patient/1"}}, "prefetch.patient"),
    (
        {**hook_request("patient-view", "p1"), "fhirAuthorization": {"access_token": "t"}},
        "fhirAuthorization.token_type",
    ),
]


def test_bad_requests_are_400_naming_the_field(cds_platform: LivePlatform) -> None:
    h = {**cds_platform.headers["doctor"], "Content-Type": "application/json"}
    with httpx.Client(base_url=cds_platform.url, timeout=30) as c:
        for body, field in _BAD:
            content = body if isinstance(body, bytes) else orjson.dumps(body)
            r = c.post(PV, content=content, headers=h)
            assert r.status_code == 400, (field, r.text)
            error = r.json()["error"]
            assert error["message"] and error.get("field") == field, error
        r = c.post("/cds-services/nope", json=hook_request("patient-view", "p1"), headers=h)
        assert r.status_code == 404 and "/cds-services" in r.json()["error"]["message"]


def test_curated_list_size_and_sources() -> None:
    cat = catalogue()
    assert 20 <= len(cat.interactions) <= 40
    assert all(i.source.get("citation") and i.source.get("label") for i in cat.interactions)
    verified = [i for i in cat.interactions if i.source.get("verified")]
    assert verified and all(str(i.source.get("url", "")).startswith("https://") for i in verified)
