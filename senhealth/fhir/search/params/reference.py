"""Reference index values: target type, id, version and URL, plus ``Reference.identifier``.

Spec: https://hl7.org/fhir/R4/search.html#reference and https://hl7.org/fhir/R4/references.html

=========================================  ===========  =====  =======  ==================================
reference                                  target_type  id     version  url
=========================================  ===========  =====  =======  ==================================
``Patient/123``                            Patient      123    None     None
``Patient/123/_history/2``                 Patient      123    2        None
``http://other/fhir/Patient/123``          Patient      123    None     ``http://other/fhir/Patient/123``
``http://ours/fhir/Patient/123`` (a base   Patient      123    None     None (treated as relative)
in ``base_urls``)
``http://x.org/ValueSet/vs|1.0``           ValueSet     vs     1.0      ``http://x.org/ValueSet/vs``
(canonical)
``http://loinc.org``                       None         None   None     ``http://loinc.org``
``#med1`` (contained)                      its type     None   None     ``#med1``
``urn:uuid:...``                           resolver     None   None     ``urn:uuid:...``
=========================================  ===========  =====  =======  ==================================

When the string does not say the type, ``Reference.type`` does, and failing that the context's resolver
(the store passes one that knows the ``fullUrl`` of every entry of a transaction). ``Reference.identifier``
fills identifier_system / identifier_value for the ``:identifier`` modifier. The same typing decides
``where(resolve() is Patient)`` in an expression: no resource is fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from senhealth.fhir.model import get_model
from senhealth.fhir.search.context import ExtractContext
from senhealth.fhir.search.params.base import Sink

__all__ = ["SINKS", "ReferenceValue", "parse_reference", "reference_type"]


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    target_type: str | None
    target_id: str | None
    version: str | None = None
    url: str | None = None  # absolute URL, canonical, urn or #local: None for a local relative reference
    identifier_system: str | None = None  # Reference.identifier, for :identifier
    identifier_value: str | None = None


_ID = r"[A-Za-z0-9\-\.]{1,64}"
_TAIL = re.compile(rf"(?:^|/)([A-Z][A-Za-z]+)/({_ID})(?:/_history/({_ID}))?$")


@cache
def _resource_types() -> frozenset[str]:
    return frozenset(get_model().resource_types())


@lru_cache(maxsize=16384)
def parse_reference(ref: str) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """Split a reference string into (type, id, version, url, base URL of an absolute reference)."""
    if ref.startswith("#") or ref.startswith("urn:"):
        return None, None, None, ref, None
    url, bar, canonical_version = ref.partition("|")
    m = _TAIL.search(url)
    if m is None or m.group(1) not in _resource_types():
        return None, None, canonical_version or None, url, None
    start = m.start()
    if start == 0 and not bar:  # relative: Patient/123[/_history/2]
        return m.group(1), m.group(2), m.group(3), None, None
    base = url[:start]
    if not bar and "://" not in base:
        return None, None, None, url, None  # neither relative nor absolute: keep as an opaque URL
    return m.group(1), m.group(2), canonical_version or m.group(3), url, base


def _typed(ref: str, value: dict[str, Any] | None, ctx: ExtractContext) -> str | None:
    if ref.startswith("#"):
        found = ctx.contained_type(ref[1:])
        if found:
            return found
    declared = value.get("type") if value is not None else None
    if isinstance(declared, str) and declared:
        return declared.rsplit("/", 1)[-1]  # Reference.type may be a full StructureDefinition URL
    if ctx.resolver is not None:
        return ctx.resolver(ref)
    return None


def reference_type(value: Any, ctx: ExtractContext) -> str | None:
    """The resource type a Reference (or canonical / uri string) points at, as far as it can be told."""
    if value.__class__ is dict:
        if isinstance(value.get("resourceType"), str):
            return str(value["resourceType"])
        ref = value.get("reference")
        if isinstance(ref, str) and ref:
            rtype = parse_reference(ref)[0]
            return rtype if rtype is not None else _typed(ref, value, ctx)
        declared = value.get("type")
        return declared.rsplit("/", 1)[-1] if isinstance(declared, str) and declared else None
    if isinstance(value, str) and value:
        rtype = parse_reference(value)[0]
        return rtype if rtype is not None else _typed(value, None, ctx)
    return None


@lru_cache(maxsize=16384)
def _relative(ref: str) -> ReferenceValue | None:
    """The value of a reference that says its type and is not absolute (``Patient/123``): it depends on
    the string alone, so one immutable instance serves every occurrence. None for the others."""
    rtype, rid, version, url, base = parse_reference(ref)
    return ReferenceValue(rtype, rid, version, url) if rtype is not None and base is None else None


def _from_string(ref: str, value: dict[str, Any] | None, ctx: ExtractContext) -> ReferenceValue:
    found = _relative(ref)
    if found is not None:
        return found
    rtype, rid, version, url, base = parse_reference(ref)
    if base is not None and ctx.base_urls and base.rstrip("/") in ctx.base_urls:
        url = None
    if rtype is None:
        rtype = _typed(ref, value, ctx)
    return ReferenceValue(rtype, rid, version, url)


def reference(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is not dict:
        return
    ref = value.get("reference")
    ident = value.get("identifier")
    sys_: str | None = None
    val: str | None = None
    if ident.__class__ is dict:
        s, v = ident.get("system"), ident.get("value")
        sys_ = s if isinstance(s, str) else None
        val = v if isinstance(v, str) else None
    if isinstance(ref, str) and ref:
        rv = _from_string(ref, value, ctx)
        if sys_ is not None or val is not None:
            rv = ReferenceValue(rv.target_type, rv.target_id, rv.version, rv.url, sys_, val)
        out.append(rv)
    elif sys_ is not None or val is not None:
        declared = value.get("type")
        rtype = declared.rsplit("/", 1)[-1] if isinstance(declared, str) and declared else None
        out.append(ReferenceValue(rtype, None, None, None, sys_, val))


def canonical(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if isinstance(value, str) and value:
        out.append(_from_string(value, None, ctx))


def identifier(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    if value.__class__ is dict:
        s, v = value.get("system"), value.get("value")
        if isinstance(s, str) or isinstance(v, str):
            out.append(
                ReferenceValue(
                    None,
                    None,
                    None,
                    None,
                    s if isinstance(s, str) else None,
                    v if isinstance(v, str) else None,
                )
            )


def resource(value: Any, ctx: ExtractContext, out: list[Any]) -> None:
    """A resource in place of a reference (``Bundle.entry[0].resource``): its own type and id."""
    if value.__class__ is dict and isinstance(value.get("resourceType"), str):
        rid = value.get("id")
        out.append(ReferenceValue(value["resourceType"], rid if isinstance(rid, str) else None))


SINKS: dict[str, Sink] = {
    "Reference": reference,
    "canonical": canonical,
    "uri": canonical,
    "url": canonical,
    "Identifier": identifier,
    "Resource": resource,
}
