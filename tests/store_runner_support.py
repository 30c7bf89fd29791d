"""Run a coroutine against a FHIR store on a migrated schema: the pattern many test modules share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from senhealth.core.db import create_pool
from senhealth.fhir.store import FhirStore

T = TypeVar("T")


def run_with_store(
    url: str, fn: Callable[[FhirStore], Awaitable[T]], *, base_urls: tuple[str, ...] = ()
) -> T:
    """``fn(store)`` on a pool of up to 4 connections opened on ``url``, closed afterwards."""

    async def main() -> T:
        pool = create_pool(url, min_size=1, max_size=4)
        await pool.open(wait=True)
        try:
            return await fn(FhirStore(pool, base_urls=base_urls))
        finally:
            await pool.close()

    return asyncio.run(main())
