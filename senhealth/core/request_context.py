"""What the lower layers may know of the HTTP request they serve: the client's address.

Set by the API's outermost middleware (:mod:`senhealth.api.authn`) for each request; read, for
instance, by the accounts when sign-in from outside the facility network needs two-factor
(../shared/reference/vietnam.md §7). ``None`` outside a request (the CLI, jobs).
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["client_address"]

client_address: ContextVar[str | None] = ContextVar("senhealth_client_address", default=None)
