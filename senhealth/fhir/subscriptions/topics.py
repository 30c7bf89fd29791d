"""The subscription topics Sen Health ships, by canonical URL.

Spec: R5 SubscriptionTopic https://hl7.org/fhir/R5/subscriptiontopic.html, served for R4 as the
Subscriptions R5 Backport IG allows (https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html);
see :mod:`senhealth.fhir.subscriptions.topic`. Code systems: encounter classes from
http://terminology.hl7.org/CodeSystem/v3-ActCode (https://terminology.hl7.org/ValueSet-v3-ActEncounterCode.html),
the consultation category from SNOMED CT (``11429006`` |Consultation (procedure)|).

=============================  ================================================================================
topic                          fires when
=============================  ================================================================================
``patient-admitted``           an Encounter of an inpatient class (``IMP``, ``ACUTE``, ``NONAC``) is created
                               ``in-progress``, or its status changes to ``in-progress``
``encounter-finished``         an Encounter (any class) is created ``finished``, or its status changes to
                               ``finished``
``consult-requested``          a ServiceRequest with category SNOMED CT ``11429006`` (consultation; the
                               platform's teleconsultation requests) is created ``active`` or becomes ``active``
``consult-completed``          such a ServiceRequest is created ``completed`` or becomes ``completed``
``alert-raised``               a Flag is created ``active`` or becomes ``active``; a DetectedIssue is created
                               (any status but ``entered-in-error``)
=============================  ================================================================================

Teleconsultation is not modelled elsewhere in the platform yet: the ``telehealth`` domain is expected to
write a consult request as a ServiceRequest with that category (``requester``: the asking facility or
practitioner, ``performer``: the consulted one) and to complete it by setting its status to ``completed``.
Alerts follow DESIGN.md ("alerts as Flag / DetectedIssue"): surveillance and clinical alerts raise a Flag,
decision-support findings a DetectedIssue.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from senhealth.fhir.subscriptions.topic import (
    FilterParameter,
    NotificationShape,
    QueryCriteria,
    ResourceTrigger,
    SubscriptionTopic,
)

__all__ = [
    "ALERT_RAISED",
    "BASE",
    "CONSULT_CODE",
    "CONSULT_COMPLETED",
    "CONSULT_REQUESTED",
    "CONSULT_SYSTEM",
    "ENCOUNTER_FINISHED",
    "INPATIENT_CLASSES",
    "PATIENT_ADMITTED",
    "TOPICS",
    "all_topics",
    "register_topics",
    "topic_by_id",
    "topic_by_url",
    "topic_types",
]

#: The base of the shipped topics' canonical URLs.
BASE: Final = "https://senhealth.vn/fhir/SubscriptionTopic/"
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#: Encounter classes that mean a hospital admission.
INPATIENT_CLASSES: Final = ("IMP", "ACUTE", "NONAC")
CONSULT_SYSTEM: Final = "http://snomed.info/sct"
CONSULT_CODE: Final = "11429006"
_DATE: Final = "2026-01-01"
_CREATE_UPDATE: Final = frozenset({"create", "update"})


def _became(element: str, value: str) -> str:
    return f"(%previous.empty() or %previous.{element} != '{value}') and %current.{element} = '{value}'"


def _encounter_filters() -> tuple[FilterParameter, ...]:
    return (
        FilterParameter(
            "patient", "Encounter", "subject", "reference", "Bệnh nhân / the patient (Encounter.subject)"
        ),
        FilterParameter(
            "class", "Encounter", "class", "token", "Loại lượt khám / encounter class (v3-ActCode)"
        ),
        FilterParameter(
            "facility",
            "Encounter",
            "serviceProvider",
            "reference",
            "Cơ sở / facility (Encounter.serviceProvider)",
        ),
        FilterParameter("location", "Encounter", "location.location", "reference", "Khoa, phòng / location"),
    )


_INPATIENT = " | ".join(f"'{c}'" for c in INPATIENT_CLASSES)

PATIENT_ADMITTED: Final = SubscriptionTopic(
    id="patient-admitted",
    url=BASE + "patient-admitted",
    name="PatientAdmitted",
    title="Nhập viện / Patient admitted",
    description=(
        "Một lượt điều trị nội trú bắt đầu / an inpatient encounter starts: an Encounter whose class is "
        f"{', '.join(INPATIENT_CLASSES)} ({ACT_CODE}) is created with status in-progress, or its status "
        "changes to in-progress."
    ),
    date=_DATE,
    triggers=(
        ResourceTrigger(
            resource="Encounter",
            interactions=_CREATE_UPDATE,
            fhirpath=_became("status", "in-progress")
            + f" and %current.class.where(system = '{ACT_CODE}' and code in ({_INPATIENT})).exists()",
            description="An inpatient Encounter is created in-progress, or becomes in-progress.",
            query=QueryCriteria(
                previous="status:not=in-progress",
                current="status=in-progress&class=" + ",".join(f"{ACT_CODE}|{c}" for c in INPATIENT_CLASSES),
            ),
        ),
    ),
    filters=_encounter_filters(),
    shapes=(
        NotificationShape(
            "Encounter", include=("Encounter:patient", "Encounter:service-provider", "Encounter:location")
        ),
    ),
)

ENCOUNTER_FINISHED: Final = SubscriptionTopic(
    id="encounter-finished",
    url=BASE + "encounter-finished",
    name="EncounterFinished",
    title="Kết thúc lượt khám / Encounter finished",
    description=(
        "Một lượt khám, điều trị kết thúc / an encounter ends: an Encounter (any class) is created with "
        "status finished, or its status changes to finished."
    ),
    date=_DATE,
    triggers=(
        ResourceTrigger(
            resource="Encounter",
            interactions=_CREATE_UPDATE,
            fhirpath=_became("status", "finished"),
            description="An Encounter is created finished, or becomes finished.",
            query=QueryCriteria(previous="status:not=finished", current="status=finished"),
        ),
    ),
    filters=_encounter_filters(),
    shapes=(NotificationShape("Encounter", include=("Encounter:patient", "Encounter:service-provider")),),
)


def _consult_filters() -> tuple[FilterParameter, ...]:
    return (
        FilterParameter("patient", "ServiceRequest", "subject", "reference", "Bệnh nhân / the patient"),
        FilterParameter(
            "requester",
            "ServiceRequest",
            "requester",
            "reference",
            "Nơi, người yêu cầu / who asks for the consult",
        ),
        FilterParameter(
            "performer", "ServiceRequest", "performer", "reference", "Nơi, người được mời / who is consulted"
        ),
        FilterParameter("code", "ServiceRequest", "code", "token", "Loại hội chẩn / what is asked"),
        FilterParameter("encounter", "ServiceRequest", "encounter", "reference", "Lượt khám / the encounter"),
    )


_CONSULT = f"%current.category.coding.where(system = '{CONSULT_SYSTEM}' and code = '{CONSULT_CODE}').exists()"


def _consult(topic_id: str, name: str, title: str, status: str, what: str) -> SubscriptionTopic:
    return SubscriptionTopic(
        id=topic_id,
        url=BASE + topic_id,
        name=name,
        title=title,
        description=(
            f"{what}: a ServiceRequest with category {CONSULT_SYSTEM}|{CONSULT_CODE} (consultation) is "
            f"created with status {status}, or its status changes to {status}."
        ),
        date=_DATE,
        triggers=(
            ResourceTrigger(
                resource="ServiceRequest",
                interactions=_CREATE_UPDATE,
                fhirpath=f"{_CONSULT} and {_became('status', status)}",
                description=f"A consultation ServiceRequest is created {status}, or becomes {status}.",
                query=QueryCriteria(
                    previous=f"status:not={status}",
                    current=f"status={status}&category={CONSULT_SYSTEM}|{CONSULT_CODE}",
                ),
            ),
        ),
        filters=_consult_filters(),
        shapes=(
            NotificationShape(
                "ServiceRequest",
                include=("ServiceRequest:patient", "ServiceRequest:requester", "ServiceRequest:performer"),
            ),
        ),
    )


CONSULT_REQUESTED: Final = _consult(
    "consult-requested",
    "ConsultRequested",
    "Yêu cầu hội chẩn / Consult requested",
    "active",
    "Có yêu cầu hội chẩn từ xa / a (tele)consultation is requested",
)
CONSULT_COMPLETED: Final = _consult(
    "consult-completed",
    "ConsultCompleted",
    "Hội chẩn xong / Consult completed",
    "completed",
    "Hội chẩn đã xong / a (tele)consultation is completed",
)

ALERT_RAISED: Final = SubscriptionTopic(
    id="alert-raised",
    url=BASE + "alert-raised",
    name="AlertRaised",
    title="Cảnh báo / Alert raised",
    description=(
        "Có cảnh báo mới / an alert is raised: a Flag is created active or becomes active (surveillance and "
        "clinical alerts), or a DetectedIssue is created (decision-support findings), unless entered in error."
    ),
    date=_DATE,
    triggers=(
        ResourceTrigger(
            resource="Flag",
            interactions=_CREATE_UPDATE,
            fhirpath=_became("status", "active"),
            description="A Flag is created active, or becomes active.",
        ),
        ResourceTrigger(
            resource="DetectedIssue",
            interactions=frozenset({"create"}),
            fhirpath="%previous.empty() and %current.status != 'entered-in-error'",
            description="A DetectedIssue is created (not entered-in-error).",
        ),
    ),
    filters=(
        FilterParameter("patient", "Flag", "subject", "reference", "Bệnh nhân / the patient (Flag.subject)"),
        FilterParameter("category", "Flag", "category", "token", "Nhóm cảnh báo / Flag.category"),
        FilterParameter("author", "Flag", "author", "reference", "Người, hệ thống cảnh báo / Flag.author"),
        FilterParameter("encounter", "Flag", "encounter", "reference", "Lượt khám / Flag.encounter"),
        FilterParameter(
            "patient",
            "DetectedIssue",
            "patient",
            "reference",
            "Bệnh nhân / the patient (DetectedIssue.patient)",
        ),
        FilterParameter("code", "DetectedIssue", "code", "token", "Loại vấn đề / DetectedIssue.code"),
        FilterParameter(
            "author", "DetectedIssue", "author", "reference", "Người, hệ thống / DetectedIssue.author"
        ),
    ),
    shapes=(
        NotificationShape("Flag", include=("Flag:patient", "Flag:encounter")),
        NotificationShape("DetectedIssue", include=("DetectedIssue:patient",)),
    ),
)

#: Every shipped topic.
TOPICS: Final[tuple[SubscriptionTopic, ...]] = (
    PATIENT_ADMITTED,
    ENCOUNTER_FINISHED,
    CONSULT_REQUESTED,
    CONSULT_COMPLETED,
    ALERT_RAISED,
)
_BY_URL: Final = {t.url: t for t in TOPICS}
_BY_ID: Final = {t.id: t for t in TOPICS}
_REGISTERED: Final[list[SubscriptionTopic]] = []


def register_topics(extra: Iterable[SubscriptionTopic]) -> None:
    """Add a domain's topics (e.g. the consults' ``consult-task``) at start-up, before the subscriptions' write
    hook is installed (it listens on :func:`topic_types`). Registering the same object again does nothing; another
    topic with a URL or id already taken is refused."""
    for topic in extra:
        known = _BY_URL.get(topic.url)
        if known is topic:
            continue
        if known is not None or topic.id in _BY_ID:
            raise ValueError(f"topic {topic.url} ({topic.id}) is already registered")
        _REGISTERED.append(topic)
        _BY_URL[topic.url] = topic
        _BY_ID[topic.id] = topic


def all_topics() -> tuple[SubscriptionTopic, ...]:
    """The shipped topics and those registered by the platform's domains, in that order."""
    return (*TOPICS, *_REGISTERED)


def topic_by_url(url: str) -> SubscriptionTopic | None:
    """The shipped topic whose canonical is ``url`` (a ``|version`` suffix is ignored)."""
    return _BY_URL.get(url.split("|", 1)[0])


def topic_by_id(topic_id: str) -> SubscriptionTopic | None:
    return _BY_ID.get(topic_id)


def topic_types() -> frozenset[str]:
    """The resource types some topic triggers on."""
    return frozenset(t for topic in all_topics() for t in topic.resource_types)
