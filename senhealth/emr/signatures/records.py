"""Finding what this package stored: the signed document Bundles of a Composition and the Provenances
that carry their signatures.

Spec: https://hl7.org/fhir/R4/bundle.html#search (``composition``: the Composition of a document
Bundle, ``Bundle.entry[0].resource``), https://hl7.org/fhir/R4/provenance.html#search (``target``) and
https://hl7.org/fhir/R4/search.html#tag (``_tag``).

Both kinds of record carry a ``meta.tag`` of :data:`~senhealth.emr.signatures.model.RECORD_TAG_SYSTEM`
(``signed-document`` on the Bundle, ``signature`` on each Provenance; ``meta`` is outside what a
signature covers), so a search by Composition finds them and nothing else: a document Bundle someone
stored by hand, without the tag, is not a signed document of this platform.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core import db
from senhealth.emr.signatures.model import RECORD_TAG_SYSTEM, SIGNATURE_PROVENANCE_TAG, SIGNED_BUNDLE_TAG
from senhealth.fhir.search.execute import Row, search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore

__all__ = [
    "MAX_RECORDS",
    "SignedRecords",
    "bundle_of",
    "connection",
    "find_provenances",
    "find_signed_bundles",
    "has_tag",
    "search_rows",
    "signed_records",
]

#: No document has more signatures (or signed versions) than this; past it a look-up is refused.
MAX_RECORDS: Final = 500


def has_tag(resource: dict[str, Any] | None, tag: dict[str, str]) -> bool:
    """Whether ``resource.meta.tag`` holds ``tag`` (system and code)."""
    if not resource:
        return False
    meta = resource.get("meta")
    tags = meta.get("tag") if isinstance(meta, dict) else None
    return isinstance(tags, list) and any(
        isinstance(t, dict) and t.get("system") == tag["system"] and t.get("code") == tag["code"]
        for t in tags
    )


@asynccontextmanager
async def connection(
    store: FhirStore, conn: AsyncConnection[TupleRow] | None = None
) -> AsyncIterator[AsyncConnection[TupleRow]]:
    """``conn`` when given; inside a caller's transaction, that transaction; else a pooled connection."""
    if conn is not None:
        yield conn
    elif db.in_transaction():
        async with db.transaction(store.pool) as joined:
            yield joined
    else:
        async with store.pool.connection() as own:
            yield own


async def search_rows(
    store: FhirStore, res_type: str, params: list[tuple[str, str]], conn: AsyncConnection[TupleRow] | None
) -> list[Row]:
    """The matches of a search (at most :data:`MAX_RECORDS`; more raise ``RuntimeError``)."""
    request = parse_search(res_type, [*params, ("_count", str(MAX_RECORDS))], strict=True)
    async with connection(store, conn) as c:
        result = await search(c, request, await store.param_ids())
    if result.next_cursor is not None:
        raise RuntimeError(f"more than {MAX_RECORDS} signature records for one document")
    return result.matches


async def find_signed_bundles(
    store: FhirStore, composition_id: str, *, conn: AsyncConnection[TupleRow] | None = None
) -> list[Row]:
    """The signed document Bundles generated from ``Composition/{composition_id}``, oldest first."""
    rows = await search_rows(
        store,
        "Bundle",
        [
            ("composition", f"Composition/{composition_id}"),
            ("_tag", f"{RECORD_TAG_SYSTEM}|{SIGNED_BUNDLE_TAG['code']}"),
        ],
        conn,
    )
    return sorted(rows, key=lambda r: (r.last_updated, r.res_id))


async def find_provenances(
    store: FhirStore, target: str, *, conn: AsyncConnection[TupleRow] | None = None
) -> list[Row]:
    """The signature Provenances whose ``target`` is ``target`` (``Composition/x`` or ``Bundle/y``),
    oldest first."""
    rows = await search_rows(
        store,
        "Provenance",
        [("target", target), ("_tag", f"{RECORD_TAG_SYSTEM}|{SIGNATURE_PROVENANCE_TAG['code']}")],
        conn,
    )
    return sorted(rows, key=lambda r: (str(r.content.get("recorded", "")), r.last_updated, r.res_id))


@dataclass(frozen=True, slots=True)
class SignedRecords:
    """One Composition's signed documents (oldest first) and the Provenances of each, by Bundle id."""

    bundles: list[Row]
    provenances: dict[str, list[Row]]

    @property
    def latest(self) -> Row | None:
        return self.bundles[-1] if self.bundles else None


def bundle_of(provenance: dict[str, Any]) -> str | None:
    """The id of the Bundle a signature Provenance targets (``Bundle/<id>[/_history/n]``)."""
    for target in provenance.get("target") or []:
        ref = target.get("reference") if isinstance(target, dict) else None
        if isinstance(ref, str) and ref.startswith("Bundle/"):
            return ref.split("/")[1]
    return None


async def signed_records(
    store: FhirStore, composition_id: str, *, conn: AsyncConnection[TupleRow] | None = None
) -> SignedRecords:
    """Every signed document of ``Composition/{composition_id}`` with its signature Provenances."""
    bundles = await find_signed_bundles(store, composition_id, conn=conn)
    provenances: dict[str, list[Row]] = {b.res_id: [] for b in bundles}
    if bundles:
        for row in await find_provenances(store, f"Composition/{composition_id}", conn=conn):
            bid = bundle_of(row.content)
            if bid in provenances:
                provenances[bid].append(row)
    return SignedRecords(bundles, provenances)
