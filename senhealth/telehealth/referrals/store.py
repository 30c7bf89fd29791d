"""The referral's steps in the FHIR store: request, acceptance, the summary, arrival, the return letter.

Spec: https://hl7.org/fhir/R4/task.html, https://hl7.org/fhir/R4/servicerequest.html,
https://hl7.org/fhir/R4/encounter.html (``basedOn`` the referral, ``hospitalization.origin`` the referring
facility), https://hl7.org/fhir/R4/communication.html (the return letter sent to the referring facility),
https://hl7.org/fhir/R4/documentreference.html (table XML13 kept as an attachment),
https://hl7.org/fhir/R4/http.html#versioning (each step updates the Task with If-Match on the version read:
two people acting at once cannot both succeed; the second gets 409).

Every step is ONE transaction holding the Task's new version (a note with who, when and what), the other
resources it writes and its audit event (``referral-<step>``), all or nothing. Drafting a document
(:func:`draft_summary`, :func:`draft_return`) goes through the documents module, which writes in its own
transaction, then records the draft on the Task in another (audited) one.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from senhealth.emr.claims import fhir_terms as claim_terms
from senhealth.emr.documents.builder import create_document
from senhealth.emr.documents.types import document_type_for_code
from senhealth.emr.documents.values import VN_TZ
from senhealth.fhir.access import Principal, Restriction
from senhealth.fhir.store import FhirStore, Gone, NotFound, VersionConflict
from senhealth.fhir.store.store import StoreTx
from senhealth.fhir.terminology import icd10_vn
from senhealth.telehealth.referrals.model import (
    CLAIM_TABLE_SYSTEM,
    DOCUMENT_NUMBER,
    FACILITY_SYSTEM,
    OUTPUT_SYSTEM,
    REFERRAL,
    REFERRAL_ID_SYSTEM,
    SNOMED,
    STEP_SYSTEM,
    STEP_TITLES,
    TASK_CODE,
    TASK_STATUS,
    ReferralError,
    Step,
    audit,
    fhir_time,
    ref_id,
    require_facility,
)
from senhealth.telehealth.referrals.papers import (
    REASONS,
    RETURN_TITLE,
    XML13_FROM_REQUEST,
    paper_fields,
    referral_xml13,
    signed_document,
)

__all__ = [
    "Referral",
    "accept",
    "arrive",
    "draft_return",
    "draft_summary",
    "read_referral",
    "request_referral",
    "return_letter",
    "send_summary",
]

ICD10_VN: Final = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"
ICD10_SYSTEMS: Final = (ICD10_VN, "http://hl7.org/fhir/sid/icd-10")
DISCHARGE: Final = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
DISCHARGE_TYPE: Final = "https://senhealth.vn/fhir/CodeSystem/claim-discharge-type"
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
COMMUNICATION_CATEGORY: Final = "https://senhealth.vn/fhir/CodeSystem/communication-category"


@dataclass(frozen=True, slots=True)
class Referral:
    """A referral as stored: the Task (its workflow) and the ServiceRequest (the request)."""

    task: dict[str, Any]
    request: dict[str, Any]
    extra: dict[str, Any] | None = None  # what the step made: a Composition, an Encounter...

    @property
    def step(self) -> Step:
        return _step_of(self.task)

    @property
    def id(self) -> str:
        return str(self.task["id"])


# --- building blocks -------------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _step_of(task: dict[str, Any]) -> Step:
    for c in (task.get("businessStatus") or {}).get("coding") or []:
        if c.get("system") == STEP_SYSTEM:
            return Step(c["code"])
    raise ReferralError(422, "Task has no referral step", "invalid")


def _set_step(task: dict[str, Any], step: Step, when: datetime) -> None:
    task["status"] = TASK_STATUS[step]
    task["businessStatus"] = {
        "coding": [{"system": STEP_SYSTEM, "code": step.value}],
        "text": STEP_TITLES[step],
    }
    task["lastModified"] = fhir_time(when)
    if step in (Step.COMPLETED, Step.DECLINED):
        task["executionPeriod"] = {**(task.get("executionPeriod") or {}), "end": fhir_time(when)}


def _note(task: dict[str, Any], principal: Principal | None, when: datetime, text: str) -> None:
    author: dict[str, Any]
    practitioner = (principal.practitioner or "").removeprefix("Practitioner/") if principal else ""
    if practitioner:
        author = {"authorReference": {"reference": f"Practitioner/{practitioner}"}}
    else:
        author = {"authorString": principal.subject if principal else "Hệ thống / system"}
    task.setdefault("note", []).append({**author, "time": fhir_time(when), "text": text})


def _output(task: dict[str, Any], kind: str, display: str, reference: str) -> None:
    task.setdefault("output", []).append(
        {"type": {"coding": [{"system": OUTPUT_SYSTEM, "code": kind, "display": display}]},
         "valueReference": {"reference": reference}}
    )  # fmt: skip


def _output_ref(task: dict[str, Any], kind: str) -> str | None:
    found = None
    for item in task.get("output") or []:
        codes = [c.get("code") for c in (item.get("type") or {}).get("coding") or []]
        if kind in codes:
            found = (item.get("valueReference") or {}).get("reference")
    return found


async def _read(
    tx: StoreTx, res_type: str, res_id: str | None, what: str, status: int = 422
) -> tuple[dict[str, Any], int]:
    if not res_id:
        raise ReferralError(400, f"{what}: cần {res_type}/<id> / a {res_type} is required", "required", what)
    try:
        stored = await tx.read(res_type, res_id)
    except (NotFound, Gone):
        raise ReferralError(status, f"{what}: {res_type}/{res_id} không có / is not known", "not-found",
                            what) from None  # fmt: skip
    assert stored.content is not None
    return copy.deepcopy(stored.content), stored.version


async def _load(tx: StoreTx, task_id: str) -> tuple[dict[str, Any], int, dict[str, Any], int]:
    task, version = await _read(tx, "Task", task_id, "Task", status=404)
    codes = [c.get("code") for c in (task.get("code") or {}).get("coding") or []]
    if "referral" not in codes:
        raise ReferralError(404, f"Task/{task_id} không phải chuyển tuyến / is not a referral", "not-found")
    request, r_version = await _read(
        tx, "ServiceRequest", ref_id(task.get("focus"), "ServiceRequest"), "Task.focus"
    )
    return task, version, request, r_version


def _facility_code(org: dict[str, Any]) -> str:
    return next((str(i.get("value")) for i in org.get("identifier") or []
                 if i.get("system") == FACILITY_SYSTEM and i.get("value")), "")  # fmt: skip


def _name(resource: dict[str, Any]) -> str:
    if isinstance(resource.get("name"), str):
        return str(resource["name"])
    names = resource.get("name") or [{}]
    first = names[0] if isinstance(names[0], dict) else {}
    return str(first.get("text") or " ".join([first.get("family", ""), *first.get("given", [])]).strip())


def _referring_org(task: dict[str, Any]) -> str | None:
    for item in task.get("input") or []:
        codes = [c.get("code") for c in (item.get("type") or {}).get("coding") or []]
        if "referring-facility" in codes:
            return str((item.get("valueReference") or {}).get("reference") or "") or None
    return None


def _destination(request: dict[str, Any]) -> str | None:
    for performer in request.get("performer") or []:
        org = ref_id(performer, "Organization")
        if org:
            return f"Organization/{org}"
    return None


Prepare = Callable[[StoreTx, dict[str, Any], dict[str, Any], datetime], Awaitable[tuple[str, dict[str, Any]]]]


async def _step(
    store: FhirStore,
    task_id: str,
    *,
    name: str,
    allowed: Sequence[Step],
    after: Step | None,
    acting: str,
    principal: Principal | None,
    note: str,
    now: datetime | None,
    prepare: Prepare,
    request_status: str | None = None,
) -> Referral:
    """Check the step and the caller, let ``prepare(tx, task, request, when)`` write what the step makes
    (it returns a note text and the audit details), then save the Task (If-Match), audit."""
    when = _now(now)
    async with store.transaction() as tx:
        task, version, request, r_version = await _load(tx, task_id)
        before = _step_of(task)
        if before not in allowed:
            raise ReferralError(
                409,
                f"Chuyển tuyến đang ở bước {before.value}: không {name} được / the referral is at step "
                f"{before.value}: cannot {name}",
                "conflict",
            )
        org = _referring_org(task) if acting == "referring" else _destination(request)
        require_facility(principal, org, name)
        text, details = await prepare(tx, task, request, when)
        extra = details.pop("_extra", None)
        if after is not None:
            _set_step(task, after, when)
        else:
            task["lastModified"] = fhir_time(when)
        _note(task, principal, when, f"[{name}] " + " — ".join(t for t in (text, note.strip()) if t))
        if request_status is not None:
            request["status"] = request_status
            await tx.update(request, if_match=r_version)
        try:
            saved, _ = await tx.update(task, if_match=version)
        except VersionConflict:
            raise ReferralError(409, "Chuyển tuyến vừa được người khác cập nhật / the referral changed meanwhile",
                                "conflict") from None  # fmt: skip
        assert saved.content is not None
        await audit(tx, principal, action="update", task_id=task_id, step=name,
                    patient=ref_id(task.get("for"), "Patient"), when=when, before=before.value,
                    after=(after or before).value, version=saved.version, **details)  # fmt: skip
        stored_request = (await tx.read("ServiceRequest", request["id"])).content or request
        return Referral(saved.content, stored_request, extra)


# --- 1. the request ----------------------------------------------------------------------------------------


async def request_referral(
    store: FhirStore,
    encounter_id: str,
    *,
    destination: str,
    principal: Principal | None,
    reasons: Sequence[str] = (),
    reason_code: str = "1",
    plan: str = "",
    details: dict[str, str] | None = None,
    requester: str | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Referral:
    """Refer the patient of Encounter ``encounter_id`` to Organization ``destination``.

    ``reasons``: ICD-10 codes (default: the Encounter's diagnoses); ``reason_code``: ``MA_LYDO_CT`` (1 meets
    the referral rules, 2 beyond the facility's capacity, 3 the patient's request); ``plan``: the suggested
    treatment (``HUONG_DIEU_TRI``); ``details``: the paper's other values by their parameter names
    (:data:`~senhealth.telehealth.referrals.papers.XML13_FROM_REQUEST`); ``requester``: the referring
    practitioner (default: the caller's)."""
    when = _now(now)
    if reason_code not in REASONS:
        raise ReferralError(400, "reasonCode (MA_LYDO_CT): 1 | 2 | 3", "invalid", "reasonCode")
    unknown = sorted(set(details or {}) - set(XML13_FROM_REQUEST))
    if unknown:
        raise ReferralError(400, f"unknown detail {unknown[0]!r}; known: {', '.join(XML13_FROM_REQUEST)}",
                            "invalid", unknown[0])  # fmt: skip
    async with store.transaction() as tx:
        encounter, _ = await _read(tx, "Encounter", encounter_id, "Encounter", status=404)
        referring = ref_id(encounter.get("serviceProvider"), "Organization")
        require_facility(
            principal, f"Organization/{referring}" if referring else None, "chuyển tuyến / refer"
        )
        if encounter.get("status") in ("cancelled", "entered-in-error"):
            raise ReferralError(409, f"Encounter/{encounter_id} is {encounter.get('status')}", "conflict")
        patient_id = ref_id(encounter.get("subject"), "Patient")
        if not patient_id or not referring:
            raise ReferralError(422, "Encounter cần người bệnh và cơ sở / the Encounter needs its subject and "
                                "serviceProvider", "invalid", "Encounter.serviceProvider")  # fmt: skip
        source_org, _ = await _read(tx, "Organization", referring, "Encounter.serviceProvider")
        dest_id = ref_id(destination, "Organization") if "/" in destination else destination
        dest_org, _ = await _read(tx, "Organization", dest_id, "destination")
        if dest_id == referring:
            raise ReferralError(400, "Nơi chuyển đến trùng nơi chuyển đi / the destination is the referring "
                                "facility", "invalid", "destination")  # fmt: skip
        source_code, dest_code = _facility_code(source_org), _facility_code(dest_org)
        if not source_code or not dest_code:
            raise ReferralError(422, "Cơ sở chưa có mã KCB (5 ký tự) / a facility has no facility code",
                                "invalid", "destination" if source_code else "Encounter.serviceProvider")  # fmt: skip
        codes = await _reason_codes(tx, encounter, reasons)
        doctor = requester or (principal.practitioner if principal else None)
        doctor_id = ref_id(doctor, "Practitioner") if doctor and "/" in doctor else doctor
        if not doctor_id:
            raise ReferralError(
                400, "requester: the referring practitioner is required", "required", "requester"
            )
        await _read(tx, "Practitioner", doctor_id, "requester")
        number = f"{source_code}.{when.astimezone(VN_TZ):%y%m%d}.{encounter_id[-8:]}"[:50]
        kept = {XML13_FROM_REQUEST[k]: v.strip() for k, v in (details or {}).items() if v and v.strip()}
        kept["MA_LYDO_CT"] = reason_code
        kept["GIAY_CHUYEN_TUYEN"] = number
        kept["MA_LOAI_RV"] = "5" if reason_code == "3" else "2"
        request: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "identifier": [{"system": DOCUMENT_NUMBER, "value": number}],
            "status": "active",
            "intent": "order",
            "category": [{"coding": [{"system": SNOMED, "code": REFERRAL[0], "display": REFERRAL[1]}]}],
            "code": {
                "coding": [{"system": SNOMED, "code": REFERRAL[0], "display": REFERRAL[1]}],
                "text": "Chuyển tuyến / chuyển cơ sở khám bệnh, chữa bệnh",
            },
            "subject": {"reference": f"Patient/{patient_id}"},
            "encounter": {"reference": f"Encounter/{encounter_id}"},
            "authoredOn": fhir_time(when),
            "requester": {"reference": f"Practitioner/{doctor_id}"},
            "performer": [
                {
                    "reference": f"Organization/{dest_id}",
                    "display": _name(dest_org),
                    "identifier": {"system": FACILITY_SYSTEM, "value": dest_code},
                }
            ],
            "reasonCode": [
                {"coding": [{"system": ICD10_VN, "code": c, "display": n}], "text": n} for c, n in codes
            ],
        }
        if plan.strip():
            request["patientInstruction"] = plan.strip()
        claim_terms.with_claim_fields(request, "XML13", kept)
        created_request = await tx.create(request)
        task: dict[str, Any] = {
            "resourceType": "Task",
            "identifier": [{"system": REFERRAL_ID_SYSTEM, "value": number}],
            "basedOn": [{"reference": f"ServiceRequest/{created_request.res_id}"}],
            "intent": "order",
            "priority": "routine",
            "code": TASK_CODE,
            "description": f"Chuyển tuyến {_name(source_org)} → {_name(dest_org)}: "
            + "; ".join(f"{c} {n}" for c, n in codes),
            "focus": {"reference": f"ServiceRequest/{created_request.res_id}"},
            "for": {"reference": f"Patient/{patient_id}"},
            "encounter": {"reference": f"Encounter/{encounter_id}"},
            "authoredOn": fhir_time(when),
            "executionPeriod": {"start": fhir_time(when)},
            "requester": {"reference": f"Practitioner/{doctor_id}"},
            "owner": {"reference": f"Organization/{dest_id}", "display": _name(dest_org)},
            "input": [{"type": {"coding": [{"system": OUTPUT_SYSTEM, "code": "referring-facility"}]},
                       "valueReference": {"reference": f"Organization/{referring}", "display": _name(source_org)}}],
        }  # fmt: skip
        _set_step(task, Step.REQUESTED, when)
        _note(task, principal, when, "[request] " + " — ".join(t for t in (REASONS[reason_code], note) if t))
        created = await tx.create(task)
        assert created.content is not None and created_request.content is not None
        await audit(tx, principal, action="create", task_id=created.res_id, step="request", patient=patient_id,
                    when=when, after=Step.REQUESTED.value, request=f"ServiceRequest/{created_request.res_id}",
                    destination=f"Organization/{dest_id}", number=number)  # fmt: skip
        return Referral(created.content, created_request.content)


async def _reason_codes(
    tx: StoreTx, encounter: dict[str, Any], reasons: Sequence[str]
) -> list[tuple[str, str]]:
    wanted = list(reasons)
    if not wanted:
        for diagnosis in sorted(encounter.get("diagnosis") or [], key=lambda d: d.get("rank") or 99):
            cid = ref_id(diagnosis.get("condition"), "Condition")
            if cid:
                condition, _ = await _read(tx, "Condition", cid, "Encounter.diagnosis")
                wanted += [c["code"] for c in (condition.get("code") or {}).get("coding") or []
                           if c.get("system") in ICD10_SYSTEMS and c.get("code")][:1]  # fmt: skip
    out: list[tuple[str, str]] = []
    for i, raw in enumerate(wanted):
        entry = icd10_vn.lookup(raw)
        if entry is None:
            raise ReferralError(400, f"{raw!r} không phải mã ICD-10 / is not an ICD-10 code", "code-invalid",
                                f"reason[{i}]")  # fmt: skip
        out.append((entry.code, entry.name_vi))
    if not out:
        raise ReferralError(400, "Cần chẩn đoán ICD-10 / the referral needs an ICD-10 diagnosis", "required",
                            "reason")  # fmt: skip
    return out


# --- 2. acceptance -----------------------------------------------------------------------------------------


async def accept(
    store: FhirStore,
    task_id: str,
    decision: str,
    *,
    principal: Principal | None,
    note: str = "",
    now: datetime | None = None,
) -> Referral:
    """The destination's decision: ``accept`` or ``decline`` (a declined referral's request is revoked)."""
    if decision not in ("accept", "decline"):
        raise ReferralError(400, "decision: accept | decline", "invalid", "decision")
    if decision == "decline" and not note.strip():
        raise ReferralError(400, "Cần lý do từ chối / a decline needs a note", "required", "note")

    async def prepare(
        tx: StoreTx, task: dict[str, Any], request: dict[str, Any], when: datetime
    ) -> tuple[str, dict[str, Any]]:
        if decision == "decline":
            task["statusReason"] = {"text": note.strip()}
        return ("", {"decision": decision})

    return await _step(store, task_id, name="accept" if decision == "accept" else "decline",
                       allowed=(Step.REQUESTED,), after=Step.ACCEPTED if decision == "accept" else Step.DECLINED,
                       acting="destination", principal=principal, note=note, now=now, prepare=prepare,
                       request_status="revoked" if decision == "decline" else None)  # fmt: skip


# --- 3. the summary ----------------------------------------------------------------------------------------


async def _finish_encounter(store: FhirStore, encounter_id: str, when: datetime, discharge: str) -> None:
    """End the Encounter (``finished``, ``period.end``) with a referral as its discharge, if still open."""
    async with store.transaction() as tx:
        encounter, version = await _read(tx, "Encounter", encounter_id, "Encounter")
        if encounter.get("status") == "finished":
            return
        encounter["status"] = "finished"
        encounter["period"] = {**(encounter.get("period") or {}), "end": fhir_time(when)}
        hospitalization = encounter.setdefault("hospitalization", {})
        hospitalization["dischargeDisposition"] = {"coding": [
            {"system": DISCHARGE, "code": "other-hcf", "display": "Other healthcare facility"},
            {"system": DISCHARGE_TYPE, "code": discharge},
        ]}  # fmt: skip
        await tx.update(encounter, if_match=version)


async def _record_draft(
    store: FhirStore, task_id: str, *, name: str, allowed: Sequence[Step], acting: str, kind: str,
    composition: dict[str, Any], principal: Principal | None, now: datetime | None,
) -> Referral:  # fmt: skip
    async def prepare(
        tx: StoreTx, task: dict[str, Any], request: dict[str, Any], when: datetime
    ) -> tuple[str, dict[str, Any]]:
        task.setdefault("input", []).append(
            {"type": {"coding": [{"system": OUTPUT_SYSTEM, "code": kind}]},
             "valueReference": {"reference": f"Composition/{composition['id']}"}}
        )  # fmt: skip
        return (f"Composition/{composition['id']}", {"composition": f"Composition/{composition['id']}",
                                                     "_extra": composition})  # fmt: skip

    done = await _step(store, task_id, name=name, allowed=allowed, after=None, acting=acting, principal=principal,
                       note="", now=now, prepare=prepare)  # fmt: skip
    return done


async def _context(store: FhirStore, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    async with store.transaction() as tx:
        task, _, request, _ = await _load(tx, task_id)
    return task, request


async def draft_summary(
    store: FhirStore,
    task_id: str,
    *,
    principal: Principal | None,
    restriction: Restriction | None = None,
    fields: dict[str, str] | None = None,
    now: datetime | None = None,
) -> Referral:
    """Draft the referral paper (``referral-paper`` Composition, preliminary) from the referring Encounter,
    ending that Encounter first when it is still open (the referral is its discharge). The author signs
    it with ``Composition/{id}/$sign``, then :func:`send_summary` sends it."""
    when = _now(now)
    task, request = await _context(store, task_id)
    if _step_of(task) not in (Step.REQUESTED, Step.ACCEPTED):
        raise ReferralError(
            409, f"the referral is at step {_step_of(task).value}: no new summary", "conflict"
        )
    require_facility(principal, _referring_org(task), "lập giấy chuyển tuyến / draft the referral paper")
    encounter_id = ref_id(task.get("encounter"), "Encounter") or ""
    kept = claim_terms.claim_fields(request, "XML13")
    await _finish_encounter(store, encounter_id, when, kept.get("MA_LOAI_RV", "2"))
    author = ref_id(request.get("requester"), "Practitioner") or ""
    mine = (principal.practitioner or "").removeprefix("Practitioner/") if principal else ""
    dest = (request.get("performer") or [{}])[0]
    values = paper_fields(
        request, str(dest.get("display") or ""), f"{when.astimezone(VN_TZ):%H giờ %M phút, ngày %d/%m/%Y}"
    )
    values.update(fields or {})
    composition = await create_document(
        store,
        "referral-paper",
        patient_id=ref_id(task.get("for"), "Patient") or "",
        encounter_id=encounter_id,
        author_practitioner_id=mine or author,
        custodian_org_id=ref_id(_referring_org(task), "Organization") or "",
        fields=values,
        restriction=restriction,
        now=when,
    )
    return await _record_draft(store, task_id, name="draft-summary", allowed=(Step.REQUESTED, Step.ACCEPTED),
                               acting="referring", kind="summary-draft", composition=composition,
                               principal=principal, now=now)  # fmt: skip


def _doc_check(comp: dict[str, Any], type_key: str, encounter: str, what: str) -> None:
    doc_type = document_type_for_code(comp.get("type"))
    if doc_type is None or doc_type.key != type_key:
        raise ReferralError(
            422, f"{what}: cần văn bản {type_key} / must be a {type_key} document", "invalid", what
        )
    if ref_id(comp.get("encounter"), "Encounter") != encounter:
        raise ReferralError(422, f"{what}: văn bản của lần khám khác / documents another encounter (not "
                            f"Encounter/{encounter})", "invalid", what)  # fmt: skip


async def send_summary(
    store: FhirStore,
    task_id: str,
    composition_id: str,
    *,
    principal: Principal | None,
    restriction: Restriction | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Referral:
    """Send the signed referral paper ``composition_id`` with its claim table XML13 (kept as a
    DocumentReference): step ``accepted`` → ``summary-sent``. 409 when the paper is not signed; 422 when it
    is not this referral's paper or XML13 fails the field table."""
    task, request = await _context(store, task_id)
    if _step_of(task) is not Step.ACCEPTED:
        raise ReferralError(409, f"the referral is at step {_step_of(task).value}: the summary goes after "
                            "acceptance", "conflict")  # fmt: skip
    require_facility(principal, _referring_org(task), "gửi giấy chuyển tuyến / send the referral paper")
    encounter_id = ref_id(task.get("encounter"), "Encounter") or ""
    try:
        comp = (await store.read("Composition", composition_id)).content or {}
    except (NotFound, Gone):
        raise ReferralError(
            422, f"summary: Composition/{composition_id} is not known", "not-found", "summary"
        ) from None
    _doc_check(comp, "referral-paper", encounter_id, "summary")
    signature = await signed_document(store, composition_id)
    table = await referral_xml13(store, encounter_id, request["id"], restriction=restriction)

    async def prepare(
        tx: StoreTx, task: dict[str, Any], request: dict[str, Any], when: datetime
    ) -> tuple[str, dict[str, Any]]:
        reference = await tx.create(_xml13_reference(task, request, table.content, when))
        _output(
            task,
            "summary",
            "Giấy chuyển tuyến (đã ký) / signed referral paper",
            f"Composition/{composition_id}",
        )
        _output(task, "signed-document", "Bản ký số / signed document Bundle", signature.bundle)
        _output(task, "xml13", "Bảng XML13 / claim table 13", f"DocumentReference/{reference.res_id}")
        return ("giấy chuyển tuyến số " + table.record.get("GIAY_CHUYEN_TUYEN", ""),
                {"summary": f"Composition/{composition_id}", "signedDocument": signature.bundle,
                 "xml13": f"DocumentReference/{reference.res_id}", "_extra": reference.content})  # fmt: skip

    return await _step(store, task_id, name="send-summary", allowed=(Step.ACCEPTED,), after=Step.SUMMARY_SENT,
                       acting="referring", principal=principal, note=note, now=now, prepare=prepare)  # fmt: skip


def _xml13_reference(
    task: dict[str, Any], request: dict[str, Any], content: bytes, when: datetime
) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": CLAIM_TABLE_SYSTEM, "code": "XML13",
                             "display": "Giấy chuyển tuyến / chuyển cơ sở KBCB (bảng 13)"}]},
        "subject": task["for"],
        "date": fhir_time(when),
        "custodian": {"reference": _referring_org(task) or ""},
        "description": "Bảng XML13 (QĐ 3176/QĐ-BYT) của giấy chuyển tuyến / claim table 13 of the referral",
        "content": [{"attachment": {
            "contentType": "application/xml; charset=utf-8",
            "data": base64.b64encode(content).decode("ascii"),
            "size": len(content),
            "hash": base64.b64encode(hashlib.sha1(content).digest()).decode("ascii"),
            "title": f"XML13-{request['id']}.xml",
            "creation": fhir_time(when),
        }}],
        "context": {"encounter": [task["encounter"]], "related": [{"reference": f"ServiceRequest/{request['id']}"}]},
    }  # fmt: skip


# --- 4. arrival --------------------------------------------------------------------------------------------


async def arrive(
    store: FhirStore,
    task_id: str,
    *,
    principal: Principal | None,
    encounter_id: str | None = None,
    encounter_class: str = "AMB",
    note: str = "",
    now: datetime | None = None,
) -> Referral:
    """The patient has arrived at the destination: its Encounter (given, or made here: ``in-progress``,
    ``basedOn`` the referral, ``hospitalization.origin`` the referring facility); ``summary-sent`` →
    ``arrived``."""
    if encounter_class not in ("AMB", "IMP", "EMER", "SS"):
        raise ReferralError(400, "class: AMB | IMP | EMER | SS", "invalid", "class")

    async def prepare(
        tx: StoreTx, task: dict[str, Any], request: dict[str, Any], when: datetime
    ) -> tuple[str, dict[str, Any]]:
        destination = _destination(request) or ""
        patient = task["for"]
        if encounter_id:
            encounter, version = await _read(tx, "Encounter", encounter_id, "encounter")
            if ref_id(encounter.get("subject"), "Patient") != ref_id(patient, "Patient"):
                raise ReferralError(422, "encounter: another patient's", "invalid", "encounter")
            if ref_id(encounter.get("serviceProvider"), "Organization") != ref_id(
                destination, "Organization"
            ):
                raise ReferralError(422, "encounter: not at the destination facility", "invalid", "encounter")
            encounter.setdefault("basedOn", []).append({"reference": f"ServiceRequest/{request['id']}"})
            saved, _ = await tx.update(encounter, if_match=version)
        else:
            made: dict[str, Any] = {
                "resourceType": "Encounter",
                "status": "in-progress",
                "class": {"system": ACT_CODE, "code": encounter_class},
                "subject": patient,
                "basedOn": [{"reference": f"ServiceRequest/{request['id']}"}],
                "period": {"start": fhir_time(when)},
                "reasonCode": request.get("reasonCode") or [],
                "serviceProvider": {"reference": destination},
                "hospitalization": {"origin": {"reference": _referring_org(task) or ""}},
            }
            practitioner = (principal.practitioner or "").removeprefix("Practitioner/") if principal else ""
            if practitioner:
                made["participant"] = [{"individual": {"reference": f"Practitioner/{practitioner}"}}]
            saved = await tx.create(made)
        _output(task, "receiving-encounter", "Lần khám tại nơi nhận / encounter at the destination",
                f"Encounter/{saved.res_id}")  # fmt: skip
        return (
            f"Encounter/{saved.res_id}",
            {"encounter": f"Encounter/{saved.res_id}", "_extra": saved.content},
        )

    return await _step(store, task_id, name="arrive", allowed=(Step.SUMMARY_SENT,), after=Step.ARRIVED,
                       acting="destination", principal=principal, note=note, now=now, prepare=prepare)  # fmt: skip


# --- 5. the return letter ----------------------------------------------------------------------------------


async def draft_return(
    store: FhirStore,
    task_id: str,
    *,
    principal: Principal | None,
    restriction: Restriction | None = None,
    course: str = "",
    advice: str = "",
    now: datetime | None = None,
) -> Referral:
    """Draft the return letter from the destination's Encounter (ended first when still open): the
    record-summary form titled as the letter, ``course`` (treatment and its result) and ``advice`` for the
    referring facility as the author's text. Signed with ``$sign``, sent with :func:`return_letter`."""
    when = _now(now)
    task, request = await _context(store, task_id)
    if _step_of(task) is not Step.ARRIVED:
        raise ReferralError(409, f"the referral is at step {_step_of(task).value}: the letter follows arrival",
                            "conflict")  # fmt: skip
    destination = _destination(request)
    require_facility(principal, destination, "lập giấy báo kết quả / draft the return letter")
    receiving = ref_id(_output_ref(task, "receiving-encounter"), "Encounter") or ""
    await _finish_encounter(store, receiving, when, "1")
    author = (principal.practitioner or "").removeprefix("Practitioner/") if principal else ""
    if not author:
        raise ReferralError(400, "the letter's author is the signed-in practitioner", "required")
    fields = {k: v.strip() for k, v in (("clinical-course", course), ("notes", advice)) if v.strip()}
    composition = await create_document(
        store,
        "inpatient-summary",
        patient_id=ref_id(task.get("for"), "Patient") or "",
        encounter_id=receiving,
        author_practitioner_id=author,
        custodian_org_id=ref_id(destination, "Organization") or "",
        fields=fields,
        title=RETURN_TITLE,
        restriction=restriction,
        now=when,
    )
    return await _record_draft(store, task_id, name="draft-return", allowed=(Step.ARRIVED,), acting="destination",
                               kind="return-draft", composition=composition, principal=principal, now=now)  # fmt: skip


async def return_letter(
    store: FhirStore,
    task_id: str,
    composition_id: str,
    *,
    principal: Principal | None,
    note: str = "",
    now: datetime | None = None,
) -> Referral:
    """Send the signed return letter ``composition_id`` to the referring facility (a Communication to it
    and to the referring practitioner): ``arrived`` → ``completed``; the referral request is completed."""
    task, request = await _context(store, task_id)
    if _step_of(task) is not Step.ARRIVED:
        raise ReferralError(409, f"the referral is at step {_step_of(task).value}: the letter follows arrival",
                            "conflict")  # fmt: skip
    require_facility(principal, _destination(request), "gửi giấy báo kết quả / send the return letter")
    receiving = ref_id(_output_ref(task, "receiving-encounter"), "Encounter") or ""
    try:
        comp = (await store.read("Composition", composition_id)).content or {}
    except (NotFound, Gone):
        raise ReferralError(
            422, f"letter: Composition/{composition_id} is not known", "not-found", "letter"
        ) from None
    _doc_check(comp, "inpatient-summary", receiving, "letter")
    signature = await signed_document(store, composition_id)

    async def prepare(
        tx: StoreTx, task: dict[str, Any], request: dict[str, Any], when: datetime
    ) -> tuple[str, dict[str, Any]]:
        referring = _referring_org(task) or ""
        communication = {
            "resourceType": "Communication",
            "basedOn": [{"reference": f"ServiceRequest/{request['id']}"}],
            "partOf": [{"reference": f"Task/{task['id']}"}],
            "status": "completed",
            "category": [{"coding": [{"system": COMMUNICATION_CATEGORY, "code": "referral-return",
                                      "display": "Phản hồi chuyển tuyến / referral return letter"}]}],
            "subject": task["for"],
            "encounter": {"reference": f"Encounter/{receiving}"},
            "sent": fhir_time(when),
            "recipient": [{"reference": referring}, request["requester"]],
            "sender": {"reference": _destination(request) or ""},
            "payload": [{"contentReference": {"reference": f"Composition/{composition_id}", "display": RETURN_TITLE}},
                        {"contentReference": {"reference": signature.bundle}}],
        }  # fmt: skip
        sent = await tx.create(communication)
        _output(task, "return-letter", "Giấy báo kết quả điều trị (đã ký) / signed return letter",
                f"Composition/{composition_id}")  # fmt: skip
        _output(task, "return-communication", "Gửi nơi chuyển / sent to the referring facility",
                f"Communication/{sent.res_id}")  # fmt: skip
        task["owner"] = {"reference": referring}
        return (f"Communication/{sent.res_id}", {"letter": f"Composition/{composition_id}",
                                                 "signedDocument": signature.bundle,
                                                 "communication": f"Communication/{sent.res_id}",
                                                 "_extra": sent.content})  # fmt: skip

    return await _step(store, task_id, name="return", allowed=(Step.ARRIVED,), after=Step.COMPLETED,
                       acting="destination", principal=principal, note=note, now=now, prepare=prepare,
                       request_status="completed")  # fmt: skip


async def read_referral(store: FhirStore, task_id: str) -> Referral:
    """The referral ``Task/{task_id}`` and its request (404 when it is not a referral)."""
    task, request = await _context(store, task_id)
    return Referral(task, request)
