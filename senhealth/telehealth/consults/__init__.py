"""Teleconsultation between facilities (hội chẩn từ xa) and store-and-forward consults (docs/telehealth-consults.md).

Spec: the workflow communication pattern "Task + request"
https://hl7.org/fhir/R4/workflow-communications.html#optionh; the rule that a consultation ends in a written,
signed conclusion stored in the record (../shared/reference/vietnam.md §5).

- :mod:`.model`: codes, the extension, :class:`Consult` (Task + ServiceRequest);
- :mod:`.access`: only the two facilities' clinicians, each in their part;
- :mod:`.workflow`: request, accept, decline, schedule (Schedule, Slot, booked Appointment for the video room);
- :mod:`.conclusion`: the conclusion as a Composition signed with ``$sign``, filed in both records;
- :mod:`.messages`: store-and-forward messages (Communication) and the case view;
- :mod:`.records`: reading a consult, auditing each step, attachment limits;
- :mod:`.topics`: the ``consult-task`` and ``consult-message`` subscription topics;
- :mod:`.operations`: ``ServiceRequest/$consult-request``, ``Task/$consult-*``;
- :mod:`.config`: ``SENHEALTH_TELEHEALTH_CONSULT_*``.
"""

from senhealth.telehealth.consults.access import Caller, caller_of
from senhealth.telehealth.consults.conclusion import Concluded, conclude, consultant_record
from senhealth.telehealth.consults.config import ConsultConfig, configure, get_config
from senhealth.telehealth.consults.messages import case_view, messages_of, post_message
from senhealth.telehealth.consults.model import Consult
from senhealth.telehealth.consults.operations import (
    OPERATION_NAMES,
    register_consult_operations,
    unregister_consult_operations,
)
from senhealth.telehealth.consults.topics import CONSULT_MESSAGE, CONSULT_TASK, CONSULT_TOPICS
from senhealth.telehealth.consults.workflow import ConsultRequest, accept, decline, request_consult, schedule

__all__ = [
    "CONSULT_MESSAGE",
    "CONSULT_TASK",
    "CONSULT_TOPICS",
    "OPERATION_NAMES",
    "Caller",
    "Concluded",
    "Consult",
    "ConsultConfig",
    "ConsultRequest",
    "accept",
    "caller_of",
    "case_view",
    "conclude",
    "configure",
    "consultant_record",
    "decline",
    "get_config",
    "messages_of",
    "post_message",
    "register_consult_operations",
    "request_consult",
    "schedule",
    "unregister_consult_operations",
]
