"""Fixtures for the synthetic province generator tests."""

from __future__ import annotations

import pytest
from province_summary import ProvinceSummary, summarise


@pytest.fixture(scope="session")
def province() -> ProvinceSummary:
    """A 2,000-citizen province of Bắc Ninh (the default), summarised."""
    return summarise()
