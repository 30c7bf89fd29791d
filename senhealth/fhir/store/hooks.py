"""Write hooks: listeners the store calls for every write, inside the writer's transaction.

Spec: https://hl7.org/fhir/R4/http.html (the interactions that write: create, update, patch, delete,
their conditional forms, and the entries of batch / transaction Bundles), and the Subscriptions R5
Backport IG's resource triggers (create / update / delete, with the previous and current state of the
resource: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html).

DESIGN.md §2 names write hooks among the interfaces through which the FHIR core calls upward;
``senhealth.core.db.on_commit`` runs code *after* a commit, when a failure can no longer undo the write.
A write hook runs *before* the commit, on the writer's connection: what it writes (an event row, a
queued job, a NOTIFY) commits with the resource or not at all, so no event is lost and none is invented.

Usage::

    async def hook(tx: StoreTx, writes: Sequence[Write]) -> None:
        for w in writes:
            ...  # w.interaction, w.res_type, w.res_id, w.content, w.previous, w.version, w.pkey
    register_write_hook(hook, types={"Encounter", "Subscription"})   # None: every resource type

Every write path of :class:`~senhealth.fhir.store.StoreTx` calls :func:`run` once per call with what it
wrote: a create, an update (``PATCH`` too; an update over a deleted resource is a ``create``), a delete,
and :meth:`~senhealth.fhir.store.StoreTx.write_many` (a transaction Bundle of plain creates and updates)
once with all its writes. An update that changes nothing makes no version and calls no hook. A hook that
raises aborts the write (the REST layer answers with the error's ``status``). The bulk loader
(:meth:`~senhealth.fhir.store.FhirStore.load`) does not call hooks.

Cost with no hook registered: one set lookup per write (:func:`wants`); the previous content of an
update is parsed only when a hook wants that type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from senhealth.fhir.store.write import content_from_text

if TYPE_CHECKING:
    from senhealth.fhir.store.load import Written
    from senhealth.fhir.store.model import Stored
    from senhealth.fhir.store.store import FhirStore, StoreTx

__all__ = [
    "Interaction",
    "Write",
    "WriteHook",
    "after_bulk_write",
    "after_write",
    "previous_contents",
    "register_write_hook",
    "registered_hooks",
    "run",
    "unregister_write_hook",
    "wants",
]

Interaction = Literal["create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Write:
    """One committed-to-be version: ``content`` is None for a delete, ``previous`` None for a create."""

    interaction: Interaction
    res_type: str
    res_id: str
    version: int
    content: dict[str, Any] | None
    previous: dict[str, Any] | None
    pkey: str = ""  # the patient compartment key ("" outside every patient's compartment)
    method: str = ""  # the HTTP method that caused it: POST, PUT, PATCH, DELETE


WriteHook = Callable[["StoreTx", Sequence[Write]], Awaitable[None]]

_hooks: list[tuple[WriteHook, frozenset[str] | None]] = []
_any_type = False
_types: frozenset[str] = frozenset()
_EMPTY: Final[tuple[Write, ...]] = ()


def _recompute() -> None:
    global _any_type, _types
    _any_type = any(t is None for _, t in _hooks)
    _types = frozenset(x for _, t in _hooks if t is not None for x in t)


def register_write_hook(fn: WriteHook, *, types: Iterable[str] | None = None) -> None:
    """Call ``fn(tx, writes)`` for writes of ``types`` (None: of every type); registering twice is a no-op."""
    if any(h is fn for h, _ in _hooks):
        return
    _hooks.append((fn, None if types is None else frozenset(types)))
    _recompute()


def unregister_write_hook(fn: WriteHook) -> None:
    """Remove ``fn`` (nothing happens when it is not registered)."""
    _hooks[:] = [(h, t) for h, t in _hooks if h is not fn]
    _recompute()


def registered_hooks() -> list[WriteHook]:
    return [h for h, _ in _hooks]


def wants(res_type: str) -> bool:
    """Whether some hook listens to writes of ``res_type`` (False at once when none is registered)."""
    return _any_type or res_type in _types


async def run(tx: StoreTx, writes: Sequence[Write]) -> None:
    """Hand ``writes`` to every hook that listens to their types, in registration order."""
    if not writes:
        return
    for fn, types in list(_hooks):
        mine = writes if types is None else [w for w in writes if w.res_type in types]
        if mine:
            await fn(tx, mine)


_PREVIOUS = (
    "SELECT l.res_type, l.res_id, coalesce(r.content_raw, r.content::text) "
    "FROM unnest(%s::text[], %s::text[]) AS u(t, i) "
    "JOIN fhir_locator l ON l.res_type = u.t AND l.res_id = u.i AND l.version > 0 AND NOT l.deleted "
    "JOIN fhir_resource r ON r.pkey = l.pkey AND r.rid = l.rid"
)


async def after_write(
    tx: StoreTx, interaction: Interaction, stored: Stored, previous_text: str | None
) -> None:
    """Run the hooks for one version just written (``previous_text``: the JSON of the live version it
    replaced, None when there was none)."""
    previous = (
        content_from_text(previous_text) if previous_text is not None and interaction != "create" else None
    )
    write = Write(
        interaction,
        stored.res_type,
        stored.res_id,
        stored.version,
        stored.content,
        previous,
        stored.pkey,
        stored.method or "",
    )
    await run(tx, [write])


BulkWrite = Callable[["FhirStore", Any, list[tuple[dict[str, Any], str, str]]], Awaitable[list["Written"]]]


async def after_bulk_write(
    tx: StoreTx, entries: list[tuple[dict[str, Any], str, str]], write_items: BulkWrite
) -> list[Written]:
    """``write_items`` of :meth:`StoreTx.write_many`, with the hooks run once for every new version (the
    updated resources' previous versions are locked and read first)."""
    wanted = [(str(r.get("resourceType")), i) for r, i, m in entries if m == "PUT"]
    before = await previous_contents(tx, [k for k in wanted if wants(k[0])])
    written = await write_items(tx.store, tx.conn, entries)
    writes: list[Write] = []
    for done in written:
        s = done.stored
        if not done.changed or not wants(s.res_type):
            continue
        text = None if done.created else before.get((s.res_type, s.res_id))
        previous = content_from_text(text) if text is not None else None
        kind: Interaction = "create" if done.created else "update"
        writes.append(
            Write(kind, s.res_type, s.res_id, s.version, s.content, previous, s.pkey, s.method or "")
        )
    await run(tx, writes)
    return written


async def previous_contents(tx: StoreTx, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The current JSON text of the live resources ``keys`` (locked first, in one order), for the
    ``previous`` of the updates a bulk write is about to make."""
    pairs = sorted(set(keys))
    if not pairs:
        return {}
    await tx.lock_existing(pairs)
    cur = await tx.conn.execute(_PREVIOUS, ([t for t, _ in pairs], [i for _, i in pairs]))
    return {(str(t), str(i)): str(text) for t, i, text in await cur.fetchall()}
