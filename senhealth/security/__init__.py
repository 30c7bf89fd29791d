"""Users, roles, OAuth 2 / SMART on FHIR, access policy, consent and audit."""
