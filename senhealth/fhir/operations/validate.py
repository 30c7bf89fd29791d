"""``$validate``: check a resource against FHIR R4 (and a profile) without storing it.

Spec: https://hl7.org/fhir/R4/resource-operation-validate.html
(OperationDefinition http://hl7.org/fhir/OperationDefinition/Resource-validate).

- ``POST [base]/[type]/$validate`` with the resource as the body, or a ``Parameters`` with
  ``resource``, ``mode`` (``create`` | ``update`` | ``delete``; ``profile`` is accepted as a mode and
  means "just the profile") and ``profile`` (a canonical URL registered with
  :func:`senhealth.fhir.validation.register_profile`);
- ``[base]/[type]/[id]/$validate``: the same for an update of that resource; without a resource,
  the stored one is checked (``mode=delete``: whether it exists and may be deleted).

The answer is ``200 OK`` with an OperationOutcome whether the resource is valid or not ("the
operation succeeds when the validation could be performed", per the operation's definition); 4xx
only when the request itself is wrong (no resource, a resource of another type, an unknown mode).
"""

from __future__ import annotations

from typing import Any, Final

from senhealth.core.errors import operation_outcome
from senhealth.fhir.operations.registry import Operation, OperationCall, OperationError, OperationResult
from senhealth.fhir.validation import validate

__all__ = ["VALIDATE"]

_MODES: Final = frozenset({"create", "update", "delete", "profile"})


async def _stored(call: OperationCall) -> dict[str, Any]:
    assert call.resource_type is not None and call.resource_id is not None
    stored = await call.store.read(call.resource_type, call.resource_id)
    return dict(stored.content or {})


async def run_validate(call: OperationCall) -> OperationResult:
    """Validate the given (or stored) resource; answer the OperationOutcome."""
    mode = call.text("mode")
    if mode is not None and mode not in _MODES:
        raise OperationError(
            400, f"mode={mode!r}: expected create, update, delete or profile", expression="mode"
        )
    profile = call.text("profile")
    resource = call.first("resource")
    if mode == "delete":
        if call.level != "instance":
            raise OperationError(
                400, "mode=delete needs an instance: [type]/[id]/$validate", expression="mode"
            )
        await _stored(call)  # 404 / 410 when there is nothing to delete
        return OperationResult(
            operation_outcome("information", "informational", "The resource may be deleted")
        )
    if resource is None:
        if call.level != "instance":
            raise OperationError(
                400, "No resource to validate: post it as the body or as the 'resource' parameter"
            )
        resource = await _stored(call)
    if not isinstance(resource, dict):
        raise OperationError(400, "The 'resource' parameter must be a resource", expression="resource")
    rt = resource.get("resourceType")
    if call.resource_type is not None and rt != call.resource_type:
        raise OperationError(
            400,
            f"The resource is a {str(rt)[:64]}, but the URL names {call.resource_type}",
            expression="resource",
        )
    if mode == "update" or call.level == "instance":
        rid = resource.get("id")
        if mode == "update" and not rid:
            raise OperationError(400, "mode=update: the resource needs an id", expression="resource.id")
        if call.resource_id is not None and rid is not None and rid != call.resource_id:
            raise OperationError(
                400, f"The resource's id {str(rid)[:64]!r} is not the id in the URL", expression="resource.id"
            )
    return OperationResult(validate(resource, profile=profile))


VALIDATE: Final = Operation(
    name="validate",
    handler=run_validate,
    levels=frozenset({"type", "instance"}),
    definition="http://hl7.org/fhir/OperationDefinition/Resource-validate",
    affects_state=False,
    documentation="Validate a resource against FHIR R4 and, with `profile`, a registered profile.",
)
