"""Content negotiation and request bodies: this server speaks FHIR JSON only.

Spec: https://hl7.org/fhir/R4/http.html#mime-type (``application/fhir+json``; ``application/json``
accepted; ``_format`` overrides ``Accept``; "if the server does not support the format, it SHALL
return 406 Not Acceptable" for the answer and 415 Unsupported Media Type for a body) and
https://hl7.org/fhir/R4/json.html.

- :func:`check_accept` (a dependency of every FHIR route): ``_format=json`` (or any JSON media type)
  is accepted, XML / Turtle / anything else is 406 with an OperationOutcome saying only JSON is
  supported; an ``Accept`` header that allows no JSON at all is 406 too.
- :func:`read_json_body`: the body, size-limited (413), of a JSON media type (415 otherwise), parsed
  with :func:`senhealth.fhir.json.parse` so decimals stay exact (400 when malformed).
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import ClientDisconnect, Request

from senhealth.api.fhir.errors import FhirError
from senhealth.fhir.json import JSONDecodeError, parse

__all__ = [
    "DEFAULT_MAX_BODY",
    "JSON_TYPES",
    "accepts_json",
    "check_accept",
    "media_type",
    "read_body",
    "read_json_body",
    "read_resource_body",
]

DEFAULT_MAX_BODY: Final = 32 * 1024 * 1024  # a transaction bundle of a few thousand resources
JSON_TYPES: Final = frozenset(
    {"application/fhir+json", "application/json", "application/json+fhir", "text/json", "json"}
)
XML_TYPES: Final = frozenset(
    {
        "application/fhir+xml",
        "application/xml",
        "application/xml+fhir",
        "text/xml",
        "xml",
        "html",
        "text/html",
    }
)
_ONLY_JSON: Final = "Only JSON is supported (application/fhir+json); XML and other formats are not"


def media_type(value: str | None) -> str:
    """The media type of a header without its parameters, lower case (``""`` when absent)."""
    return (value or "").split(";", 1)[0].strip().lower()


def _is_json(mt: str) -> bool:
    return mt in JSON_TYPES or mt.endswith("+json")


def accepts_json(accept: str) -> bool:
    """Whether an ``Accept`` header allows a JSON answer (a media range with q > 0)."""
    for item in accept.split(","):
        parts = item.split(";")
        mt = parts[0].strip().lower()
        quality = 1.0
        for param in parts[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 1.0
        if quality <= 0:
            continue
        if mt in ("*/*", "application/*", "*") or _is_json(mt):
            return True
    return False


async def check_accept(request: Request) -> None:
    """406 unless the answer may be JSON (``_format`` first, then ``Accept``)."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        if not _is_json(media_type(fmt)):
            raise FhirError(406, f"_format={fmt[:60]}: {_ONLY_JSON}", code="not-supported")
        return
    accept = request.headers.get("accept")
    if accept and not accepts_json(accept):
        raise FhirError(406, f"Accept: {accept[:60]}: {_ONLY_JSON}", code="not-supported")


def _max_body(request: Request) -> int:
    limit = getattr(request.app.state, "max_body_bytes", DEFAULT_MAX_BODY)
    return int(limit)


async def read_body(request: Request) -> bytes:
    """The raw body, refused with 413 beyond the app's ``max_body_bytes``."""
    limit = _max_body(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise FhirError(413, f"The body is larger than {limit} bytes", code="too-costly")
        except ValueError:
            raise FhirError(400, "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise FhirError(413, f"The body is larger than {limit} bytes", code="too-costly")
            chunks.append(chunk)
    except ClientDisconnect:
        raise FhirError(400, "The client went away while sending the body") from None
    return b"".join(chunks)


def check_content_type(request: Request, allowed: frozenset[str] | None = None) -> str:
    """The body's media type; 415 when it is not JSON (or not in ``allowed``). No header means JSON; a
    header that names no media type (``;;;``, blank) is refused: the client meant something else."""
    header = request.headers.get("content-type")
    if header is None:
        return "application/fhir+json"
    mt = media_type(header)
    if not mt:
        raise FhirError(
            415,
            f"Content-Type {header[:60]!r} names no media type: send application/fhir+json",
            code="not-supported",
        )
    if allowed is not None and mt in allowed:
        return mt
    if _is_json(mt):
        return mt
    if mt in XML_TYPES or mt.endswith("+xml"):
        raise FhirError(415, f"Content-Type {mt}: {_ONLY_JSON}", code="not-supported")
    raise FhirError(
        415, f"Content-Type {mt[:60]} is not supported: send application/fhir+json", code="not-supported"
    )


def parse_json(raw: bytes) -> Any:
    """Parse a JSON body (400 when it is not JSON, or nested beyond reason)."""
    if not raw.strip():
        raise FhirError(400, "The request has no body", code="required")
    try:
        return parse(raw)
    except (JSONDecodeError, ValueError, RecursionError) as e:
        raise FhirError(400, f"The body is not valid JSON: {str(e)[:200]}", code="structure") from None


async def read_json_body(request: Request) -> Any:
    """The body as parsed JSON (checked: size, media type, syntax)."""
    check_content_type(request)
    return parse_json(await read_body(request))


async def read_resource_body(request: Request, expected_type: str | None = None) -> dict[str, Any]:
    """The body as a resource: a JSON object with a ``resourceType`` (matching ``expected_type``)."""
    body = await read_json_body(request)
    return as_resource(body, expected_type)


def as_resource(body: Any, expected_type: str | None = None) -> dict[str, Any]:
    """Check that ``body`` is a resource (of ``expected_type`` when given); 400 otherwise."""
    if not isinstance(body, dict):
        raise FhirError(400, "The body must be a FHIR resource (a JSON object)", code="structure")
    rt = body.get("resourceType")
    if not isinstance(rt, str) or not rt:
        raise FhirError(400, "The resource has no resourceType", code="required", expression="resourceType")
    if expected_type is not None and rt != expected_type:
        raise FhirError(
            400,
            f"The body is a {rt[:64]}, but the URL names {expected_type}",
            code="invalid",
            expression="resourceType",
        )
    return body
