"""The terminology operations, registered with the FHIR core's operation registry.

Spec: https://hl7.org/fhir/R4/terminology-service.html and the OperationDefinitions of
``CodeSystem/$lookup``, ``ValueSet/$expand``, ``ValueSet/$validate-code``,
``CodeSystem/$validate-code``, ``CodeSystem/$subsumes`` and ``ConceptMap/$translate``
(https://hl7.org/fhir/R4/operationslist.html).

:func:`register_terminology_operations` (idempotent) registers the five operations at the type and
instance levels (``$validate-code`` serves both CodeSystem and ValueSet), installs FHIRPath's
``memberOf`` over the packaged value sets (:mod:`senhealth.fhir.fhirpath.hooks`) and registers Sen
Health's profiles that bind to the packaged value sets (:mod:`.profiles`). Call it before the API app
is created, so that each operation gets its documented routes.
"""

from __future__ import annotations

from typing import Final

from senhealth.fhir.operations.registry import Operation, register
from senhealth.fhir.terminology.codesystem_lookup import run_lookup
from senhealth.fhir.terminology.conceptmap_translate import run_translate
from senhealth.fhir.terminology.expand_operation import run_expand
from senhealth.fhir.terminology.subsumes import run_subsumes
from senhealth.fhir.terminology.validate_code import run_validate_code

__all__ = ["TERMINOLOGY_OPERATIONS", "register_terminology_operations"]


LOOKUP: Final = Operation(
    name="lookup",
    handler=run_lookup,
    levels=frozenset({"type", "instance"}),
    definition="http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup",
    resource_types=frozenset({"CodeSystem"}),
    documentation="The display, designations and properties of a code (ICD-10 in Vietnamese and English).",
)
EXPAND: Final = Operation(
    name="expand",
    handler=run_expand,
    levels=frozenset({"type", "instance"}),
    definition="http://hl7.org/fhir/OperationDefinition/ValueSet-expand",
    resource_types=frozenset({"ValueSet"}),
    documentation=(
        "The codes of a value set (url, id, or valueSet in the body; implicit ones such as"
        " `<system>?fhir_vs=isa/<code>`), filtered by text without diacritics, paged with offset/count."
    ),
)
VALIDATE_CODE: Final = Operation(
    name="validate-code",
    handler=run_validate_code,
    levels=frozenset({"type", "instance"}),
    definition="http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code",
    resource_types=frozenset({"CodeSystem", "ValueSet"}),
    documentation="Whether a code (coding, codeableConcept) is in a value set or a code system.",
)
SUBSUMES: Final = Operation(
    name="subsumes",
    handler=run_subsumes,
    levels=frozenset({"type", "instance"}),
    definition="http://hl7.org/fhir/OperationDefinition/CodeSystem-subsumes",
    resource_types=frozenset({"CodeSystem"}),
    documentation="Whether code A subsumes code B: equivalent, subsumes, subsumed-by or not-subsumed.",
)
TRANSLATE: Final = Operation(
    name="translate",
    handler=run_translate,
    levels=frozenset({"type", "instance"}),
    definition="http://hl7.org/fhir/OperationDefinition/ConceptMap-translate",
    resource_types=frozenset({"ConceptMap"}),
    documentation="Translate a code with a concept map (ICD-10 of the Ministry to WHO's, and back).",
)

TERMINOLOGY_OPERATIONS: Final = (LOOKUP, EXPAND, VALIDATE_CODE, SUBSUMES, TRANSLATE)


def register_terminology_operations() -> None:
    """Register the terminology operations, FHIRPath's ``memberOf`` and the packaged profiles (again:
    idempotent)."""
    from senhealth.fhir.terminology.member_of import install_member_of
    from senhealth.fhir.terminology.profiles import register_terminology_profiles

    for op in TERMINOLOGY_OPERATIONS:
        register(op, replace=True)
    install_member_of()
    register_terminology_profiles()
