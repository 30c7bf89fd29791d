"""The pages' way to patient data: the platform's own FHIR REST API, in-process, as the signed-in user.

Every request carries the session's bearer token and the browser's address, so the access policy, the
consent rules and the audit log apply exactly as for any other client (an outside app through SMART):
the pages never read the FHIR tables. httpx's ASGI transport calls the application without a socket:
https://www.python-httpx.org/advanced/transports/#asgi-transport
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from starlette.types import ASGIApp

__all__ = ["FhirClient", "FhirError", "resources"]

_JSON = "application/fhir+json"


class FhirError(Exception):
    """A FHIR API answer other than success; ``status`` is the HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    issues = body.get("issue", []) if isinstance(body, dict) else []
    texts = [str(i.get("diagnostics") or i.get("details", {}).get("text") or "") for i in issues]
    return "; ".join(t for t in texts if t) or response.reason_phrase


def resources(bundle: dict[str, Any], resource_type: str | None = None) -> Iterator[dict[str, Any]]:
    """The resources of a Bundle's entries (of one type if given)."""
    for entry in bundle.get("entry", []) or []:
        resource = entry.get("resource")
        if isinstance(resource, dict) and (
            resource_type is None or resource.get("resourceType") == resource_type
        ):
            yield resource


class FhirClient:
    """An async FHIR client bound to one request: ``async with FhirClient(app, token, ip) as fhir:``."""

    def __init__(self, app: ASGIApp, token: str, client_address: str | None) -> None:
        transport = httpx.ASGITransport(app=app, client=(client_address or "127.0.0.1", 0))
        self._client = httpx.AsyncClient(
            transport=transport,
            base_url="http://internal/fhir/",
            headers={"Authorization": f"Bearer {token}", "Accept": _JSON},
            timeout=30.0,
        )

    async def __aenter__(self) -> FhirClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise FhirError(response.status_code, _detail(response))
        data = response.json()
        if not isinstance(data, dict):
            raise FhirError(502, "not a FHIR resource")
        return data

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        return await self._json(await self._client.get(f"{resource_type}/{resource_id}"))

    async def search(
        self, resource_type: str, params: Sequence[tuple[str, str | int | float | bool | None]]
    ) -> dict[str, Any]:
        return await self._json(await self._client.get(resource_type, params=httpx.QueryParams(list(params))))

    async def search_all(
        self,
        resource_type: str,
        params: Sequence[tuple[str, str | int | float | bool | None]],
        *,
        pages: int = 5,
    ) -> list[dict[str, Any]]:
        """Every resource of the search, following ``next`` links up to ``pages`` pages."""
        bundle = await self.search(resource_type, params)
        out = list(resources(bundle, resource_type))
        for _ in range(pages - 1):
            nxt = next(
                (link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None
            )
            if not nxt:
                break
            bundle = await self.follow(nxt)
            out.extend(resources(bundle, resource_type))
        return out

    async def follow(self, url: str) -> dict[str, Any]:
        """A paging link of a Bundle (its path and query, against this client)."""
        target = httpx.URL(url)
        path = target.raw_path.decode()
        return await self._json(await self._client.get(httpx.URL("http://internal" + path)))

    async def operation(
        self, path: str, params: Sequence[tuple[str, str | int | float | bool | None]] | None = None
    ) -> dict[str, Any]:
        return await self._json(await self._client.get(path, params=httpx.QueryParams(list(params or []))))

    async def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        response = await self._client.post(
            resource["resourceType"], json=resource, headers={"Content-Type": _JSON}
        )
        return await self._json(response)

    async def update(self, resource: dict[str, Any]) -> dict[str, Any]:
        response = await self._client.put(
            f"{resource['resourceType']}/{resource['id']}", json=resource, headers={"Content-Type": _JSON}
        )
        return await self._json(response)
