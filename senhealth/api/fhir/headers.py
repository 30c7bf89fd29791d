"""HTTP headers of the FHIR REST API: ETag / If-Match / If-None-Match, Last-Modified /
If-Modified-Since, Prefer.

Spec: https://hl7.org/fhir/R4/http.html#versioning (weak ETags ``W/"versionId"``),
https://hl7.org/fhir/R4/http.html#concurrency (If-Match), https://hl7.org/fhir/R4/http.html#cread
(If-None-Match, If-Modified-Since), https://hl7.org/fhir/R4/http.html#ops (Prefer: return=) and
https://hl7.org/fhir/R4/search.html#errors (Prefer: handling=); RFC 9110 for the header syntax
(https://www.rfc-editor.org/rfc/rfc9110#name-etag) and RFC 7240 for Prefer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from senhealth.api.fhir.errors import FhirError

__all__ = [
    "Prefer",
    "etag",
    "http_date",
    "matches_etag",
    "parse_etag",
    "parse_http_date",
    "parse_instant",
    "parse_prefer",
]

_ETAG = re.compile(r'^\s*(?:W/)?"([^"]*)"\s*$|^\s*([A-Za-z0-9\-.]{1,64})\s*$')
RETURN_VALUES = frozenset({"minimal", "representation", "OperationOutcome"})
HANDLING_VALUES = frozenset({"strict", "lenient"})


def etag(version: str | int) -> str:
    """The weak ETag of a version: ``W/"3"``."""
    return f'W/"{version}"'


def parse_etag(value: str, header: str = "If-Match") -> str:
    """The version id in an ETag (``W/"3"``, ``"3"``; a bare ``3`` is accepted too); 400 when malformed."""
    m = _ETAG.match(value)
    if m is None:
        raise FhirError(400, f'{header}: {value[:100]!r} is not an ETag such as W/"1"', code="value")
    version = m.group(1) if m.group(1) is not None else m.group(2)
    if not version:
        raise FhirError(400, f"{header}: the ETag names no version", code="value")
    return version


def matches_etag(header: str, version: str) -> bool:
    """Whether an If-None-Match header (``*`` or a list of ETags) matches ``version``."""
    for part in header.split(","):
        part = part.strip()
        if part == "*":
            return True
        m = _ETAG.match(part)
        if m is not None and (m.group(1) or m.group(2)) == version:
            return True
    return False


def parse_instant(value: str) -> datetime | None:
    """A FHIR instant / dateTime (``2024-05-01T10:00:00+07:00``, ``2024-05-01``) as an aware datetime."""
    text = value.strip().replace(" ", "+")  # an unencoded "+07:00" arrives from a query string as " 07:00"
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None if "T" in text else parsed.replace(tzinfo=UTC)
    return parsed


def http_date(instant: str | datetime) -> str | None:
    """An RFC 9110 HTTP date (``Wed, 01 May 2024 03:00:00 GMT``) for a FHIR instant."""
    when = parse_instant(instant) if isinstance(instant, str) else instant
    if when is None:
        return None
    return format_datetime(when.astimezone(UTC), usegmt=True)


def parse_http_date(value: str) -> datetime | None:
    """An HTTP date header as an aware datetime; ``None`` when it is not one (the header is then ignored)."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@dataclass(frozen=True, slots=True)
class Prefer:
    """The FHIR preferences of a request (``Prefer: return=minimal, handling=strict``)."""

    return_: str | None = None
    handling: str | None = None
    respond_async: bool = False

    @property
    def strict(self) -> bool:
        return self.handling == "strict"


def parse_prefer(values: list[str]) -> Prefer:
    """Read the Prefer headers; unknown preferences are ignored, as RFC 7240 asks."""
    return_: str | None = None
    handling: str | None = None
    respond_async = False
    for value in values:
        for token in value.split(","):
            for pref in token.split(";"):
                key, _, val = pref.strip().partition("=")
                key, val = key.strip().lower(), val.strip().strip('"')
                if key == "return" and val in RETURN_VALUES:
                    return_ = val
                elif key == "handling" and val in HANDLING_VALUES:
                    handling = val
                elif key == "respond-async":
                    respond_async = True
    return Prefer(return_, handling, respond_async)
