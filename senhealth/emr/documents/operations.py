"""The document operations: ``Composition/$document`` and ``Encounter/$create-document``.

Spec: https://hl7.org/fhir/R4/composition-operation-document.html (OperationDefinition
http://hl7.org/fhir/OperationDefinition/Composition-document: ``GET|POST [base]/Composition/[id]/$document``
or ``[base]/Composition/$document?id=...``; the answer is the document Bundle; ``persist`` = true stores it
at the Bundle end-point) and https://hl7.org/fhir/R4/operations.html.

``$create-document`` is the project's own (OperationDefinition
``https://senhealth.vn/fhir/OperationDefinition/create-document``): ``POST [base]/Encounter/[id]/$create-document``
with a Parameters body:

- ``type`` (code, required): a key of :data:`~senhealth.emr.documents.types.DOCUMENT_TYPES`
  (``discharge-paper``...);
- ``author`` (string: a Practitioner id or ``Practitioner/id``; default: the caller's practitioner);
- ``custodian`` (string: an Organization id; default: the encounter's ``serviceProvider``, else the
  caller's facility);
- ``field`` (repeating, parts ``name`` = ``section.field`` or ``section``, ``value`` = text): the author's
  input (:mod:`senhealth.emr.documents.builder`);
- ``title``, ``replaces`` (a Composition id this document corrects), ``persist`` (boolean, default true).

It answers the new Composition (201, ``Location``), or with ``persist`` = false the unsaved draft (200).
"""

from __future__ import annotations

from typing import Any, Final

from senhealth.emr.documents.builder import create_document
from senhealth.emr.documents.document import build_document_bundle
from senhealth.fhir.access import OPEN, Action, access_policy
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)
from senhealth.fhir.store import Gone, NotFound

__all__ = [
    "CREATE_DOCUMENT",
    "DOCUMENT",
    "register_document_operations",
    "unregister_document_operations",
]

DOCUMENT: Final = "http://hl7.org/fhir/OperationDefinition/Composition-document"
CREATE_DOCUMENT: Final = "https://senhealth.vn/fhir/OperationDefinition/create-document"


def _boolean(call: OperationCall, name: str, default: bool) -> bool:
    value = call.first(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise OperationError(400, f"Parameter {name!r} must be true or false", expression=name)


def _check_allowed(call: OperationCall, action: Action, res_type: str) -> None:
    policy = access_policy()
    if policy is not OPEN and not policy.check(call.principal, action, res_type):
        raise OperationError(403, f"Your role may not {action} {res_type}", "forbidden")
    if call.restriction is not None and call.restriction.deidentified:
        raise OperationError(
            403, "Documents identify the patient: not available to de-identified access", "forbidden"
        )


async def _document(call: OperationCall) -> OperationResult:
    comp_id = call.resource_id if call.level == "instance" else call.text("id")
    if not comp_id:
        raise OperationError(400, "Parameter 'id' names the Composition", "required", "id")
    comp_id = comp_id.removeprefix("Composition/")
    persist = _boolean(call, "persist", False)
    _check_allowed(call, "read", "Composition")
    if persist:
        _check_allowed(call, "create", "Bundle")
    bundle = await build_document_bundle(
        call.store, comp_id, base_url=call.base_url, restriction=call.restriction
    )
    headers: dict[str, str] = {}
    if persist:
        stored = await call.store.create(bundle)
        assert stored.content is not None
        bundle = stored.content
        headers["Content-Location"] = f"{call.base_url}/Bundle/{stored.res_id}/_history/{stored.version}"
    return OperationResult(bundle, headers=headers)


def _id(value: Any, res_type: str, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("reference")
    if not isinstance(value, str) or not value.strip():
        raise OperationError(400, f"Parameter {name!r} must name a {res_type}", expression=name)
    return value.strip().removeprefix(f"{res_type}/")


def _fields(call: OperationCall) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, part in enumerate(call.params.get("field") or []):
        if not isinstance(part, dict):
            raise OperationError(400, "field: give parts 'name' and 'value'", expression=f"field[{i}]")
        names, values = part.get("name") or [], part.get("value") or []
        if (
            len(names) != 1
            or len(values) != 1
            or not isinstance(names[0], str)
            or not isinstance(values[0], str)
        ):
            raise OperationError(
                400, "field: give one 'name' and one 'value', both strings", expression=f"field[{i}]"
            )
        out[names[0]] = values[0]
    return out


async def _create_document(call: OperationCall) -> OperationResult:
    assert call.resource_id is not None
    doc_type = call.text("type")
    if not doc_type:
        raise OperationError(400, "Parameter 'type' (the document type) is required", "required", "type")
    _check_allowed(call, "create", "Composition")
    try:
        encounter = (await call.store.read("Encounter", call.resource_id)).content or {}
    except (NotFound, Gone):
        raise OperationError(404, f"Encounter/{call.resource_id} is not known", "not-found") from None
    subject = (encounter.get("subject") or {}).get("reference")
    if not isinstance(subject, str) or not subject.startswith("Patient/"):
        raise OperationError(
            422, "The encounter names no patient (Encounter.subject)", "invalid", "Encounter.subject"
        )
    principal = call.principal
    author = _id(call.first("author"), "Practitioner", "author") or (
        principal.practitioner if principal else None
    )
    if not author:
        raise OperationError(
            400,
            "Parameter 'author' (a Practitioner) is required: your account names no practitioner",
            "required",
            "author",
        )
    provider = (encounter.get("serviceProvider") or {}).get("reference")
    custodian = (
        _id(call.first("custodian"), "Organization", "custodian")
        or (provider.removeprefix("Organization/") if isinstance(provider, str) else None)
        or (principal.facility.removeprefix("Organization/") if principal and principal.facility else None)
    )
    if not custodian:
        raise OperationError(
            400, "Parameter 'custodian' (an Organization) is required", "required", "custodian"
        )
    persist = _boolean(call, "persist", True)
    comp = await create_document(
        call.store,
        doc_type,
        patient_id=subject.removeprefix("Patient/"),
        encounter_id=call.resource_id,
        author_practitioner_id=author,
        custodian_org_id=custodian,
        fields=_fields(call),
        title=call.text("title"),
        replaces=_id(call.first("replaces"), "Composition", "replaces"),
        restriction=call.restriction,
        persist=persist,
    )
    if not persist:
        return OperationResult(comp)
    location = f"{call.base_url}/Composition/{comp['id']}/_history/{comp['meta']['versionId']}"
    return OperationResult(comp, status=201, headers={"Location": location})


def register_document_operations() -> None:
    """Register ``Composition/$document`` and ``Encounter/$create-document`` (replacing earlier ones)."""
    register(
        Operation(
            name="document",
            handler=_document,
            levels=frozenset({"type", "instance"}),
            definition=DOCUMENT,
            resource_types=frozenset({"Composition"}),
            documentation="The document Bundle of a Composition; persist=true stores it.",
        ),
        replace=True,
    )
    register(
        Operation(
            name="create-document",
            handler=_create_document,
            levels=frozenset({"instance"}),
            definition=CREATE_DOCUMENT,
            resource_types=frozenset({"Encounter"}),
            affects_state=True,
            documentation="Create a Composition of a national form (type) from the encounter's record.",
        ),
        replace=True,
    )


def unregister_document_operations() -> None:
    """Remove them (tests)."""
    unregister("document")
    unregister("create-document")
