"""The per-resource state that index normalisers need: the resource, the time zone, reference typing.

Spec: https://hl7.org/fhir/R4/search.html (date precision and time zones: §3.1.1.4.6; references:
§3.1.1.4.9) and https://hl7.org/fhir/R4/references.html (reference shapes, contained resources).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta, timezone, tzinfo
from typing import Any

__all__ = ["DEFAULT_TZ", "ExtractContext", "TypeResolver"]

#: Values without a UTC offset (dates, and dateTimes / times given without one) are read in this zone.
#: Vietnam has kept +07:00 since 1975 and has no daylight saving, so a fixed offset is exact for current
#: data and, unlike the tz database, gives the same answer on every machine.
DEFAULT_TZ: tzinfo = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

#: Maps a reference string the resource itself cannot type (``urn:uuid:...`` in a transaction, or a
#: logical id) to the referenced resource type, or ``None`` when unknown.
TypeResolver = Callable[[str], str | None]


class ExtractContext:
    """State shared by the accessors and normalisers while one resource is being indexed."""

    __slots__ = ("_contained", "base_urls", "memo", "resolver", "root", "tz")

    def __init__(
        self,
        root: dict[str, Any],
        *,
        tz: tzinfo = DEFAULT_TZ,
        resolver: TypeResolver | None = None,
        base_urls: tuple[str, ...] = (),
    ) -> None:
        self.root = root
        self.tz = tz
        self.resolver = resolver
        self.base_urls = base_urls
        self._contained: dict[str, str] | None = None
        #: (id(JSON node), normaliser) -> its index values: an element several parameters read (a code
        #: used by ``code``, ``combo-code`` and the composites) is normalised once per resource.
        self.memo: dict[tuple[int, object], list[Any]] = {}

    def contained_type(self, local_id: str) -> str | None:
        """The resourceType of the contained resource ``#local_id``, if the resource contains it."""
        if self._contained is None:
            self._contained = {}
            for c in self.root.get("contained") or ():
                if isinstance(c, dict) and isinstance(c.get("id"), str):
                    self._contained[c["id"]] = str(c.get("resourceType"))
        return self._contained.get(local_id)
