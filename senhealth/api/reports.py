"""The province's numbers over HTTP: form 14/BCT, the indicator library, DHIS2 aggregate forms.

Specs: FastAPI routers https://fastapi.tiangolo.com/tutorial/bigger-applications/; DHIS2 data value sets
https://docs.dhis2.org/en/develop/using-the-api/dhis-core-version-master/data.html. Docs:
docs/reports-14bct.md, docs/indicators.md, docs/dhis2.md.

| route | who |
|---|---|
| ``GET /api/reports/14bct?year=Y&month=M&province=CODE[&format=json|csv|xlsx|pdf]`` | provincial roles |
| ``GET /api/indicators?period=YYYYMM&province=CODE[&indicator=ID]...`` | provincial roles |
| ``GET /api/dhis2/dataSets`` | any signed-in user |
| ``GET /api/dhis2/dataValueSets?period=YYYYMM&orgUnit=CODE[&dataSet=C][&approvedOnly=true]`` | provincial roles; a facility's staff for its own code |
| ``POST /api/dhis2/dataValueSets`` (DHIS2 JSON; import into draft forms) | provincial officer; a facility's staff for its own code |
| ``GET /api/dhis2/forms/{dataSet}/{period}/{orgUnit}`` | as the export |
| ``POST /api/dhis2/forms/{dataSet}/{period}/{orgUnit}/{submit|approve|accept|return}`` | submit: the facility's administrator or the provincial officer; the others: the provincial officer |

Provincial roles: ``provincial_officer``, ``cdc_officer``, ``data_analyst`` (the check-up dashboard's).
No token: 401; another role: 403; errors are OperationOutcomes. Only counts leave: no person is listed.
The check-up indicators (coverage, hypertension and diabetes control) come from
:func:`senhealth.checkup.dashboard.checkup_dashboard`, wired here because domains do not import each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from senhealth.analytics.dhis2 import (
    FormConflict,
    FormInvalid,
    FormNotFound,
    data_set,
    data_sets,
    data_value_sets,
    facility_of,
    get_form,
    import_data_value_set,
    transition,
)
from senhealth.analytics.indicators import (
    CATALOGUE,
    Indicator,
    IndicatorRow,
    Period,
    Provider,
    compute_indicators,
    parse_period,
)
from senhealth.analytics.indicators.views import SCHEMA
from senhealth.analytics.reports import MEDIA_TYPES, render, report_14bct
from senhealth.core import db
from senhealth.core.errors import SenHealthError, operation_outcome
from senhealth.fhir.access import Principal, current_principal
from senhealth.fhir.store import FhirStore

__all__ = ["PROVINCIAL_ROLES", "checkup_providers", "reports_router"]

PROVINCIAL_ROLES: Final = frozenset({"provincial_officer", "cdc_officer", "data_analyst"})
FACILITY_ROLES: Final = frozenset({"facility_admin", "doctor", "nurse", "commune_health_worker"})


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, expression: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.expression = status, code, message, expression


def _outcome(status: int, code: str, message: str, expression: str | None = None) -> JSONResponse:
    return JSONResponse(operation_outcome("error", code, message, expression), status_code=status)


def _principal() -> Principal:
    principal = current_principal().get()
    if principal is None:
        raise _Refused(401, "login", "cần đăng nhập / sign-in required")
    return principal


def _provincial(principal: Principal) -> None:
    if not principal.roles & PROVINCIAL_ROLES:
        raise _Refused(403, "forbidden", "chỉ cán bộ cấp tỉnh / provincial roles only")


def _province(code: str | None) -> str:
    if code is None or len(code) != 2 or not code.isdigit():
        raise _Refused(400, "invalid", "mã tỉnh gồm 2 chữ số / province must be a 2-digit code", "province")
    return code


def _store() -> FhirStore:
    return FhirStore(db.get_pool())


def _error(exc: Exception) -> JSONResponse:
    if isinstance(exc, _Refused):
        return _outcome(exc.status, exc.code, exc.message, exc.expression)
    if isinstance(exc, SenHealthError):
        status = int(getattr(exc, "status", 400))
        response = _outcome(status, exc.code, exc.message, exc.expression)
        if isinstance(exc, FormInvalid) and exc.violations:
            body = operation_outcome("error", exc.code, exc.message)
            body["issue"].extend(
                {
                    "severity": "error",
                    "code": "business-rule",
                    "diagnostics": f"{v.rule.code}: {v.rule.name_vi}",
                }
                for v in exc.violations
            )
            response = JSONResponse(body, status_code=status)
        return response
    if isinstance(exc, (ValueError, KeyError)):
        return _outcome(400, "invalid", str(exc).strip("'\""))
    raise exc


# --- the check-up indicators, computed by the check-up domain ---------------------------------------


def checkup_providers(store: FhirStore) -> dict[str, Provider]:
    """Providers for ``checkup-coverage``, ``htn-control`` and ``dm-control`` (per commune of the province)."""
    from senhealth.checkup.dashboard import checkup_dashboard
    from senhealth.core.geo import province_of_commune

    async def provide(indicator: Indicator, period: Period, province: str) -> list[IndicatorRow]:
        board = await checkup_dashboard(store, period.year)
        name = {"checkup-coverage": "coverage"}.get(indicator.id, indicator.id)
        rows = []
        for commune in board.communes:
            if not commune.commune_code or province_of_commune(commune.commune_code) != province:
                continue
            ratio = commune.ratio(name)
            rows.append(
                IndicatorRow(
                    commune.commune_code,
                    commune.commune_name,
                    ratio.numerator,
                    ratio.denominator,
                    indicator.value(ratio.numerator, ratio.denominator),
                )
            )
        return rows

    return {"checkup-coverage": provide, "htn-control": provide, "dm-control": provide}


# --- the router -------------------------------------------------------------------------------------


def _may_see_facility(principal: Principal, organization_id: str) -> bool:
    if principal.roles & PROVINCIAL_ROLES:
        return True
    return bool(principal.roles & FACILITY_ROLES) and principal.facility == f"Organization/{organization_id}"


def _by(principal: Principal) -> str:
    return str(principal.claims.get("preferred_username") or principal.subject)


def reports_router(*, schema: str = SCHEMA) -> APIRouter:
    """The routes of the module docstring; ``schema``: where the indicator views' tables live."""
    router = APIRouter(tags=["reports"])

    @router.get("/api/reports/14bct")
    async def report_14bct_route(
        year: Annotated[int, Query(ge=1900, le=9998)],
        month: Annotated[int, Query(ge=1, le=12)],
        province: str | None = None,
        format: str = "json",
    ) -> Response:
        """Form 14/BCT of the month (docs/reports-14bct.md) in JSON, CSV, XLSX or PDF."""
        try:
            _provincial(_principal())
            code = _province(province)
            if format not in MEDIA_TYPES:
                raise _Refused(400, "invalid", f"format: one of {', '.join(MEDIA_TYPES)}", "format")
            store = _store()
            report = await report_14bct(
                store.pool, year, month, code, param_ids=await store.param_ids(), schema=schema
            )
        except Exception as exc:
            return _error(exc)
        body = render(report, format)
        headers = {}
        if format != "json":
            headers["Content-Disposition"] = f'attachment; filename="14BCT-{code}-{year}{month:02d}.{format}"'
        return Response(body, media_type=MEDIA_TYPES[format], headers=headers)

    @router.get("/api/indicators")
    async def indicators_route(
        period: str,
        province: str | None = None,
        indicator: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        """The indicator library for a period (DHIS2 period id) and a province (docs/indicators.md)."""
        try:
            _provincial(_principal())
            code = _province(province)
            per = parse_period(period)
            store = _store()
            results = await compute_indicators(
                store.pool,
                per,
                code,
                param_ids=await store.param_ids(),
                schema=schema,
                providers=checkup_providers(store),
                only=indicator,
            )
        except Exception as exc:
            return _error(exc)
        return Response(
            orjson.dumps({"period": per.id, "province": code, "indicators": [r.to_json() for r in results]}),
            media_type="application/json",
        )

    @router.get("/api/indicators/catalogue")
    async def catalogue_route() -> Response:
        """The library's indicators: id, version, kind, titles, views, tables."""
        try:
            _principal()
        except Exception as exc:
            return _error(exc)
        items = [
            {
                "id": i.id,
                "version": i.version,
                "kind": i.kind,
                "title_vi": i.title_vi,
                "title_en": i.title_en,
                "dimension": i.dimension,
                "views": list(dict.fromkeys(i.views)),
                "tables": list(i.tables),
            }
            for i in CATALOGUE
        ]
        return Response(orjson.dumps(items), media_type="application/json")

    @router.get("/api/dhis2/dataSets")
    async def data_sets_route() -> Response:
        """The data sets: elements with their category option combos, validation rules."""
        try:
            _principal()
        except Exception as exc:
            return _error(exc)
        out = [
            {
                "code": ds.code,
                "version": ds.version,
                "name_vi": ds.name_vi,
                "name_en": ds.name_en,
                "periodType": ds.period_type,
                "timelyDays": ds.timely_days,
                "dataElements": [
                    {
                        "code": e.code,
                        "name_vi": e.name_vi,
                        "name_en": e.name_en,
                        "categoryOptionCombos": list(e.combo_codes),
                    }
                    for e in ds.elements
                ],
                "validationRules": [
                    {
                        "code": r.code,
                        "name_vi": r.name_vi,
                        "leftSide": r.left,
                        "operator": r.operator,
                        "rightSide": r.right,
                        "importance": r.importance,
                    }
                    for r in ds.rules
                ],
            }
            for ds in data_sets().values()
        ]
        return Response(orjson.dumps({"dataSets": out}), media_type="application/json")

    @router.get("/api/dhis2/dataValueSets")
    async def data_value_sets_route(
        period: str,
        orgUnit: str,
        dataSet: str | None = None,
        approvedOnly: bool = False,
    ) -> Response:
        """The stored values as a DHIS2 data value set (``idScheme=CODE``)."""
        try:
            principal = _principal()
            per = parse_period(period)
            store = _store()
            if len(orgUnit) == 2:
                _provincial(principal)
            else:
                facility = await facility_of(store, orgUnit)
                if not _may_see_facility(principal, facility.organization_id):
                    raise _Refused(403, "forbidden", "không thuộc cơ sở này / not a user of this facility")
            sets = [data_set(dataSet)] if dataSet else None
            body = await data_value_sets(store, per, orgUnit, sets=sets, approved_only=approvedOnly)
        except Exception as exc:
            return _error(exc)
        return Response(orjson.dumps(body), media_type="application/json")

    @router.post("/api/dhis2/dataValueSets")
    async def import_route(request: Request) -> Response:
        """Import a DHIS2 data value set (JSON) into draft forms; a DHIS2 import summary."""
        try:
            principal = _principal()
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                raise _Refused(400, "invalid", "JSON không hợp lệ / the body is not JSON") from None
            if not isinstance(body, Mapping):
                raise _Refused(
                    400, "invalid", "cần một đối tượng dataValueSet / a dataValueSet object is expected"
                )
            store = _store()
            if "provincial_officer" not in principal.roles:
                units = {
                    str(v.get("orgUnit") or body.get("orgUnit") or "")
                    for v in body.get("dataValues") or []
                    if isinstance(v, Mapping)
                }
                for unit in units:
                    facility = await facility_of(store, unit)
                    if (
                        principal.facility != f"Organization/{facility.organization_id}"
                        or not principal.roles & FACILITY_ROLES
                    ):
                        raise _Refused(
                            403,
                            "forbidden",
                            f"không được nhập số liệu cho {unit} / may not enter data for {unit}",
                        )
            summary = await import_data_value_set(store, body)
        except Exception as exc:
            return _error(exc)
        return Response(orjson.dumps(summary), media_type="application/json")

    async def _form_for(principal: Principal, code: str, period: str, org_unit: str) -> tuple[Any, ...]:
        ds = data_set(code)
        per = parse_period(period)
        store = _store()
        facility = await facility_of(store, org_unit)
        if not _may_see_facility(principal, facility.organization_id):
            raise _Refused(403, "forbidden", "không thuộc cơ sở này / not a user of this facility")
        return store, ds, per, facility

    @router.get("/api/dhis2/forms/{code}/{period}/{org_unit}")
    async def form_route(code: str, period: str, org_unit: str) -> Response:
        """One form: state, values, steps, the validation rules it breaks now."""
        try:
            store, ds, per, facility = await _form_for(_principal(), code, period, org_unit)
            form = await get_form(store, ds, per, facility)
        except Exception as exc:
            return _error(exc)
        return Response(orjson.dumps(form.to_json()), media_type="application/json")

    @router.post("/api/dhis2/forms/{code}/{period}/{org_unit}/{action}")
    async def action_route(code: str, period: str, org_unit: str, action: str, request: Request) -> Response:
        """A workflow step: submit, approve, accept or return (with ``{"reason": ...}``)."""
        try:
            principal = _principal()
            store, ds, per, facility = await _form_for(principal, code, period, org_unit)
            officer = "provincial_officer" in principal.roles
            if action == "submit":
                if not officer and not (
                    "facility_admin" in principal.roles
                    and principal.facility == f"Organization/{facility.organization_id}"
                ):
                    raise _Refused(
                        403,
                        "forbidden",
                        "chỉ quản trị cơ sở hoặc Sở Y tế / facility administrator or provincial officer",
                    )
            elif not officer:
                raise _Refused(403, "forbidden", "chỉ cán bộ Sở Y tế / provincial officer only")
            raw = await request.body()
            reason = None
            if raw:
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise _Refused(400, "invalid", "JSON không hợp lệ / the body is not JSON") from None
                reason = parsed.get("reason") if isinstance(parsed, Mapping) else None
            form = await transition(store, ds, per, facility, action, by=_by(principal), reason=reason)
        except (FormConflict, FormInvalid, FormNotFound, Exception) as exc:
            return _error(exc)
        return Response(orjson.dumps(form.to_json()), media_type="application/json")

    return router
