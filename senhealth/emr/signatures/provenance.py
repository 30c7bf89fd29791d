"""The FHIR records of a signature: the ``Signature`` element, and the ``Provenance`` that carries it.

Spec: https://hl7.org/fhir/R4/datatypes.html#Signature, https://hl7.org/fhir/R4/provenance.html
(``target``: what was signed, version-specific; ``agent``: who, in which role, on whose behalf;
``signature``: the signature itself), https://hl7.org/fhir/R4/signatures.html (a Provenance carries a
detached signature of its targets) and https://hl7.org/fhir/R4/bundle-definitions.html#Bundle.signature
(the document author's signature, inside the Bundle).

Where each part lives (docs/signatures.md):

- ``Signature.data``: the compact JWS ``header..signature`` (base64 of its ASCII), ``sigFormat``
  ``application/jose``, ``targetFormat`` the canonical document form
  (:data:`~senhealth.emr.signatures.canonical.DOCUMENT_TARGET_FORMAT`);
- ``Signature.extension`` :data:`~senhealth.emr.signatures.model.TIMESTAMP_EXTENSION`: the RFC 3161
  TimeStampToken (DER) over the JWS signature value, i.e. a signature timestamp as CAdES and JAdES
  define it (``sigTst``): it proves the signature existed at the TSA's time, which is when the
  certificate is judged;
- ``Signature.extension`` :data:`~senhealth.emr.signatures.model.ROLE_EXTENSION`: the role code;
- in the Provenance only: ``Signature.extension``
  :data:`~senhealth.emr.signatures.model.EVIDENCE_EXTENSION` referring to a contained ``Binary``
  (``#evidence``) with the certificate status evidence gathered at signing (OCSP responses, CRLs).
"""

from __future__ import annotations

import base64
import copy
import html
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from senhealth.emr.signatures.canonical import DOCUMENT_TARGET_FORMAT
from senhealth.emr.signatures.model import (
    AGENT_TYPE_SYSTEM,
    ASTM_SYSTEM,
    EVIDENCE_EXTENSION,
    JOSE_FORMAT,
    ROLE_CLASS_SYSTEM,
    ROLE_EXTENSION,
    ROLES,
    SIGNATURE_PROVENANCE_TAG,
    TIMESTAMP_EXTENSION,
)
from senhealth.fhir.model.search_parameters import RECORD_SUBJECT_EXTENSION

__all__ = [
    "ACTIVITY_SYSTEM",
    "extension_value",
    "fhir_instant",
    "jws_signature",
    "provenance_record",
]

ACTIVITY_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion"
_XHTML: Final = "http://www.w3.org/1999/xhtml"


def fhir_instant(when: datetime) -> str:
    """An R4 ``instant``: UTC, milliseconds, ``Z``."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def extension_value(element: dict[str, Any] | None, url: str, key: str) -> Any:
    """``value[key]`` of the first extension ``url`` on ``element`` (None when absent)."""
    for ext in (element or {}).get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext.get(key)
    return None


def jws_signature(
    *,
    role: str,
    token: str,
    timestamp_token: bytes,
    when: datetime,
    who: dict[str, Any],
    on_behalf_of: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``Signature`` element holding the compact detached JWS ``token`` and its timestamp."""
    spec = ROLES[role]
    signature: dict[str, Any] = {
        "extension": [
            {"url": ROLE_EXTENSION, "valueCode": role},
            {
                "url": TIMESTAMP_EXTENSION,
                "valueBase64Binary": base64.b64encode(timestamp_token).decode("ascii"),
            },
        ],
        "type": [{"system": ASTM_SYSTEM, "code": spec.code, "display": spec.display}],
        "when": fhir_instant(when),
        "who": who,
        "targetFormat": DOCUMENT_TARGET_FORMAT,
        "sigFormat": JOSE_FORMAT,
        "data": base64.b64encode(token.encode("ascii")).decode("ascii"),
    }
    if on_behalf_of is not None:
        signature["onBehalfOf"] = on_behalf_of
    return signature


def _narrative(text: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="{_XHTML}"><p>{html.escape(text)}</p></div>'}


def provenance_record(
    *,
    role: str,
    signature: dict[str, Any],
    bundle_ref: str,
    composition_ref: str,
    recorded: datetime,
    signer_name: str,
    activity: str = "LA",
    evidence: dict[str, Any] | None = None,
    method: str | None = None,
    subject: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Provenance of one signature (or confirmation) over the signed document ``bundle_ref``
    (``Bundle/<id>/_history/<n>``) generated from ``composition_ref``; ``subject``: the document's
    subject (``Composition.subject``), kept in the ``record-subject`` extension that puts the Provenance
    in that patient's compartment (senhealth.fhir.model.search_parameters)."""
    spec = ROLES[role]
    signature = copy.deepcopy(signature)  # the Bundle's copy of an author signature stays as it is
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": AGENT_TYPE_SYSTEM, "code": spec.agent_type}]},
        "who": signature["who"],
    }
    if role == "patient":
        agent["role"] = [{"coding": [{"system": ROLE_CLASS_SYSTEM, "code": "PAT", "display": "patient"}]}]
    if "onBehalfOf" in signature:
        agent["onBehalfOf"] = signature["onBehalfOf"]
    kind_vi = "Xác nhận điện tử" if method else "Chữ ký số"
    kind_en = f"Electronic confirmation ({method})" if method else "Digital signature"
    provenance: dict[str, Any] = {
        "resourceType": "Provenance",
        "meta": {"tag": [dict(SIGNATURE_PROVENANCE_TAG)]},
        "text": _narrative(
            f"{kind_vi} của {signer_name} ({spec.title_vi}) lúc {fhir_instant(recorded)} / "
            f"{kind_en} by {signer_name} ({spec.title_en})"
        ),
        "target": [{"reference": bundle_ref}, {"reference": composition_ref}],
        "recorded": fhir_instant(recorded),
        "activity": {"coding": [{"system": ACTIVITY_SYSTEM, "code": activity}]},
        "agent": [agent],
        "signature": [signature],
    }
    if subject and subject.get("reference"):
        provenance["extension"] = [
            {"url": RECORD_SUBJECT_EXTENSION, "valueReference": {"reference": subject["reference"]}}
        ]
    if evidence:
        provenance["contained"] = [
            {
                "resourceType": "Binary",
                "id": "evidence",
                "contentType": "application/json",
                "data": base64.b64encode(orjson.dumps(evidence, option=orjson.OPT_SORT_KEYS)).decode("ascii"),
            }
        ]
        signature.setdefault("extension", []).append(
            {"url": EVIDENCE_EXTENSION, "valueReference": {"reference": "#evidence"}}
        )
    return provenance
