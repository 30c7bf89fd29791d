"""FHIR canonical JSON of a document Bundle: the exact bytes a signature covers.

Spec: https://hl7.org/fhir/R4/json.html#canonical (R4 §2.6.2.6 "Canonical JSON": no whitespace other
than single spaces in property values and in the narrative's xhtml, properties in alphabetical order;
the variants ``http://hl7.org/fhir/canonicalization/json#data`` (narrative omitted), ``#static``
(narrative and ``meta`` omitted), ``#narrative`` and ``#document``), https://hl7.org/fhir/R4/signatures.html
and https://hl7.org/fhir/R4/datatypes.html#Signature (``targetFormat``: the media type of what was
signed, with the canonicalization as a parameter).

What a document signature covers (``#document``, :data:`DOCUMENT_CANONICALIZATION`): R4 defines it as
"everything in a Bundle, except for the Bundle.id and Bundle.meta on the root Bundle (allows for a
document to be copied from server to server)". ``Bundle.signature`` is left out as well: the signature
cannot cover itself, and the counter-signatures of :mod:`senhealth.emr.signatures` must all cover the
same bytes. So the signed bytes are the root Bundle without ``id``, ``meta`` and ``signature``; every
entry is kept whole, the narratives (``text``), the entries' ``meta.versionId`` / ``lastUpdated`` and
``fullUrl`` included: a signed document pins the exact versions it shows and what a reader saw.

The byte form is R4's, made exact where R4 leaves room (R4 predates RFC 8785, the JSON Canonicalization
Scheme, which R5 adopts):

- object members sorted by name (FHIR names are ASCII: code-unit order is alphabetical order), no
  whitespace between tokens, UTF-8, strings escaped as RFC 8785 §3.2.2.2 does (``\\"``, ``\\\\``, the
  short escapes ``\\b \\f \\n \\r \\t``, ``\\u00XX`` for other controls, nothing else: no ``\\/``, no
  ``\\uXXXX`` for non-ASCII; Vietnamese text stays as its UTF-8 bytes);
- numbers as the FHIR JSON text of the value (:func:`senhealth.fhir.json.dumps`: a decimal keeps its
  digits, ``1.50`` stays ``1.50``, because FHIR says a decimal's precision is significant; RFC 8785 would
  write ``1.5``, and a signature that cannot tell ``1.50`` from ``1.5`` would not cover what the reader
  sees). Integers are written as integers. Both forms survive the store: what
  :func:`senhealth.fhir.store.content_from_text` gives back serialises to the same bytes.

orjson with ``OPT_SORT_KEYS`` writes exactly this form (it escapes what RFC 8785 escapes and nothing
more), so the canonical bytes cost one serialisation (about 1 ms for a 100-entry document).
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from senhealth.fhir.json import dumps

__all__ = [
    "DOCUMENT_CANONICALIZATION",
    "DOCUMENT_TARGET_FORMAT",
    "EXCLUDED_ROOT_ELEMENTS",
    "canonical_document",
    "canonical_json",
    "document_digest",
]

#: The canonicalization R4 defines for signing a document Bundle.
DOCUMENT_CANONICALIZATION: Final = "http://hl7.org/fhir/canonicalization/json#document"
#: ``Signature.targetFormat`` of a document signature: what was signed, and how it was canonicalised.
DOCUMENT_TARGET_FORMAT: Final = f"application/fhir+json;canonicalization={DOCUMENT_CANONICALIZATION}"
#: Root elements of the Bundle that the signature does not cover.
EXCLUDED_ROOT_ELEMENTS: Final = frozenset({"id", "meta", "signature"})


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes: sorted members, no whitespace, FHIR number text."""
    return dumps(value, sort_keys=True)


def canonical_document(bundle: dict[str, Any]) -> bytes:
    """The bytes a signature over the document ``bundle`` covers (``#document``, see the module
    docstring). Raises ``ValueError`` for anything but a document Bundle."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ValueError("only a Bundle can be canonicalised as a document")
    if bundle.get("type") != "document":
        raise ValueError(f"the Bundle is of type {bundle.get('type')!r}, not 'document'")
    signed = {k: v for k, v in bundle.items() if k not in EXCLUDED_ROOT_ELEMENTS}
    return canonical_json(signed)


def document_digest(bundle: dict[str, Any]) -> str:
    """The SHA-256 of :func:`canonical_document`, lower-case hex (for records and look-ups)."""
    return hashlib.sha256(canonical_document(bundle)).hexdigest()
