"""Batch and transaction Bundles: ``POST [base]`` with a Bundle of type ``batch`` or ``transaction``.

Spec: https://hl7.org/fhir/R4/http.html#transaction, https://hl7.org/fhir/R4/http.html#trules
(processing rules), https://hl7.org/fhir/R4/bundle.html#transaction and
https://hl7.org/fhir/R4/bundle.html#references (``urn:uuid:`` full URLs).

**Transaction**: all or nothing, in one database transaction (:meth:`FhirStore.transaction`). Steps:

1. every entry is checked (``request.method`` and ``url``, a resource for POST / PUT / PATCH); the
   targets are resolved: a POST gets a server id now (or, with ``ifNoneExist``, the id of its one match:
   it then writes nothing), a conditional PUT / PATCH / DELETE (``Patient?identifier=...``) becomes the
   resource it matches (a PUT with no match creates); two writes on one resource fail the transaction;
2. the entries run in the order the spec gives: DELETE, POST, PUT and PATCH, then GET (HEAD);
   before each write, every reference to an entry's ``fullUrl`` (``urn:uuid:...``, ``urn:oid:...``, an
   absolute URL) is rewritten to ``Type/id`` (:func:`senhealth.fhir.store.rewrite_references`), and
   conditional references (``Patient?identifier=sys|val``) are resolved by a search inside the
   transaction: no match or several fail the transaction (412);
3. any failure rolls everything back and is answered with the failing entry's status (400, 404, 409,
   412, 422...) and an OperationOutcome whose issues name it (``Bundle.entry[3]``); nothing is left.

The answer is a ``transaction-response`` Bundle, entries in the request's order, each with
``response.status``, ``location``, ``etag``, ``lastModified`` and, as ``Prefer: return=`` asks, the
resource (``representation``, the default), nothing (``minimal``) or ``response.outcome``
(``OperationOutcome``).

**Batch**: each entry on its own, in its own transaction, in the given order; a failing entry gets its
status and ``response.outcome`` in the ``batch-response`` and the others go on. ``urn:uuid`` references
between entries are not rewritten (the spec forbids interdependencies in a batch).

The interactions themselves are carried out by an :class:`EntryExecutor` that the REST layer supplies
(the FHIR core calls upward only through interfaces it defines, DESIGN.md §2).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from psycopg import errors as pg_errors

from senhealth.core.errors import SenHealthError, operation_outcome
from senhealth.fhir.access import NO_AUDIT, AccessEvent, audit_sink, current_principal
from senhealth.fhir.search.request import resource_types
from senhealth.fhir.store import EntryInvalid, FhirStore, StoreTx, rewrite_references
from senhealth.fhir.store.meta import instant, new_id

__all__ = [
    "BundleError",
    "EntryExecutor",
    "EntryRequest",
    "EntryResponse",
    "process_bundle",
    "status_of",
]

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
_ORDER: Final = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_CONDITIONAL_REF = re.compile(r"^([A-Z][A-Za-z]+)\?(.+)$")
_INSTANCE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
_TYPE = re.compile(r"^([A-Z][A-Za-z]+)$")
_LOCAL_URN = ("urn:uuid:", "urn:oid:")
#: How often a transaction that lost a deadlock (or a serialisation conflict) is run again.
RETRIES: Final = 3
# PostgreSQL rolled the transaction back to break a deadlock or a serialisation conflict (class 40).
_ROLLED_BACK: Final = (
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
    pg_errors.TransactionRollback,
)


class BundleError(SenHealthError):
    """A batch / transaction that fails as a whole: ``status`` and an OperationOutcome naming the entry."""

    def __init__(
        self, status: int, message: str, outcome: dict[str, Any] | None = None, expression: str | None = None
    ) -> None:
        super().__init__(message, expression)
        self.status = status
        self.code = "invalid" if status == 400 else "processing"
        self._outcome = outcome

    def outcome(self) -> dict[str, Any]:
        if self._outcome is not None:
            return self._outcome
        return operation_outcome("error", self.code, self.message, self.expression)


@dataclass(slots=True)
class EntryRequest:
    """One entry's request, its URL relative to the base (``Patient/1``, ``Patient?identifier=x``)."""

    index: int
    method: str
    url: str
    resource: dict[str, Any] | None = None
    full_url: str | None = None
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_none_exist: str | None = None
    res_id: str | None = None  # a transaction's POST: the id the server assigned up front


@dataclass(slots=True)
class EntryResponse:
    """The outcome of one entry, as ``Bundle.entry.response`` (and ``entry.resource``) will say it."""

    status: int
    resource: dict[str, Any] | None = None  # the answer's body: the resource, a Bundle, an OperationOutcome
    location: str | None = None  # Type/id/_history/v
    etag: str | None = None
    last_modified: str | None = None  # FHIR instant
    outcome: dict[str, Any] | None = None
    target: tuple[str, str] | None = None  # (type, id) written or matched


class EntryExecutor(Protocol):
    """Carries out one entry's interaction inside ``tx`` (supplied by the REST layer)."""

    async def execute(self, tx: StoreTx, request: EntryRequest) -> EntryResponse: ...

    async def match(self, tx: StoreTx, res_type: str, query: str) -> list[str]:
        """The ids (at most two) of the ``res_type`` resources matching search ``query``."""
        ...


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an error carries (``SearchError``: 400); ``None`` for an unexpected error."""
    value = getattr(exc, "status", None)
    if isinstance(value, int) and 400 <= value <= 599:
        return value
    if isinstance(exc, SenHealthError):
        return 400 if type(exc).__name__ == "SearchError" else None
    return None


def _located(outcome: dict[str, Any], index: int, res_type: str | None) -> dict[str, Any]:
    """The issues of ``outcome`` re-rooted at ``Bundle.entry[index]`` (resource paths under ``.resource``)."""
    where = f"Bundle.entry[{index}]"
    issues: list[dict[str, Any]] = []
    for raw in outcome.get("issue") or [{}]:
        issue = dict(raw)
        paths: list[str] = []
        for path in issue.get("expression") or []:
            if res_type and (path == res_type or path.startswith(res_type + ".")):
                paths.append(f"{where}.resource{path[len(res_type) :]}")
            elif path.startswith("Bundle.entry["):
                paths.append(path)
            else:
                paths.append(f"{where}.{path}" if path else where)
        if not paths:
            paths = [where]
        issue["expression"] = paths
        issue["location"] = list(paths)
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or "failed"
        issue["diagnostics"] = f"{where}: {text}"
        issue.setdefault("severity", "error")
        issue.setdefault("code", "processing")
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def _entry_error(exc: Exception, request: EntryRequest) -> BundleError | None:
    status = status_of(exc)
    if status is None:
        return None
    res_type = request.url.split("/", 1)[0].split("?", 1)[0] or None
    raw = (
        exc.outcome()
        if isinstance(exc, SenHealthError)
        else operation_outcome("error", "processing", str(exc))
    )
    outcome = _located(raw, request.index, res_type)
    return BundleError(status, outcome["issue"][0]["diagnostics"], outcome)


def _relative(url: str, bases: Sequence[str], where: str) -> str:
    """``url`` relative to this server's base (absolute URLs under another base are refused)."""
    text = url.strip()
    for base in bases:
        if base and text.startswith(base + "/"):
            return text[len(base) + 1 :]
    if urlsplit(text).scheme:
        raise BundleError(400, f"{where}: {url[:100]!r} is not on this server", expression=where)
    return text.lstrip("/")


def _requests(bundle: dict[str, Any], bases: Sequence[str]) -> list[EntryRequest]:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise BundleError(400, "Bundle.entry must be an array", expression="Bundle.entry")
    out: list[EntryRequest] = []
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict):
            raise BundleError(400, f"{where} must be an object", expression=where)
        req = entry.get("request")
        if not isinstance(req, dict):
            raise BundleError(
                400, f"{where}.request is required in a batch or transaction", expression=f"{where}.request"
            )
        method, url = req.get("method"), req.get("url")
        if method not in METHODS:
            raise BundleError(
                400,
                f"{where}.request.method must be one of {', '.join(sorted(METHODS))}",
                expression=f"{where}.request.method",
            )
        if not isinstance(url, str) or not url.strip():
            raise BundleError(400, f"{where}.request.url is required", expression=f"{where}.request.url")
        resource = entry.get("resource")
        if resource is not None and not isinstance(resource, dict):
            raise BundleError(400, f"{where}.resource must be a resource", expression=f"{where}.resource")
        if method in ("POST", "PUT", "PATCH") and resource is None and "$" not in url:
            raise BundleError(400, f"{where}: a {method} needs a resource", expression=f"{where}.resource")
        full_url = entry.get("fullUrl")
        headers = {k: req.get(k) for k in ("ifMatch", "ifNoneMatch", "ifModifiedSince", "ifNoneExist")}
        for key, value in headers.items():
            if value is not None and not isinstance(value, str):
                raise BundleError(
                    400, f"{where}.request.{key} must be a string", expression=f"{where}.request.{key}"
                )
        out.append(
            EntryRequest(
                index=i,
                method=str(method),
                url=_relative(url, bases, f"{where}.request.url"),
                resource=resource,
                full_url=full_url if isinstance(full_url, str) and full_url else None,
                if_match=headers["ifMatch"],
                if_none_match=headers["ifNoneMatch"],
                if_modified_since=headers["ifModifiedSince"],
                if_none_exist=headers["ifNoneExist"],
            )
        )
    _check_full_urls(out)
    return out


def _check_full_urls(requests: list[EntryRequest]) -> None:
    """bdl-7: a fullUrl appears once in a Bundle (or its entries carry different ``meta.versionId``)."""
    seen: dict[str, EntryRequest] = {}
    for req in requests:
        if req.full_url is None:
            continue
        first = seen.setdefault(req.full_url, req)
        if first is req:
            continue
        versions = [((r.resource or {}).get("meta") or {}).get("versionId") for r in (first, req)]
        if None in versions or versions[0] == versions[1]:
            where = f"Bundle.entry[{req.index}].fullUrl"
            raise BundleError(
                400,
                f"{where}: the fullUrl {req.full_url[:100]} is not unique: Bundle.entry[{first.index}] has it "
                "too (bdl-7: a fullUrl must be unique in a Bundle)",
                expression=where,
            )
        seen[req.full_url] = req


def _rewrite(
    resource: dict[str, Any], mapping: dict[str, str], index: int, unresolved: list[str] | None = None
) -> dict[str, Any]:
    try:
        return rewrite_references(resource, mapping, unresolved)
    except RecursionError:
        where = f"Bundle.entry[{index}].resource"
        raise BundleError(400, f"{where}: the resource is nested too deeply", expression=where) from None


def _dangling(references: list[str], index: int) -> None:
    """400 when a reference still names a ``urn:uuid:`` / ``urn:oid:`` after rewriting: no entry of
    the Bundle has that fullUrl, and nothing could ever resolve it."""
    for ref in references:
        if ref.startswith(_LOCAL_URN):
            where = f"Bundle.entry[{index}].resource"
            raise BundleError(
                400,
                f"{where}: the reference {ref[:100]} names no entry of the Bundle (no entry has it as "
                "fullUrl)",
                expression=where,
            )


@dataclass(slots=True)
class _Transaction:
    store: FhirStore
    executor: EntryExecutor
    tx: StoreTx
    requests: list[EntryRequest]
    mapping: dict[str, str] = field(default_factory=dict)  # fullUrl or conditional reference -> Type/id
    done: dict[int, EntryResponse] = field(default_factory=dict)  # entries answered without executing
    targets: set[tuple[str, str]] = field(default_factory=set)  # the resources this transaction writes

    async def _one(self, req: EntryRequest, res_type: str, query: str) -> str | None:
        ids = await self.executor.match(self.tx, res_type, query)
        if len(ids) > 1:
            raise BundleError(
                412,
                f"Bundle.entry[{req.index}]: {res_type}?{query[:100]} matches more than one resource",
                expression=f"Bundle.entry[{req.index}].request",
            )
        return ids[0] if ids else None

    async def resolve_targets(self) -> None:
        """Step 1: ids for POSTs, conditional URLs to instances, fullUrl -> Type/id."""
        written: dict[tuple[str, str], int] = {}
        for n, req in enumerate(self.requests):
            try:
                target = await self._target(n, req)
            except BundleError:
                raise
            except Exception as exc:
                error = _entry_error(exc, req)
                if error is None:
                    raise
                raise error from exc
            req = self.requests[n]
            if target is None:
                continue
            if req.full_url:
                self.mapping[req.full_url] = f"{target[0]}/{target[1]}"
            if req.index not in self.done:
                if target in written:
                    raise BundleError(
                        400,
                        f"Bundle.entry[{req.index}] and Bundle.entry[{written[target]}] both change "
                        f"{target[0]}/{target[1]}",
                        expression=f"Bundle.entry[{req.index}].request.url",
                    )
                written[target] = req.index
        self.targets = set(written)

    async def _target(self, n: int, req: EntryRequest) -> tuple[str, str] | None:
        """The resource an entry writes (resolving conditions), or ``None`` for a read."""
        target: tuple[str, str] | None = None
        if req.method == "POST" and _TYPE.match(req.url.split("?", 1)[0]):
            res_type = req.url.split("?", 1)[0]
            found = (
                await self._one(req, res_type, req.if_none_exist.split("?", 1)[-1])
                if req.if_none_exist
                else None
            )
            if found is not None:
                stored = await self.tx.read(res_type, found)
                self.done[req.index] = EntryResponse(
                    200,
                    stored.content,
                    stored.location,
                    stored.etag,
                    instant(stored.last_updated),
                    operation_outcome("information", "informational", f"{res_type}/{found} already exists"),
                    (res_type, found),
                )
                target = (res_type, found)
            else:
                res_id = new_id()
                self.requests[n] = replace(req, res_id=res_id, if_none_exist=None)
                target = (res_type, res_id)
        elif req.method in ("PUT", "PATCH", "DELETE"):
            target = await self._conditional(n, req)
        return target

    async def _conditional(self, n: int, req: EntryRequest) -> tuple[str, str] | None:
        m = _INSTANCE.match(req.url)
        if m is not None:
            return (m.group(1), m.group(2))
        res_type, sep, query = req.url.partition("?")
        if not sep or not _TYPE.match(res_type):
            return None
        found = await self._one(req, res_type, query)
        if found is None:
            if req.method == "DELETE":
                self.done[req.index] = EntryResponse(
                    204,
                    outcome=operation_outcome(
                        "information", "informational", f"No {res_type} matches: nothing to delete"
                    ),
                )
                return None
            if req.method == "PATCH":
                raise BundleError(
                    404,
                    f"Bundle.entry[{req.index}]: no {res_type} matches {query[:100]}",
                    expression=f"Bundle.entry[{req.index}].request.url",
                )
            body_id = (req.resource or {}).get("id")
            found = body_id if isinstance(body_id, str) and body_id else new_id()
        elif req.method == "PUT" and (req.resource or {}).get("id") not in (None, found):
            raise BundleError(
                400,
                f"Bundle.entry[{req.index}]: the resource's id is not the id of the match ({found})",
                expression=f"Bundle.entry[{req.index}].resource.id",
            )
        resource = (
            {**req.resource, "id": found}
            if req.method == "PUT" and req.resource is not None
            else req.resource
        )
        self.requests[n] = replace(req, url=f"{res_type}/{found}", resource=resource)
        return (res_type, found)

    async def rewrite(self, req: EntryRequest) -> EntryRequest:
        """Step 2, per write: references to entries' fullUrls and conditional references."""
        if req.resource is None:
            return req
        resource = _rewrite(req.resource, self.mapping, req.index)
        pending = {
            ref for ref in _references(resource) if _CONDITIONAL_REF.match(ref) and ref not in self.mapping
        }
        for ref in sorted(pending):
            m = _CONDITIONAL_REF.match(ref)
            assert m is not None
            ids = await self.executor.match(self.tx, m.group(1), m.group(2))
            if len(ids) != 1:
                raise BundleError(
                    412,
                    f"Bundle.entry[{req.index}]: the conditional reference {ref[:100]} matches "
                    f"{'no' if not ids else 'more than one'} resource",
                    expression=f"Bundle.entry[{req.index}].resource",
                )
            self.mapping[ref] = f"{m.group(1)}/{ids[0]}"
        if pending:
            resource = _rewrite(resource, self.mapping, req.index)
        _dangling(_references(resource), req.index)
        return replace(req, resource=resource)


def _references(node: Any) -> list[str]:
    out: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "reference" and isinstance(value, str):
                    out.append(value)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
    return out


def _response_entry(response: EntryResponse, return_pref: str | None, base: str) -> dict[str, Any]:
    status = HTTPStatus(response.status)
    resp: dict[str, Any] = {"status": f"{status.value} {status.phrase}"}
    if response.location:
        resp["location"] = f"{base}/{response.location}" if base else response.location
    if response.etag:
        resp["etag"] = response.etag
    if response.last_modified:
        resp["lastModified"] = response.last_modified
    if response.outcome is not None and (return_pref == "OperationOutcome" or response.status >= 400):
        resp["outcome"] = response.outcome
    entry: dict[str, Any] = {}
    if response.target is not None and response.status < 400 and base:
        entry["fullUrl"] = f"{base}/{response.target[0]}/{response.target[1]}"
    is_read = response.target is None  # a GET or an operation: the resource is the answer itself
    if response.resource is not None and (is_read or return_pref in (None, "representation")):
        entry["resource"] = response.resource
    entry["response"] = resp
    return entry


def _plain_writes(
    requests: list[EntryRequest],
) -> list[tuple[EntryRequest, dict[str, Any], str]] | None:
    """The entries as ``(request, resource, id)`` when the Bundle only creates (``POST Type``) and
    updates (``PUT Type/id``) distinct resources, with no conditions and no conditional references;
    else ``None`` (entry-by-entry processing)."""
    if not requests:
        return None
    types = resource_types()
    planned: list[tuple[EntryRequest, str, str]] = []
    mapping: dict[str, str] = {}
    targets: set[tuple[str, str]] = set()
    for req in requests:
        resource = req.resource
        if (
            resource is None
            or req.if_match is not None
            or req.if_none_match is not None
            or req.if_modified_since is not None
            or req.if_none_exist is not None
        ):
            return None
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str) or rtype not in types:
            return None
        if req.method == "POST" and req.url == rtype:
            res_id = new_id()
        elif req.method == "PUT" and (m := _INSTANCE.match(req.url)) and m.group(1) == rtype:
            res_id = m.group(2)
            if resource.get("id") != res_id:
                return None  # entry by entry says what is wrong
        else:
            return None
        if (rtype, res_id) in targets:
            return None
        targets.add((rtype, res_id))
        if req.full_url:
            mapping[req.full_url] = f"{rtype}/{res_id}"
        planned.append((req, rtype, res_id))
    out: list[tuple[EntryRequest, dict[str, Any], str]] = []
    for req, _, res_id in planned:
        assert req.resource is not None
        left: list[str] = []
        resource = _rewrite(req.resource, mapping, req.index, left)
        if any(_CONDITIONAL_REF.match(ref) for ref in left):
            return None
        _dangling(left, req.index)
        if req.method == "POST":
            resource = {**resource, "id": res_id}
        out.append((req, resource, res_id))
    return out


async def _bulk(
    tx: StoreTx, plan: list[tuple[EntryRequest, dict[str, Any], str]]
) -> tuple[dict[int, EntryResponse], set[str]]:
    """Write a Bundle of plain creates and updates in a few statements (:meth:`StoreTx.write_many`)."""
    try:
        written = await tx.write_many([(resource, res_id, req.method) for req, resource, res_id in plan])
    except EntryInvalid as exc:
        req = plan[exc.position][0]
        error = _entry_error(exc, req)
        assert error is not None
        raise error from exc
    answers: dict[int, EntryResponse] = {}
    patients = {done.stored.pkey for done in written}
    for (req, _, _), done in zip(plan, written, strict=True):
        stored = done.stored
        status = 201 if done.created else 200
        what = "Created" if done.created else "Updated"
        answers[req.index] = EntryResponse(
            status,
            stored.content,
            stored.location,
            stored.etag,
            instant(stored.last_updated),
            operation_outcome("information", "informational", f"{what} {stored.location}"),
            (stored.res_type, stored.res_id),
        )
    return answers, patients


async def _retried(run: Callable[[], Awaitable[dict[int, EntryResponse]]]) -> dict[int, EntryResponse]:
    """``run()``, again (up to :data:`RETRIES` times) when PostgreSQL chose it as a deadlock's victim:
    it was rolled back whole, so running it again is safe; then 409, telling the client to retry."""
    for attempt in range(RETRIES + 1):
        try:
            return await run()
        except _ROLLED_BACK:
            if attempt == RETRIES:
                break
            await asyncio.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # jitter
    raise BundleError(
        409,
        "The transaction conflicted with concurrent writes to the same resources and was rolled back; "
        "send it again",
        expression="Bundle",
    )


async def _audit(tx: StoreTx, kind: str, answers: dict[int, EntryResponse], patients: set[str]) -> None:
    """One audit event for the Bundle, in its transaction (nothing when no sink is installed)."""
    sink = audit_sink()
    if sink is NO_AUDIT:
        return
    touched: set[tuple[str, str]] = set()
    for answer in answers.values():
        if answer.target is not None:
            touched.add(answer.target)
        body = answer.resource
        if isinstance(body, dict) and body.get("resourceType") == "Bundle":
            for e in body.get("entry") or ():
                res = e.get("resource") if isinstance(e, dict) else None
                if isinstance(res, dict) and isinstance(res.get("id"), str):
                    touched.add((str(res.get("resourceType")), res["id"]))
        elif isinstance(body, dict) and isinstance(body.get("id"), str):
            touched.add((str(body.get("resourceType")), body["id"]))
    if touched:  # the patients whose data the Bundle wrote or returned (BALP: the patients concerned)
        types, ids = zip(*sorted(touched), strict=True)
        cur = await tx.conn.execute(
            "SELECT DISTINCT pkey FROM fhir_locator WHERE (res_type, res_id) IN"
            " (SELECT * FROM unnest(%s::text[], %s::text[]))",
            (list(types), list(ids)),
        )
        patients.update(str(r[0]) for r in await cur.fetchall())
    event = AccessEvent(
        when=datetime.now(UTC),
        principal=current_principal().get(),
        action="operation",
        res_type=None,
        query=kind,
        patients=sorted(p for p in patients if p),
        details={"entries": len(answers)},
    )
    await sink.record(tx.conn, event)


async def _transaction(
    store: FhirStore, executor: EntryExecutor, requests: list[EntryRequest]
) -> dict[int, EntryResponse]:
    answers: dict[int, EntryResponse] = {}
    plan = _plain_writes(requests) if getattr(executor, "allows_bulk", True) else None
    async with store.transaction() as tx:
        if plan is not None:
            answers, patients = await _bulk(tx, plan)
            await _audit(tx, "transaction", answers, patients)
            return answers
        state = _Transaction(store, executor, tx, requests)
        await state.resolve_targets()
        await tx.lock_existing(state.targets)
        answers.update(state.done)
        for req in sorted(state.requests, key=lambda r: (_ORDER[r.method], r.index)):
            if req.index in answers:
                continue
            try:
                ready = await state.rewrite(req) if req.method in ("POST", "PUT", "PATCH") else req
                answers[req.index] = await executor.execute(tx, ready)
            except BundleError:
                raise
            except Exception as exc:
                error = _entry_error(exc, req)
                if error is None:
                    raise
                raise error from exc
        await _audit(tx, "transaction", answers, set())
    return answers


async def _batch(
    store: FhirStore, executor: EntryExecutor, requests: list[EntryRequest]
) -> dict[int, EntryResponse]:
    answers: dict[int, EntryResponse] = {}
    for req in requests:
        try:
            async with store.transaction() as tx:
                state = _Transaction(store, executor, tx, [req])
                ready = await state.rewrite(req) if req.method in ("POST", "PUT", "PATCH") else req
                answers[req.index] = await executor.execute(tx, ready)
                await _audit(tx, "batch", {req.index: answers[req.index]}, set())
        except _ROLLED_BACK:  # a deadlock's victim: this entry only, rolled back
            conflict = BundleError(
                409, f"Bundle.entry[{req.index}] conflicted with concurrent writes; send it again"
            )
            answers[req.index] = EntryResponse(conflict.status, outcome=conflict.outcome())
        except Exception as exc:
            error = exc if isinstance(exc, BundleError) else _entry_error(exc, req)
            if error is None:
                raise
            answers[req.index] = EntryResponse(error.status, outcome=error.outcome())
    return answers


async def process_bundle(
    store: FhirStore,
    bundle: Any,
    executor: EntryExecutor,
    *,
    bases: Sequence[str] = (),
    base: str = "",
    return_pref: str | None = None,
) -> dict[str, Any]:
    """Run a ``batch`` or ``transaction`` Bundle; return the ``batch-response`` / ``transaction-response``.

    ``bases`` are this server's base URLs (absolute request URLs under them are accepted), ``base`` the
    one to write in locations and fullUrls, ``return_pref`` the ``Prefer: return=`` of the request.
    Raises :class:`BundleError` (a transaction that failed: nothing was written; or a malformed Bundle).
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleError(
            400, "POST to the base takes a Bundle of type batch or transaction", expression="Bundle"
        )
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise BundleError(
            400, f"Bundle.type must be batch or transaction, not {str(kind)[:40]!r}", expression="Bundle.type"
        )
    known = tuple(b.rstrip("/") for b in (*bases, base) if b)
    requests = _requests(bundle, known)
    if kind == "transaction":
        answers = await _retried(lambda: _transaction(store, executor, list(requests)))
    else:
        answers = await _batch(store, executor, requests)
    return {
        "resourceType": "Bundle",
        "type": f"{kind}-response",
        "entry": [_response_entry(answers[r.index], return_pref, base) for r in requests],
    }
