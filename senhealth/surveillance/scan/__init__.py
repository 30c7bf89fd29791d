"""Space-time scan statistics over communes: clusters of cases that cross commune borders (issue 8)."""

from __future__ import annotations

from senhealth.surveillance.scan.space_time_permutation import (
    Cluster,
    ScanResult,
    llr,
    permute_times,
    space_time_permutation_scan,
)

__all__ = ["Cluster", "ScanResult", "llr", "permute_times", "space_time_permutation_scan"]
