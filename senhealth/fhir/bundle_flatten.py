"""Flatten a transaction Bundle of plain creates and updates into resources for the bulk path.

Spec: https://hl7.org/fhir/R4/bundle.html#transaction and https://hl7.org/fhir/R4/http.html#trules

Loading files (``senhealth load``, the demo province, Synthea) is mostly transaction Bundles whose
entries only ``POST`` new resources or ``PUT`` them at ``Type/id``, linked by ``urn:uuid:`` fullUrls. Such a
Bundle means the same as writing its resources with ids assigned and references rewritten, which the
store's bulk :meth:`~senhealth.fhir.store.FhirStore.load` does many times faster than entry-by-entry
processing. Anything else (conditional entries, ``DELETE``, ``PATCH``, ``GET``, batch semantics) returns
``None``: the caller must run the Bundle through :func:`senhealth.fhir.bundle.process_bundle`.

A ``POST`` entry whose fullUrl is ``urn:uuid:<uuid>`` keeps that uuid as its id, so loading the same
file twice updates instead of duplicating; other ``POST`` entries get a fresh uuid.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from senhealth.fhir.store.references import rewrite_references

__all__ = ["flatten_transaction"]

_UUID = re.compile(r"^urn:uuid:([0-9a-fA-F-]{36})$")
_PUT = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


def flatten_transaction(bundle: Any) -> list[dict[str, Any]] | None:
    """The Bundle's resources with ids and rewritten references, or None if it needs full processing."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return None
    if bundle.get("type") != "transaction" or not isinstance(bundle.get("entry"), list):
        return None
    mapping: dict[str, str] = {}
    resources: list[dict[str, Any]] = []
    for entry in bundle["entry"]:
        if not isinstance(entry, dict):
            return None
        resource, request = entry.get("resource"), entry.get("request")
        if not isinstance(resource, dict) or not isinstance(request, dict):
            return None
        if set(request) - {"method", "url"}:  # ifNoneExist, ifMatch, ...: conditional semantics
            return None
        rtype = resource.get("resourceType")
        method, url = request.get("method"), request.get("url")
        if not isinstance(rtype, str) or not isinstance(url, str):
            return None
        if method == "POST" and url == rtype:
            full = entry.get("fullUrl")
            m = _UUID.match(full) if isinstance(full, str) else None
            rid = m.group(1).lower() if m else str(uuid.uuid4())
        elif method == "PUT" and (m := _PUT.match(url)) and m.group(1) == rtype:
            rid = m.group(2)
        else:
            return None
        if resource.get("id", rid) != rid:
            return None  # a body id that disagrees with the URL: let full processing report it
        resource = {**resource, "id": rid}
        full = entry.get("fullUrl")
        if isinstance(full, str):
            mapping[full] = f"{rtype}/{rid}"
        resources.append(resource)
    return [rewrite_references(r, mapping) for r in resources]
