"""Stored ViewDefinitions: create, read, update, delete, list, find by canonical URL.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html (the resource; ``name``
matches ``^[A-Za-z][A-Za-z0-9_]*$``, ``status`` is a PublicationStatus code) and the FHIR REST
interactions it is served with (https://hl7.org/fhir/R4/http.html: create, update with ``If-Match``,
read, delete, search by ``name`` / ``url``).

ViewDefinition is not an R4 resource type, so the FHIR store (which validates against R4) does not
hold it: views live in ``analytics_view`` (migration ``0016_views.sql``), current version only, with
``meta.versionId`` / ``meta.lastUpdated`` kept like the store's. Every write checks the view
(:func:`view_problems`: :func:`~senhealth.analytics.viewdef.validate_view`, plus the resource type,
``name`` and ``status``) and refuses it with :class:`InvalidView` (400, one issue per problem, each
naming its path) before anything is written. Ids are the server's (UUIDs) on create, the client's on
update-as-create.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from senhealth.core.errors import SenHealthError
from senhealth.fhir.json import dumps_text
from senhealth.fhir.search.request import resource_types
from senhealth.fhir.store import content_from_text

from .viewdef import validate_view

__all__ = [
    "ID",
    "InvalidView",
    "StoredView",
    "ViewNotFound",
    "ViewVersionConflict",
    "create_view",
    "delete_view",
    "find_view",
    "get_view",
    "list_views",
    "put_view",
    "view_problems",
]

ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_STATUS: Final = frozenset({"draft", "active", "retired", "unknown"})
_COLUMNS: Final = "id, version, last_updated, content::text"


class InvalidView(SenHealthError):
    """A ViewDefinition refused (400): ``problems`` are ``(path, message)`` pairs."""

    code = "invalid"
    status = 400

    def __init__(self, problems: list[tuple[str, str]], prefix: str = "") -> None:
        self.problems = problems
        self.prefix = prefix
        first = problems[0] if problems else ("", "invalid")
        super().__init__(f"The ViewDefinition is invalid: {first[0]}: {first[1]}", self._path(first[0]))

    def _path(self, path: str) -> str:
        return f"{self.prefix}.{path}" if self.prefix and path else (self.prefix or path)

    def outcome(self) -> dict[str, Any]:
        issues = []
        for path, message in self.problems:
            issue: dict[str, Any] = {
                "severity": "error",
                "code": "invalid",
                "diagnostics": f"{path}: {message}",
            }
            where = self._path(path)
            if where:
                issue["expression"] = [where]
            issues.append(issue)
        return {"resourceType": "OperationOutcome", "issue": issues}


class ViewNotFound(SenHealthError):
    code = "not-found"
    status = 404


class ViewVersionConflict(SenHealthError):
    code = "conflict"
    status = 412


@dataclass(frozen=True, slots=True)
class StoredView:
    """One stored view: its id, version, time of that version and content (with ``id`` and ``meta``)."""

    id: str
    version: int
    last_updated: datetime
    content: dict[str, Any]

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


def view_problems(view: Any) -> list[tuple[str, str]]:
    """Everything wrong with ``view`` as a ViewDefinition to store or run: ``(path, message)`` pairs."""
    if not isinstance(view, dict):
        return [("", "a ViewDefinition must be a JSON object")]
    out: list[tuple[str, str]] = []
    rt = view.get("resourceType", "ViewDefinition")
    if rt != "ViewDefinition":
        out.append(("resourceType", f"expected ViewDefinition, not {str(rt)[:64]!r}"))
    for problem in validate_view(view):
        path, _, message = problem.partition(": ")
        out.append((path, message))
    resource = view.get("resource")
    if isinstance(resource, str) and resource and resource not in resource_types():
        out.append(("resource", f"{resource[:64]!r} is not a FHIR R4 resource type"))
    name = view.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
        out.append(("name", f"a view name must match {_NAME.pattern}, not {name!r}"))
    status = view.get("status")
    if status is not None and status not in _STATUS:
        out.append(("status", f"expected one of {', '.join(sorted(_STATUS))}, not {status!r}"))
    return out


def _check(view: Any) -> dict[str, Any]:
    problems = view_problems(view)
    if problems:
        raise InvalidView(problems)
    assert isinstance(view, dict)
    return view


def _row(row: tuple[Any, ...]) -> StoredView:
    when: datetime = row[2]
    return StoredView(str(row[0]), int(row[1]), when.astimezone(UTC), content_from_text(row[3]))


def _stamp(view: Mapping[str, Any], view_id: str, version: int, when: datetime) -> dict[str, Any]:
    meta = dict(view.get("meta") or {}) if isinstance(view.get("meta"), dict) else {}
    meta["versionId"] = str(version)
    meta["lastUpdated"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = {k: v for k, v in view.items() if k not in ("resourceType", "id", "meta")}
    return {"resourceType": "ViewDefinition", "id": view_id, "meta": meta, **body}


async def _write(
    conn: AsyncConnection[TupleRow], view_id: str, version: int, view: Mapping[str, Any]
) -> StoredView:
    when = datetime.now(UTC)
    content = _stamp(view, view_id, version, when)
    params = {
        "id": view_id,
        "version": version,
        "name": content.get("name"),
        "url": content.get("url"),
        "status": content.get("status"),
        "resource": content["resource"],
        "content": Jsonb(content, dumps=dumps_text),
        "when": when,
    }
    await conn.execute(
        "INSERT INTO analytics_view (id, version, name, url, status, resource, content, last_updated)"
        " VALUES (%(id)s, %(version)s, %(name)s, %(url)s, %(status)s, %(resource)s, %(content)s, %(when)s)"
        " ON CONFLICT (id) DO UPDATE SET version = excluded.version, name = excluded.name,"
        " url = excluded.url, status = excluded.status, resource = excluded.resource,"
        " content = excluded.content, last_updated = excluded.last_updated",
        params,
    )
    return StoredView(view_id, version, when, content)


async def create_view(conn: AsyncConnection[TupleRow], view: Any) -> StoredView:
    """Store a new view under a new id (a client's ``id`` is ignored, as in FHIR create)."""
    return await _write(conn, str(uuid.uuid4()), 1, _check(view))


async def put_view(
    conn: AsyncConnection[TupleRow], view_id: str, view: Any, *, if_match: int | None = None
) -> tuple[StoredView, bool]:
    """Update (or create, when ``view_id`` is new) a view; returns it and whether it was created.
    ``if_match``: the version the client last saw (:class:`ViewVersionConflict` otherwise)."""
    if not ID.match(view_id):
        raise InvalidView([("id", f"{view_id[:70]!r} is not a FHIR id")])
    checked = _check(view)
    body_id = checked.get("id")
    if body_id is not None and body_id != view_id:
        raise InvalidView([("id", f"the body's id {str(body_id)[:70]!r} differs from the URL's {view_id!r}")])
    cur = await conn.execute("SELECT version FROM analytics_view WHERE id = %s FOR UPDATE", (view_id,))
    row = await cur.fetchone()
    current = int(row[0]) if row else None
    if if_match is not None and if_match != current:
        raise ViewVersionConflict(
            f"ViewDefinition/{view_id} is at version {current}, not {if_match}"
            if current
            else f"ViewDefinition/{view_id} does not exist"
        )
    stored = await _write(conn, view_id, (current or 0) + 1, checked)
    return stored, current is None


async def get_view(conn: AsyncConnection[TupleRow], view_id: str) -> StoredView:
    """The view with this id; :class:`ViewNotFound` when there is none."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM analytics_view WHERE id = %s", (view_id,))
    row = await cur.fetchone()
    if row is None:
        raise ViewNotFound(f"ViewDefinition/{view_id[:70]} is not known")
    return _row(row)


async def delete_view(conn: AsyncConnection[TupleRow], view_id: str, *, if_match: int | None = None) -> bool:
    """Delete a view; False when there was none."""
    cur = await conn.execute("SELECT version FROM analytics_view WHERE id = %s FOR UPDATE", (view_id,))
    row = await cur.fetchone()
    if row is None:
        if if_match is not None:
            raise ViewVersionConflict(f"ViewDefinition/{view_id} does not exist")
        return False
    if if_match is not None and if_match != int(row[0]):
        raise ViewVersionConflict(f"ViewDefinition/{view_id} is at version {row[0]}, not {if_match}")
    await conn.execute("DELETE FROM analytics_view WHERE id = %s", (view_id,))
    return True


async def list_views(
    conn: AsyncConnection[TupleRow],
    *,
    name: str | None = None,
    url: str | None = None,
    resource: str | None = None,
    limit: int = 100,
) -> list[StoredView]:
    """Stored views, by name (exact), canonical URL, or resource type; newest first."""
    where, params = [], []
    for column, value in (("name", name), ("url", url), ("resource", resource)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM analytics_view {clause} ORDER BY last_updated DESC, id LIMIT %s",
        (*params, limit),
    )
    return [_row(r) for r in await cur.fetchall()]


async def find_view(conn: AsyncConnection[TupleRow], reference: str) -> StoredView:
    """The view a ``viewReference`` names: ``ViewDefinition/<id>`` (relative, or at the end of an
    absolute URL of this server), or a canonical URL with an optional ``|version`` (matched against
    the stored ``url`` and ``version``); :class:`ViewNotFound` otherwise."""
    ref = reference.strip()
    canonical, _, version = ref.partition("|")
    by_url = await list_views(conn, url=canonical, limit=50)
    if version:
        by_url = [v for v in by_url if v.content.get("version") == version]
    if by_url:
        return by_url[0]
    if "ViewDefinition/" in ref:
        view_id = ref.rsplit("ViewDefinition/", 1)[1].split("/", 1)[0]
        if ID.match(view_id):
            return await get_view(conn, view_id)
    raise ViewNotFound(f"No ViewDefinition found for the reference {ref[:120]!r}")
