"""The write hook that queues a detection run after the series changed.

Spec: write hooks :mod:`senhealth.fhir.store.hooks` (inside the writer's transaction); the queue
:mod:`senhealth.core.queue` (the job exists only if the write commits).

The series change in the same transaction as a case report (a ``QuestionnaireResponse`` of the form
``Questionnaire/notifiable-case-report``: :mod:`senhealth.surveillance.cases.detect`), so a written case
report is the signal that the series moved. The hook queues one ``surveillance.detection_run`` job, due
``debounce_s`` seconds later (10 by default), under the queueing lock :data:`RUN_LOCK`: while it waits, further
case reports queue nothing and are read by that run. A burst of 2,000 case reports is thus read by a few runs,
each a few seconds after the last change it sees, and an alarm is a signal within seconds of the data. The
hourly schedule (``SENHEALTH_DETECTION_CRON``) runs as well, for a new week and for a changed configuration.

Install it where the case reports are written: in the worker (the detection job writes them) and in API
servers (a manual case action writes them too): :func:`install_detection_trigger`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from senhealth.core.queue import AlreadyQueued, enqueue
from senhealth.fhir.store.hooks import Write, register_write_hook, unregister_write_hook
from senhealth.surveillance.detection.config import get_config
from senhealth.surveillance.notifiable.forms import QUESTIONNAIRE_URL

if TYPE_CHECKING:
    from senhealth.fhir.store import StoreTx

__all__ = ["RUN_LOCK", "RUN_TASK", "install_detection_trigger", "on_writes", "uninstall_detection_trigger"]

RUN_TASK: Final = "surveillance.detection_run"
RUN_LOCK: Final = "surveillance-detection-run"


def _case_report(content: dict[str, Any] | None) -> bool:
    if not content:
        return False
    questionnaire = content.get("questionnaire")
    return isinstance(questionnaire, str) and questionnaire.split("|", 1)[0] == QUESTIONNAIRE_URL


async def on_writes(tx: StoreTx, writes: Sequence[Write]) -> None:
    """Queue one delayed detection run when a case report was written (none while one waits)."""
    config = get_config()
    if not config.enabled or not any(_case_report(w.content) or _case_report(w.previous) for w in writes):
        return
    due = datetime.now(UTC) + timedelta(seconds=config.debounce_s)
    with contextlib.suppress(AlreadyQueued):  # the waiting run will read this change too
        await enqueue(RUN_TASK, {"trigger": "series"}, conn=tx.conn, run_at=due, dedupe_key=RUN_LOCK)


def install_detection_trigger() -> None:
    """Register the write hook in this process (workers and API servers; idempotent)."""
    register_write_hook(on_writes, types={"QuestionnaireResponse"})


def uninstall_detection_trigger() -> None:
    unregister_write_hook(on_writes)
