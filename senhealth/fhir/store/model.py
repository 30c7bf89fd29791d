"""The store's value types: one stored version, a page of history, the report of a bulk load.

Spec: https://hl7.org/fhir/R4/resource.html#Meta (versionId, lastUpdated),
https://hl7.org/fhir/R4/http.html#versioning (ETag ``W/"<versionId>"``) and
https://hl7.org/fhir/R4/http.html#history (history entries, with the method of each version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["HistoryPage", "LoadReport", "Rejected", "Stored"]


@dataclass(frozen=True, slots=True)
class Stored:
    """One version of a resource as stored.

    ``content`` is the resource with ``id``, ``meta.versionId`` and ``meta.lastUpdated`` set (``None``
    for a delete); treat it as read-only (it may share nested objects with the dict that was written).
    ``method`` is how the version was made (``POST``, ``PUT``, ``PATCH``, ``DELETE``), filled for
    history entries and for the result of a write. ``pkey`` (the id of the first Patient whose
    compartment holds the resource; ``""`` when none) is filled by reads and writes, for the audit.
    """

    res_type: str
    res_id: str
    version: int
    last_updated: datetime
    deleted: bool
    content: dict[str, Any] | None
    rid: int
    seq: int
    method: str | None = None
    pkey: str = ""  # the patient compartment key (the first patient it belongs to; "" for none)

    @property
    def etag(self) -> str:
        """The weak ETag of this version: ``W/"<versionId>"``."""
        return f'W/"{self.version}"'

    @property
    def location(self) -> str:
        """``Type/id/_history/version``, the relative Location / Content-Location of this version."""
        return f"{self.res_type}/{self.res_id}/_history/{self.version}"


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """A page of history, newest first; ``next_cursor`` fetches the next (older) page."""

    entries: list[Stored]
    next_cursor: str | None
    total: int | None  # known for instance history and for a single page; else None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A resource that :meth:`FhirStore.load` did not write: its position, type, id and the reason."""

    position: int
    res_type: str | None
    res_id: str | None
    outcome: dict[str, Any]


@dataclass(slots=True)
class LoadReport:
    """What :meth:`FhirStore.load` did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    seconds: float = 0.0
    index_rows: int = 0

    @property
    def written(self) -> int:
        return self.created + self.updated

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.rejected)

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0
