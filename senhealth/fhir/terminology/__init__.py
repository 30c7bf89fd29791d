"""Terminology: loaded code systems, CodeSystem / ValueSet / ConceptMap, and the terminology operations.

Spec: https://hl7.org/fhir/R4/terminology-service.html. Guide: ``docs/terminology.md``.

One concept a module: :mod:`.codesystem` (a code system in memory: hierarchy, filters), the loaded
code systems (:mod:`.icd10_vn`, :mod:`.icd10_editions`, :mod:`.icd10_who`, :mod:`.administrative_units`,
:mod:`.ethnic_groups`, :mod:`.loinc`, :mod:`.ucum_system`, :mod:`.r4`), :mod:`.registry` (what is
packaged, by canonical URL), :mod:`.stored` (what users stored in the FHIR store), :mod:`.service`
(both, with caches), :mod:`.valueset_expand` (the expansion engine), :mod:`.text_match` (filters
without diacritics), the operations (:mod:`.codesystem_lookup`, :mod:`.expand_operation`,
:mod:`.validate_code`, :mod:`.subsumes`, :mod:`.conceptmap_translate`; registered by
:func:`.operations.register_terminology_operations`), :mod:`.member_of` (FHIRPath ``memberOf``) and
:mod:`.profiles` (Sen Health profiles bound to the packaged value sets).

Nothing is imported here: the validator imports :mod:`.registry` alone, and the store must not be
imported by it.
"""
