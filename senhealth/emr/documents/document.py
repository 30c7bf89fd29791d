"""The FHIR document: a Composition and everything it references, as one ``document`` Bundle.

Spec: https://hl7.org/fhir/R4/documents.html (the document Bundle: ``Bundle.type`` ``document``,
``Bundle.identifier`` and ``Bundle.timestamp`` required, the Composition first, then the resources it
references: subject, encounter, authors, attesters, custodian, the sections' entries; each entry with a
``fullUrl``) and https://hl7.org/fhir/R4/bundle.html#references (resolving references inside a Bundle).

:func:`build_document_bundle` reads the Composition and walks its references, breadth first: first the
Composition's own (``subject``, ``encounter``, ``author``, ``attester.party``, ``custodian``,
``event.detail``, each section's ``author``, ``focus`` and ``entry``, nested sections too), then the
references of what it found (a MedicationRequest's ``medicationReference``, an Observation's
``performer``...), so that every reference in the document resolves inside it. A reference the
Composition itself makes must resolve (else :class:`DocumentError`, naming the path); a reference found
on the way (``Patient.generalPractitioner``...) is followed when it is to a stored resource and left
as it is otherwise. Not followed: ``Patient.link`` (other patients' records), ``relatesTo`` (other
documents) and references to other Compositions, Provenances and AuditEvents.

``fullUrl``: ``{base}/{Type}/{id}`` under ``base_url`` (else the store's first base URL), the stored
references left relative (they resolve against the fullUrl, bundle.html#references); with no base at
all, ``urn:uuid:`` URLs (the id when it is a UUID, else a name-based UUID of ``Type/id``) and every
reference in the document rewritten to them.

``Bundle.identifier`` is a name-based UUID of the versions of every entry: generating the document again
from unchanged resources gives the same identifier, any change to any entry a new one (documents.html:
the Bundle identifier identifies one version of the document; ``Composition.identifier`` stays).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from senhealth.fhir.access import Restriction
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.search.execute import visible_pkeys
from senhealth.fhir.store import FhirStore, Gone, NotFound, Stored, StoreTx, rewrite_references

__all__ = [
    "MAX_ENTRIES",
    "DocumentError",
    "build_document_bundle",
    "document_entries",
    "document_identifier",
]

#: No document holds more resources than this (a runaway reference graph is refused, not truncated).
MAX_ENTRIES: Final = 2000
_NAMESPACE: Final = uuid.UUID("6f1c1d0e-5b7a-4f57-9d0c-2a3c5e6f7a81")  # the project's name-based UUIDs
_NOT_FOLLOWED: Final = frozenset({"Composition", "Provenance", "AuditEvent", "Bundle"})


class DocumentError(OperationError):
    """The document cannot be built: ``status`` (404 no such Composition, 410 deleted, 422 a reference
    that does not resolve, 403 outside the caller's access), the message and the path."""


@dataclass(frozen=True, slots=True)
class _Ref:
    res_type: str
    res_id: str
    version: int | None
    path: str  # where the reference was met (Composition.section[1].entry[0])
    required: bool


def _parse(ref: str, base_urls: Sequence[str]) -> tuple[str, str, int | None] | None:
    """``(type, id, version)`` of a reference to this server's resources, or None (contained, urn,
    external URL, logical)."""
    if not ref or ref.startswith(("#", "urn:")):
        return None
    if "://" in ref:
        for base in base_urls:
            if ref.startswith(base + "/"):
                ref = ref[len(base) + 1 :]
                break
        else:
            return None
    ref = ref.split("#", 1)[0]
    parts = ref.split("/")
    if len(parts) == 2 and parts[0][:1].isupper() and parts[1]:
        return parts[0], parts[1], None
    if len(parts) == 4 and parts[0][:1].isupper() and parts[2] == "_history" and parts[3].isdigit():
        return parts[0], parts[1], int(parts[3])
    return None


def _refs_in(node: Any, path: str, skip_keys: frozenset[str] = frozenset()) -> Iterator[tuple[str, str]]:
    """Every ``(reference text, path)`` under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in skip_keys:
                continue
            if key == "reference" and isinstance(value, str):
                yield value, path
            elif isinstance(value, dict | list):
                yield from _refs_in(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _refs_in(item, f"{path}[{i}]")


def _composition_refs(comp: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The Composition's own references, in the document order of documents.html."""
    for key in ("subject", "encounter"):
        yield from _refs_in(comp.get(key), f"Composition.{key}")
    yield from _refs_in(comp.get("author"), "Composition.author")
    for i, attester in enumerate(comp.get("attester") or []):
        if isinstance(attester, dict):
            yield from _refs_in(attester.get("party"), f"Composition.attester[{i}].party")
    yield from _refs_in(comp.get("custodian"), "Composition.custodian")
    for i, event in enumerate(comp.get("event") or []):
        if isinstance(event, dict):
            yield from _refs_in(event.get("detail"), f"Composition.event[{i}].detail")
    yield from _section_refs(comp.get("section"), "Composition.section")


def _section_refs(sections: Any, path: str) -> Iterator[tuple[str, str]]:
    for i, section in enumerate(sections or []):
        if not isinstance(section, dict):
            continue
        here = f"{path}[{i}]"
        for key in ("author", "focus", "entry"):
            yield from _refs_in(section.get(key), f"{here}.{key}")
        yield from _section_refs(section.get("section"), f"{here}.section")


async def _fetch(tx: StoreTx, ref: _Ref) -> Stored | None:
    try:
        if ref.version is not None:
            return await tx.vread(ref.res_type, ref.res_id, ref.version)
        return await tx.read(ref.res_type, ref.res_id)
    except (NotFound, Gone):
        if ref.required:
            raise DocumentError(
                422,
                f"{ref.path}: {ref.res_type}/{ref.res_id} is not a stored resource; the document cannot "
                "include it",
                "not-found",
                ref.path,
            ) from None
        return None


async def document_entries(store: FhirStore, composition_id: str) -> list[Stored]:
    """The Composition and every resource of its document, in document order (see the module)."""
    async with store.transaction() as tx:
        try:
            comp = await tx.read("Composition", composition_id)
        except NotFound:
            raise DocumentError(404, f"Composition/{composition_id} is not known", "not-found") from None
        except Gone:
            raise DocumentError(410, f"Composition/{composition_id} is deleted", "deleted") from None
        assert comp.content is not None
        out: list[Stored] = [comp]
        seen: set[tuple[str, str]] = {("Composition", composition_id)}
        queue: list[_Ref] = []
        for text, path in _composition_refs(comp.content):
            parsed = _parse(text, store.base_urls)
            if parsed is None:
                if not text.startswith("#"):
                    raise DocumentError(
                        422,
                        f"{path}: the reference {text[:120]!r} is not to a resource of this server; a "
                        "document must contain what it references",
                        "invalid",
                        path,
                    )
                continue
            queue.append(_Ref(*parsed, path, True))
        while queue:
            ref = queue.pop(0)
            key = (ref.res_type, ref.res_id)
            if key in seen:
                continue
            seen.add(key)
            stored = await _fetch(tx, ref)
            if stored is None or stored.content is None:
                continue
            out.append(stored)
            if len(out) > MAX_ENTRIES:
                raise DocumentError(
                    422, f"The document would hold more than {MAX_ENTRIES} resources", "too-costly"
                )
            skip = frozenset({"link"}) if ref.res_type == "Patient" else frozenset()
            for text, path in _refs_in(stored.content, ref.res_type, skip):
                parsed = _parse(text, store.base_urls)
                if parsed is None or parsed[0] in _NOT_FOLLOWED or (parsed[0], parsed[1]) in seen:
                    continue
                queue.append(_Ref(*parsed, path, False))
        return out


def document_identifier(entries: Sequence[Stored]) -> str:
    """``urn:uuid:`` of the versions of ``entries``: the same resources give the same identifier."""
    names = sorted(f"{s.res_type}/{s.res_id}/_history/{s.version}" for s in entries)
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '|'.join(names))}"


def _urn(res_type: str, res_id: str) -> str:
    try:
        return f"urn:uuid:{uuid.UUID(res_id)}"
    except ValueError:
        return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{res_type}/{res_id}')}"


async def _check_access(store: FhirStore, entries: Sequence[Stored], restriction: Restriction) -> None:
    pkeys = {s.pkey for s in entries}
    async with store.pool.connection() as conn:
        visible = await visible_pkeys(conn, restriction, sorted(pkeys), await store.param_ids())
    if entries[0].pkey not in visible:
        raise DocumentError(404, f"Composition/{entries[0].res_id} is not known", "not-found")
    if not pkeys <= visible:
        raise DocumentError(
            403, "The document includes patient data outside your access", "forbidden", "Composition"
        )


async def build_document_bundle(
    store: FhirStore,
    composition_id: str,
    *,
    base_url: str = "",
    timestamp: datetime | None = None,
    restriction: Restriction | None = None,
) -> dict[str, Any]:
    """The document Bundle of ``Composition/{composition_id}`` (see the module docstring).

    ``timestamp``: ``Bundle.timestamp`` (default: now); ``restriction``: the caller's access, checked
    against every resource of the document (404 when the Composition itself is not visible, 403 when
    something it includes is not). Raises :class:`DocumentError`.
    """
    entries = await document_entries(store, composition_id)
    if restriction is not None:
        await _check_access(store, entries, restriction)
    base = base_url.rstrip("/") or (store.base_urls[0] if store.base_urls else "")
    mapping: dict[str, str] = {}
    full_urls: list[str] = []
    for s in entries:
        if base:
            full_urls.append(f"{base}/{s.res_type}/{s.res_id}")
            continue
        full = _urn(s.res_type, s.res_id)
        full_urls.append(full)
        mapping[f"{s.res_type}/{s.res_id}"] = full
        mapping[f"{s.res_type}/{s.res_id}/_history/{s.version}"] = full
    bundle_entries: list[dict[str, Any]] = []
    for s, full in zip(entries, full_urls, strict=True):
        assert s.content is not None
        content = rewrite_references(s.content, mapping) if mapping else s.content
        bundle_entries.append({"fullUrl": full, "resource": content})
    when = (timestamp or datetime.now(UTC)).astimezone(UTC)
    return {
        "resourceType": "Bundle",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": document_identifier(entries)},
        "type": "document",
        "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "entry": bundle_entries,
    }
