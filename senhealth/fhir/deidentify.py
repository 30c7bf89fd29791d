"""De-identification of resources for analysts and research: what leaves the server without identities.

Spec: FHIR R4 security labels and de-identification https://hl7.org/fhir/R4/security-labels.html
(``http://terminology.hl7.org/CodeSystem/v3-ObservationValue`` ``PSEUDED`` / ``REDACTED``); the method
follows the "Safe Harbor" list of 45 CFR 164.514(b)(2) for what identifies a person, as a limited data
set: names, identifiers (personal ID, insurance card, record numbers), contact details, street and
commune of an address, photos and attached documents, free text (narrative, notes, comments; they may
hold any of these), the display text of references, and the day and month of birth (the year stays)
are removed; dates of care stay (analyses need them), as do the district and province of an address
and coded clinical content. Resource ids are the server's random UUIDs: they link a patient's records
to each other, not to a person (a pseudonym), so they stay.

:func:`deidentify` is pure: it returns a new resource (a Bundle: each entry's resource) with the
elements removed and ``meta.security`` marked ``REDACTED``; :data:`IDENTIFYING_SEARCH` lists the
search parameters a de-identified caller may not use (searching by name or identifier would
re-identify through the matches).
"""

from __future__ import annotations

from typing import Any, Final

from senhealth.fhir.access import OPEN, access_policy, current_principal

__all__ = ["IDENTIFYING_SEARCH", "REDACTED", "deidentify", "deidentifying", "identifying_params"]

#: The security label added to every de-identified resource.
REDACTED: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "REDACTED",
    "display": "redacted",
}

#: Elements removed wherever they appear (any resource, any depth).
_DROP_ANYWHERE: Final = frozenset({"identifier", "telecom", "photo", "note", "comment", "contact"})
#: Dropped at the top of a resource: the narrative, links to other people's records.
_DROP_TOP: Final = frozenset({"text", "link", "contained", "sourceAttachment", "presentedForm"})
#: Attachments: their content and location go, their type stays.
_ATTACHMENT_KEYS: Final = frozenset({"data", "url", "title", "hash"})
#: Elements of HumanName-bearing resources.
_PERSON_TYPES: Final = frozenset({"Patient", "RelatedPerson", "Person"})
#: Address parts kept (district and province: ``district``, ``state``; the country).
_ADDRESS_KEPT: Final = frozenset({"use", "type", "district", "state", "country", "period", "extension"})

#: Search parameters that find people by who they are.
IDENTIFYING_SEARCH: Final = frozenset(
    {
        "name", "given", "family", "phonetic", "identifier", "telecom", "phone", "email", "address",
        "address-city", "address-postalcode", "birthdate", "_text", "_content", "patient.name",
        "subject.name", "link", "general-practitioner", "_filter",
    }
)  # fmt: skip


def identifying_params(names: list[str]) -> list[str]:
    """The parameters among ``names`` (a search's, modifiers and chains included) that identify people."""
    out = []
    for name in names:
        pieces = name.replace(":", ".").split(".")
        if any(p in IDENTIFYING_SEARCH for p in pieces) or name.split(":", 1)[0] in IDENTIFYING_SEARCH:
            out.append(name)
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("resourceType"):
        return deidentify(value)
    out: dict[str, Any] = {}
    is_attachment = "contentType" in value and ("data" in value or "url" in value)
    is_reference = "reference" in value
    for key, item in value.items():
        if key in _DROP_ANYWHERE or (is_attachment and key in _ATTACHMENT_KEYS):
            continue
        if key == "display" and is_reference:  # a reference's display is often the person's name
            continue
        out[key] = _clean(item)
    return out


def _address(address: Any) -> Any:
    if not isinstance(address, dict):
        return address
    return {k: v for k, v in address.items() if k in _ADDRESS_KEPT}


def deidentify(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` without what identifies a person (the module docstring); a Bundle: each entry."""
    rtype = resource.get("resourceType")
    if rtype == "Bundle":
        out = dict(resource)
        if "entry" in resource:
            out["entry"] = [
                {**e, "resource": deidentify(e["resource"])}
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
                else e
                for e in resource["entry"]
            ]
        return out
    if rtype in ("OperationOutcome", "CapabilityStatement"):
        return resource
    out = {}
    for key, value in resource.items():
        if key in _DROP_ANYWHERE or key in _DROP_TOP:
            continue
        if key == "name" and rtype in _PERSON_TYPES:
            continue
        if key == "address" and isinstance(value, list):
            out[key] = [_address(a) for a in value]
            continue
        if key == "birthDate" and isinstance(value, str):
            out[key] = value[:4]
            continue
        if key == "meta" and isinstance(value, dict):
            meta = {k: v for k, v in value.items() if k != "source"}
            labels = [s for s in meta.get("security") or () if s != REDACTED]
            meta["security"] = [*labels, REDACTED]
            out[key] = meta
            continue
        out[key] = _clean(value)
    if "meta" not in out:
        out["meta"] = {"security": [REDACTED]}
    return out


def deidentifying() -> bool:
    """Whether the current caller gets de-identified answers (``Restriction.deidentified``: analysts)."""
    policy = access_policy()
    if policy is OPEN:
        return False
    restriction = policy.restriction(current_principal().get(), "read")
    return restriction is not None and restriction.deidentified
