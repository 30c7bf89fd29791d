"""Fixtures of the patient index's store tests."""

from __future__ import annotations

import pytest

from senhealth.core.migrate import migrate


@pytest.fixture
def url(schema_url: str) -> str:
    """A migrated schema of its own."""
    migrate(schema_url)
    return schema_url
