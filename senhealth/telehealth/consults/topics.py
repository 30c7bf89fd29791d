"""Subscription topics of the teleconsultations: a consult Task changes, a consult message arrives.

Spec: R5 SubscriptionTopic https://hl7.org/fhir/R5/subscriptiontopic.html as the platform serves it for R4
(:mod:`senhealth.fhir.subscriptions.topic`, docs/subscriptions.md). The shipped ``consult-requested`` and
``consult-completed`` topics follow the ServiceRequest; these two follow the rest of the workflow:

=============================  ===================================================================================
topic                          fires when
=============================  ===================================================================================
``consult-task``               a consult Task (``Task.code`` telehealth-consult ``consult``) is created, or its
                               status changes (accepted, rejected, in-progress, completed, cancelled)
``consult-message``            a consult message (Communication, category ``telehealth-consult-message``) is
                               created
=============================  ===================================================================================

Filters: ``consult-task`` by ``patient`` (``Task.for``), ``owner`` (the consulted facility, then the
specialist), ``requester`` (the requesting practitioner), ``focus`` (the ServiceRequest);
``consult-message`` by ``patient``, ``recipient``, ``sender`` and ``part-of`` (the Task).

The topic registry of the FHIR core ships a fixed list; :data:`CONSULT_TOPICS` is handed to it at start-up
(docs/telehealth-consults.md, "Wiring").
"""

from __future__ import annotations

from typing import Final

from senhealth.fhir.subscriptions.topic import (
    FilterParameter,
    NotificationShape,
    QueryCriteria,
    ResourceTrigger,
    SubscriptionTopic,
)
from senhealth.telehealth.consults.model import (
    CONSULT_TASK_CODE,
    CONSULT_TASK_SYSTEM,
    MESSAGE_CATEGORY,
    MESSAGE_CATEGORY_SYSTEM,
)

__all__ = ["CONSULT_MESSAGE", "CONSULT_TASK", "CONSULT_TOPICS"]

_BASE: Final = "https://senhealth.vn/fhir/SubscriptionTopic/"
_DATE: Final = "2026-01-01"

CONSULT_TASK: Final = SubscriptionTopic(
    id="consult-task",
    url=_BASE + "consult-task",
    name="ConsultTaskChanged",
    title="Hội chẩn đổi trạng thái / Consult task changed",
    description=(
        "Một yêu cầu hội chẩn từ xa được tạo hoặc đổi trạng thái / a teleconsultation Task "
        f"(code {CONSULT_TASK_SYSTEM}|{CONSULT_TASK_CODE}) is created, or its status changes."
    ),
    date=_DATE,
    triggers=(
        ResourceTrigger(
            resource="Task",
            interactions=frozenset({"create", "update"}),
            fhirpath=(
                f"%current.code.coding.where(system = '{CONSULT_TASK_SYSTEM}' and code = '{CONSULT_TASK_CODE}')"
                ".exists() and (%previous.empty() or %previous.status != %current.status)"
            ),
            description="A consult Task is created, or its status changes.",
            query=QueryCriteria(
                current=f"code={CONSULT_TASK_SYSTEM}|{CONSULT_TASK_CODE}", require_both=False
            ),
        ),
    ),
    filters=(
        FilterParameter("patient", "Task", "for", "reference", "Bệnh nhân / the patient (Task.for)"),
        FilterParameter(
            "owner", "Task", "owner", "reference", "Cơ sở, bác sĩ được mời / the consulted (Task.owner)"
        ),
        FilterParameter(
            "requester", "Task", "requester", "reference", "Người yêu cầu / the requester (Task.requester)"
        ),
        FilterParameter("focus", "Task", "focus", "reference", "Yêu cầu hội chẩn / the ServiceRequest"),
    ),
    shapes=(NotificationShape("Task", include=("Task:focus", "Task:patient", "Task:owner")),),
)

CONSULT_MESSAGE: Final = SubscriptionTopic(
    id="consult-message",
    url=_BASE + "consult-message",
    name="ConsultMessage",
    title="Tin nhắn hội chẩn / Consult message",
    description=(
        "Có tin nhắn mới trong một hội chẩn từ xa / a new message on a teleconsultation: a Communication with "
        f"category {MESSAGE_CATEGORY_SYSTEM}|{MESSAGE_CATEGORY} is created."
    ),
    date=_DATE,
    triggers=(
        ResourceTrigger(
            resource="Communication",
            interactions=frozenset({"create"}),
            fhirpath=(
                "%previous.empty() and %current.category.coding.where("
                f"system = '{MESSAGE_CATEGORY_SYSTEM}' and code = '{MESSAGE_CATEGORY}').exists()"
            ),
            description="A consult message is created.",
            query=QueryCriteria(
                current=f"category={MESSAGE_CATEGORY_SYSTEM}|{MESSAGE_CATEGORY}", require_both=False
            ),
        ),
    ),
    filters=(
        FilterParameter("patient", "Communication", "subject", "reference", "Bệnh nhân / the patient"),
        FilterParameter("recipient", "Communication", "recipient", "reference", "Người nhận / the recipient"),
        FilterParameter("sender", "Communication", "sender", "reference", "Người gửi / the sender"),
        FilterParameter("part-of", "Communication", "partOf", "reference", "Hội chẩn / the consult Task"),
    ),
    shapes=(NotificationShape("Communication", include=("Communication:part-of", "Communication:sender")),),
)

#: The consult topics, for the platform's topic registry.
CONSULT_TOPICS: Final[tuple[SubscriptionTopic, ...]] = (CONSULT_TASK, CONSULT_MESSAGE)
