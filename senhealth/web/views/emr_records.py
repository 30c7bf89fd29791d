"""What the clinical-document pages share: finding a patient's Composition, its signatures at a glance,
its corrections, labels and paths.

Everything is read through the FHIR API as the signed-in user (:mod:`senhealth.web.fhir_client`):

- a document: ``Composition/<id>``, which must be about the patient of the page (else 404, as for a
  document the user may not see);
- who signed it, cheaply: the signature Provenances (tag ``signature`` of the signature records' code
  system, ``target`` = the Composition): one search for a whole list of documents. Verifying the
  signatures (certificates, timestamps, revocation) is ``$verify``'s work, shown by the signature panel;
- its corrections: ``Composition?related-ref=Composition/<id>`` (a correction ``relatesTo`` ``replaces``
  the document it corrects).

Spec: https://hl7.org/fhir/R4/composition.html, https://hl7.org/fhir/R4/provenance.html#search,
https://hl7.org/fhir/R4/search.html#tag
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from senhealth.emr.documents.types import DOCUMENT_TYPES, DocumentType, document_type_for_code
from senhealth.emr.signatures.model import RECORD_TAG_SYSTEM, ROLE_EXTENSION, ROLES
from senhealth.web.context import PageError
from senhealth.web.fhir_client import FhirClient, FhirError
from senhealth.web.i18n import N_
from senhealth.web.record import patient_name

__all__ = [
    "STATUS_LABELS",
    "SignedState",
    "corrections_of",
    "document_path",
    "document_title",
    "load_composition",
    "practitioner_names",
    "reference_id",
    "replaced_target",
    "role_title",
    "signed_states",
    "status_label",
    "type_choices",
    "type_title",
]

#: Composition.status, as the pages show it (https://hl7.org/fhir/R4/valueset-composition-status.html).
STATUS_LABELS: Final = {
    "preliminary": N_("Draft (not signed)"),
    "final": N_("Final"),
    "amended": N_("Correction"),
    "entered-in-error": N_("Entered in error"),
}
_SIGNATURE_TAG: Final = f"{RECORD_TAG_SYSTEM}|signature"
_MAX_IDS: Final = 100


def document_path(patient_id: str, composition_id: str | None = None) -> str:
    base = f"/app/patients/{patient_id}/clinical-documents"
    return base if composition_id is None else f"{base}/{composition_id}"


def reference_id(value: Any, res_type: str) -> str | None:
    """The id of a Reference (or a reference string) to ``res_type`` (version dropped), else None."""
    ref = value.get("reference") if isinstance(value, Mapping) else value
    if isinstance(ref, str) and ref.startswith(f"{res_type}/"):
        parts = ref.split("/")
        return parts[1] if len(parts) > 1 and parts[1] else None
    return None


def replaced_target(composition: Mapping[str, Any]) -> str | None:
    """The id of the Composition this one corrects (``relatesTo`` ``replaces``)."""
    for relation in composition.get("relatesTo") or []:
        if isinstance(relation, Mapping) and relation.get("code") == "replaces":
            found = reference_id(relation.get("targetReference"), "Composition")
            if found:
                return found
    return None


def status_label(status: str, signed: bool) -> str:
    """The status to show (a catalogue message id), or "" when the signature badge says it all: a signed
    document still ``preliminary`` is not a draft any more (it can no longer change)."""
    if signed and status == "preliminary":
        return ""
    return STATUS_LABELS.get(status, status)


def type_title(doc_type: DocumentType | None, lang: str) -> str:
    if doc_type is None:
        return ""
    return doc_type.title_vi if lang == "vi" else doc_type.title_en


def document_title(composition: Mapping[str, Any], lang: str) -> str:
    """The title to show: the form's title in the page's language, else the Composition's own."""
    doc_type = document_type_for_code(composition.get("type"))
    own = str(composition.get("title") or "")
    if doc_type is not None and (lang != "vi" or not own or own == doc_type.title_vi):
        return type_title(doc_type, lang)
    return own or str((composition.get("type") or {}).get("text") or "")


def role_title(role: str, lang: str) -> str:
    spec = ROLES.get(role)
    if spec is None:
        return role
    return spec.title_vi if lang == "vi" else spec.title_en


def type_choices(lang: str) -> list[tuple[str, str]]:
    """The 7 national forms as ``(code, title)`` for a choice list."""
    return [(code, type_title(t, lang)) for code, t in DOCUMENT_TYPES.items()]


async def load_composition(client: FhirClient, patient_id: str, composition_id: str) -> dict[str, Any]:
    """``Composition/<id>`` of the patient (404 :class:`PageError` when unknown, hidden or another
    patient's)."""
    try:
        comp = await client.read("Composition", composition_id)
    except FhirError as e:
        if e.status in (403, 404, 410):
            raise PageError(404, "No such document, or you may not see it.") from None
        raise PageError(502, "The record could not be read.") from None
    if reference_id(comp.get("subject"), "Patient") != patient_id:
        raise PageError(404, "No such document, or you may not see it.")
    return comp


@dataclass
class SignedState:
    """Who has signed one document so far (signature Provenances), without verifying them."""

    roles: list[str] = field(default_factory=list)
    confirmations: int = 0

    @property
    def signed(self) -> bool:
        return bool(self.roles)


def _role_of(signature: Mapping[str, Any]) -> str | None:
    for ext in signature.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == ROLE_EXTENSION:
            value = ext.get("valueCode")
            return str(value) if value else None
    return None


async def signed_states(client: FhirClient, composition_ids: Iterable[str]) -> dict[str, SignedState]:
    """``composition id -> SignedState`` for the given documents (one search per 100 of them)."""
    ids = list(dict.fromkeys(i for i in composition_ids if i))
    out: dict[str, SignedState] = {i: SignedState() for i in ids}
    for start in range(0, len(ids), _MAX_IDS):
        chunk = ids[start : start + _MAX_IDS]
        targets = ",".join(f"Composition/{i}" for i in chunk)
        try:
            found = await client.search_all(
                "Provenance", [("target", targets), ("_tag", _SIGNATURE_TAG), ("_count", "500")], pages=4
            )
        except FhirError:
            continue  # shown as unsigned; the signature panel ($verify) says more
        for provenance in found:
            targets_of = {reference_id(t, "Composition") for t in provenance.get("target") or []}
            for cid in targets_of & set(chunk):
                if cid is None:
                    continue
                for signature in provenance.get("signature") or []:
                    if not isinstance(signature, Mapping):
                        continue
                    role = _role_of(signature)
                    if signature.get("sigFormat") == "application/jose" and role:
                        out[cid].roles.append(role)
                    else:
                        out[cid].confirmations += 1
    return out


async def corrections_of(client: FhirClient, composition_id: str) -> list[dict[str, Any]]:
    """The Compositions that correct ``composition_id`` (normally at most one)."""
    try:
        found = await client.search_all(
            "Composition", [("related-ref", f"Composition/{composition_id}"), ("_count", "50")], pages=1
        )
    except FhirError:
        return []
    return [c for c in found if replaced_target(c) == composition_id]


async def practitioner_names(client: FhirClient, references: Iterable[Any]) -> dict[str, str]:
    """``Practitioner/<id> -> name`` for the references (a display given in the reference is kept)."""
    out: dict[str, str] = {}
    for ref in references:
        if not isinstance(ref, Mapping):
            continue
        pid = reference_id(ref, "Practitioner")
        if pid is None:
            continue
        key = f"Practitioner/{pid}"
        if key in out:
            continue
        display = str(ref.get("display") or "")
        if not display:
            try:
                display = patient_name(await client.read("Practitioner", pid))
            except FhirError:
                display = ""
        out[key] = display or key
    return out
