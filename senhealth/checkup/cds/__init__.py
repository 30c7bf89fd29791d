"""CDS Hooks 1.0 services of the check-up domain (https://cds-hooks.hl7.org/1.0/); see docs/cds-hooks.md.

- :mod:`.services`: the catalogue (discovery) and :func:`call_service`, the answer to one hook request;
- :mod:`.hook_request`: a request's fields checked (:class:`HookRequest`, :class:`CdsError`);
- :mod:`.prefetch`: prefetch templates filled in, and what the request did not carry fetched from the
  FHIR server with the request's ``fhirAuthorization`` (412 when it cannot be);
- :mod:`.cards`: cards, suggestions, links and the language they are written in;
- :mod:`.patient_view`: cardiovascular risk, overdue screening, uncontrolled blood pressure;
- :mod:`.drug_catalogue` and :mod:`.order_checks`: drug-drug interactions and duplicate therapy for the
  curated drug list in ``data/`` (``order-select``, ``order-sign``).

The HTTP routes are :func:`senhealth.api.cds_hooks.cds_hooks_router`: thin, all rules are here.
"""

from senhealth.checkup.cds.hook_request import CdsError, HookRequest, parse_hook_request
from senhealth.checkup.cds.prefetch import FhirFetch
from senhealth.checkup.cds.services import SERVICES, CdsService, call_service, discovery

__all__ = [
    "SERVICES",
    "CdsError",
    "CdsService",
    "FhirFetch",
    "HookRequest",
    "call_service",
    "discovery",
    "parse_hook_request",
]
