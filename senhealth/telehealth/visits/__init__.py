"""Remote visits for patients (issue 9, item 2; docs/telehealth-visits.md).

- :mod:`.conditions`: the conditions of Circular 30/2023/TT-BYT that may be treated remotely (data, sources);
- :mod:`.config`: settings (``SENHEALTH_TELEHEALTH_VISITS_*``: outside the list, warn or block);
- :mod:`.booking`: :func:`book_remote_visit` (a free telehealth Slot → a booked Appointment);
- :mod:`.encounter`: :func:`start_remote_visit`, :func:`finish_remote_visit` (the Encounter, class VR);
- :mod:`.prescription`: :func:`prescribe_after_visit` (MedicationRequests, prescription, e-prescription);
- :mod:`.operations`: :func:`register_visit_operations`.
"""

from senhealth.telehealth.visits.booking import Booking, book_remote_visit
from senhealth.telehealth.visits.conditions import RemoteCondition, condition_list, match_condition
from senhealth.telehealth.visits.config import VisitConfig, configure, get_config
from senhealth.telehealth.visits.encounter import Finished, finish_remote_visit, start_remote_visit
from senhealth.telehealth.visits.model import VisitError
from senhealth.telehealth.visits.operations import register_visit_operations, unregister_visit_operations
from senhealth.telehealth.visits.prescription import Drug, Prescribed, prescribe_after_visit

__all__ = [
    "Booking",
    "Drug",
    "Finished",
    "Prescribed",
    "RemoteCondition",
    "VisitConfig",
    "VisitError",
    "book_remote_visit",
    "condition_list",
    "configure",
    "finish_remote_visit",
    "get_config",
    "match_condition",
    "prescribe_after_visit",
    "register_visit_operations",
    "start_remote_visit",
    "unregister_visit_operations",
]
