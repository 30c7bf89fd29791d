"""The R4 search parameters and the patient compartment, as shipped in the package.

Spec: https://hl7.org/fhir/R4/searchparameter.html and https://hl7.org/fhir/R4/compartmentdefinition-patient.html

Source: ``search-parameters.json`` of the R4 definitions (1,378 parameters; ``as`` already rewritten as
``ofType`` in the expressions; three parameters have no expression) and
``compartmentdefinition-patient.json``, derived by ``scripts/derive_fhir_model.py``.

Two platform parameters (:data:`PLATFORM_SEARCH_PARAMS`) put the signed-record resources into their
patient's compartment, which R4 does not: a document Bundle (``patient``: its Composition's subject) and a
Provenance that records a signature on a document (``record-subject``: the document's subject, an
extension). Without them a signed discharge paper, full of one patient's data, would belong to no
patient, and the access policy would show it to every signed-in user (docs/signatures.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from senhealth.fhir.model import load_data

__all__ = [
    "PLATFORM_SEARCH_PARAMS",
    "RECORD_SUBJECT_EXTENSION",
    "SearchParam",
    "all_search_params",
    "patient_compartment",
    "search_params_for",
]


@dataclass(frozen=True, slots=True)
class SearchParam:
    code: str
    url: str
    base: tuple[str, ...]
    type: str  # number date string token reference composite quantity uri special
    expression: str | None
    target: tuple[str, ...] = ()
    components: tuple[tuple[str, str], ...] = ()  # (definition url, expression)


#: The patient whose record a Provenance is about (a signature on one of their documents).
RECORD_SUBJECT_EXTENSION = "https://senhealth.vn/fhir/StructureDefinition/record-subject"

PLATFORM_SEARCH_PARAMS: tuple[SearchParam, ...] = (
    SearchParam(
        code="patient",
        url="https://senhealth.vn/fhir/SearchParameter/Bundle-patient",
        base=("Bundle",),
        type="reference",
        expression="Bundle.entry[0].resource.ofType(Composition).subject",
        target=("Patient",),
    ),
    SearchParam(
        code="record-subject",
        url="https://senhealth.vn/fhir/SearchParameter/Provenance-record-subject",
        base=("Provenance",),
        type="reference",
        expression=f"Provenance.extension.where(url = '{RECORD_SUBJECT_EXTENSION}').value.ofType(Reference)",
        target=("Patient",),
    ),
)
_PLATFORM_COMPARTMENT = {"Bundle": ("patient",), "Provenance": ("record-subject",)}


@cache
def all_search_params() -> tuple[SearchParam, ...]:
    """The R4 parameters, then :data:`PLATFORM_SEARCH_PARAMS`."""
    return _r4_search_params() + PLATFORM_SEARCH_PARAMS


def _r4_search_params() -> tuple[SearchParam, ...]:
    rows = load_data("r4-search.json.gz")["searchParameters"]
    return tuple(
        SearchParam(
            code=r["code"],
            url=r["url"],
            base=tuple(r["base"]),
            type=r["type"],
            expression=r.get("expression"),
            target=tuple(r.get("target", ())),
            components=tuple((c[0], c[1]) for c in r.get("component", ())),
        )
        for r in rows
    )


@cache
def _by_base() -> dict[str, dict[str, SearchParam]]:
    out: dict[str, dict[str, SearchParam]] = {}
    for p in all_search_params():
        for b in p.base:
            out.setdefault(b, {})[p.code] = p
    return out


def search_params_for(resource_type: str) -> dict[str, SearchParam]:
    """Every search parameter that applies to a resource type, by code (Resource-level ones included)."""
    idx = _by_base()
    out = dict(idx.get("Resource", {}))
    out.update(idx.get("DomainResource", {}))
    out.update(idx.get(resource_type, {}))
    return out


@cache
def patient_compartment() -> dict[str, tuple[str, ...]]:
    """Resource type -> the search parameters that put a resource in a Patient's compartment."""
    raw = load_data("r4-search.json.gz")["patientCompartment"]
    out = {k: tuple(v) for k, v in raw.items()}
    for res_type, codes in _PLATFORM_COMPARTMENT.items():
        out[res_type] = out.get(res_type, ()) + tuple(c for c in codes if c not in out.get(res_type, ()))
    return out
