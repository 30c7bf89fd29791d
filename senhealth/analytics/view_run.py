"""Running a ViewDefinition over the store (or over resources given inline) into an output stream.

Spec: https://sql-on-fhir.org/ig/latest/OperationDefinition-ViewDefinitionRun.html (``$run``: the
resources of the view's type, filtered by ``patient`` / ``group`` / ``_since``, at most ``_limit`` rows,
in the ``_format`` asked for, streamed).

:class:`ViewRun` is what ``ViewDefinition/$run`` (``senhealth.api.views``) and ``senhealth views run``
use: :meth:`ViewRun.start` reads and evaluates the first batch (so that a view that fails on the
data fails before anything is sent, as a clean error), :meth:`ViewRun.rest` yields the remaining
bytes batch by batch (:meth:`ViewRun.close` when ``start`` failed). The next batch is read while the
current one is evaluated. Resources are de-identified (:func:`senhealth.fhir.deidentify.deidentify`) before
the view sees them when the caller's restriction says so. The view runs in a worker thread per batch,
so a long run does not stall the event loop. :attr:`ViewRun.patients` collects the patients whose data
made rows (for the audit record), :attr:`ViewRun.rows` counts the rows written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from senhealth.fhir.deidentify import deidentify

from .view_source import BATCH, Source, StoredResource, read_batches
from .viewdef import CompiledView
from .viewdef.formats import RowWriter, row_writer

__all__ = ["ViewRun"]

Row = dict[str, Any]


class ViewRun:
    """One run of ``view`` (see the module docstring).

    ``resources``: run over these instead of the store (``$run``'s ``resource`` parameter); else
    ``pool`` and ``param_ids`` (``FhirStore.param_ids()``) are needed and ``source`` selects what is
    read. ``limit``: at most this many rows.
    """

    def __init__(
        self,
        view: CompiledView,
        fmt: str,
        *,
        header: bool = True,
        limit: int | None = None,
        source: Source | None = None,
        resources: Sequence[Mapping[str, Any]] | None = None,
        pool: AsyncConnectionPool[AsyncConnection[TupleRow]] | None = None,
        param_ids: Mapping[tuple[str, str], int] | None = None,
        batch: int = BATCH,
    ) -> None:
        if resources is None and (pool is None or param_ids is None):
            raise ValueError("a run over the store needs the pool and the parameter ids")
        self.view = view
        self.writer: RowWriter = row_writer(fmt, view.columns, header=header)
        self.limit = limit
        self.source = source or Source()
        self.resources = resources
        self.pool = pool
        self.param_ids = param_ids or {}
        self.batch = batch
        self.rows = 0
        self.resources_read = 0
        self.patients: set[str] = set()
        self._batches: AsyncGenerator[list[StoredResource], None] | None = None
        self._ahead: asyncio.Future[list[StoredResource] | None] | None = None
        self._done = False

    @property
    def media_type(self) -> str:
        return self.writer.media_type

    def _evaluate(self, batch: Iterable[StoredResource]) -> list[Row]:
        out: list[Row] = []
        deidentified = self.source.restriction is not None and self.source.restriction.deidentified
        for res in batch:
            self.resources_read += 1
            content = deidentify(res.content) if deidentified else res.content
            rows = self.view.rows(content)
            if rows and res.pkey:
                self.patients.add(res.pkey)
            out.extend(rows)
            if self.limit is not None and self.rows + len(out) >= self.limit:
                out = out[: self.limit - self.rows]
                self._done = True
                break
        return out

    async def _fetch(self) -> list[StoredResource] | None:
        assert self._batches is not None
        return await anext(self._batches, None)

    async def _next(self) -> list[StoredResource] | None:
        """The next batch; the one after it is read meanwhile (reading overlaps evaluating)."""
        if self._done:
            return None
        if self.resources is not None:
            self._done = True
            return [StoredResource(str(r.get("id") or ""), "", parsed=dict(r)) for r in self.resources]
        if self._batches is None:
            assert self.pool is not None
            self._batches = read_batches(
                self.pool, self.view.resource, self.source, self.param_ids, batch=self.batch
            )
            self._ahead = asyncio.ensure_future(self._fetch())
        assert self._ahead is not None
        found = await self._ahead
        self._ahead = None
        if found is None or len(found) < self.batch:  # a short batch is the last
            self._done = True
        else:
            self._ahead = asyncio.ensure_future(self._fetch())
        return found

    async def close(self) -> None:
        """Stop reading (called by :meth:`rest` at its end; call it when :meth:`start` failed)."""
        if self._ahead is not None:
            self._ahead.cancel()
            with contextlib.suppress(BaseException):
                await self._ahead
            self._ahead = None
        if self._batches is not None:
            await self._batches.aclose()

    async def _chunk(self) -> bytes | None:
        """The bytes of the next batch (None: nothing more to read)."""
        batch = await self._next()
        if batch is None:
            return None
        rows = await asyncio.to_thread(self._evaluate, batch) if len(batch) > 20 else self._evaluate(batch)
        self.rows += len(rows)
        return self.writer.write(rows)

    async def start(self) -> bytes:
        """The first bytes: the format's opening and the first batch's rows. Raises
        :class:`~senhealth.analytics.viewdef.ViewDefinitionError` if the view fails on that batch."""
        head = self.writer.begin()
        first = await self._chunk()
        return head + (first or b"")

    async def rest(self) -> AsyncIterator[bytes]:
        """The remaining bytes, batch by batch, then the format's closing."""
        try:
            while (chunk := await self._chunk()) is not None:
                if chunk:
                    yield chunk
            yield self.writer.end()
        finally:
            await self.close()

    async def collect(self) -> bytes:
        """The whole output at once (tests, small runs)."""
        try:
            parts = [await self.start()]
        except BaseException:
            await self.close()
            raise
        parts.extend([c async for c in self.rest()])
        return b"".join(parts)
