"""A province's mixed workload on a live Sen Health server, for locust (https://docs.locust.io/).

Run by ``python -m bench.load`` (which loads a generated province, starts the server, writes the data
file and steps the user count); by hand::

    SENHEALTH_LOAD_DATA=work/load.json locust -f bench/load/locustfile.py --headless -u 16 -r 16 \\
        --run-time 60s --host http://127.0.0.1:8000

``SENHEALTH_LOAD_DATA`` is a JSON file: ``patients`` (id, family, given, birth date, personal ID),
``organization``, ``practitioner``, ``clinical_token`` (a system client's ``system/*.cruds`` bearer
token: a hospital information system or the web application acting for clinicians), ``report_token``
(a provincial officer's), ``period``, ``province``.

Each simulated user is one clinician's or officer's session, a task every 0.5–2 s (think time). Weights,
out of 100 tasks (the mix of an outpatient day: mostly reading charts, then searching and writing):

| weight | task | requests (names in the results) |
|---:|---|---|
| 35 | open a patient's chart | ``Patient/[id]``, ``Encounter?patient&_sort=-date``, ``Observation?patient&code``, ``Condition?patient`` |
| 18 | find a patient | ``Patient?identifier`` (personal ID) or ``Patient?family&given&birthdate`` |
| 15 | record vital signs | ``POST Observation`` (blood pressure with its two components) |
| 8 | record a visit | ``POST Encounter`` |
| 8 | save a check-up | ``POST /fhir`` transaction: Encounter + blood pressure + weight + height + glucose |
| 6 | read a patient's whole record | ``Patient/[id]/$everything?_count=100`` |
| 6 | a day's results of a kind (bulk-ish) | ``Observation?code&date=ge&_count=200`` |
| 2 | indicator report | ``GET /api/indicators?period&province&indicator`` (provincial officer; ``report_weight``) |
| 2 | version history of a patient | ``Patient/[id]/_history`` |
"""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from locust import HttpUser, between, task

with open(os.environ.get("SENHEALTH_LOAD_DATA", "load.json"), encoding="utf-8") as _f:
    DATA: dict[str, Any] = json.load(_f)

PATIENTS: list[dict[str, str]] = DATA["patients"]
FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITAL = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
        }
    ]
}
INDICATORS = ("visits-by-level", "emr-adoption", "referral-flows", "telemedicine-volume")
REPORT_WEIGHT = int(DATA.get("report_weight", 2))
DAYS = ("2025-11-03", "2025-11-10", "2025-11-17", "2025-11-24", "2025-12-01")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _quantity(loinc: str, display: str, value: float, unit: str, code: str) -> dict[str, Any]:
    return {
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}]},
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": code},
    }


def blood_pressure(patient: str, encounter: str | None = None) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [VITAL],
        "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": _now(),
        "component": [
            _quantity("8480-6", "Systolic blood pressure", random.randint(100, 180), "mmHg", "mm[Hg]"),
            _quantity("8462-4", "Diastolic blood pressure", random.randint(60, 110), "mmHg", "mm[Hg]"),
        ],
    }
    if encounter:
        obs["encounter"] = {"reference": encounter}
    return obs


def simple(
    patient: str, encounter: str, loinc: str, display: str, value: float, unit: str, code: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [VITAL],
        "subject": {"reference": f"Patient/{patient}"},
        "encounter": {"reference": encounter},
        "effectiveDateTime": _now(),
        **_quantity(loinc, display, value, unit, code),
    }


def encounter(patient: str) -> dict[str, Any]:
    now = _now()
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"text": "Khám bệnh"}],
        "subject": {"reference": f"Patient/{patient}"},
        "participant": [{"individual": {"reference": f"Practitioner/{DATA['practitioner']}"}}],
        "period": {"start": now, "end": now},
        "serviceProvider": {"reference": f"Organization/{DATA['organization']}"},
    }


def checkup_bundle(patient: str) -> dict[str, Any]:
    enc_url = f"urn:uuid:{uuid.uuid4()}"
    visit = encounter(patient)
    visit["type"] = [{"text": "Khám sức khỏe định kỳ"}]
    resources = [
        (enc_url, visit),
        (f"urn:uuid:{uuid.uuid4()}", blood_pressure(patient, enc_url)),
        (f"urn:uuid:{uuid.uuid4()}", simple(patient, enc_url, "29463-7", "Body weight", 58.5, "kg", "kg")),
        (f"urn:uuid:{uuid.uuid4()}", simple(patient, enc_url, "8302-2", "Body height", 162, "cm", "cm")),
        (
            f"urn:uuid:{uuid.uuid4()}",
            simple(patient, enc_url, "2345-7", "Glucose", 5.6, "mmol/L", "mmol/L"),
        ),
    ]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": url, "resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
            for url, r in resources
        ],
    }


class Clinician(HttpUser):
    """A clinician's (or an officer's) session."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.client.headers.update({"Authorization": f"Bearer {DATA['clinical_token']}", "Accept": FHIR_JSON})

    def _patient(self) -> dict[str, str]:
        return random.choice(PATIENTS)

    def _post(self, path: str, body: dict[str, Any], name: str) -> None:
        self.client.post(
            path,
            data=json.dumps(body),
            headers={"Content-Type": FHIR_JSON, "Prefer": "return=minimal"},
            name=name,
        )

    @task(35)
    def chart(self) -> None:
        pid = self._patient()["id"]
        self.client.get(f"/fhir/Patient/{pid}", name="chart: Patient/[id]")
        self.client.get(
            f"/fhir/Encounter?patient={pid}&_sort=-date&_count=10",
            name="chart: Encounter?patient&_sort=-date",
        )
        self.client.get(
            f"/fhir/Observation?patient={pid}&code={LOINC}|85354-9&_count=20",
            name="chart: Observation?patient&code",
        )
        self.client.get(f"/fhir/Condition?patient={pid}", name="chart: Condition?patient")

    @task(18)
    def find(self) -> None:
        p = self._patient()
        if random.random() < 0.5:
            self.client.get(
                f"/fhir/Patient?identifier=https://senhealth.vn/fhir/sid/cccd|{p['cccd']}",
                name="search: Patient?identifier",
            )
        else:
            self.client.get(
                f"/fhir/Patient?family={p['family']}&given={p['given']}&birthdate={p['birth']}",
                name="search: Patient?family&given&birthdate",
            )

    @task(15)
    def vitals(self) -> None:
        self._post("/fhir/Observation", blood_pressure(self._patient()["id"]), "write: POST Observation")

    @task(8)
    def visit(self) -> None:
        self._post("/fhir/Encounter", encounter(self._patient()["id"]), "write: POST Encounter")

    @task(8)
    def checkup(self) -> None:
        self._post("/fhir", checkup_bundle(self._patient()["id"]), "write: check-up transaction (5)")

    @task(6)
    def everything(self) -> None:
        pid = self._patient()["id"]
        self.client.get(f"/fhir/Patient/{pid}/$everything?_count=100", name="bulk: Patient/[id]/$everything")

    @task(6)
    def day_results(self) -> None:
        day = random.choice(DAYS)
        code = random.choice(("2345-7", "2093-3", "29463-7"))
        self.client.get(
            f"/fhir/Observation?code={LOINC}|{code}&date=ge{day}&_count=200",
            name="bulk: Observation?code&date=ge&_count=200",
        )

    @task(REPORT_WEIGHT)
    def report(self) -> None:
        self.client.get(
            f"/api/indicators?period={DATA['period']}&province={DATA['province']}"
            f"&indicator={random.choice(INDICATORS)}",
            headers={"Authorization": f"Bearer {DATA['report_token']}", "Accept": "application/json"},
            name="report: /api/indicators",
        )

    @task(2)
    def history(self) -> None:
        self.client.get(f"/fhir/Patient/{self._patient()['id']}/_history", name="read: Patient/[id]/_history")
