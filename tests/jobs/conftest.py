"""Fixtures for the worker tests: a migrated schema of their own (jobs there are the test's only)."""

from __future__ import annotations

import pytest

from senhealth.core.migrate import migrate


@pytest.fixture
def jobs_url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url
