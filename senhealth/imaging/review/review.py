"""The radiologist reviews the AI's preliminary result: accepts, edits or rejects it, and signs the final report.

Spec: https://hl7.org/fhir/R4/diagnosticreport.html (``preliminary`` → ``final``, ``resultsInterpreter``),
https://hl7.org/fhir/R4/provenance.html (who did what: the radiologist as author, the model as
contributor), https://hl7.org/fhir/R4/composition.html and docs/signatures.md (the final report is signed
as the platform signs clinical documents: a Composition whose document Bundle carries the radiologist's
JWS, timestamped). Vietnam treats image-reading software as a medical device and keeps a physician
responsible: the AI never finalises a report; a person does, by name and signature.

:func:`review_report`, for a preliminary AI report:

1. the verdict: ``accept`` (the AI's call stands; the conclusion may be the radiologist's words),
   ``edit`` (the radiologist's conclusion, and the call, which may stay or change) or ``reject`` (the
   AI's call is wrong: the final call is the opposite); the review **agrees** with the model when the
   final call is the AI's (:mod:`.agreement`);
2. one transaction: the radiologist's Observation (``final``, ``performer``), the DiagnosticReport made
   ``final`` (its ``result`` now the radiologist's Observation; the AI's stays referenced by the extension
   ``ai-result``), and the Composition of the report (author the radiologist, custodian the facility);
3. the signature (:func:`senhealth.emr.signatures.sign_document`, author role). If it cannot be made, the
   report goes back to ``preliminary`` (a new version with the AI's content) and the draft Composition and
   Observation are removed: nothing is final without the signature. ``SENHEALTH_IMAGING_AI_REQUIRE_SIGNATURE
   =false`` allows an unsigned review (development, a site without a PKI yet);
4. one transaction: the review's Provenance (tags: verdict, agreement, model; ``signature`` the
   radiologist's), the worklist Task completed, an audit event ``ai-review``;
5. the model's agreement this month is checked, and the model suspended below the threshold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from senhealth.core.errors import SenHealthError
from senhealth.emr.signatures import PkiServices, Signer, SignResult, sign_document
from senhealth.fhir.access import AccessEvent, Principal, audit_sink
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, NotFound
from senhealth.imaging.inference.results import AI_TAG, DEVICE_EXT, LOINC_IMAGING, ai_call, presence
from senhealth.imaging.models.config import get_config
from senhealth.imaging.models.definition import AI_SYSTEM, SD, content_of
from senhealth.imaging.review.agreement import (
    AGREEMENT_SYSTEM,
    MODEL_SYSTEM,
    REVIEW_SYSTEM,
    Suspension,
    check_suspension,
)

__all__ = ["AI_RESULT_EXT", "VERDICTS", "ReviewError", "ReviewResult", "Verdict", "review_report"]

Verdict = Literal["accept", "edit", "reject"]
VERDICTS: Final = ("accept", "edit", "reject")
_PAST: Final = {"accept": "accepted", "edit": "edited", "reject": "rejected"}
AI_RESULT_EXT: Final = f"{SD}/ai-result"
_PARTICIPANT: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


class ReviewError(SenHealthError):
    """A review that cannot be made (the status says why: 404, 409, 422)."""

    code = "business-rule"

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ReviewResult:
    verdict: str
    agrees: bool
    report: dict[str, Any]
    observation: dict[str, Any]
    provenance: dict[str, Any]
    composition: dict[str, Any]
    signature: SignResult | None
    suspension: Suspension | None


def _ids(report_id: str) -> dict[str, str]:
    digest = hashlib.sha256(report_id.encode()).hexdigest()[:24]
    return {"obs": f"rev-obs-{digest}", "comp": f"rev-comp-{digest}", "prov": f"rev-prov-{digest}"}


def _ref_id(ref: Any, rtype: str) -> str:
    text = str((ref or {}).get("reference", ""))
    return text.removeprefix(f"{rtype}/") if text.startswith(f"{rtype}/") else ""


def _div(text: str) -> dict[str, str]:
    from html import escape

    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{escape(text)}</p></div>',
    }


async def _model_of(store: FhirStore, report: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The Device that produced the report, and the model's name."""
    for ext in report.get("extension") or []:
        if ext.get("url") == DEVICE_EXT:
            device_id = _ref_id(ext.get("valueReference"), "Device")
            device = content_of(await store.read("Device", device_id))
            return device, str(device.get("modelNumber", ""))
    raise ReviewError(f"DiagnosticReport/{report.get('id')} names no AI model", 409)


def _final_call(verdict: str, ai: bool, present: bool | None) -> bool:
    if verdict == "accept":
        if present is not None and present != ai:
            raise ReviewError("Chấp nhận thì giữ kết luận của AI / an accept keeps the AI's call: use edit")
        return ai
    if verdict == "edit":
        return ai if present is None else present
    if present is not None and present == ai:
        raise ReviewError("Bác bỏ thì đổi kết luận của AI / a reject changes the AI's call: use edit")
    return not ai


async def review_report(
    store: FhirStore,
    report_id: str,
    *,
    verdict: str,
    radiologist: str,
    finding_present: bool | None = None,
    conclusion: str | None = None,
    signer: Signer | None = None,
    services: PkiServices | None = None,
    principal: Principal | None = None,
    base_url: str = "",
) -> ReviewResult:
    """Review the preliminary AI report ``DiagnosticReport/{report_id}`` as ``Practitioner/{radiologist}``
    (see the module docstring)."""
    if verdict not in VERDICTS:
        raise ReviewError(f"verdict: one of {', '.join(VERDICTS)}", 400)
    try:
        stored_report = await store.read("DiagnosticReport", report_id)
    except NotFound:
        raise ReviewError(f"không có / no DiagnosticReport/{report_id}", 404) from None
    report = content_of(stored_report)
    tags = (report.get("meta") or {}).get("tag") or []
    if not any(t.get("system") == AI_SYSTEM and t.get("code") == AI_TAG["code"] for t in tags):
        raise ReviewError(f"DiagnosticReport/{report_id} không phải kết quả AI / is not an AI result", 409)
    if report.get("status") != "preliminary":
        raise ReviewError(
            f"DiagnosticReport/{report_id} đã được duyệt ({report.get('status')}) / was already reviewed", 409
        )
    if signer is None and get_config().require_signature:
        raise ReviewError(
            "Báo cáo cuối cần chữ ký số của bác sĩ / the final report needs the radiologist's signature"
        )
    if signer is not None and services is None:
        raise ReviewError("no PKI services to sign with", 503)
    if verdict != "accept" and not (conclusion or "").strip():
        raise ReviewError("Sửa hoặc bác bỏ cần kết luận của bác sĩ / an edit or a reject needs a conclusion")
    practitioner = content_of(await store.read("Practitioner", radiologist))
    device, model = await _model_of(store, report)
    ai_obs_id = _ref_id((report.get("result") or [{}])[0], "Observation")
    ai_obs = content_of(await store.read("Observation", ai_obs_id))
    ai = ai_call(ai_obs)
    final = _final_call(verdict, ai, finding_present)
    agrees = final == ai
    ids = _ids(report_id)
    names = practitioner.get("name") or [{}]
    display = str(
        names[0].get("text") or " ".join([*names[0].get("given", []), names[0].get("family", "")]).strip()
    )
    rad_ref = {"reference": f"Practitioner/{radiologist}", "display": display}
    facility = _ref_id((report.get("performer") or [{}])[0], "Organization") or _ref_id(
        device.get("owner"), "Organization"
    )
    now = datetime.now(UTC)
    when = now.isoformat(timespec="milliseconds")
    finding = ai_obs["code"]
    text = (conclusion or "").strip() or (
        f"{display} xác nhận kết quả AI: {'có' if final else 'không có'} {finding.get('text', '')} / "
        f"confirmed the AI result"
    )
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ids["obs"],
        "status": "final",
        "category": ai_obs.get("category"),
        "code": finding,
        "subject": report["subject"],
        "issued": when,
        "performer": [rad_ref],
        "bodySite": ai_obs.get("bodySite"),
        "valueCodeableConcept": presence(final),
        "derivedFrom": ai_obs.get("derivedFrom"),
        "note": [{"text": text}],
    }
    for key in ("encounter", "effectiveDateTime"):
        if key in ai_obs:
            obs[key] = ai_obs[key]
    obs = {k: v for k, v in obs.items() if v is not None}
    final_report = {k: v for k, v in report.items() if k != "meta"}
    final_report.update(
        {
            "meta": {"tag": [*tags, {"system": REVIEW_SYSTEM, "code": _PAST[verdict]}]},
            "extension": [
                *report.get("extension", []),
                {"url": AI_RESULT_EXT, "valueReference": {"reference": f"Observation/{ai_obs_id}"}},
            ],
            "status": "final",
            "issued": when,
            "resultsInterpreter": [rad_ref],
            "result": [{"reference": f"Observation/{ids['obs']}"}],
            "conclusion": text,
            "conclusionCode": [dict(finding) if final else presence(False)],
        }
    )
    comp: dict[str, Any] = {
        "resourceType": "Composition",
        "id": ids["comp"],
        "status": "final",
        "type": {"coding": [LOINC_IMAGING], "text": "Kết quả chẩn đoán hình ảnh / imaging report"},
        "subject": report["subject"],
        "date": when,
        "author": [rad_ref],
        "title": "Kết quả chẩn đoán hình ảnh / Imaging report",
        "section": [
            {
                "title": "Kết luận / Conclusion",
                "text": _div(
                    f"{text} (AI: {device.get('modelNumber')} {device.get('version', [{}])[0].get('value', '')}, "
                    f"{'đồng ý' if agrees else 'không đồng ý'} / {'agrees' if agrees else 'disagrees'})"
                ),
                "entry": [
                    {"reference": f"DiagnosticReport/{report_id}"},
                    {"reference": f"Observation/{ids['obs']}"},
                ],
            }
        ],
    }
    if report.get("encounter"):
        comp["encounter"] = report["encounter"]
    if facility:
        comp["custodian"] = {"reference": f"Organization/{facility}"}

    async with store.transaction() as tx:
        await tx.update(obs)
        await tx.update(final_report, if_match=stored_report.version)
        await tx.update(comp)

    signature: SignResult | None = None
    if signer is not None and services is not None:
        try:
            signature = await sign_document(store, ids["comp"], signer, services, base_url=base_url)
        except Exception:
            await _undo(store, report, ids)
            raise

    prov: dict[str, Any] = {
        "resourceType": "Provenance",
        "id": ids["prov"],
        "meta": {
            "tag": [
                {"system": REVIEW_SYSTEM, "code": _PAST[verdict]},
                {"system": AGREEMENT_SYSTEM, "code": "agree" if agrees else "disagree"},
                {"system": MODEL_SYSTEM, "code": model},
            ]
        },
        "target": [
            {"reference": f"DiagnosticReport/{report_id}"},
            {"reference": f"Observation/{ids['obs']}"},
            {"reference": f"Composition/{ids['comp']}"},
        ],
        "recorded": when,
        "activity": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                    "code": "UPDATE",
                    "display": "revise",
                }
            ],
            "text": f"Duyệt kết quả AI / AI result {_PAST[verdict]}",
        },
        "agent": [
            {
                "type": {"coding": [{"system": _PARTICIPANT, "code": "author", "display": "Author"}]},
                "who": rad_ref,
            },
            {
                "type": {
                    "coding": [
                        {"system": AI_SYSTEM, "code": "contributor", "display": "Contributor (AI model)"}
                    ]
                },
                "who": {"reference": f"Device/{device['id']}", "display": str(device.get("modelNumber", ""))},
            },
        ],
        "entity": [
            {"role": "source", "what": {"reference": f"Observation/{ai_obs_id}"}},
            {
                "role": "revision",
                "what": {"reference": f"DiagnosticReport/{report_id}/_history/{stored_report.version}"},
            },
        ],
    }
    if facility:
        prov["agent"][0]["onBehalfOf"] = {"reference": f"Organization/{facility}"}
    if signature is not None:
        prov["signature"] = [signature.signature]
    patient = _ref_id(report.get("subject"), "Patient")
    async with store.transaction() as tx:
        stored_prov, _ = await tx.update(prov)
        request = parse_search("Task", [("focus", f"DiagnosticReport/{report_id}"), ("_count", "10")])
        for row in (await search(tx.conn, request, await tx.store.param_ids())).matches:
            task = {k: v for k, v in row.content.items() if k != "meta"}
            if task.get("status") not in ("completed", "cancelled"):
                await tx.update({**task, "status": "completed", "lastModified": when, "owner": rad_ref})
        await audit_sink().record(
            tx.conn,
            AccessEvent(
                when=now,
                principal=principal,
                action="update",
                res_type="DiagnosticReport",
                res_id=report_id,
                query="ai-review",
                patients=(patient,) if patient else (),
                details={
                    "verdict": _PAST[verdict],
                    "agrees": agrees,
                    "model": model,
                    "device": f"Device/{device['id']}",
                    "radiologist": f"Practitioner/{radiologist}",
                    "signed": signature is not None,
                },
            ),
        )
    final_stored = content_of(await store.read("DiagnosticReport", report_id))
    suspension = await check_suspension(store, model, principal=principal)
    return ReviewResult(
        verdict=_PAST[verdict],
        agrees=agrees,
        report=final_stored,
        observation=obs,
        provenance=content_of(stored_prov),
        composition=content_of(await store.read("Composition", ids["comp"])),
        signature=signature,
        suspension=suspension,
    )


async def _undo(store: FhirStore, report: dict[str, Any], ids: dict[str, str]) -> None:
    """The signature failed: the report back to its preliminary content, the drafts removed."""
    async with store.transaction() as tx:
        await tx.update(
            {k: v for k, v in report.items() if k != "meta"}
            | {"meta": {"tag": (report.get("meta") or {}).get("tag", [])}}
        )
        await tx.delete("Composition", ids["comp"])
        await tx.delete("Observation", ids["obs"])
