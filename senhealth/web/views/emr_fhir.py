"""The clinical-document pages' way to the FHIR API: operations whose answers are not only JSON resources.

The document pages call ``$create-document``, ``$sign``, ``$verify``, ``$amend``, ``$pdf``,
``$claim-xml`` and ``$import-claim-xml`` as the signed-in user, in-process, exactly as
:mod:`senhealth.web.fhir_client` does for reads and searches (same bearer token, same client address: the
access policy, consent and audit apply). What differs: an answer is kept whole (:class:`Answer`: status,
headers, body bytes, JSON when the body is JSON), so that a page can show an OperationOutcome's issues
field by field, stream a PDF or an XML file, and read headers such as ``X-Lookup-Code``.

The base URL of these calls is the address the browser used (scheme and host of the page request), so
that what an operation derives from its base URL (the QR code's verification link of a printed copy,
when no public URL is configured) names the server the user actually reaches.

Spec: https://hl7.org/fhir/R4/operations.html, https://hl7.org/fhir/R4/operationoutcome.html;
httpx's ASGI transport: https://www.python-httpx.org/advanced/transports/#asgi-transport
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import orjson
from starlette.requests import Request

from senhealth.web.context import client_ip, session_token, state
from senhealth.web.sessions import Session

__all__ = ["Answer", "EmrFhir", "Issue", "emr_fhir", "in_language", "issues_of"]

_JSON: Final = "application/fhir+json"
Params = Sequence[tuple[str, str | int | float | bool | None]]


@dataclass(frozen=True, slots=True)
class Issue:
    """One issue of an OperationOutcome: where (a FHIRPath or a claim field such as ``XML2[3].SO_LUONG``)
    and what, as the server wrote it (often ``Vietnamese / English``)."""

    expression: str
    text: str
    severity: str = "error"


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of the FHIR API, whole."""

    status: int
    content: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def json(self) -> dict[str, Any] | None:
        """The body as a JSON object (None when it is not JSON)."""
        if "json" not in self.media_type:
            return None
        try:
            data = orjson.loads(self.content)
        except orjson.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def issues(self) -> list[Issue]:
        body = self.json
        found = issues_of(body) if body is not None else []
        if not found and not self.ok:
            text = self.content[:300].decode("utf-8", "replace").strip() or f"HTTP {self.status}"
            found = [Issue("", text)]
        return found


def issues_of(outcome: dict[str, Any]) -> list[Issue]:
    """The issues of an OperationOutcome (empty for any other resource)."""
    if outcome.get("resourceType") != "OperationOutcome":
        return []
    out: list[Issue] = []
    for issue in outcome.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        expressions = issue.get("expression") or issue.get("location") or []
        where = ", ".join(str(e) for e in expressions if isinstance(e, str))
        details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
        text = str(issue.get("diagnostics") or (details or {}).get("text") or issue.get("code") or "")
        out.append(Issue(where, text, str(issue.get("severity") or "error")))
    return out


def in_language(text: str, lang: str) -> str:
    """One language of a server message written ``Vietnamese / English`` (the convention of the
    document, signature and claim operations); a message in one language is returned as it is."""
    vi, sep, en = text.partition(" / ")
    if not sep:
        return text
    return vi.strip() if lang == "vi" else en.strip()


class EmrFhir:
    """An async client of the FHIR API bound to one page request (see the module docstring)."""

    def __init__(self, app: Any, token: str, client_address: str | None, base: str) -> None:
        transport = httpx.ASGITransport(app=app, client=(client_address or "127.0.0.1", 0))
        self._client = httpx.AsyncClient(
            transport=transport,
            base_url=base.rstrip("/") + "/fhir/",
            headers={"Authorization": f"Bearer {token}", "Accept": _JSON},
            timeout=120.0,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    @staticmethod
    def _answer(response: httpx.Response) -> Answer:
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        keep = {k.lower(): v for k, v in response.headers.items()}
        return Answer(response.status_code, response.content, media, keep)

    async def get(self, path: str, params: Params | None = None, *, accept: str | None = None) -> Answer:
        headers = {"Accept": accept} if accept else None
        response = await self._client.get(path, params=httpx.QueryParams(list(params or [])), headers=headers)
        return self._answer(response)

    async def post_parameters(self, path: str, parameters: list[dict[str, Any]]) -> Answer:
        """POST a ``Parameters`` resource to an operation."""
        body = {"resourceType": "Parameters", "parameter": parameters}
        response = await self._client.post(path, content=orjson.dumps(body), headers={"Content-Type": _JSON})
        return self._answer(response)

    async def post_raw(self, path: str, content: bytes, content_type: str) -> Answer:
        """POST a body as it is (an XML file to ``$import-claim-xml``)."""
        response = await self._client.post(path, content=content, headers={"Content-Type": content_type})
        return self._answer(response)

    async def put(self, resource: dict[str, Any], *, version: str | None = None) -> Answer:
        """Update a resource; ``version``: the version it must still be at (``If-Match``)."""
        headers = {"Content-Type": _JSON}
        if version:
            headers["If-Match"] = f'W/"{version}"'
        response = await self._client.put(
            f"{resource['resourceType']}/{resource['id']}", content=orjson.dumps(resource), headers=headers
        )
        return self._answer(response)


@asynccontextmanager
async def emr_fhir(request: Request, found: Session) -> AsyncIterator[EmrFhir]:
    """An :class:`EmrFhir` acting as the session's user, from the browser's address."""
    token = await session_token(request, found)
    base = f"{request.url.scheme}://{request.url.netloc}"
    client = EmrFhir(state(request).platform, token, client_ip(request), base)
    try:
        yield client
    finally:
        await client.aclose()
