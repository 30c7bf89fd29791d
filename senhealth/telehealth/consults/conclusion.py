"""The consult's conclusion: a signed clinical document, stored in both facilities' records.

Spec: https://hl7.org/fhir/R4/composition.html and https://hl7.org/fhir/R4/documents.html (LOINC 11488-4
Consult note), https://hl7.org/fhir/R4/documentreference.html (``custodian``: the organisation that keeps
the document; ``content.attachment`` with ``data``, ``size``, ``hash`` SHA-1, ``url``), the platform's
signatures (docs/signatures.md); the rule: a consultation between facilities ends in a written conclusion
stored in the medical record (../shared/reference/vietnam.md §5).

:func:`conclude`, by the specialist who accepted:

1. writes the conclusion as a ``Composition`` (``preliminary``; subject the patient, encounter the
   consultation's Encounter at the consulted facility, author the specialist, custodian the consulted
   facility; sections: the request, the diagnosis, the conclusion, the recommendations);
2. signs it as its author through the registered ``Composition/$sign`` operation (the same checks, key,
   certificate status and timestamp as a signature through the API): the signed document ``Bundle`` is
   stored once, with its Provenance. A signature that fails removes the draft and changes nothing else;
3. in ONE transaction: stores the signed document in **both records** and completes the consult.

**"Stored in both records"** means: each facility's record of the patient holds a ``DocumentReference``
whose ``custodian`` is that facility and whose attachment carries the whole signed document Bundle (its
bytes, ``size``, SHA-1 ``hash``, and ``url`` = the stored ``Bundle/<id>``), ``masterIdentifier`` the
document's identifier, ``context.related`` the request and the Task. The requesting facility's copy has as
``subject`` the request's patient (its record; ``context.encounter`` the request's encounter when given); the
consulted facility's copy has as ``subject`` the patient's record kept by the consulted facility: a Patient
linked to the requester's through the patient index (``Patient.link`` ``replaces`` / ``replaced-by`` /
``seealso``, :func:`senhealth.mpi.link.linked_ids`) whose ``managingOrganization`` is the consulted facility,
else the same Patient (the province's one record), with ``context.encounter`` the consultation's Encounter
there. Each copy is a complete, verifiable document (the signature covers the Bundle's canonical bytes,
docs/signatures.md §1), readable by that facility's clinicians through the ordinary access policy.

The Task becomes ``completed`` (outputs: ``conclusion``, ``document``, ``record-copy`` ×2), the
ServiceRequest ``completed`` (the ``consult-completed`` subscription topic fires), the consultation's
Encounter ``finished``; one audit event.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import html
from datetime import datetime
from typing import Any

from senhealth.fhir.access import Restriction
from senhealth.fhir.json import dumps
from senhealth.fhir.operations.registry import OperationCall, OperationError, get_operation
from senhealth.fhir.store import FhirStore, Gone, NotFound, VersionConflict
from senhealth.fhir.store.store import StoreTx
from senhealth.mpi.link import linked_ids
from senhealth.telehealth.consults.access import Caller, require_owner
from senhealth.telehealth.consults.model import (
    CONSULT_NOTE,
    CONSULT_TASK_SYSTEM,
    Consult,
    concept,
    fhir_time,
    now_utc,
    output,
    ref_id,
)
from senhealth.telehealth.consults.records import audit_step, read_consult

__all__ = ["Concluded", "conclude", "consultant_record"]

_XHTML = '<div xmlns="http://www.w3.org/1999/xhtml">{}</div>'


class Concluded:
    """What :func:`conclude` made: the consult, the Composition, the signed Bundle and the two copies."""

    def __init__(
        self,
        consult: Consult,
        composition: dict[str, Any],
        document: dict[str, Any],
        copies: list[dict[str, Any]],
    ) -> None:
        self.consult = consult
        self.composition = composition
        self.document = document
        self.copies = copies


def _section(title: str, text: str, entries: list[str] | None = None) -> dict[str, Any]:
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
    out: dict[str, Any] = {
        "title": title,
        "text": {"status": "generated", "div": _XHTML.format(paragraphs or "<p>—</p>")},
    }
    if entries:
        out["entry"] = [{"reference": e} for e in entries]
    return out


def _codes(diagnosis: list[dict[str, Any]]) -> str:
    out = []
    for concept_ in diagnosis:
        text = concept_.get("text")
        codes = [f"{c.get('code')} {c.get('display', '')}".strip() for c in concept_.get("coding") or []]
        out.append(" — ".join(x for x in (", ".join(codes), text) if x))
    return "\n".join(out)


def _composition(
    consult: Consult,
    caller: Caller,
    encounter: str,
    when: datetime,
    conclusion: str,
    recommendation: str,
    diagnosis: list[dict[str, Any]],
) -> dict[str, Any]:
    notes = "\n".join(str(n.get("text", "")) for n in consult.request.get("note") or [])
    asked = f"{consult.request.get('code', {}).get('text', '')}\n{notes}"
    sections = [
        _section("Yêu cầu hội chẩn / Consult request", asked, [f"ServiceRequest/{consult.request_id}"])
    ]
    if diagnosis:
        sections.append(_section("Chẩn đoán / Diagnosis", _codes(diagnosis)))
    sections.append(_section("Kết luận hội chẩn / Conclusion", conclusion))
    if recommendation.strip():
        sections.append(_section("Hướng xử trí / Recommendations", recommendation))
    return {
        "resourceType": "Composition",
        "status": "preliminary",
        "type": copy.deepcopy(CONSULT_NOTE),
        "category": [concept(CONSULT_TASK_SYSTEM, "conclusion", "Kết luận hội chẩn / consult conclusion")],
        "subject": consult.request["subject"],
        "encounter": {"reference": encounter},
        "date": fhir_time(when),
        "author": [consult.task["owner"]],
        "title": "Biên bản hội chẩn từ xa / Teleconsultation conclusion",
        "custodian": {"reference": f"Organization/{caller.facility}"},
        "section": sections,
    }


async def consultant_record(tx: StoreTx, patient: str, facility: str) -> str:
    """The patient's record kept by ``facility``: a linked Patient managed there, else ``patient`` itself."""
    candidates = []
    for pid in sorted(await linked_ids(tx, patient)):
        try:
            content = (await tx.read("Patient", pid)).content or {}
        except (NotFound, Gone):
            continue
        if ref_id(content.get("managingOrganization"), "Organization") == facility:
            candidates.append((content.get("active") is False, pid))
    return min(candidates)[1] if candidates else patient


def _copy(
    consult: Consult,
    document: dict[str, Any],
    raw: bytes,
    *,
    subject: str,
    custodian: str,
    encounter: str | None,
    composition: str,
    when: datetime,
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "related": [
            {"reference": f"ServiceRequest/{consult.request_id}"},
            {"reference": f"Task/{consult.id}"},
            {"reference": composition},
        ]
    }
    if encounter:
        context["encounter"] = [{"reference": encounter}]
    return {
        "resourceType": "DocumentReference",
        "masterIdentifier": document.get("identifier"),
        "status": "current",
        "docStatus": "final",
        "type": copy.deepcopy(CONSULT_NOTE),
        "category": [concept(CONSULT_TASK_SYSTEM, "conclusion", "Kết luận hội chẩn / consult conclusion")],
        "subject": {"reference": f"Patient/{subject}"},
        "date": fhir_time(when),
        "author": [consult.task["owner"]],
        "authenticator": consult.task["owner"],
        "custodian": {"reference": f"Organization/{custodian}"},
        "description": "Biên bản hội chẩn từ xa đã ký số / signed teleconsultation conclusion",
        "content": [
            {
                "attachment": {
                    "contentType": "application/fhir+json",
                    "language": "vi",
                    "data": base64.b64encode(raw).decode("ascii"),
                    "url": f"Bundle/{document['id']}",
                    "size": len(raw),
                    "hash": base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii"),
                    "title": "Biên bản hội chẩn từ xa / Teleconsultation conclusion",
                    "creation": str(document.get("timestamp") or fhir_time(when)),
                }
            }
        ],
        "context": context,
    }


async def _sign(
    store: FhirStore, caller: Caller, comp_id: str, base_url: str, restriction: Restriction | None
) -> dict[str, Any]:
    """Sign ``Composition/<comp_id>`` as its author through the registered ``$sign``; the signed Bundle."""
    op = get_operation("sign")
    if op is None or not op.applies("instance", "Composition"):
        raise OperationError(
            503, "Chưa cài đặt ký số / document signing is not installed here", "not-supported"
        )
    result = await op.handler(
        OperationCall(
            name="sign",
            level="instance",
            resource_type="Composition",
            resource_id=comp_id,
            params={"role": ["author"]},
            store=store,
            base_url=base_url,
            restriction=restriction,
            principal=caller.principal,
        )
    )
    for param in (result.resource or {}).get("parameter") or []:
        if param.get("name") == "document" and isinstance(param.get("resource"), dict):
            return dict(param["resource"])
    raise OperationError(500, "$sign answered without the signed document", "exception")


async def conclude(
    store: FhirStore,
    caller: Caller,
    task_id: str,
    *,
    conclusion: str,
    recommendation: str = "",
    diagnosis: list[dict[str, Any]] | None = None,
    base_url: str = "",
    restriction: Restriction | None = None,
    now: datetime | None = None,
) -> Concluded:
    """Write, sign and file the conclusion; complete the consult (see the module docstring)."""
    when = now_utc(now)
    if not conclusion.strip():
        raise OperationError(
            400, "Cần nội dung kết luận / the conclusion is required", "required", "conclusion"
        )
    async with store.transaction() as tx:
        consult = await read_consult(tx, task_id)
        require_owner(caller, consult)
        if consult.status not in ("accepted", "in-progress"):
            raise OperationError(
                409,
                f"the consult is {consult.status}: only an accepted consult is concluded",
                "business-rule",
            )
        encounters = consult.output("consultant-encounter")
        if not encounters:
            raise OperationError(409, "the consult has no consultation encounter", "business-rule")
        comp = await tx.create(
            _composition(consult, caller, encounters[0], when, conclusion, recommendation, diagnosis or [])
        )
    comp_id = comp.res_id
    try:
        document = await _sign(store, caller, comp_id, base_url, restriction)
    except BaseException:
        with contextlib.suppress(Exception):  # the signing error is the one to report
            await store.delete("Composition", comp_id)  # unsigned: the draft goes, nothing else changed
        raise
    raw = dumps(document)
    async with store.transaction() as tx:
        current = await read_consult(tx, task_id)
        if current.task_version != consult.task_version:
            raise OperationError(
                409, "the consult changed while the conclusion was signed: reload it", "conflict"
            )
        requester_copy = _copy(
            consult, document, raw, subject=consult.patient, custodian=str(consult.requesting_facility),
            encounter=(consult.request.get("encounter") or {}).get("reference"),
            composition=f"Composition/{comp_id}", when=when,
        )  # fmt: skip
        record = await consultant_record(tx, consult.patient, caller.facility)
        consultant_copy = _copy(
            consult, document, raw, subject=record, custodian=caller.facility, encounter=encounters[0],
            composition=f"Composition/{comp_id}", when=when,
        )  # fmt: skip
        copies = []
        for doc in (requester_copy, consultant_copy):
            stored = await tx.create(doc)
            assert stored.content is not None
            copies.append(stored.content)
        enc_id = encounters[0].removeprefix("Encounter/")
        enc = await tx.read("Encounter", enc_id)
        if enc.content is not None and enc.content.get("status") != "finished":
            finished = copy.deepcopy(enc.content)
            finished["status"] = "finished"
            finished["period"] = {**(finished.get("period") or {}), "end": fhir_time(when)}
            await tx.update(finished, if_match=enc.version)
        request = copy.deepcopy(consult.request)
        request["status"] = "completed"
        task = copy.deepcopy(consult.task)
        task["status"] = "completed"
        task["lastModified"] = fhir_time(when)
        task["executionPeriod"] = {**(task.get("executionPeriod") or {}), "end": fhir_time(when)}
        task.setdefault("output", []).extend(
            [
                output("conclusion", f"Composition/{comp_id}"),
                output("document", f"Bundle/{document['id']}"),
                *(output("record-copy", f"DocumentReference/{c['id']}") for c in copies),
            ]
        )
        task.setdefault("note", []).append(
            {
                "authorReference": {"reference": caller.reference},
                "time": fhir_time(when),
                "text": "[conclude]",
            }
        )
        try:
            saved_sr, _ = await tx.update(request, if_match=consult.request_version)
            saved_task, _ = await tx.update(task, if_match=consult.task_version)
        except VersionConflict:
            raise OperationError(409, "the consult changed meanwhile: reload it", "conflict") from None
        assert saved_sr.content is not None and saved_task.content is not None
        done = Consult(saved_task.content, saved_task.version, saved_sr.content, saved_sr.version)
        await audit_step(
            tx, caller.principal, done, "conclude", when=when, previous=consult.status,
            patients=(record,), composition=f"Composition/{comp_id}", document=f"Bundle/{document['id']}",
            copies=[f"DocumentReference/{c['id']}" for c in copies],
            custodians=[f"Organization/{consult.requesting_facility}", f"Organization/{caller.facility}"],
        )  # fmt: skip
        return Concluded(done, comp.content or {}, document, copies)
