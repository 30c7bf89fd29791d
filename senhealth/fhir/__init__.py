"""The FHIR R4 core: model, FHIRPath, validation, store, search and operations (https://hl7.org/fhir/R4/)."""
