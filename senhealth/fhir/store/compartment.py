"""Patient-compartment membership of a resource, and its partition key ``pkey``.

Spec: https://hl7.org/fhir/R4/compartmentdefinition-patient.html and
https://hl7.org/fhir/R4/compartmentdefinition.html (a resource is in patient X's compartment when one of
the listed search parameters of its type references X; a Patient is in its own).

Keys (docs/storage.md "Keys"):

- ``compartments``: every patient id the resource belongs to, in the order found: for a Patient its own id
  first, then the patients its ``link`` parameter references; for other types, the patients referenced by
  the compartment's parameters, in the order the definition lists them;
- ``pkey``: the first of those, or ``''`` for a resource in no patient compartment (Organization,
  Practitioner, terminology...): the partition (and, with Citus, distribution) key.

Only local references count (``Patient/123``, or an absolute URL under one of the server's own bases):
the search index gives them with ``target_type == "Patient"`` and no ``url``.
"""

from __future__ import annotations

from functools import cache

from senhealth.fhir.model.search_parameters import patient_compartment
from senhealth.fhir.search.index import SearchIndex

__all__ = ["compartment_keys", "compartment_params"]


@cache
def compartment_params(res_type: str) -> tuple[str, ...]:
    """The search parameters that put a resource of ``res_type`` in a patient's compartment."""
    return patient_compartment().get(res_type, ())


def compartment_keys(res_type: str, res_id: str, index: SearchIndex) -> tuple[str, list[str]]:
    """``(pkey, compartments)`` of a resource from its search index."""
    found: list[str] = [res_id] if res_type == "Patient" else []
    refs = index.reference
    if refs:
        for code in compartment_params(res_type):
            for value in refs.get(code, ()):
                pid = value.target_id
                if value.target_type == "Patient" and pid and value.url is None and pid not in found:
                    found.append(pid)
    return (found[0] if found else ""), found
