"""Store-and-forward: the consult's messages both ways, and the case as either side reads it.

Spec: https://hl7.org/fhir/R4/communication.html (``partOf`` and ``about`` the consult Task, ``basedOn`` its
ServiceRequest, ``inResponseTo`` the message answered, ``payload`` ``contentString`` and
``contentAttachment``), https://hl7.org/fhir/R4/workflow-communications.html (asynchronous exchange on a
Task).

For poor connections: a commune station sends photos, an ECG and a question when it has a signal; the
specialist answers when free; each side is told through the subscriptions (topic ``consult-message``,
:mod:`.topics`). Inline attachments are checked against the limits (413 with the size and the limit).

:func:`post_message`: either facility's clinician, while the consult is open (``requested``,
``accepted``, ``in-progress``); the recipient is the other side: the requesting practitioner, or the
accepting specialist (the consulted facility before someone accepts). One transaction, audited.

:func:`case_view`: the consult as one ``collection`` Bundle for either side (the Task, the request, the
patient, what the request cites, the messages oldest first, the Appointment, the conclusion's Composition):
a specialist decides whether to accept from it, before the consult gives their facility any access to the
patient's record. Audited with the patient.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.fhir.store.store import StoreTx
from senhealth.telehealth.consults.access import Caller, side_of
from senhealth.telehealth.consults.config import get_config
from senhealth.telehealth.consults.model import (
    MESSAGE_CATEGORY,
    MESSAGE_CATEGORY_SYSTEM,
    OPEN_STATUSES,
    Consult,
    concept,
    fhir_time,
    now_utc,
)
from senhealth.telehealth.consults.records import audit_step, checked_attachment, read_consult

__all__ = ["case_view", "messages_of", "post_message"]


async def messages_of(tx: StoreTx, consult: Consult) -> list[dict[str, Any]]:
    """The consult's messages, oldest first."""
    found = await search(
        tx.conn,
        parse_search(
            "Communication",
            [
                ("part-of", f"Task/{consult.id}"),
                ("category", f"{MESSAGE_CATEGORY_SYSTEM}|{MESSAGE_CATEGORY}"),
                ("_count", "1000"),
            ],
        ),
        await tx.store.param_ids(),
    )
    return sorted((r.content for r in found.matches), key=lambda c: (str(c.get("sent", "")), str(c["id"])))


async def post_message(
    store: FhirStore,
    caller: Caller,
    task_id: str,
    *,
    text: str = "",
    attachments: list[dict[str, Any]] | None = None,
    in_response_to: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Send a message on the consult (see the module docstring); the Communication stored."""
    when = now_utc(now)
    config = get_config()
    items = attachments or []
    if not text.strip() and not items:
        raise OperationError(400, "A message needs text or an attachment", "required", "text")
    if len(text) > config.max_message_chars:
        raise OperationError(
            413, f"The message is longer than {config.max_message_chars} characters", "too-long", "text"
        )
    if len(items) > config.max_attachments:
        raise OperationError(413, f"At most {config.max_attachments} attachments a message", "too-long")
    checked = [checked_attachment(a, "attachment") for a in items]
    async with store.transaction() as tx:
        consult = await read_consult(tx, task_id)
        side = side_of(caller, consult)
        if consult.status not in OPEN_STATUSES:
            raise OperationError(
                409, f"the consult is {consult.status}: messages are closed", "business-rule", "task"
            )
        if side == "requester":
            recipient = consult.task.get("owner") or {
                "reference": f"Organization/{consult.consulted_facility}"
            }
        else:
            recipient = consult.task.get("requester") or {}
        message: dict[str, Any] = {
            "resourceType": "Communication",
            "basedOn": [{"reference": f"ServiceRequest/{consult.request_id}"}],
            "partOf": [{"reference": f"Task/{consult.id}"}],
            "status": "completed",
            "category": [
                concept(MESSAGE_CATEGORY_SYSTEM, MESSAGE_CATEGORY, "Trao đổi hội chẩn / consult message")
            ],
            "medium": [concept("http://terminology.hl7.org/CodeSystem/v3-ParticipationMode", "ONLINEWRIT")],
            "subject": consult.request["subject"],
            "about": [{"reference": f"Task/{consult.id}"}],
            "sent": fhir_time(when),
            "recipient": [recipient],
            "sender": {"reference": caller.reference},
            "payload": [
                *([{"contentString": text.strip()}] if text.strip() else []),
                *({"contentAttachment": a} for a in checked),
            ],
        }
        if in_response_to:
            answered = in_response_to.removeprefix("Communication/")
            try:
                previous = (await tx.read("Communication", answered)).content or {}
            except (NotFound, Gone):
                previous = {}
            if {"reference": f"Task/{consult.id}"} not in (previous.get("partOf") or []):
                raise OperationError(
                    422, f"inResponseTo: Communication/{answered} is not a message of this consult",
                    "invalid", "inResponseTo",
                )  # fmt: skip
            message["inResponseTo"] = [{"reference": f"Communication/{answered}"}]
        stored = await tx.create(message)
        assert stored.content is not None
        await audit_step(
            tx, caller.principal, consult, "message", action="create", when=when, side=side,
            communication=f"Communication/{stored.res_id}", attachments=len(checked),
            inResponseTo=message.get("inResponseTo", [{}])[0].get("reference"),
        )  # fmt: skip
        return stored.content


async def _read_many(tx: StoreTx, refs: list[str]) -> list[dict[str, Any]]:
    out = []
    for ref in refs:
        res_type, _, res_id = ref.partition("/")
        try:
            content = (await tx.read(res_type, res_id.split("/")[0])).content
        except (NotFound, Gone):
            continue
        if content is not None:
            out.append(content)
    return out


async def case_view(store: FhirStore, caller: Caller, task_id: str, *, base_url: str = "") -> dict[str, Any]:
    """The consult as one collection Bundle (see the module docstring)."""
    async with store.transaction() as tx:
        consult = await read_consult(tx, task_id)
        side = side_of(caller, consult)
        cited = [str(s.get("reference")) for s in consult.request.get("supportingInfo") or []]
        extra = [
            f"Patient/{consult.patient}",
            *cited,
            *consult.output("appointment"),
            *consult.output("conclusion"),
        ]
        resources = [
            consult.task,
            consult.request,
            *await _read_many(tx, extra),
            *await messages_of(tx, consult),
        ]
        await audit_step(
            tx, caller.principal, consult, "case", action="read", side=side, resources=len(resources)
        )
    base = base_url.rstrip("/")
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": fhir_time(now_utc()),
        "entry": [
            {**({"fullUrl": f"{base}/{r['resourceType']}/{r['id']}"} if base else {}), "resource": r}
            for r in resources
        ],
    }
