"""The Ministry's exchange formats other than the claim XML: ``HoSoBenhAn`` export (Dispatch 365), the
electronic-health-book extract (VNeID) with sensitive data filtered out, and the e-prescription message
(Circular 26/2025)."""
