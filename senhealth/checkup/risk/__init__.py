"""Risk scores of the check-up: pure functions, no database, no web (see docs/checkup.md).

- :mod:`.who_cvd`: WHO 2019 cardiovascular risk charts, laboratory and non-laboratory, Southeast Asia
  recalibration (:func:`who_cvd_risk`); :mod:`.who_cvd_many` the same over arrays;
  :mod:`.who_cvd_chart` the charts' risk bands and cells (:func:`risk_band`, :func:`chart_cell`);
- :mod:`.findrisc`: the Finnish Diabetes Risk Score;
- :mod:`.blood_pressure`: grading per Decision 3192/QĐ-BYT and the treatment target;
- :mod:`.bmi`: body-mass index and the classes for Asian adults;
- :mod:`.ranges`: the accepted ranges of the inputs.

Every function refuses bad input with a ``ValueError`` that names the input.
"""

from senhealth.checkup.risk.blood_pressure import (
    BloodPressureClass,
    BpGrade,
    classify_blood_pressure,
    is_controlled,
)
from senhealth.checkup.risk.bmi import BmiClass, bmi, bmi_class
from senhealth.checkup.risk.findrisc import (
    FamilyHistory,
    FindriscBand,
    FindriscScore,
    findrisc,
    findrisc_band,
)
from senhealth.checkup.risk.who_cvd import REGIONS, ChartNotApplicable, who_cvd_risk
from senhealth.checkup.risk.who_cvd_chart import ChartBand, ChartCell, RiskBand, chart_cell, risk_band
from senhealth.checkup.risk.who_cvd_many import who_cvd_risk_many

__all__ = [
    "REGIONS",
    "BloodPressureClass",
    "BmiClass",
    "BpGrade",
    "ChartBand",
    "ChartCell",
    "ChartNotApplicable",
    "FamilyHistory",
    "FindriscBand",
    "FindriscScore",
    "RiskBand",
    "bmi",
    "bmi_class",
    "chart_cell",
    "classify_blood_pressure",
    "findrisc",
    "findrisc_band",
    "is_controlled",
    "risk_band",
    "who_cvd_risk",
    "who_cvd_risk_many",
]
