"""Reading a consult, auditing its steps, checking inline attachments and the resources a request cites.

Spec: https://hl7.org/fhir/R4/task.html, https://hl7.org/fhir/R4/datatypes.html#Attachment (``data``
base64, ``size`` the decoded bytes, ``hash`` base64 SHA-1), the audit interface
:class:`senhealth.fhir.access.AccessEvent` (BALP).

Each step records one audit event in its own transaction (``query`` = ``consult-<step>``, the patient, the
facilities, the statuses): the write and its audit row commit together or not at all. A refusal is audited
in a transaction of its own (:func:`audit_refusal`), since the step's transaction rolls back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Any, Final

from senhealth.fhir.access import AccessEvent, Principal, audit_sink
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.fhir.store.store import StoreTx
from senhealth.telehealth.consults.config import get_config
from senhealth.telehealth.consults.model import Consult, is_consult_task, now_utc, ref_id

__all__ = [
    "SUPPORTING_TYPES",
    "audit_refusal",
    "audit_step",
    "checked_attachment",
    "read_consult",
]

#: What a request may cite as supporting information (https://hl7.org/fhir/R4/servicerequest.html).
SUPPORTING_TYPES: Final = frozenset(
    {
        "Observation",
        "DiagnosticReport",
        "Media",
        "ImagingStudy",
        "DocumentReference",
        "Condition",
        "MedicationStatement",
        "MedicationRequest",
        "AllergyIntolerance",
        "Procedure",
        "QuestionnaireResponse",
        "Binary",
    }
)


async def read_consult(tx: StoreTx, task_id: str) -> Consult:
    """The consult of ``Task/<task_id>`` (404 when it is not a consult Task)."""
    task_id = task_id.removeprefix("Task/")
    try:
        stored = await tx.read("Task", task_id)
    except (NotFound, Gone):
        raise OperationError(404, f"Không có hội chẩn / no consult Task/{task_id}", "not-found") from None
    task = stored.content or {}
    sr_id = ref_id(task.get("focus"), "ServiceRequest")
    if not is_consult_task(task) or sr_id is None:
        raise OperationError(404, f"Task/{task_id} is not a teleconsultation", "not-found")
    request = await tx.read("ServiceRequest", sr_id)
    assert request.content is not None
    return Consult(task, stored.version, request.content, request.version)


async def audit_step(
    tx: StoreTx,
    principal: Principal | None,
    consult: Consult,
    step: str,
    *,
    action: str = "update",
    when: datetime | None = None,
    patients: tuple[str, ...] = (),
    **details: Any,
) -> None:
    """Record step ``step`` of ``consult`` in ``tx`` (the installed audit sink)."""
    await audit_sink().record(
        tx.conn,
        AccessEvent(
            when=now_utc(when),
            principal=principal,
            action=action,  # type: ignore[arg-type]
            res_type="Task",
            res_id=consult.id,
            query=f"consult-{step}",
            patients=(consult.patient, *(p for p in patients if p != consult.patient)),
            details={
                "step": step,
                "status": consult.status,
                "serviceRequest": f"ServiceRequest/{consult.request_id}",
                "requestingFacility": consult.requesting_facility,
                "consultedFacility": consult.consulted_facility,
                **details,
            },
        ),
    )


async def audit_refusal(
    store: FhirStore,
    principal: Principal | None,
    operation: str,
    target: str | None,
    status: int,
    reason: str,
) -> None:
    """Record a refused consult operation (its own transaction: the step's was rolled back)."""
    res_type, _, res_id = (target or "").partition("/")
    patients: tuple[str, ...] = ()
    async with store.transaction() as tx:
        if res_type == "Task" and res_id:
            try:
                patients = ((await read_consult(tx, res_id)).patient,)
            except OperationError:
                patients = ()
        await audit_sink().record(
            tx.conn,
            AccessEvent(
                when=now_utc(),
                principal=principal,
                action="operation",
                res_type=res_type or None,
                res_id=res_id or None,
                query=operation if operation.startswith("consult-") else f"consult-{operation}",
                patients=patients,
                outcome="denied",
                status=status,
                details={"operation": operation, "reason": reason[:500]},
            ),
        )


def checked_attachment(value: Any, name: str) -> dict[str, Any]:
    """An inline Attachment checked against the limits, with ``size`` and ``hash`` filled: 413 when too big,
    400 when it is not an Attachment with base64 ``data`` and a ``contentType``."""
    if not isinstance(value, dict) or not isinstance(value.get("data"), str):
        raise OperationError(
            400,
            f"Parameter {name!r} must be an Attachment with base64 data (valueAttachment)",
            expression=name,
        )
    content_type = value.get("contentType")
    if not isinstance(content_type, str) or "/" not in content_type:
        raise OperationError(
            400, f"{name}.contentType is required (image/jpeg, application/pdf...)", expression=name
        )
    limit = get_config().max_attachment_bytes
    encoded = value["data"]
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise OperationError(400, f"{name}.data is not valid base64", expression=name) from None
    if len(raw) > limit:
        raise _too_large(name, len(raw), limit, value.get("title"))
    if not raw:
        raise OperationError(400, f"{name}.data is empty", expression=name)
    out = dict(value)
    out["size"] = len(raw)
    out["hash"] = base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii")  # FHIR: SHA-1
    return out


def _too_large(name: str, size: int, limit: int, title: Any) -> OperationError:
    what = f" ({title})" if isinstance(title, str) and title else ""
    return OperationError(
        413,
        f"Tệp đính kèm quá lớn{what}: {size} byte, tối đa {limit} byte / attachment too large{what}: "
        f"{size} bytes, the limit is {limit} bytes (SENHEALTH_TELEHEALTH_CONSULT_MAX_ATTACHMENT_BYTES)",
        "too-long",
        name,
    )
