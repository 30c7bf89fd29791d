"""Prefetch templates: filled in from the hook's context, and what the request did not carry fetched.

Spec: https://cds-hooks.hl7.org/1.0/#prefetch-template (tokens ``{{context.patientId}}``; a key sent
with ``null`` means "no data"; a key not sent means the client did not or could not fetch it) and
https://cds-hooks.hl7.org/1.0/#fhir-resource-access: with ``fhirServer`` and ``fhirAuthorization`` the
service MAY fetch what it needs itself; when it cannot obtain required data "the service SHALL respond
with an HTTP 412 Precondition Failed".

The service fetches only from the platform's own FHIR server (``is_local(fhirServer)``), in process,
through a :class:`FhirFetch` the HTTP layer supplies, presenting ``fhirAuthorization.access_token`` as
the bearer token: the data read is exactly what that token may read (the access policy, consent and
audit of the FHIR API apply). A missing key with no ``fhirAuthorization``, or a ``fhirServer`` that
is not this platform's, or a token the FHIR server refuses, is a 412 naming the key.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol
from urllib.parse import quote

from senhealth.checkup.cds.hook_request import CdsError, HookRequest

__all__ = ["FhirFetch", "render", "resolve_prefetch"]

_TOKEN: Final = re.compile(r"\{\{\s*context\.([A-Za-z0-9_]+)\s*\}\}")


class FhirFetch(Protocol):
    async def __call__(self, url: str, access_token: str) -> tuple[int, Any]:
        """GET ``url`` (relative to the FHIR base, e.g. ``Patient/1``) with the bearer token: the status
        and the parsed JSON body."""
        ...


def render(template: str, context: Mapping[str, Any]) -> str:
    """The template with its ``{{context.x}}`` tokens replaced (values URL-encoded)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        v = context.get(name)
        if v is None or isinstance(v, (dict, list)):
            raise CdsError(400, f"context.{name}: required by a prefetch template", f"context.{name}")
        return quote(str(v), safe="")

    return _TOKEN.sub(value, template)


async def resolve_prefetch(
    templates: Mapping[str, str],
    request: HookRequest,
    fetch: FhirFetch | None,
    is_local: Callable[[str], bool],
) -> dict[str, Any]:
    """Each template key's data: what the request carried, else fetched (see the module docstring)."""
    out: dict[str, Any] = {}
    missing = [key for key in templates if key not in request.prefetch]
    for key in templates:
        if key in request.prefetch:
            out[key] = request.prefetch[key]
    if not missing:
        return out
    auth = request.fhir_authorization
    names = ", ".join(missing)
    if auth is None or request.fhir_server is None:
        raise CdsError(
            412,
            f"Prefetch data missing ({names}) and no fhirAuthorization to read it from the FHIR server: "
            "send the prefetch or a fhirServer with fhirAuthorization",
            "prefetch",
        )
    if fetch is None or not is_local(request.fhir_server):
        raise CdsError(
            412,
            f"Prefetch data missing ({names}) and fhirServer {request.fhir_server} is not this platform's "
            "FHIR server, the only one this service reads: send the prefetch",
            "fhirServer",
        )

    async def one(key: str) -> tuple[str, Any]:
        assert fetch is not None and auth is not None
        status, body = await fetch(render(templates[key], request.context), auth.access_token)
        if status == 200:
            return key, body
        if status in (404, 410):
            return key, None
        raise CdsError(
            412,
            f"The FHIR server answered {status} for prefetch {key!r} with the given fhirAuthorization"
            + (": the token is not valid" if status == 401 else ""),
            f"prefetch.{key}",
        )

    for key, value in await asyncio.gather(*(one(k) for k in missing)):
        out[key] = value
    return out
