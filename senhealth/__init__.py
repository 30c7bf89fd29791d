"""Sen Health: an open-source FHIR R4 digital health platform for a Vietnamese province."""

__version__ = "0.1.0"
