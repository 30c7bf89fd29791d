"""The PKI's public HTTP services: OCSP, CRLs, CA certificates and the RFC 3161 timestamp authority.

Spec: https://www.rfc-editor.org/rfc/rfc6960#appendix-A.1 (OCSP over HTTP),
https://www.rfc-editor.org/rfc/rfc5280#section-4.2.1.13 (CRL distribution points),
https://www.rfc-editor.org/rfc/rfc3161#section-3.4 (timestamps over HTTP), https://www.rfc-editor.org/rfc/rfc2585
(media types).

- ``POST /pki/ocsp`` (``application/ocsp-request``) and ``GET /pki/ocsp/{base64 request}`` answer
  ``application/ocsp-response``;
- ``GET /pki/crl/{ca}.crl`` (``root`` or ``intermediate``): ``application/pkix-crl``, DER;
- ``GET /pki/ca/{ca}.crt``: ``application/pkix-cert``, DER;
- ``POST /pki/tsa`` (``application/timestamp-query``) answers ``application/timestamp-reply``.

These need no sign-in: relying parties anywhere must be able to check a signature. Malformed requests
get the protocol's own error answer (OCSP ``malformedRequest``, TSA ``rejection``) or a 400, never a 5xx.
Which :class:`~senhealth.emr.pki.authority.Authority` answers: the one given to :func:`pki_router`, else
the installation's (:func:`senhealth.emr.pki.installation.load_authority`, from the app's settings),
loaded once per application.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import unquote

from fastapi import APIRouter, Request
from starlette.responses import Response

from senhealth.emr.pki.authority import Authority
from senhealth.emr.pki.errors import NotInitialised, PkiError

__all__ = ["pki_router"]

_MAX_REQUEST: Final = 64 * 1024
AuthorityProvider = Callable[[Request], Awaitable[Authority]]


def _problem(status: int, message: str) -> Response:
    return Response(content=message + "\n", status_code=status, media_type="text/plain; charset=utf-8")


async def _installed_authority(request: Request) -> Authority:
    from senhealth.emr.pki.installation import load_authority

    state = request.app.state
    authority: Authority | None = getattr(state, "pki_authority", None)
    if authority is None:
        authority = await asyncio.to_thread(load_authority, state.settings)
        state.pki_authority = authority
    return authority


async def _body(request: Request) -> bytes | Response:
    body = await request.body()
    if not body:
        return _problem(400, "Yêu cầu rỗng / empty request body")
    if len(body) > _MAX_REQUEST:
        return _problem(413, "Yêu cầu quá lớn / request too large")
    return body


def pki_router(authority: Authority | AuthorityProvider | None = None) -> APIRouter:
    """The ``/pki`` routes answered by ``authority`` (default: the installation's, from settings)."""
    router = APIRouter(prefix="/pki", tags=["pki"])

    async def current(request: Request) -> Authority | Response:
        try:
            if authority is None:
                return await _installed_authority(request)
            if isinstance(authority, Authority):
                return authority
            return await authority(request)
        except NotInitialised as e:  # no CA here: nothing to answer (not an outage: 404, not 503)
            return _problem(404, e.message)

    @router.post("/ocsp", summary="OCSP (RFC 6960), request in the body")
    async def ocsp_post(request: Request) -> Response:
        ca = await current(request)
        if isinstance(ca, Response):
            return ca
        body = await _body(request)
        if isinstance(body, Response):
            return body
        return Response(await ca.ocsp_response(body), media_type="application/ocsp-response")

    @router.get("/ocsp/{encoded:path}", summary="OCSP (RFC 6960), base64 request in the URL")
    async def ocsp_get(encoded: str, request: Request) -> Response:
        ca = await current(request)
        if isinstance(ca, Response):
            return ca
        try:
            der = base64.b64decode(unquote(encoded), validate=True)
        except (binascii.Error, ValueError):
            return _problem(400, "Yêu cầu OCSP không phải base64 / the OCSP request is not base64")
        headers = {"Cache-Control": "max-age=60"}
        return Response(await ca.ocsp_response(der), media_type="application/ocsp-response", headers=headers)

    @router.get("/crl/{name}.crl", summary="The CA's current CRL (DER)")
    async def crl(name: str, request: Request) -> Response:
        ca = await current(request)
        if isinstance(ca, Response):
            return ca
        try:
            der = await ca.crl(name)
        except PkiError as e:
            return _problem(404, e.message)
        return Response(der, media_type="application/pkix-crl", headers={"Cache-Control": "max-age=300"})

    @router.get("/ca/{name}.crt", summary="The CA's certificate (DER)")
    async def ca_certificate(name: str, request: Request) -> Response:
        ca = await current(request)
        if isinstance(ca, Response):
            return ca
        try:
            der = ca.ca_certificate_der(name)
        except PkiError as e:
            return _problem(404, e.message)
        return Response(der, media_type="application/pkix-cert")

    @router.post("/tsa", summary="RFC 3161 timestamp authority")
    async def tsa(request: Request) -> Response:
        ca = await current(request)
        if isinstance(ca, Response):
            return ca
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/timestamp-query":
            return _problem(415, "Cần application/timestamp-query / expected application/timestamp-query")
        body = await _body(request)
        if isinstance(body, Response):
            return body
        return Response(ca.timestamp(body), media_type="application/timestamp-reply")

    return router
