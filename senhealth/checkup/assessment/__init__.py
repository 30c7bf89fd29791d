"""A patient's risk scores computed from the store and kept as RiskAssessments (docs/checkup-registries.md).

Spec: https://hl7.org/fhir/R4/riskassessment.html. The scores themselves: :mod:`senhealth.checkup.risk`.

- :mod:`.codes`: the LOINC, ICD-10 and own codes the check-up parts share;
- :mod:`.patient_record`: what the store holds about one patient, in the scores' units;
- :mod:`.who_cvd_assessment`: the WHO 2019 CVD risk as a RiskAssessment, or why there is none;
- :mod:`.assess`: :func:`assess` / :func:`assess_patient`, one current RiskAssessment per patient and score;
- :mod:`.hook`: :func:`install_assessment`, the write hook that queues ``checkup.assess`` on new data.
"""

from senhealth.checkup.assessment.assess import Assessment, assess, assess_patient, current_assessment
from senhealth.checkup.assessment.hook import ASSESS_TASK, install_assessment, uninstall_assessment
from senhealth.checkup.assessment.patient_record import PatientRecord, load_record
from senhealth.checkup.assessment.who_cvd_assessment import NotAssessed

__all__ = [
    "ASSESS_TASK",
    "Assessment",
    "NotAssessed",
    "PatientRecord",
    "assess",
    "assess_patient",
    "current_assessment",
    "install_assessment",
    "load_record",
    "uninstall_assessment",
]
