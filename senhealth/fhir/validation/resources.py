"""Resources: ``resourceType``, contained resources, Bundle entries and the profiles a resource claims.

Spec: https://hl7.org/fhir/R4/json.html#resources (``resourceType``), https://hl7.org/fhir/R4/resource.html,
https://hl7.org/fhir/R4/references.html#contained (dom-2, dom-4, dom-5), https://hl7.org/fhir/R4/bundle.html
and https://hl7.org/fhir/R4/parameters.html (resources inside resources), and
https://hl7.org/fhir/R4/resource.html#profile (``meta.profile``).

Every element of type ``Resource`` is checked here: ``contained`` items keep the container as
``%rootResource`` (their ``#id`` references resolve against it) and may not contain resources, carry a
version or a last-updated time, or security labels; ``Bundle.entry.resource``,
``Parameters.parameter.resource`` and ``Bundle.entry.response.outcome`` are resources of their own.
Paths continue through them: ``Bundle.entry[3].resource.name[0]``, ``Patient.contained[0].code``.

A resource whose ``meta.profile`` names a registered profile of its type is also checked against it,
at any depth (optional profiles that are not registered are ignored).
"""

from __future__ import annotations

from typing import Any

from senhealth.fhir.validation.context import Ctx
from senhealth.fhir.validation.outcome import ERROR, FATAL, INVALID, INVARIANT, REQUIRED, STRUCTURE, Issue
from senhealth.fhir.validation.primitives import describe
from senhealth.fhir.validation.profile_model import Profile
from senhealth.fhir.validation.references import resource_types
from senhealth.fhir.validation.structure import object_validator, set_resource_items

__all__ = ["PROFILES", "validate_resource"]

# canonical URL -> registered profile (filled by senhealth.fhir.validation.profiles)
PROFILES: dict[str, Profile] = {}

_TRANSACTION = frozenset({"transaction", "batch"})


def _claimed(node: dict[str, Any], rt: str) -> list[Profile]:
    meta = node.get("meta")
    if type(meta) is not dict:
        return []
    urls = meta.get("profile")
    if type(urls) is not list or not PROFILES:
        return []
    out: list[Profile] = []
    for url in urls:
        p = PROFILES.get(url.split("|", 1)[0]) if type(url) is str else None
        if p is not None and p.type == rt and p not in out:
            out.append(p)
    return out


def _bundle_types(node: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    entries = node.get("entry")
    if type(entries) is list:
        for e in entries:
            if type(e) is dict:
                url, res = e.get("fullUrl"), e.get("resource")
                if type(url) is str and type(res) is dict and type(res.get("resourceType")) is str:
                    out[url] = res["resourceType"]
    return out


def check_resource(node: dict[str, Any], path: str, ctx: Ctx, profile: Profile | None = None) -> None:
    """Check one resource object at ``path`` (``""`` for the resource being validated)."""
    rt = node.get("resourceType")
    if rt is None or type(rt) is not str or rt not in resource_types():
        where = path + ".resourceType" if path else "resourceType"
        if rt is None:
            ctx.issues.append((ERROR, REQUIRED, where, "A resource needs a resourceType"))
        else:
            ctx.issues.append((ERROR, INVALID, where, f"Unknown resource type: {describe(rt)}"))
        return
    path = path or rt
    profiles = _claimed(node, rt)
    if profile is not None:
        if profile.type != rt:
            ctx.issues.append(
                (ERROR, INVALID, path, f"The profile {profile.url} constrains {profile.type}, not {rt}")
            )
        elif profile not in profiles:
            profiles.insert(0, profile)
    saved_types, saved_tx = ctx.bundle_types, ctx.in_transaction
    if rt == "Bundle":
        ctx.bundle_types = _bundle_types(node)
        kind = node.get("type")
        ctx.in_transaction = type(kind) is str and kind in _TRANSACTION
    if not profiles:
        object_validator(rt).check(node, path, ctx)
    else:
        for p in profiles:  # each includes the base checks; duplicates are merged in the outcome
            object_validator(rt, p, rt).check(node, path, ctx)
    ctx.bundle_types, ctx.in_transaction = saved_types, saved_tx


def _contained_item(node: Any, path: str, ctx: Ctx) -> None:
    if "contained" in node:
        ctx.issues.append(
            (
                ERROR,
                INVARIANT,
                path + ".contained",
                "Constraint failed: dom-2: a contained resource SHALL NOT contain nested resources",
            )
        )
    meta = node.get("meta")
    if type(meta) is dict:
        for name in ("versionId", "lastUpdated"):
            if name in meta:
                ctx.issues.append(
                    (
                        ERROR,
                        INVARIANT,
                        f"{path}.meta.{name}",
                        "Constraint failed: dom-4: a contained resource SHALL NOT have a meta.versionId "
                        "or a meta.lastUpdated",
                    )
                )
        if "security" in meta:
            ctx.issues.append(
                (
                    ERROR,
                    INVARIANT,
                    path + ".meta.security",
                    "Constraint failed: dom-5: a contained resource SHALL NOT have a security label",
                )
            )
    saved = ctx.resource
    ctx.resource = node
    check_resource(node, path, ctx)
    ctx.resource = saved


def _standalone_item(node: Any, path: str, ctx: Ctx) -> None:
    saved = ctx.resource, ctx.root, ctx.contained_ids, ctx.local_refs
    ctx.resource = ctx.root = node
    ctx.contained_ids = None
    ctx.local_refs = set()
    check_resource(node, path, ctx)
    ctx.resource, ctx.root, ctx.contained_ids, ctx.local_refs = saved


set_resource_items(_contained_item, _standalone_item)


def validate_resource(resource: Any, profile: Profile | None = None) -> list[Issue]:
    """All issues of ``resource`` (a parsed JSON object), under ``profile`` if given."""
    ctx = Ctx()
    if type(resource) is not dict:
        return [(FATAL, STRUCTURE, "", f"A resource must be a JSON object, not {describe(resource)}")]
    ctx.resource = ctx.root = resource
    try:
        check_resource(resource, "", ctx, profile)
    except RecursionError:  # hostile nesting (thousands of levels): refuse, never crash the request
        ctx.issues.append((FATAL, STRUCTURE, "", "The resource is nested too deeply to be validated"))
    return ctx.issues
