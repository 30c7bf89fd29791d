"""Errors of the FHIR REST API, answered as OperationOutcome resources with the right HTTP status.

Spec: https://hl7.org/fhir/R4/http.html#Status-Codes ("the body SHALL be an OperationOutcome for
4xx and 5xx errors" is a SHOULD in R4; this server always does) and
https://hl7.org/fhir/R4/operationoutcome.html.

Everything that reaches a client as an error goes through :func:`install_error_handlers`:

- :class:`FhirError` raised by the API and by :mod:`senhealth.fhir.bundle` / the operations;
- the store's errors: any :class:`senhealth.core.errors.SenHealthError` that carries an HTTP status
  (attribute ``status`` or ``http_status``) keeps it; one without is a 500;
- the search's :class:`~senhealth.fhir.search.query.errors.SearchError`: 400;
- PostgreSQL rolling a transaction back to break a deadlock or a serialisation conflict: 409 with
  ``Retry-After`` (nothing was written; the same request may succeed when sent again);
- a statement stopped by ``statement_timeout``: 400 ``too-costly`` (narrow the request);
- the database unreachable for a moment (a restart, ``pg_terminate_backend``, a full pool): 503 with
  ``Retry-After``;
- FastAPI's request validation (400), Starlette's routing errors (404 unknown path, 405 method);
- anything else: logged, 500 with a generic OperationOutcome (no stack trace leaves the server).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg import OperationalError
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from senhealth.api.fhir.responses import FhirResponse, wants_pretty
from senhealth.core.errors import SenHealthError, operation_outcome
from senhealth.fhir.search.query.errors import SearchError

__all__ = [
    "FhirError",
    "error_status",
    "install_error_handlers",
    "outcome_of",
]

log = logging.getLogger(__name__)

# HTTP status -> the IssueType code used when an error does not name one.
_ISSUE_CODES: dict[int, str] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


class FhirError(SenHealthError):
    """An error answered with ``status`` and an OperationOutcome (one issue, or ``outcome`` whole)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        expression: str | None = None,
        outcome: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, expression)
        self.status = status
        self.code = code or _ISSUE_CODES.get(status, "exception")
        self._outcome = outcome
        self.headers = headers or {}

    def outcome(self) -> dict[str, Any]:
        if self._outcome is not None:
            return self._outcome
        return operation_outcome("error", self.code, self.message, self.expression)


def error_status(exc: BaseException) -> int:
    """The HTTP status an exception answers with (500 when it does not say)."""
    for name in ("status", "http_status", "status_code"):
        value = getattr(exc, name, None)
        if isinstance(value, int) and 400 <= value <= 599:
            return value
    return 500


def outcome_of(exc: BaseException) -> dict[str, Any]:
    """The OperationOutcome describing ``exc``."""
    if isinstance(exc, SenHealthError):
        outcome: Any = exc.outcome()
        if isinstance(outcome, dict):
            return outcome
    return operation_outcome("error", "exception", str(exc) or type(exc).__name__)


def _respond(
    request: Request, status: int, outcome: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return FhirResponse(outcome, status_code=status, headers=headers, pretty=wants_pretty(request))


async def _fhir_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return _respond(request, exc.status, exc.outcome(), exc.headers)


async def _senhealth_error(request: Request, exc: Exception) -> Response:
    status = error_status(exc)
    if status >= 500:
        log.error("server error answering %s %s", request.method, request.url.path, exc_info=exc)
    return _respond(request, status, outcome_of(exc))


async def _search_error(request: Request, exc: Exception) -> Response:
    return _respond(request, 400, outcome_of(exc))  # https://hl7.org/fhir/R4/search.html#errors


async def _rolled_back(request: Request, exc: Exception) -> Response:
    log.warning(
        "transaction rolled back by PostgreSQL answering %s %s: %s", request.method, request.url.path, exc
    )
    outcome = operation_outcome(
        "error",
        "transient",
        "The request conflicted with concurrent writes to the same resources and was rolled back: "
        "nothing was written; send it again",
    )
    return _respond(request, 409, outcome, {"Retry-After": "1"})


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable answering %s %s: %s", request.method, request.url.path, exc)
    outcome = operation_outcome(
        "error", "transient", "The database is not reachable at the moment; send the request again shortly"
    )
    return _respond(request, 503, outcome, {"Retry-After": "5"})


async def _too_costly(request: Request, exc: Exception) -> Response:
    log.warning("statement cancelled answering %s %s: %s", request.method, request.url.path, exc)
    outcome = operation_outcome(
        "error",
        "too-costly",
        "The request ran longer than this server allows and was stopped: narrow it (more selective "
        "search parameters, a smaller _count, fewer _include) and send it again",
    )
    return _respond(request, 400, outcome)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        issues.append(
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": f"{where}: {err.get('msg', 'invalid')}",
            }
        )
    if not issues:
        issues.append({"severity": "error", "code": "invalid", "diagnostics": "invalid request"})
    return _respond(request, 400, {"resourceType": "OperationOutcome", "issue": issues})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        message = f"Unknown path {request.url.path}"
    elif status == 405:
        message = f"Method {request.method} is not supported on {request.url.path}"
    else:
        message = str(exc.detail)
    outcome = operation_outcome("error", _ISSUE_CODES.get(status, "exception"), message)
    headers = dict(exc.headers) if exc.headers else None
    return _respond(request, status, outcome, headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
    outcome = operation_outcome("fatal", "exception", "Internal server error")
    return _respond(request, 500, outcome)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with an OperationOutcome."""
    app.add_exception_handler(FhirError, _fhir_error)
    app.add_exception_handler(SenHealthError, _senhealth_error)
    app.add_exception_handler(SearchError, _search_error)
    for rolled_back in (
        pg_errors.DeadlockDetected,
        pg_errors.SerializationFailure,
        pg_errors.TransactionRollback,
    ):
        app.add_exception_handler(rolled_back, _rolled_back)
    app.add_exception_handler(pg_errors.QueryCanceled, _too_costly)  # statement_timeout
    for unavailable in (OperationalError, PoolTimeout):  # connection lost, server restarting, pool empty
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
