"""HTTP JSON adapters: FastAPI routers for FHIR, auth, admin and domain endpoints."""
