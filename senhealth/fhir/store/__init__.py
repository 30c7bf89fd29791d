"""FHIR resource storage: repository protocol, PostgreSQL implementation, history, compartments, reindex."""
