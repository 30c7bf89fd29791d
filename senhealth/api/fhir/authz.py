"""Asking the access policy before each interaction (DESIGN.md §2; the policy: :mod:`senhealth.security.policy`).

Spec: https://hl7.org/fhir/R4/security.html ("a server SHOULD NOT reveal that a resource exists when the
user may not see it": a read outside the caller's reach answers 404 exactly like an unknown resource),
RFC 9110 §15.5.4 (403 for an interaction the caller may not perform at all).

- :func:`authorize` runs the type-level check (403 when refused) and returns the restriction to apply
  (``None``: none), or raises before anything is read;
- :func:`can_see` says whether one stored resource (by its patient key) is within a restriction: no
  query for the cases a key settles (no patient, the caller's own patients), one small query for a care
  relationship;
- :func:`hide` raises the 404 a denied read answers with.

With the open policy (the FHIR core on its own) all of this is a couple of attribute look-ups.
"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.api.fhir.errors import FhirError
from senhealth.fhir.access import OPEN, Action, Restriction, access_policy, current_principal
from senhealth.fhir.deidentify import identifying_params
from senhealth.fhir.search.execute import visible_pkeys
from senhealth.fhir.store import FhirStore, NotFound

__all__ = ["authorize", "can_see", "check_search_params", "hide", "restricted"]


def restricted() -> bool:
    """Whether a policy is installed and the caller is restricted at all (cheap)."""
    return access_policy() is not OPEN


def authorize(action: Action, res_type: str | None) -> Restriction | None:
    """403 unless the caller may perform ``action`` on ``res_type``; the restriction of its data."""
    policy = access_policy()
    if policy is OPEN:
        return None
    principal = current_principal().get()
    if not policy.check(principal, action, res_type):
        what = res_type or "the whole server"
        raise FhirError(
            403,
            f"Your role may not {action} {what}. Ask your facility administrator if you need this access",
            code="forbidden",
        )
    return policy.restriction(principal, action)


async def can_see(
    store: FhirStore,
    restriction: Restriction | None,
    pkey: str,
    conn: AsyncConnection[TupleRow] | None = None,
) -> bool:
    """Whether a resource whose patient key is ``pkey`` is within ``restriction``."""
    if restriction is None or not pkey or pkey in restriction.patients:
        return True
    if not restriction.facilities and not restriction.conditions and not restriction.consented:
        return False
    ids = await store.param_ids()
    if conn is not None:
        return pkey in await visible_pkeys(conn, restriction, [pkey], ids)
    async with store.pool.connection() as own:
        return pkey in await visible_pkeys(own, restriction, [pkey], ids)


def hide(res_type: str, res_id: str) -> NotFound:
    """The answer to a read the caller may not see: the very error of an unknown resource."""
    return NotFound(f"{res_type}/{res_id} is not known", expression=None)


def check_search_params(restriction: Restriction | None, names: list[str]) -> None:
    """403 when a de-identified caller searches by what identifies people (name, identifier...)."""
    if restriction is None or not restriction.deidentified:
        return
    found = identifying_params(names)
    if found:
        raise FhirError(
            403,
            f"De-identified access cannot search by {', '.join(sorted(set(found)))}: "
            "search by codes, dates of care, places (district, province) instead",
            code="forbidden",
            expression=found[0],
        )
