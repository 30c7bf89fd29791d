"""The FHIR JSON response: ``application/fhir+json``, written by :func:`senhealth.fhir.json.dumps`.

Spec: https://hl7.org/fhir/R4/http.html#mime-type (``application/fhir+json``),
https://hl7.org/fhir/R4/http.html#parameters (``_pretty``) and https://hl7.org/fhir/R4/json.html.

:class:`FhirResponse` serialises a resource dict straight to bytes with orjson (decimals keep their
exact text), without FastAPI's ``jsonable_encoder``: a large search Bundle is written in one call.
``_pretty=true`` indents by two spaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from senhealth.core.json import dumps as dumps_pretty
from senhealth.fhir.deidentify import deidentify, deidentifying
from senhealth.fhir.json import dumps, parse

__all__ = ["FHIR_JSON", "FhirResponse", "wants_pretty"]

FHIR_JSON: Final = "application/fhir+json; charset=utf-8"


def wants_pretty(request: Request) -> bool:
    """Whether the request asked for ``_pretty=true``."""
    return request.query_params.get("_pretty", "").lower() == "true"


class FhirResponse(Response):
    """A FHIR JSON answer; ``content`` is a resource dict, or ``None`` for an empty body."""

    media_type = FHIR_JSON

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        pretty: bool = False,
    ) -> None:
        self.pretty = pretty
        super().__init__(content, status_code, headers, media_type, background)
        if content is None:  # an empty body has no content type
            self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-type"]

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if deidentifying():  # an analyst: nothing identifying leaves (senhealth.fhir.deidentify)
            if isinstance(content, bytes):
                content = parse(content)
            if isinstance(content, dict):
                content = deidentify(content)
        if isinstance(content, bytes):
            return content
        if getattr(self, "pretty", False):
            return dumps_pretty(content, pretty=True).encode()
        return dumps(content)
