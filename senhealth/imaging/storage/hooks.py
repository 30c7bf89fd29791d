"""Telling other parts of the platform that a study was stored: :func:`on_study_stored`.

A hook is ``async def hook(conn, event: StudyStored) -> None``. It runs inside a database transaction on
``conn`` (enqueue a job there with :func:`senhealth.core.queue.enqueue`, and it exists only if the study's
rows commit), each hook in a savepoint of its own: a hook that fails is logged and undone, the study
stays stored. When:

- STOW-RS: once per study per request, in the transaction that indexes the instances and updates the
  ImagingStudy;
- C-STORE: once per study per association, when the association ends (released or aborted), in a
  transaction of its own, with every instance of that study received on it: a modality sends a study
  as many C-STOREs on one association, and a model wants the study, not each image.

``source`` says which (``STOW-RS`` or ``C-STORE``). The AI inference (issue 10, item 2) uses this to queue
the models that fit a new study.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

__all__ = ["StudyHook", "StudyStored", "clear_study_hooks", "notify", "on_study_stored", "study_hooks"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StudyStored:
    """Instances of one study just stored.

    ``imaging_study_id``: the FHIR ImagingStudy (its id is the Study Instance UID); ``patient``: the FHIR
    Patient id it is linked to (None when unresolved); ``instances``: the SOP Instance UIDs stored by this
    request or association (new or replaced); ``series``: their Series Instance UIDs; ``modalities``: the
    modalities of those series; ``sop_classes``: their SOP Class UIDs."""

    study_uid: str
    imaging_study_id: str
    patient: str | None
    instances: tuple[str, ...]
    series: tuple[str, ...]
    modalities: tuple[str, ...]
    sop_classes: tuple[str, ...]
    source: str


StudyHook = Callable[[AsyncConnection[TupleRow], StudyStored], Awaitable[None]]

_hooks: list[StudyHook] = []


def on_study_stored(hook: StudyHook) -> Callable[[], None]:
    """Call ``hook`` for every study stored from now on; returns the function that removes it."""
    _hooks.append(hook)

    def remove() -> None:
        if hook in _hooks:
            _hooks.remove(hook)

    return remove


def study_hooks() -> list[StudyHook]:
    """The installed hooks, in installation order."""
    return list(_hooks)


def clear_study_hooks() -> None:
    """Remove every hook (tests)."""
    _hooks.clear()


async def notify(conn: AsyncConnection[TupleRow], events: Iterable[StudyStored]) -> None:
    """Run every hook for every event, each in a savepoint of ``conn``'s transaction."""
    for event in events:
        for hook in list(_hooks):
            try:
                async with conn.transaction():
                    await hook(conn, event)
            except Exception:
                log.exception(
                    "imaging hook %r failed for study %s (the study is stored)", hook, event.study_uid
                )
