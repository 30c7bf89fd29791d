"""Server-assigned ids and the ``meta`` the store sets on every version it writes.

Spec: https://hl7.org/fhir/R4/resource.html#id, https://hl7.org/fhir/R4/resource.html#Meta and
https://hl7.org/fhir/R4/http.html#create ("the server assigns a new id ... and sets meta.versionId and
meta.lastUpdated"); ids are UUIDv7 (RFC 9562 §5.7, https://www.rfc-editor.org/rfc/rfc9562#section-5.7).

Ids are time-ordered UUIDs (version 7: 48 bits of Unix milliseconds, then 74 random bits) written in the
usual 36-character form, which fits FHIR's ``id`` (``[A-Za-z0-9\\-\\.]{1,64}``). They sort by creation
time, so the ``fhir_locator`` primary key grows at its right edge instead of being written all over.
Python 3.11 has no ``uuid.uuid7``; it is a few lines here.

``meta.lastUpdated`` is UTC with millisecond precision and a ``Z`` (``2024-05-01T03:04:05.123Z``); the
``last_updated`` column holds the same instant.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from senhealth.fhir.json import dumps

__all__ = ["instant", "new_id", "now", "same_content", "stamp"]


def new_id() -> str:
    """A new UUIDv7 string: time-ordered, random in its low 74 bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def now() -> datetime:
    """The current UTC time, truncated to milliseconds (the precision of ``meta.lastUpdated``)."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond - t.microsecond % 1000)


_last_instant: tuple[datetime, str] | None = None


def instant(when: datetime) -> str:
    """``when`` (UTC) as a FHIR instant with milliseconds and ``Z``.

    The last answer is kept: a bulk write stamps thousands of resources with one time (strftime costs
    about 2 µs).
    """
    global _last_instant
    last = _last_instant
    if last is not None and last[0] is when:
        return last[1]
    text = f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"
    _last_instant = (when, text)
    return text


def stamp(resource: dict[str, Any], res_id: str, version: int, when: datetime) -> dict[str, Any]:
    """A shallow copy of ``resource`` with ``id``, ``meta.versionId`` and ``meta.lastUpdated`` set.

    ``id`` comes right after ``resourceType`` and ``meta`` after ``id`` (the order the spec's examples use).
    """
    meta = resource.get("meta")
    new_meta: dict[str, Any] = {"versionId": str(version), "lastUpdated": instant(when)}
    if isinstance(meta, dict):
        new_meta.update((k, v) for k, v in meta.items() if k not in ("versionId", "lastUpdated"))
    out: dict[str, Any] = {"resourceType": resource["resourceType"], "id": res_id, "meta": new_meta}
    # the other keys in their order (an update keeps the place of the three keys above), then the three
    # values put back
    out.update(resource)
    out["id"] = res_id
    out["meta"] = new_meta
    return out


def _without_version(resource: dict[str, Any]) -> dict[str, Any]:
    meta = resource.get("meta")
    if not isinstance(meta, dict) or not ("versionId" in meta or "lastUpdated" in meta):
        return resource
    rest = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
    out = {k: v for k, v in resource.items() if k != "meta"}
    if rest:
        out["meta"] = rest
    return out


def same_content(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether two versions are the same resource, ignoring ``meta.versionId`` / ``meta.lastUpdated``.

    Compared as JSON text with sorted keys, so ``1.50`` and ``1.5`` differ (their precision does).
    """
    try:
        return dumps(_without_version(new), sort_keys=True) == dumps(_without_version(old), sort_keys=True)
    except orjson.JSONEncodeError:  # nested past orjson's limit: not storable, prepare() says why
        return False
