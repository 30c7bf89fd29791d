"""DHIS2 ``dataValueSets`` JSON: export of stored forms and import into draft forms.

Spec: https://docs.dhis2.org/en/develop/using-the-api/dhis-core-version-master/data.html (data value sets:
``{"dataSet", "completeDate", "period", "orgUnit", "dataValues": [{"dataElement", "categoryOptionCombo",
"period", "orgUnit", "value", "storedBy", "created", "lastUpdated", "comment", "followup"}]}``; the import
summary ``{"status", "importCount": {"imported", "updated", "ignored", "deleted"}, "conflicts"}``).
Identifiers are codes: a DHIS2 server imports the file with ``idScheme=CODE`` (data elements, category
option combos and org units carry the same codes there: the facility code as the org unit's code).

``orgUnit`` is a facility code (5 characters) or a province code (2 digits: every facility of the
province, as DHIS2's ``children=true``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from senhealth.fhir.store import FhirStore

from ..indicators.period import Period, parse_period
from .forms import (
    Facility,
    Form,
    FormConflict,
    FormInvalid,
    FormNotFound,
    facility_of,
    get_form,
    province_facilities,
    save_values,
)
from .model import DataSet, data_sets

__all__ = ["data_value_sets", "import_data_value_set", "org_units"]


async def org_units(store: FhirStore, org_unit: str) -> list[Facility]:
    """The facilities ``org_unit`` names: one facility, or a province's (2 digits)."""
    code = org_unit.strip()
    if len(code) == 2 and code.isdigit():
        found = await province_facilities(store, code)
        if not found:
            raise FormNotFound(
                f"tỉnh {code!r} không có cơ sở nào / no facility in province {code!r}", "orgUnit"
            )
        return found
    return [await facility_of(store, code)]


async def data_value_sets(
    store: FhirStore,
    period: Period,
    org_unit: str,
    *,
    sets: Iterable[DataSet] | None = None,
    approved_only: bool = False,
) -> dict[str, Any]:
    """The stored values of ``period`` for ``org_unit`` as one DHIS2 data value set."""
    chosen = list(sets) if sets is not None else list(data_sets().values())
    facilities = await org_units(store, org_unit)
    forms: list[Form] = []
    for ds in chosen:
        for facility in facilities:
            form = await get_form(store, ds, period, facility)
            if form.version == 0 or (approved_only and form.state not in ("approved", "accepted")):
                continue
            forms.append(form)
    values = []
    for form in forms:
        updated = form.last_updated.isoformat() if form.last_updated else None
        by = form.steps[-1]["by"] if form.steps else None
        for (element, combo), value in sorted(form.values.items()):
            entry: dict[str, Any] = {
                "dataElement": element,
                "categoryOptionCombo": combo,
                "period": period.id,
                "orgUnit": form.facility.code,
                "value": str(int(value)) if float(value).is_integer() else repr(value),
                "lastUpdated": updated,
                "followup": False,
            }
            if by:
                entry["storedBy"] = by
            values.append(entry)
    out: dict[str, Any] = {"period": period.id}
    if len(chosen) == 1:
        out["dataSet"] = chosen[0].code
    if len(facilities) == 1:
        out["orgUnit"] = facilities[0].code
    if len(forms) == 1 and forms[0].completed_at:
        out["completeDate"] = forms[0].completed_at[:10]
    out["dataValues"] = values
    return out


def _set_of(element: str) -> DataSet | None:
    for ds in data_sets().values():
        if any(e.code == element for e in ds.elements):
            return ds
    return None


async def import_data_value_set(
    store: FhirStore, body: Mapping[str, Any], period: Period | None = None
) -> dict[str, Any]:
    """Import a DHIS2 data value set into draft forms; a DHIS2-style import summary.

    Each value needs ``dataElement``, ``period`` (or the set's), ``orgUnit`` (or the set's) and ``value``;
    ``categoryOptionCombo`` defaults to the element's only combo. Values that cannot be placed (unknown
    element or facility, a form not in draft, a bad number) are ignored and listed in ``conflicts``."""
    grouped: dict[tuple[str, str, str], dict[tuple[str, str], Any]] = {}
    conflicts: list[dict[str, str]] = []
    ignored = 0
    raw_values = body.get("dataValues")
    if not isinstance(raw_values, list):
        raise FormInvalid("dataValues phải là một danh sách / dataValues must be a list")
    for item in raw_values:
        if not isinstance(item, Mapping):
            ignored += 1
            conflicts.append({"object": str(item)[:60], "value": "not an object"})
            continue
        element = str(item.get("dataElement", ""))
        ds = _set_of(element)
        pe = str(item.get("period") or body.get("period") or (period.id if period else ""))
        ou = str(item.get("orgUnit") or body.get("orgUnit") or "")
        if ds is None:
            ignored += 1
            conflicts.append({"object": element, "value": "unknown data element"})
            continue
        combos = ds.element(element).combo_codes
        combo = str(item.get("categoryOptionCombo") or (combos[0] if len(combos) == 1 else ""))
        grouped.setdefault((ds.code, pe, ou), {})[(element, combo)] = item.get("value")
    imported = updated = 0
    for (code, pe, ou), values in grouped.items():
        ds = data_sets()[code]
        try:
            per = parse_period(pe)
            facility = await facility_of(store, ou)
            before = await get_form(store, ds, per, facility)
            await save_values(store, ds, per, facility, values)
        except (ValueError, FormInvalid, FormConflict, FormNotFound) as exc:
            ignored += len(values)
            conflicts.append({"object": f"{code}/{pe}/{ou}", "value": getattr(exc, "message", str(exc))})
            continue
        for key in values:
            if key in before.values:
                updated += 1
            else:
                imported += 1
    return {
        "responseType": "ImportSummary",
        "status": "SUCCESS" if not conflicts else ("WARNING" if imported + updated else "ERROR"),
        "importCount": {"imported": imported, "updated": updated, "ignored": ignored, "deleted": 0},
        "conflicts": conflicts,
    }
