"""Check-up campaigns: the year's plan per commune station, invitations, coverage (docs/checkup-campaigns.md).

Politburo Resolution 72/2025: a free check-up or screening for every citizen at least once a year, priority
groups first. Public API::

    plan = await plan_campaign(store, 2026, communes=None, capacity_per_day=40, start=None, holidays=(),
                               remote_communes=(), persist=False)        # -> CampaignPlan
    rows = await coverage(store, 2026, level="commune" | "province", communes=None, remote_communes=())
    report = coverage_report(2026, province_row, commune_rows)           # summary MeasureReport
    register_campaign_operations()   # $plan-checkups (system, Organization/[id]), $checkup-coverage
"""

from senhealth.checkup.campaigns.coverage import Coverage, GroupCoverage, coverage, coverage_report
from senhealth.checkup.campaigns.operations import (
    register_campaign_operations,
    unregister_campaign_operations,
)
from senhealth.checkup.campaigns.plan import (
    DEFAULT_CAPACITY,
    CampaignPlan,
    CommunePlan,
    Invitation,
    plan_campaign,
)
from senhealth.checkup.campaigns.population import Station, stations

__all__ = [
    "DEFAULT_CAPACITY",
    "CampaignPlan",
    "CommunePlan",
    "Coverage",
    "GroupCoverage",
    "Invitation",
    "Station",
    "coverage",
    "coverage_report",
    "plan_campaign",
    "register_campaign_operations",
    "stations",
    "unregister_campaign_operations",
]
