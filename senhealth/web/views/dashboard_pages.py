"""The routes of the province's dashboards (issue 11; docs/web-dashboards.md), gathered for one line in
``senhealth.web.app.build_web``: the overview, indicators and communes (:mod:`.dashboard_overview`), the
facility managers' page (:mod:`.dashboard_facility`), the reports (:mod:`.dashboard_reports`).
"""

from __future__ import annotations

from typing import Final

from starlette.routing import Route

from senhealth.web.views import dashboard_facility, dashboard_overview, dashboard_reports

__all__ = ["ROUTES"]

ROUTES: Final[list[Route]] = [
    *dashboard_overview.ROUTES,
    *dashboard_facility.ROUTES,
    *dashboard_reports.ROUTES,
]
