"""Human in the loop: the radiologist accepts, edits or rejects the AI's preliminary result and signs the
final report; agreement per model and month; automatic suspension of a model below the threshold.

Spec: https://hl7.org/fhir/R4/diagnosticreport.html, https://hl7.org/fhir/R4/provenance.html,
docs/signatures.md (the signature is the platform's: JWS over the document Bundle, timestamped), a real
test PKI with its TSA on loopback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imaging_ai_support import FACILITY, RADIOLOGIST, audit_rows, audited, find, new_study, run_store, seed

from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.emr.signatures import Signer, document_signatures, pki_services
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store import FhirStore
from senhealth.imaging.inference import MemoryStudyStorage, handle_new_study
from senhealth.imaging.models import DEMO_MODEL, enable, enabled_models, find_model, register_builtin
from senhealth.imaging.models.config import configure
from senhealth.imaging.models.definition import content_of
from senhealth.imaging.review import (
    ReviewError,
    Suspension,
    agreement,
    install_suspension_listener,
    review_report,
)

_EMR_TESTS = str(Path(__file__).resolve().parents[1] / "emr")
if _EMR_TESTS not in sys.path:  # the test PKI (tests/emr/emr_pki_support.py)
    sys.path.insert(0, _EMR_TESTS)

from emr_pki_support import TestPki, make_test_pki  # type: ignore[import-not-found,unused-ignore]  # noqa: E402


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    with audited():
        yield schema_url
    install_suspension_listener(None)


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[TestPki]:
    with make_test_pki(tmp_path) as running:
        yield running


async def _preliminary(
    store: FhirStore, storage: MemoryStudyStorage, study_id: str, seed_value: int, **kw: Any
) -> str:
    study = await new_study(store, storage, study_id, seed_value=seed_value, **kw)
    (outcome,) = (await handle_new_study(store, study, storage, run_now=True)).outcomes
    assert outcome.status == "done"
    return str(outcome.report_id)


async def _setup(store: FhirStore) -> None:
    await seed(store)
    await register_builtin(store)
    await enable(store, DEMO_MODEL, FACILITY)


def test_accept_and_sign_the_final_report(url: str, tmp_path: Path, pki: TestPki) -> None:
    settings = Settings(database_url=url, data_dir=tmp_path)
    key = pki.issue_user("bs.minh", "BS. Trần Minh")
    services = pki_services(settings)
    signer = Signer(
        "author",
        key,
        {"reference": f"Practitioner/{RADIOLOGIST}", "display": "BS. Trần Minh"},
        {"reference": f"Organization/{FACILITY}"},
    )
    storage = MemoryStudyStorage()

    async def body(store: FhirStore) -> None:
        await _setup(store)
        report_id = await _preliminary(
            store, storage, "study-sign", 41, nodule=True, radius=22.0, contrast=0.3
        )
        with pytest.raises(ReviewError) as unsigned:  # a signature is required by default
            await review_report(store, report_id, verdict="accept", radiologist=RADIOLOGIST)
        assert unsigned.value.status == 422

        pki.tsa_available = False  # no timestamp, no signature: nothing becomes final
        with pytest.raises(OperationError) as no_tsa:
            await review_report(
                store, report_id, verdict="accept", radiologist=RADIOLOGIST, signer=signer, services=services
            )
        assert no_tsa.value.status == 503
        back = content_of(await store.read("DiagnosticReport", report_id))
        assert back["status"] == "preliminary" and "resultsInterpreter" not in back
        pki.tsa_available = True

        done = await review_report(
            store, report_id, verdict="accept", radiologist=RADIOLOGIST, signer=signer, services=services
        )
        assert done.verdict == "accepted" and done.agrees
        report = done.report
        assert report["status"] == "final"
        assert report["resultsInterpreter"][0]["reference"] == f"Practitioner/{RADIOLOGIST}"
        final_obs = content_of(await store.read("Observation", report["result"][0]["reference"][12:]))
        assert (
            final_obs["status"] == "final"
            and final_obs["performer"][0]["reference"] == f"Practitioner/{RADIOLOGIST}"
        )
        ai_ref = [
            e["valueReference"]["reference"] for e in report["extension"] if e["url"].endswith("/ai-result")
        ]
        ai_obs = content_of(await store.read("Observation", ai_ref[0][12:]))
        assert ai_obs["status"] == "preliminary"  # what the AI said is kept as it said it
        assert final_obs["valueCodeableConcept"] == ai_obs["valueCodeableConcept"]

        (signature,) = await document_signatures(store, str(done.composition["id"]), services=services)
        assert signature.valid and signature.role == "author"
        assert signature.who == f"Practitioner/{RADIOLOGIST}"
        assert done.signature is not None
        prov = done.provenance
        assert prov["signature"] == [done.signature.signature]
        author, contributor = prov["agent"]
        assert author["type"]["coding"][0]["code"] == "author"
        assert author["who"]["reference"] == f"Practitioner/{RADIOLOGIST}"
        assert contributor["type"]["coding"][0]["code"] == "contributor"
        assert contributor["who"]["reference"].startswith("Device/ai-demo-chest-nodule-at-")
        tags = {t["system"].rsplit("-", 1)[-1]: t["code"] for t in prov["meta"]["tag"]}
        assert tags == {"review": "accepted", "agreement": "agree", "model": DEMO_MODEL}
        (task,) = await find(store, "Task", [("focus", f"DiagnosticReport/{report_id}")])
        assert task["status"] == "completed"
        reviews = [r for r in await audit_rows(store) if r[0] == "ai-review"]
        assert [(r[2], r[3]["verdict"], r[3]["signed"]) for r in reviews] == [(report_id, "accepted", True)]
        a = await agreement(store, DEMO_MODEL)
        assert (a.cases, a.agreed, a.accepted) == (1, 1, 1)

        with pytest.raises(ReviewError) as twice:
            await review_report(
                store, report_id, verdict="accept", radiologist=RADIOLOGIST, signer=signer, services=services
            )
        assert twice.value.status == 409

    run_store(url, body)


def test_edit_reject_agreement_and_automatic_suspension(url: str) -> None:
    configure(require_signature=False, agreement_min_cases=4, agreement_threshold=0.75)
    heard: list[Suspension] = []

    async def listener(s: Suspension) -> None:
        heard.append(s)

    install_suspension_listener(listener)
    storage = MemoryStudyStorage()

    async def body(store: FhirStore) -> None:
        await _setup(store)
        reports = [await _preliminary(store, storage, f"study-r{i}", 50 + i, nodule=False) for i in range(5)]
        ai_calls = []
        for rid in reports:
            obs = content_of(await store.read("DiagnosticReport", rid))["result"][0]["reference"][12:]
            value = content_of(await store.read("Observation", obs))["valueCodeableConcept"]["coding"][0][
                "code"
            ]
            ai_calls.append(value == "52101004")

        with pytest.raises(ReviewError):  # an edit says what the radiologist concluded
            await review_report(store, reports[0], verdict="edit", radiologist=RADIOLOGIST)
        with pytest.raises(ReviewError):  # a reject that keeps the AI's call is an edit
            await review_report(
                store,
                reports[0],
                verdict="reject",
                radiologist=RADIOLOGIST,
                finding_present=ai_calls[0],
                conclusion="x",
            )

        r0 = await review_report(store, reports[0], verdict="accept", radiologist=RADIOLOGIST)
        r1 = await review_report(
            store,
            reports[1],
            verdict="edit",
            radiologist=RADIOLOGIST,
            finding_present=ai_calls[1],
            conclusion="Phổi sáng đều, không thấy nốt.",
        )
        r2 = await review_report(
            store,
            reports[2],
            verdict="reject",
            radiologist=RADIOLOGIST,
            conclusion="Có nốt mờ nhỏ thùy trên phổi phải.",
        )
        assert (r0.agrees, r1.agrees, r2.agrees) == (True, True, False)
        assert r2.report["conclusion"] == "Có nốt mờ nhỏ thùy trên phổi phải."
        r2_obs = content_of(await store.read("Observation", r2.report["result"][0]["reference"][12:]))
        assert (r2_obs["valueCodeableConcept"]["coding"][0]["code"] == "52101004") is (not ai_calls[2])
        assert r2.suspension is None  # 3 cases: fewer than the minimum
        a = await agreement(store, DEMO_MODEL)
        assert (a.cases, a.agreed, a.accepted, a.edited, a.rejected) == (3, 2, 1, 1, 1)
        assert await enabled_models(store, FACILITY, "DX", "CHEST") != []

        r3 = await review_report(
            store,
            reports[3],
            verdict="edit",
            radiologist=RADIOLOGIST,
            finding_present=not ai_calls[3],
            conclusion="Kết luận khác AI.",
        )
        assert not r3.agrees
        suspension = r3.suspension
        assert suspension is not None  # 2 of 4 = 50% < 75%
        assert (suspension.agreement.cases, suspension.agreement.agreed) == (4, 2)
        assert heard == [suspension]
        model = await find_model(store, DEMO_MODEL)
        (en,) = model.enablements
        assert en.state == "suspended" and "50%" in en.reason
        assert en.device["status"] == "inactive"
        notice = content_of(await store.read("Communication", suspension.communication.split("/")[1]))
        assert notice["recipient"] == [{"reference": f"Organization/{FACILITY}"}]
        assert notice["about"] == [{"reference": en.device_ref}]
        audit = [r[0] for r in await audit_rows(store)]
        assert audit.count("ai-review") == 4 and audit.count("ai-model-suspend") == 1
        # a suspended model no longer runs on new studies
        study = await new_study(store, storage, "study-after", seed_value=99, nodule=True)
        assert (await handle_new_study(store, study, storage, run_now=True)).models == []
        # a fifth review still counts, and suspends nothing more
        r4 = await review_report(store, reports[4], verdict="accept", radiologist=RADIOLOGIST)
        assert r4.suspension is None

    run_store(url, body)
