"""The rest-hook channel: a notification Bundle POSTed to the subscriber's endpoint.

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html#rest-hook: the ``Content-Type``
is the MIME type of ``Subscription.channel.payload``, every ``Subscription.channel.header`` is sent as an
HTTP header, and a notification counts as delivered when the endpoint answers with a 2xx status (the
server cannot know more, https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html#scoping-responsibilities).
The HTTP client is httpx (https://www.python-httpx.org/); redirects are not followed.
"""

from __future__ import annotations

from typing import Any

import httpx

from senhealth.fhir.json import dumps
from senhealth.fhir.subscriptions.subscription import SubscriptionSpec

__all__ = ["RestHook"]


class RestHook:
    """POSTs notifications for one subscription on one HTTP client (use as an async context manager)."""

    def __init__(self, spec: SubscriptionSpec) -> None:
        self.spec = spec
        self._client = httpx.AsyncClient(timeout=spec.timeout_s, follow_redirects=False)

    async def __aenter__(self) -> RestHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def send(self, bundle: dict[str, Any]) -> str | None:
        """POST ``bundle``; None when the endpoint accepted it, else what went wrong (for ``error``)."""
        spec = self.spec
        assert spec.endpoint is not None
        headers = {name: value for name, value in spec.headers if name.lower() != "content-type"}
        headers["Content-Type"] = spec.mime
        try:
            response = await self._client.post(spec.endpoint, content=dumps(bundle), headers=headers)
        except httpx.HTTPError as e:
            return f"the endpoint could not be reached: {type(e).__name__} {e}".strip()[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"the endpoint answered HTTP {response.status_code}"
