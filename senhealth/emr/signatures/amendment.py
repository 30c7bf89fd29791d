"""Amending a signed document: a new Composition that replaces the original, signed too; and the chain.

Spec: https://hl7.org/fhir/R4/composition-definitions.html#Composition.relatesTo (``code`` ``replaces``:
"this document logically replaces or supersedes the target document"),
https://hl7.org/fhir/R4/composition-definitions.html#Composition.identifier ("a version-independent
identifier ... stays constant as the composition is changed over time"),
https://hl7.org/fhir/R4/composition-definitions.html#Composition.status (``amended``) and
https://hl7.org/fhir/R4/documents.html; Circular 13/2025 (no overwriting of signed content; a correction
is a new signed version that points at the one it corrects; both stay visible).

:func:`amend_document` creates the correction as a **new Composition resource** (a new id) whose
``relatesTo`` has ``{code: replaces, targetReference: Composition/<original>}``, ``status`` ``amended``
and the original's ``identifier`` (the same logical document), and signs it as its author, in one
transaction: a correction that cannot be signed (a revoked certificate...) leaves nothing behind. The
original is not touched at all: it keeps its status, its signed Bundle and its signatures (R4 has no
``superseded`` status for a Composition; the chain is read from the corrections' ``relatesTo``).

Rules: only a signed document is amended (an unsigned one is simply updated); a document already replaced
is not amended again (amend the latest correction: the chain stays a line); the correction is about the
same patient.

:func:`document_chain` gives the whole line, original first, from any of its members, each link with its
verified signatures.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Final

from senhealth.core import db
from senhealth.emr.signatures.model import SignatureInfo
from senhealth.emr.signatures.records import search_rows, signed_records
from senhealth.emr.signatures.services import PkiServices, configured_services
from senhealth.emr.signatures.signing import Signer, SigningRefused, SignResult, sign_document
from senhealth.emr.signatures.verification import verify_records
from senhealth.fhir.access import Restriction
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store import FhirStore, Gone, NotFound

__all__ = ["MAX_CHAIN", "AmendResult", "ChainLink", "amend_document", "document_chain", "replaced_target"]

#: A chain longer than this is cut (and reported as such).
MAX_CHAIN: Final = 100


@dataclass(frozen=True, slots=True)
class AmendResult:
    """The correction and its author signature."""

    composition: dict[str, Any]
    signed: SignResult


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One document of an amendment chain."""

    composition: str  # "Composition/<id>"
    version: int
    status: str
    title: str | None
    date: str | None
    replaces: str | None  # "Composition/<id>" this one corrects
    replaced_by: list[str] = field(default_factory=list)
    signatures: list[SignatureInfo] = field(default_factory=list)

    @property
    def signed(self) -> bool:
        return any(s.kind == "digital-signature" for s in self.signatures)


def replaced_target(composition: dict[str, Any]) -> str | None:
    """The id of the Composition that ``composition`` replaces (``relatesTo`` ``replaces``), or None."""
    for relation in composition.get("relatesTo") or []:
        if not isinstance(relation, dict) or relation.get("code") != "replaces":
            continue
        target = relation.get("targetReference")
        ref = target.get("reference") if isinstance(target, dict) else None
        if isinstance(ref, str) and ref.startswith("Composition/"):
            return ref.split("/")[1]
    return None


async def _replacements(store: FhirStore, composition_id: str) -> list[tuple[str, dict[str, Any], int]]:
    rows = await search_rows(store, "Composition", [("related-ref", f"Composition/{composition_id}")], None)
    return [(r.res_id, r.content, r.version) for r in rows if replaced_target(r.content) == composition_id]


async def _read(store: FhirStore, composition_id: str) -> dict[str, Any]:
    try:
        stored = await store.read("Composition", composition_id)
    except NotFound:
        raise OperationError(404, f"Composition/{composition_id} is not known", "not-found") from None
    except Gone:
        raise OperationError(410, f"Composition/{composition_id} is deleted", "deleted") from None
    assert stored.content is not None
    return stored.content


def _subject(resource: dict[str, Any]) -> str | None:
    subject = resource.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    return ref if isinstance(ref, str) else None


async def amend_document(
    store: FhirStore,
    composition_id: str,
    corrected: dict[str, Any],
    signer: Signer,
    services: PkiServices,
    *,
    base_url: str = "",
    restriction: Restriction | None = None,
) -> AmendResult:
    """Create the correction ``corrected`` of ``Composition/{composition_id}`` and sign it as its author
    (see the module docstring). Raises :class:`OperationError` (404, 409, 422) or
    :class:`SigningRefused`."""
    if not isinstance(corrected, dict) or corrected.get("resourceType") != "Composition":
        raise OperationError(400, "The correction must be a Composition resource", "invalid", "Composition")
    if signer.role != "author":
        raise SigningRefused(422, "Bản sửa đổi được ký bởi người lập / a correction is signed by its author")
    original = await _read(store, composition_id)
    if not (await signed_records(store, composition_id)).bundles:
        raise OperationError(
            422,
            f"Composition/{composition_id} chưa ký: hãy cập nhật trực tiếp / is not signed: update it directly "
            "instead of amending it",
            "business-rule",
        )
    later = await _replacements(store, composition_id)
    if later:
        raise OperationError(
            409,
            f"Composition/{composition_id} đã được thay thế bởi Composition/{later[0][0]}: hãy sửa bản mới nhất / "
            f"is already replaced by Composition/{later[0][0]}: amend the latest version",
            "conflict",
        )
    if _subject(corrected) != _subject(original):
        raise OperationError(
            422,
            "Bản sửa đổi phải cùng người bệnh với bản gốc / the correction must have the same subject as the "
            "original",
            "business-rule",
            "Composition.subject",
        )
    new = copy.deepcopy(corrected)
    new.pop("id", None)
    new.pop("meta", None)
    relations = [
        r for r in new.get("relatesTo") or [] if not (isinstance(r, dict) and r.get("code") == "replaces")
    ]
    relations.append({"code": "replaces", "targetReference": {"reference": f"Composition/{composition_id}"}})
    new["relatesTo"] = relations
    new["status"] = "amended"
    if "identifier" not in new and "identifier" in original:
        new["identifier"] = copy.deepcopy(original["identifier"])
    async with db.transaction(store.pool):
        again = await _replacements(store, composition_id)
        if again:
            raise OperationError(
                409, f"Composition/{composition_id} was amended concurrently: retry", "conflict"
            )
        created = await store.create(new)
        assert created.content is not None
        signed = await sign_document(
            store, created.res_id, signer, services, base_url=base_url, restriction=restriction
        )
    return AmendResult(created.content, signed)


async def document_chain(
    store: FhirStore, composition_id: str, *, verify: bool = True, services: PkiServices | None = None
) -> list[ChainLink]:
    """The amendment chain that ``Composition/{composition_id}`` belongs to, original first, each with its
    signatures verified (``verify=False``: without them). Raises :class:`OperationError` 404/410 for an
    unknown Composition."""
    start = await _read(store, composition_id)
    root_id, root = composition_id, start
    seen = {composition_id}
    while (previous := replaced_target(root)) is not None and previous not in seen and len(seen) < MAX_CHAIN:
        try:
            stored = await store.read("Composition", previous)
        except (NotFound, Gone):
            break
        assert stored.content is not None
        seen.add(previous)
        root_id, root = previous, stored.content
    links: list[ChainLink] = []
    queue: list[tuple[str, dict[str, Any]]] = [(root_id, root)]
    visited: set[str] = set()
    pki = services if services is not None or not verify else configured_services()
    while queue and len(links) < MAX_CHAIN:
        cid, content = queue.pop(0)
        if cid in visited:
            continue
        visited.add(cid)
        successors = await _replacements(store, cid)
        signatures: list[SignatureInfo] = []
        if verify and pki is not None:
            records = await signed_records(store, cid)
            signatures = await verify_records(records, pki) if records.bundles else []
        links.append(
            ChainLink(
                composition=f"Composition/{cid}",
                version=int((content.get("meta") or {}).get("versionId") or 0),
                status=str(content.get("status", "")),
                title=content.get("title") if isinstance(content.get("title"), str) else None,
                date=content.get("date") if isinstance(content.get("date"), str) else None,
                replaces=f"Composition/{t}" if (t := replaced_target(content)) else None,
                replaced_by=[f"Composition/{sid}" for sid, _, _ in successors],
                signatures=signatures,
            )
        )
        queue.extend((sid, scontent) for sid, scontent, _ in successors)
    return links
