"""Merging and unmerging patient records with ``Patient.link``, and following the links.

Spec: https://hl7.org/fhir/R4/patient-definitions.html#Patient.link and the link types
https://hl7.org/fhir/R4/valueset-link-type.html: ``replaced-by`` (on the record that is no longer the
one to use), ``replaces`` (on the record that took its place), ``refer`` and ``seealso``. See also
https://hl7.org/fhir/R4/patient.html#links.

- :func:`link` merges ``duplicate`` into ``survivor``: the duplicate gets ``active = false`` and a
  ``replaced-by`` link to the survivor, the survivor a ``replaces`` link to the duplicate. Both
  updates are written in one store transaction, after locking both records in one order (two merges
  touching the same records queue instead of deadlocking). Nothing is moved: the duplicate's
  clinical resources keep pointing at it; readers follow the links (:func:`linked_ids`).
- :func:`unmerge` takes the two links away and makes the duplicate active again. Both are new
  versions: the store's history keeps the merged versions (who was merged with whom, and when).
- :func:`linked_ids` follows ``replaces`` / ``replaced-by`` / ``seealso`` links transitively, at most
  :data:`MAX_LINKED` records.

Each merge and unmerge hands an access event (action ``update``, both patients, the reviewer ``by``)
to the installed audit sink (:func:`senhealth.fhir.access.audit_sink`) inside the same transaction;
without a sink (tests of the core) nothing is recorded. Everything goes through the FHIR store's API.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.errors import SenHealthError
from senhealth.fhir.access import AccessEvent, audit_sink, current_principal
from senhealth.fhir.store import FhirStore, Gone, NotFound, Stored, StoreTx
from senhealth.fhir.store.read import read as read_in

__all__ = ["FOLLOWED", "MAX_LINKED", "LinkError", "link", "linked_ids", "unmerge"]

#: The link types :func:`linked_ids` follows (``refer`` points at a record to use instead: not the same file).
FOLLOWED: Final = frozenset({"replaces", "replaced-by", "seealso"})
#: The most records :func:`linked_ids` gathers (a bound on malformed or adversarial link graphs).
MAX_LINKED: Final = 100


class LinkError(SenHealthError):
    """A merge or unmerge that cannot be done as asked (HTTP ``status``: 400 or 409)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status
        self.code = "conflict" if status == 409 else "invalid"


class _Reader(Protocol):
    async def read(self, res_type: str, res_id: str) -> Stored: ...


def _ref(patient_id: str) -> str:
    return f"Patient/{patient_id}"


def _target(entry: Any) -> str | None:
    """The Patient id a ``Patient.link`` entry points at (local ``Patient/id`` references only)."""
    if not isinstance(entry, dict):
        return None
    other = entry.get("other")
    ref = other.get("reference") if isinstance(other, dict) else None
    if not isinstance(ref, str):
        return None
    ref = ref.split("/_history/")[0]
    parts = ref.split("/")
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return parts[-1]
    return None


def _links(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in content.get("link") or [] if isinstance(e, dict)]


def _has(content: dict[str, Any], link_type: str, other: str) -> bool:
    return any(e.get("type") == link_type and _target(e) == other for e in _links(content))


def _without(content: dict[str, Any], link_type: str, other: str) -> list[dict[str, Any]]:
    return [e for e in _links(content) if not (e.get("type") == link_type and _target(e) == other)]


def _replaced_by(content: dict[str, Any]) -> list[str]:
    return [t for e in _links(content) if e.get("type") == "replaced-by" and (t := _target(e))]


def _with_links(content: dict[str, Any], links: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(content)  # meta kept (tags, security labels): the store restamps the version
    if links:
        out["link"] = links
    else:
        out.pop("link", None)
    return out


async def _record(tx: StoreTx, what: str, survivor: Stored, duplicate: Stored, by: str) -> None:
    event = AccessEvent(
        when=datetime.now(UTC),
        principal=current_principal().get(),
        action="update",
        res_type="Patient",
        res_id=duplicate.res_id,
        query=f"mpi-{what}",
        patients=sorted({survivor.res_id, duplicate.res_id}),
        details={
            "mpi": what,
            "by": by,
            "survivor": f"{_ref(survivor.res_id)}/_history/{survivor.version}",
            "duplicate": f"{_ref(duplicate.res_id)}/_history/{duplicate.version}",
        },
    )
    await audit_sink().record(tx.conn, event)


async def _both(tx: StoreTx, survivor_id: str, duplicate_id: str) -> tuple[Stored, Stored]:
    if survivor_id == duplicate_id:
        raise LinkError(f"Patient/{survivor_id} cannot be merged with itself", 400)
    await tx.lock_existing([("Patient", survivor_id), ("Patient", duplicate_id)])
    survivor = await tx.read("Patient", survivor_id)  # NotFound / Gone
    duplicate = await tx.read("Patient", duplicate_id)
    assert survivor.content is not None and duplicate.content is not None
    return survivor, duplicate


async def link(store: FhirStore, survivor_id: str, duplicate_id: str, *, by: str) -> tuple[Stored, Stored]:
    """Merge ``duplicate_id`` into ``survivor_id``; returns the new ``(survivor, duplicate)`` versions.

    Idempotent: when the two are already merged this way nothing is written and the current versions
    are returned. Raises :class:`LinkError` when the duplicate was already replaced by another record,
    or the survivor was itself replaced (merge into the record that replaced it instead), and the
    store's :class:`~senhealth.fhir.store.NotFound` / :class:`~senhealth.fhir.store.Gone` when either
    record does not exist. ``by``: who decided the merge (recorded in the audit event).
    """
    if not by.strip():
        raise LinkError("A merge needs the user who decided it", 400)
    async with store.transaction() as tx:
        survivor, duplicate = await _both(tx, survivor_id, duplicate_id)
        s, d = survivor.content, duplicate.content
        assert s is not None and d is not None
        if _has(d, "replaced-by", survivor_id) and _has(s, "replaces", duplicate_id):
            return survivor, duplicate
        if others := [t for t in _replaced_by(d) if t != survivor_id]:
            raise LinkError(f"Patient/{duplicate_id} was already replaced by Patient/{others[0]}")
        if replaced := _replaced_by(s):
            raise LinkError(
                f"Patient/{survivor_id} was itself replaced by Patient/{replaced[0]}: merge into that record"
            )
        new_d = _with_links(
            d,
            [
                *_without(d, "replaced-by", survivor_id),
                {"other": {"reference": _ref(survivor_id)}, "type": "replaced-by"},
            ],
        )
        new_d["active"] = False
        new_s = _with_links(
            s,
            [
                *_without(s, "replaces", duplicate_id),
                {"other": {"reference": _ref(duplicate_id)}, "type": "replaces"},
            ],
        )
        stored_s, _ = await tx.update(new_s, if_match=survivor.version)
        stored_d, _ = await tx.update(new_d, if_match=duplicate.version)
        await _record(tx, "merge", stored_s, stored_d, by)
        return stored_s, stored_d


async def unmerge(
    store: FhirStore, survivor_id: str, duplicate_id: str, *, by: str = ""
) -> tuple[Stored, Stored]:
    """Undo :func:`link`: remove the ``replaces`` / ``replaced-by`` pair and make the duplicate active again.

    Both records get new versions (history keeps the merged ones); returns ``(survivor, duplicate)``.
    Raises :class:`LinkError` when the two are not merged this way. ``by``: who undid it (audit).
    """
    async with store.transaction() as tx:
        survivor, duplicate = await _both(tx, survivor_id, duplicate_id)
        s, d = survivor.content, duplicate.content
        assert s is not None and d is not None
        if not (_has(d, "replaced-by", survivor_id) or _has(s, "replaces", duplicate_id)):
            raise LinkError(f"Patient/{duplicate_id} is not merged into Patient/{survivor_id}")
        new_d = _with_links(d, _without(d, "replaced-by", survivor_id))
        new_d["active"] = True
        new_s = _with_links(s, _without(s, "replaces", duplicate_id))
        stored_s, _ = await tx.update(new_s, if_match=survivor.version)
        stored_d, _ = await tx.update(new_d, if_match=duplicate.version)
        await _record(tx, "unmerge", stored_s, stored_d, by)
        return stored_s, stored_d


class _OnConn:
    def __init__(self, conn: AsyncConnection[TupleRow]) -> None:
        self.conn = conn

    async def read(self, res_type: str, res_id: str) -> Stored:
        return await read_in(self.conn, res_type, res_id)


def _reader(source: FhirStore | StoreTx | AsyncConnection[TupleRow]) -> _Reader:
    if isinstance(source, FhirStore | StoreTx):
        return source
    return _OnConn(source)


async def linked_ids(
    source: FhirStore | StoreTx | AsyncConnection[TupleRow],
    patient_id: str,
    *,
    types: Iterable[str] = FOLLOWED,
    limit: int = MAX_LINKED,
) -> set[str]:
    """The ids of the Patients linked to ``patient_id``, directly or through others (not itself).

    Follows ``Patient.link`` entries of the ``types`` (default ``replaces``, ``replaced-by``,
    ``seealso``) in both records' directions as written, breadth first, stopping after ``limit``
    records. Links to records that are gone or unknown are not followed and not returned. ``source``:
    the store, a store transaction, or a connection (read through the store's reader).
    """
    reader = _reader(source)
    wanted = frozenset(types)
    seen = {patient_id}
    found: set[str] = set()
    queue = deque([patient_id])
    while queue and len(found) < limit:
        current = queue.popleft()
        try:
            stored = await reader.read("Patient", current)
        except (NotFound, Gone):
            continue
        if current != patient_id:
            found.add(current)
        for entry in _links(stored.content or {}):
            target = _target(entry)
            if entry.get("type") in wanted and target and target not in seen:
                seen.add(target)
                queue.append(target)
    return found
