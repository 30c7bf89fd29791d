"""Clinical documents: the national record forms as FHIR Compositions and document Bundles.

Spec: https://hl7.org/fhir/R4/documents.html and https://hl7.org/fhir/R4/composition.html.

- :mod:`.types`: ``DOCUMENT_TYPES``, the forms of Circular 32/2023 (LOINC type, sections, fields,
  retention).
- :mod:`.document`: ``build_document_bundle(store, composition_id, *, base_url="")``, the document Bundle
  of ``Composition/$document``.
- :mod:`.builder`: ``create_document(store, type_code, *, patient_id, encounter_id, ...)``, a
  Composition assembled from what the store holds for an encounter.
- :mod:`.operations`: ``register_document_operations()``: ``Composition/$document`` and
  ``Encounter/$create-document``.
"""
