"""Rewriting references, for transaction bundles and bulk loads: ``urn:uuid:...`` becomes ``Type/id``.

Spec: https://hl7.org/fhir/R4/http.html#trules ("references to resources in the bundle are replaced by
the server-assigned ids ... including references in the narrative") and
https://hl7.org/fhir/R4/bundle.html#references (resolving references in bundles by ``fullUrl``).

``rewrite_references(resource, mapping)`` replaces every ``Reference.reference`` whose text is a key
of ``mapping`` (a ``fullUrl``: ``urn:uuid:...``, ``urn:oid:...`` or an absolute URL) by its value
(``Type/id``), also when followed by a ``#fragment``, and the same URLs inside the narrative's
``href`` / ``src`` attributes. It copies only the objects on the way to a change: an unchanged
resource comes back as the same object, and the input is never modified.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["bundle_mapping", "rewrite_references"]

_ATTR = re.compile(r'(href|src)="([^"]*)"')


def bundle_mapping(entries: list[dict[str, Any]]) -> dict[str, str]:
    """``fullUrl -> Type/id`` for the entries of a bundle whose resources have an id."""
    out: dict[str, str] = {}
    for entry in entries:
        full = entry.get("fullUrl")
        resource = entry.get("resource")
        if isinstance(full, str) and isinstance(resource, dict):
            rtype, rid = resource.get("resourceType"), resource.get("id")
            if isinstance(rtype, str) and isinstance(rid, str):
                out[full] = f"{rtype}/{rid}"
    return out


def _target(ref: str, mapping: Mapping[str, str]) -> str | None:
    found = mapping.get(ref)
    if found is not None:
        return found
    base, sep, fragment = ref.partition("#")
    if sep and base:
        found = mapping.get(base)
        if found is not None:
            return f"{found}#{fragment}"
    return None


def _div(div: str, mapping: Mapping[str, str]) -> str:
    def swap(m: re.Match[str]) -> str:
        found = _target(m.group(2), mapping)
        return m.group(0) if found is None else f'{m.group(1)}="{found}"'

    return _ATTR.sub(swap, div)


def _walk(node: Any, mapping: Mapping[str, str], unresolved: list[str] | None) -> Any:
    if isinstance(node, dict):
        changed: dict[str, Any] | None = None
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                new: Any = _target(value, mapping)
                if new is None:
                    if unresolved is not None:
                        unresolved.append(value)
                    continue
            elif key == "div" and isinstance(value, str) and ("href" in value or "src" in value):
                new = _div(value, mapping)
                if new == value:
                    continue
            elif isinstance(value, dict | list):
                new = _walk(value, mapping, unresolved)
                if new is value:
                    continue
            else:
                continue
            if changed is None:
                changed = dict(node)
            changed[key] = new
        return node if changed is None else changed
    if isinstance(node, list):
        out: list[Any] | None = None
        for i, item in enumerate(node):
            if isinstance(item, dict | list):
                new_item = _walk(item, mapping, unresolved)
                if new_item is not item:
                    if out is None:
                        out = list(node)
                    out[i] = new_item
        return node if out is None else out
    return node


def rewrite_references(
    resource: dict[str, Any], mapping: Mapping[str, str], unresolved: list[str] | None = None
) -> dict[str, Any]:
    """``resource`` with its references to keys of ``mapping`` replaced by the values (see above);
    ``unresolved``, when given, receives every ``reference`` left as it was (in the same walk)."""
    if not mapping and unresolved is None:
        return resource
    result: dict[str, Any] = _walk(resource, mapping, unresolved)
    return result
