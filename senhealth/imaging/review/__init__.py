"""Human in the loop: the radiologist accepts, edits or rejects the AI's result and signs the final report;
the agreement per model and month, and the automatic suspension of a model below a threshold.

Spec: https://hl7.org/fhir/R4/diagnosticreport.html, https://hl7.org/fhir/R4/provenance.html,
docs/signatures.md. Docs: docs/imaging-ai.md.

- :mod:`.review`: :func:`review_report`;
- :mod:`.agreement`: :func:`agreement`, :func:`check_suspension`, :func:`install_suspension_listener`.
"""

from senhealth.imaging.review.agreement import (
    Agreement,
    Suspension,
    agreement,
    check_suspension,
    install_suspension_listener,
)
from senhealth.imaging.review.review import VERDICTS, ReviewError, ReviewResult, review_report

__all__ = [
    "VERDICTS",
    "Agreement",
    "ReviewError",
    "ReviewResult",
    "Suspension",
    "agreement",
    "check_suspension",
    "install_suspension_listener",
    "review_report",
]
