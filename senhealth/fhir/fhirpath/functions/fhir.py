"""Functions FHIR adds to FHIRPath, and the SQL-on-FHIR key functions.

Spec: https://hl7.org/fhir/R4/fhirpath.html#functions: ``extension(url)``, ``hasValue()``,
``getValue()``, ``resolve()``, ``memberOf(valueset)``, ``conformsTo(profile)``, ``htmlChecks()``;
SQL-on-FHIR v2 https://build.fhir.org/ig/FHIR/sql-on-fhir-v2/ : ``getResourceKey()``,
``getReferenceKey([type])``.

``resolve()`` looks in ``contained`` for ``#id`` references, then in the Bundle being evaluated
(``%rootResource``, ``%resource`` or the input) by ``fullUrl`` or ``Type/id``, then asks the
``resolve`` hook (:mod:`..hooks`). ``memberOf`` and ``conformsTo`` use their hooks; without a
``conformsTo`` hook, the base profiles ``http://hl7.org/fhir/StructureDefinition/{Type}`` are checked
against the resource type and any other profile is an error.
"""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..errors import FHIRPathEvaluationError
from ..operators import singleton
from ..typemodel import FHIR_TO_SYSTEM, get_type_model
from ..values import Collection, Node, system_value, to_python
from .registry import function

_BASE_PROFILE = "http://hl7.org/fhir/StructureDefinition/"


def extensions_of(item: Any) -> list[Any]:
    if item.__class__ is not Node:
        return []
    v = item.value
    holder = v if v.__class__ is dict else item.primitive_element()
    if holder is None:
        return []
    ext = holder.get("extension")
    return ext if ext.__class__ is list else []


@function("extension", 1)
def extension(ctx: Context, focus: Collection, url: Collection) -> Collection:
    u = singleton(url, "url of extension()")
    if u is None:
        return []
    out: Collection = []
    for item in focus:
        for e in extensions_of(item):
            if e.__class__ is dict and e.get("url") == u:
                out.append(Node(e, "Extension", "Extension"))
    return out


def _is_primitive(item: Any) -> bool:
    return item.__class__ is Node and item.type in FHIR_TO_SYSTEM


@function("hasValue")
def has_value(ctx: Context, focus: Collection) -> Collection:
    if len(focus) != 1:
        return [False]
    item = focus[0]
    return [_is_primitive(item) and item.value is not None]


@function("getValue")
def get_value(ctx: Context, focus: Collection) -> Collection:
    if len(focus) != 1 or not _is_primitive(focus[0]) or focus[0].value is None:
        return []
    return [system_value(focus[0])]


@function("htmlChecks")
def html_checks(ctx: Context, focus: Collection) -> Collection:
    return [True]


def _reference_of(item: Any) -> str | None:
    v = system_value(item)
    if v.__class__ is str:
        return str(v)
    if item.__class__ is Node and item.value.__class__ is dict:
        ref = item.value.get("reference")
        return ref if ref.__class__ is str else None
    return None


def _typed(resource: Any) -> Node | None:
    if resource.__class__ is not dict:
        return None
    rt = resource.get("resourceType")
    return Node(resource, rt, rt) if rt.__class__ is str else Node(resource, None, None)


def _containers(ctx: Context) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in (ctx.root_resource, ctx.resource, ctx.context):
        for x in c:
            if x.__class__ is Node and x.value.__class__ is dict and all(x.value is not o for o in out):
                out.append(x.value)
    return out


def _find_in_bundle(bundle: dict[str, Any], ref: str) -> dict[str, Any] | None:
    entries = bundle.get("entry")
    if entries.__class__ is not list:
        return None
    parts = [p for p in ref.split("/_history/")[0].split("/") if p]
    tail = "/".join(parts[-2:]) if len(parts) >= 2 else None
    for entry in entries:
        if entry.__class__ is not dict:
            continue
        res = entry.get("resource")
        if entry.get("fullUrl") == ref and res.__class__ is dict:
            return res
        if (
            tail is not None
            and res.__class__ is dict
            and f"{res.get('resourceType')}/{res.get('id')}" == tail
        ):
            full = entry.get("fullUrl")
            if "://" not in ref or full is None or str(full).endswith(tail):
                return res
    return None


def resolve_reference(ctx: Context, ref: str) -> dict[str, Any] | None:
    containers = _containers(ctx)
    if ref.startswith("#"):
        key = ref[1:]
        for c in containers:
            for r in c.get("contained") or ():
                if r.__class__ is dict and r.get("id") == key:
                    return r
        return None
    for c in containers:
        if c.get("resourceType") == "Bundle":
            hit = _find_in_bundle(c, ref)
            if hit is not None:
                return hit
    hook = ctx.hooks.resolve
    return hook(ref) if hook is not None else None


@function("resolve")
def resolve(ctx: Context, focus: Collection) -> Collection:
    out: Collection = []
    for item in focus:
        ref = _reference_of(item)
        if ref is None:
            continue
        res = resolve_reference(ctx, ref)
        node = _typed(res) if res is not None else None
        if node is not None:
            out.append(node)
    return out


@function("memberOf", 1)
def member_of(ctx: Context, focus: Collection, valueset: Collection) -> Collection:
    url = singleton(valueset, "value set of memberOf()")
    v = singleton(focus, "input of memberOf()")
    if url is None or v is None:
        return []
    hook = ctx.hooks.member_of
    if hook is None:
        return []
    r = hook(to_python(focus[0]), str(url))
    return [] if r is None else [r]


@function("conformsTo", 1)
def conforms_to(ctx: Context, focus: Collection, profile: Collection) -> Collection:
    url = singleton(profile, "profile of conformsTo()")
    if url is None or not focus:
        return []
    out: Collection = []
    hook = ctx.hooks.conforms_to
    for item in focus:
        value = to_python(item)
        r = hook(value, str(url)) if hook is not None and value.__class__ is dict else None
        if r is None:
            r = _conforms_to_base(item, str(url))
        out.append(r)
    return out


def _conforms_to_base(item: Any, url: str) -> bool:
    tm = get_type_model()
    if url.startswith(_BASE_PROFILE):
        name = url[len(_BASE_PROFILE) :]
        if tm.has_type(name):
            t = item.type if item.__class__ is Node else None
            return t is not None and tm.is_subtype(t, name)
    raise FHIRPathEvaluationError(f"conformsTo(): unknown profile {url}")


def _key_of(ref: str, type_: str | None) -> str | None:
    """The id part of a reference (``Patient/p1`` -> ``p1``; ``urn:uuid:x`` -> ``x``), if of ``type_``."""
    if ref.startswith("urn:uuid:"):
        return ref[9:]
    parts = [p for p in ref.split("/_history/")[0].split("/") if p]
    if ref.startswith("#") or len(parts) < 2:
        return None
    if type_ is not None and parts[-2] != type_:
        return None
    return parts[-1]


@function("getResourceKey")
def get_resource_key(ctx: Context, focus: Collection) -> Collection:
    out: Collection = []
    for item in focus:
        if item.__class__ is Node and item.value.__class__ is dict:
            rid = item.value.get("id")
            if rid.__class__ is str:
                out.append(rid)
    return out


@function("getReferenceKey", 0, 1, mode="type")
def get_reference_key(ctx: Context, focus: Collection, spec: Any = None) -> Collection:
    type_ = spec.name if spec is not None else None
    out: Collection = []
    for item in focus:
        ref = _reference_of(item)
        if ref is None:
            continue
        key = _key_of(ref, type_)
        if key is not None:
            out.append(key)
    return out
