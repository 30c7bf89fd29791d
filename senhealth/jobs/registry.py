"""Which modules define background tasks: the worker imports them so that their tasks are registered.

Tasks are registered in :mod:`senhealth.core.queue` by the domain that owns them (``@task("mpi.deduplicate")``
in ``senhealth/mpi/...``), at import time; this list is the only place the worker learns where they are.
Add a domain's tasks module here when it gets one.

- procrastinate task registration: https://procrastinate.readthedocs.io/en/stable/howto/basics/tasks.html
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

__all__ = ["TASK_MODULES", "import_task_modules"]

TASK_MODULES: tuple[str, ...] = (
    "senhealth.mpi.tasks",
    "senhealth.analytics.tasks",
    "senhealth.analytics.bulk",
    "senhealth.fhir.subscriptions.delivery",
    "senhealth.emr.retention.tasks",
    "senhealth.checkup.tasks",
    "senhealth.surveillance.tasks",
    "senhealth.surveillance.alerts.tasks",
    "senhealth.imaging.inference.tasks",
    "senhealth.analytics.scheduled_reports",
)


def import_task_modules(extra: Iterable[str] = ()) -> list[str]:
    """Import :data:`TASK_MODULES` and ``extra`` (dotted module names); return the names imported."""
    names = [*TASK_MODULES, *extra]
    for name in names:
        importlib.import_module(name)
    return names
