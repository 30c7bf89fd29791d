"""Values in the claim data's vocabulary (Decisions 130/2023, 4750/2023, 3176/2024), shared by the
exports: times ``yyyymmddHHMM``, dates ``yyyymmdd``, sex ``GIOI_TINH``, visit type ``MA_LOAI_KCB``,
outcome ``KET_QUA_DTRI`` and discharge type ``MA_LOAI_RV``.

Spec: https://hl7.org/fhir/R4/encounter.html (``class`` from v3 ActCode, ``hospitalization.dischargeDisposition``
from http://terminology.hl7.org/CodeSystem/discharge-disposition) mapped to the claim tables' codes
(``../shared/data/claim-xml/`` XML1: ``GIOI_TINH`` 1 male, 2 female, 3 undetermined; ``KET_QUA_DTRI`` 1 cured
... 5 died, 7 undetermined; ``MA_LOAI_RV`` 1 discharge, 2 referral, 3 absconded, 4 discharge on request,
5 referral on request). ``MA_LOAI_KCB`` comes from the Ministry's common code list, which is not in the
reference data: the mapping from the encounter class here is the project's (01 visit, 03 inpatient, 04
day inpatient, 14 telemedicine, *unverified*).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from senhealth.emr.documents.values import VN_TZ, codings, parse_datetime

__all__ = [
    "claim_date",
    "claim_datetime",
    "discharge_type",
    "sex_code",
    "treatment_days",
    "treatment_outcome",
    "visit_type",
]

_SEX: Final = {"male": "1", "female": "2"}
_VISIT: Final = {
    "AMB": "01",
    "EMER": "01",
    "FLD": "01",
    "HH": "01",
    "IMP": "03",
    "ACUTE": "03",
    "NONAC": "03",
    "SS": "04",
    "VR": "14",
}
_DISPOSITION_RV: Final = {
    "home": "1",
    "alt-home": "1",
    "other-hcf": "2",
    "hosp": "2",
    "rehab": "2",
    "snf": "2",
    "long": "2",
    "aadvice": "4",
    "oth": "1",
}


def claim_datetime(value: Any) -> str:
    """``yyyymmddHHMM`` in Vietnam's time (``""`` for none)."""
    moment = parse_datetime(value)
    return "" if moment is None else f"{moment.astimezone(VN_TZ):%Y%m%d%H%M}"


def claim_date(value: Any) -> str:
    """``yyyymmdd`` (``""`` for none)."""
    moment = parse_datetime(value)
    return "" if moment is None else f"{moment.astimezone(VN_TZ):%Y%m%d}"


def sex_code(gender: Any) -> str:
    """``GIOI_TINH``: 1 male, 2 female, 3 undetermined."""
    return _SEX.get(str(gender), "3")


def visit_type(encounter: Mapping[str, Any]) -> str:
    """``MA_LOAI_KCB`` from ``Encounter.class`` (see the module docstring)."""
    klass = encounter.get("class")
    code = klass.get("code") if isinstance(klass, Mapping) else None
    return _VISIT.get(str(code), "01")


def _disposition(encounter: Mapping[str, Any]) -> str | None:
    hosp = encounter.get("hospitalization")
    if not isinstance(hosp, Mapping):
        return None
    for c in codings(hosp.get("dischargeDisposition")):
        if isinstance(c.get("code"), str):
            return str(c["code"])
    return None


def discharge_type(encounter: Mapping[str, Any], referred: bool = False) -> str:
    """``MA_LOAI_RV``: a referral when the encounter refers the patient on, else from the disposition."""
    if referred:
        return "2"
    return (
        _DISPOSITION_RV.get(_disposition(encounter) or "", "1")
        if encounter.get("status") == "finished"
        else ""
    )


def treatment_outcome(encounter: Mapping[str, Any]) -> str:
    """``KET_QUA_DTRI``: 5 died (disposition ``exp``), 6 discharged on request with a poor prognosis is not
    told apart, else 7 undetermined (the record does not say cured / improved)."""
    if _disposition(encounter) == "exp":
        return "5"
    return "7" if encounter.get("status") == "finished" else ""


def treatment_days(encounter: Mapping[str, Any]) -> int | None:
    """``SO_NGAY_DTRI``: days from admission to discharge, counting both (an outpatient visit: 1)."""
    period = encounter.get("period")
    if not isinstance(period, Mapping):
        return None
    start, end = parse_datetime(period.get("start")), parse_datetime(period.get("end"))
    if start is None or end is None:
        return None
    return (end.astimezone(VN_TZ).date() - start.astimezone(VN_TZ).date()).days + 1
