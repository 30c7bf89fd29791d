"""``Patient/[id]/$everything`` over every record linked to one person: the lifelong record.

Spec: https://hl7.org/fhir/R4/patient-operation-everything.html and the links between records of one
person, https://hl7.org/fhir/R4/patient.html#links (``replaces`` / ``replaced-by`` / ``seealso``,
followed by :func:`senhealth.mpi.link.linked_ids`). "If the patient has been merged with other patient
records, the server SHOULD return the resources of all the linked records" (the operation's notes).

The FHIR core's operation (:mod:`senhealth.fhir.operations.patient_everything`) pages through one
patient's compartment; this handler, installed in its place through the core's hook
(``set_everything_handler``) by :func:`senhealth.mpi.operations.register_mpi_operations`, pages through the compartments of the
requested patient and then of each linked record (in id order), with the core's own pieces, so
``_count``, ``_since``, ``_type`` and the ``next`` links work across them:

- **which linked records**: those the caller may see under the access policy (the restriction of the
  ``operation`` action, tested on each linked Patient as a read of it would be), and, of the others,
  those the injected sharing decision ``may_share`` allows (the consent module: whether the patient
  allows their records at another facility to be shared with the caller). ``may_share(conn, ids)``
  gets the linked ids the policy hides and returns those that may be shared anyway; ``None`` (the
  default) shares them all. A caller without restriction sees every linked record, and ``may_share``
  is not asked. The requested patient itself was already checked by the REST layer, as for every
  operation;
- **each resource once**: a resource in the compartments of two of the records (the linked Patient
  resources themselves are: ``Patient.link`` puts a Patient in the other's compartment) is returned
  on the first record's pass only; includes are de-duplicated within a page (as in the core, a
  resource referred to from two pages is included on both);
- **the policy on each resource**: with a restricted caller the searches run under the caller's
  restriction widened by the records chosen above, so matches and includes belonging to other
  patients (a hidden linked Patient in the requested one's compartment, say) are left out;
- **paging**: the ``_cursor`` names the record being paged and the core search's own keyset cursor
  within it; a page may end part-way through one record and continue with the next. ``total`` is
  given when the first page holds everything;
- **audit**: the linked patients whose records were read are handed to the audit sink as one
  ``operation`` event (the REST layer records the requested patient), with those released only by
  ``may_share`` listed under ``details["shared"]``.

Without linked records the core's operation runs unchanged.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Final

import orjson
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.db import transaction
from senhealth.fhir.access import AccessEvent, Restriction, access_policy, audit_sink, current_principal
from senhealth.fhir.operations.patient_everything import (
    EverythingQuery,
    compartment_page,
    everything_bundle,
    everything_query,
    page_entries,
    run_everything,
)
from senhealth.fhir.operations.registry import Handler, OperationCall, OperationError, OperationResult
from senhealth.fhir.search.execute import Row, SearchResult, search, visible_pkeys
from senhealth.fhir.search.request import MAX_COUNT, parse_search
from senhealth.mpi.link import linked_ids

__all__ = ["CURSOR_PREFIX", "MayShare", "linked_everything"]

#: ``may_share(conn, linked_patient_ids) -> the ids whose records may be shared with the caller``
#: (the caller: :func:`senhealth.fhir.access.current_principal`).
MayShare = Callable[[AsyncConnection[TupleRow], Sequence[str]], Awaitable[set[str]]]
#: Marks this operation's cursors (the core's never start with it).
CURSOR_PREFIX: Final = "L."


def _encode(patient_id: str, inner: str | None) -> str:
    raw = orjson.dumps([patient_id, inner or ""])
    return CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, records: Sequence[str]) -> tuple[int, str | None]:
    bad = OperationError(
        400,
        "_cursor is not a cursor of this $everything: start again from the first page",
        expression="_cursor",
    )
    if not cursor.startswith(CURSOR_PREFIX):
        raise bad
    body = cursor[len(CURSOR_PREFIX) :]
    try:
        value = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise bad
    patient_id, inner = value
    if patient_id not in records:
        raise OperationError(
            400,
            "the records linked to this patient changed since the previous page: start again",
            expression="_cursor",
        )
    return records.index(patient_id), inner or None


async def _choose(
    call: OperationCall, linked: set[str], may_share: MayShare | None
) -> tuple[list[str], set[str], Restriction | None]:
    """The linked records to include (id order), those only ``may_share`` released, the restriction."""
    restriction = access_policy().restriction(current_principal().get(), "operation")
    if restriction is None:
        return sorted(linked), set(), None
    async with transaction(call.store.pool) as conn:
        # a Patient's partition key is its own id: the policy's test of a read of that Patient
        visible = await visible_pkeys(conn, restriction, sorted(linked), await call.store.param_ids())
        hidden = sorted(linked - visible)
        shared: set[str] = set()
        if hidden:
            shared = set(hidden) if may_share is None else set(await may_share(conn, hidden)) & set(hidden)
    return sorted((linked & visible) | shared), shared, restriction


async def _in_earlier(call: OperationCall, rows: list[Row], earlier: Sequence[str]) -> set[tuple[str, str]]:
    """Which of ``rows`` also lie in the compartment of one of the ``earlier`` records."""
    if not rows or not earlier:
        return set()
    types = sorted({r.res_type for r in rows})
    ids = sorted({r.res_id for r in rows})
    count = min(MAX_COUNT, len(ids) * len(types))
    criteria = [("_type", ",".join(types)), ("_id", ",".join(ids)), ("_count", str(count))]
    request = parse_search(None, criteria, strict=True, base_urls=call.store.base_urls)
    param_ids = await call.store.param_ids()
    wanted = {(r.res_type, r.res_id) for r in rows}
    found: set[tuple[str, str]] = set()
    async with transaction(call.store.pool) as conn:
        for other in earlier:
            result = await search(conn, request, param_ids, compartment=("Patient", other))
            found |= {(m.res_type, m.res_id) for m in result.matches} & wanted
    return found


async def _audit(call: OperationCall, patient_id: str, records: Sequence[str], shared: set[str]) -> None:
    event = AccessEvent(
        when=datetime.now(UTC),
        principal=current_principal().get(),
        action="operation",
        res_type="Patient",
        res_id=patient_id,
        query="$everything",
        patients=sorted(records),
        details={"operation": "everything", "linked": sorted(records), "shared": sorted(shared)},
    )
    async with transaction(call.store.pool) as conn:
        await audit_sink().record(conn, event)


async def _page(
    call: OperationCall, query: EverythingQuery, records: list[str], restriction: Restriction | None
) -> tuple[SearchResult, str | None, bool]:
    """One page across ``records``: the rows, the next cursor, whether this page holds everything."""
    start, inner = _decode(query.cursor, records) if query.cursor else (0, None)
    complete = query.cursor is None
    matches: list[Row] = []
    included: list[Row] = []
    remaining = query.count
    next_cursor: str | None = None
    i = start
    while i < len(records):
        result = await compartment_page(
            call, query, records[i], count=remaining, cursor=inner, restriction=restriction
        )
        remaining -= len(result.matches)
        twice = await _in_earlier(call, result.matches, records[:i]) if i else set()
        matches += [r for r in result.matches if (r.res_type, r.res_id) not in twice]
        included += result.included
        if result.next_cursor:
            next_cursor = _encode(records[i], result.next_cursor)
            break
        i, inner = i + 1, None
        if remaining <= 0 and i < len(records):
            next_cursor = _encode(records[i], None)
            break
    keys = {(r.res_type, r.res_id) for r in matches}
    unique: list[Row] = []
    for row in included:
        if (row.res_type, row.res_id) not in keys:
            keys.add((row.res_type, row.res_id))
            unique.append(row)
    return SearchResult(matches, unique), next_cursor, complete and next_cursor is None


def linked_everything(may_share: MayShare | None = None) -> Handler:
    """The ``$everything`` handler over linked records, with the sharing decision ``may_share``."""

    async def run(call: OperationCall) -> OperationResult:
        assert call.resource_id is not None
        patient_id = call.resource_id
        await call.store.read("Patient", patient_id)  # 404 unknown, 410 deleted
        linked = await linked_ids(call.store, patient_id)
        if not linked:
            return await run_everything(call)
        query = everything_query(call)
        chosen, shared, restriction = await _choose(call, linked, may_share)
        records = [patient_id, *chosen]
        if restriction is not None:
            widened = restriction.patients | frozenset(records)
            restriction = dataclasses.replace(restriction, patients=widened)
        if query.count == 0:  # only the total: the sum over the records
            totals = [
                (await compartment_page(call, query, r, restriction=restriction)).total for r in records
            ]
            bundle = everything_bundle(call, patient_id, query, [], None, sum(t or 0 for t in totals))
            return OperationResult(bundle)
        result, next_cursor, complete = await _page(call, query, records, restriction)
        if chosen:
            await _audit(call, patient_id, chosen, shared)
        entries = page_entries(call.base_url, result, query.types)
        total = len(result.matches) if complete else None
        return OperationResult(everything_bundle(call, patient_id, query, entries, next_cursor, total))

    return run
