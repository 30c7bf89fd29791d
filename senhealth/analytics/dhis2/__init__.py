"""DHIS2-style aggregate reporting for facilities without a full system (issue 11, build item 3).

- :mod:`.model`: data sets (data elements, category option combos, validation rules) as package data;
- :mod:`.validation`: the rules' left side / right side expressions;
- :mod:`.forms`: forms stored as FHIR MeasureReports, with the approval workflow;
- :mod:`.exchange`: DHIS2 ``dataValueSets`` JSON export and import.

docs/dhis2.md.
"""

from __future__ import annotations

from .exchange import data_value_sets, import_data_value_set, org_units
from .forms import (
    ACTIONS,
    STATES,
    Form,
    FormConflict,
    FormInvalid,
    FormNotFound,
    facility_of,
    get_form,
    save_values,
    transition,
)
from .model import DataSet, data_set, data_sets
from .validation import Violation, validate

__all__ = [
    "ACTIONS",
    "STATES",
    "DataSet",
    "Form",
    "FormConflict",
    "FormInvalid",
    "FormNotFound",
    "Violation",
    "data_set",
    "data_sets",
    "data_value_sets",
    "facility_of",
    "get_form",
    "import_data_value_set",
    "org_units",
    "save_values",
    "transition",
    "validate",
]
