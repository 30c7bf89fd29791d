"""Literal references: the shape of ``Reference.reference`` and the type of what it points to.

Spec: https://hl7.org/fhir/R4/references.html#literal, https://hl7.org/fhir/R4/references.html#contained,
https://hl7.org/fhir/R4/bundle.html#references (``urn:uuid:`` inside bundles) and
https://hl7.org/fhir/R4/http.html#trules (conditional references in transactions).

Accepted forms of ``reference``:

- relative ``Type/id`` or ``Type/id/_history/vid`` (``Type`` a concrete R4 resource type, ``id`` an
  ``id``);
- absolute ``http(s)://...``: when it ends in ``Type/id`` (a RESTful FHIR URL) the type is checked,
  otherwise it is taken as is;
- ``urn:uuid:<uuid>`` and ``urn:oid:<oid>``; inside a Bundle the entry with that ``fullUrl`` gives the
  type to check;
- ``#id`` (a contained resource of the root resource, ``ref-1``) or ``#`` (the container itself);
- ``Type?query``, a conditional reference: allowed in transaction and batch bundles, elsewhere a
  warning (the write path resolves it before storing).

The type must be one the element allows (``ElementDefinition.type.targetProfile``; ``Resource`` allows
any). A mismatch between ``Reference.type`` and the referenced type is an error too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from senhealth.fhir.model import get_model
from senhealth.fhir.validation.context import Ctx
from senhealth.fhir.validation.outcome import ERROR, INVALID, INVARIANT, WARNING

__all__ = ["ReferenceCheck", "reference_check", "resource_types"]

ReferenceCheck = Callable[[Any, str, Ctx], None]

_ID = r"[A-Za-z0-9\-\.]{1,64}"
_RELATIVE = re.compile(rf"([A-Z][A-Za-z]*)/({_ID})(/_history/{_ID})?").fullmatch
_RESTFUL_TAIL = re.compile(rf"(?:^|/)([A-Z][A-Za-z]*)/({_ID})(/_history/{_ID})?$").search
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^ \t\n\r]+").fullmatch
_UUID = re.compile(
    r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
).fullmatch
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+").fullmatch
_LOCAL_ID = re.compile(_ID).fullmatch
_CONDITIONAL = re.compile(r"([A-Z][A-Za-z]*)\?\S*").fullmatch


@cache
def resource_types() -> frozenset[str]:
    """The concrete R4 resource types."""
    return frozenset(get_model().resource_types())


def _contained_types(ctx: Ctx) -> dict[str, str]:
    out: dict[str, str] = {}
    contained = ctx.root.get("contained")
    if type(contained) is list:
        for item in contained:
            if type(item) is dict and type(item.get("id")) is str:
                out[item["id"]] = str(item.get("resourceType"))
    return out


def reference_check(targets: tuple[str, ...]) -> ReferenceCheck:
    """The check of Reference objects of an element whose allowed target types are ``targets``."""
    return _reference_check(tuple(sorted(set(targets))))


@cache
def _reference_check(targets: tuple[str, ...]) -> ReferenceCheck:
    any_type = not targets or "Resource" in targets
    allowed = frozenset(targets)
    known = resource_types()
    allowed_text = ", ".join(targets)

    def wrong_type(rtype: str, path: str, ctx: Ctx) -> None:
        ctx.issues.append(
            (ERROR, INVALID, path, f"Reference to a {rtype} where only {allowed_text} is allowed")
        )

    def check(node: Any, path: str, ctx: Ctx) -> None:
        ref = node.get("reference")
        if type(ref) is not str or not ref:
            return  # absent, or already reported as a malformed primitive
        rpath = path + ".reference"
        rtype: str | None = None
        m = _RELATIVE(ref)
        if m is not None:
            rtype = m.group(1)
            if rtype not in known:
                ctx.issues.append((ERROR, INVALID, rpath, f"Unknown resource type {rtype!r} in reference"))
                return
        elif ref[0] == "#":
            ctx.local_refs.add(ref)
            if ref != "#":
                if ctx.contained_ids is None:
                    ctx.contained_ids = frozenset(_contained_types(ctx))
                if _LOCAL_ID(ref, 1) is None or ref[1:] not in ctx.contained_ids:
                    ctx.issues.append(
                        (
                            ERROR,
                            INVARIANT,
                            rpath,
                            f"Constraint failed: ref-1: local reference {ref!r} does not match a "
                            "contained resource",
                        )
                    )
                    return
                if not any_type:
                    rtype = _contained_types(ctx).get(ref[1:])
        elif ref.startswith("urn:"):
            if ref.startswith("urn:uuid:"):
                if _UUID(ref) is None:
                    ctx.issues.append((ERROR, INVALID, rpath, f"Not a valid urn:uuid: reference: {ref!r}"))
                    return
            elif ref.startswith("urn:oid:"):
                if _OID(ref) is None:
                    ctx.issues.append((ERROR, INVALID, rpath, f"Not a valid urn:oid: reference: {ref!r}"))
                    return
            else:
                ctx.issues.append((ERROR, INVALID, rpath, f"Unsupported URN in reference: {ref!r}"))
                return
            if ctx.bundle_types is not None:
                rtype = ctx.bundle_types.get(ref)
        elif _ABSOLUTE(ref) is not None:
            tail = _RESTFUL_TAIL(ref)
            if tail is not None and tail.group(1) in known:
                rtype = tail.group(1)
            elif ctx.bundle_types is not None:
                rtype = ctx.bundle_types.get(ref)
        else:
            cond = _CONDITIONAL(ref)
            if cond is None:
                ctx.issues.append(
                    (
                        ERROR,
                        INVALID,
                        rpath,
                        f"Not a valid reference: {ref!r} (expected Type/id, an absolute URL, "
                        "urn:uuid:, urn:oid: or #id)",
                    )
                )
                return
            rtype = cond.group(1)
            if rtype not in known:
                ctx.issues.append((ERROR, INVALID, rpath, f"Unknown resource type {rtype!r} in reference"))
                return
            if not ctx.in_transaction:
                ctx.issues.append(
                    (
                        WARNING,
                        INVALID,
                        rpath,
                        "A conditional reference is only resolved inside a transaction or batch Bundle",
                    )
                )
        if rtype is None:
            return
        if not any_type and rtype not in allowed:
            wrong_type(rtype, rpath, ctx)
        declared = node.get("type")
        if type(declared) is str and declared in known and declared != rtype:
            ctx.issues.append(
                (
                    ERROR,
                    INVALID,
                    path + ".type",
                    f"Reference.type is {declared} but the reference is to a {rtype}",
                )
            )

    return check
