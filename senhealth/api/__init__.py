"""HTTP JSON adapters: FastAPI routers for FHIR, auth, admin and domain endpoints.

``create_app(settings=None) -> FastAPI`` builds the application (:mod:`senhealth.api.factory`); the
FHIR REST API is :mod:`senhealth.api.fhir`. Documentation: ``docs/api.md``.
"""

from senhealth.api.factory import create_app

__all__ = ["create_app"]
