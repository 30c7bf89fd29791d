"""Fixtures for the subscription tests: a migrated schema with the write hook installed, fast retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from senhealth.core.migrate import migrate
from senhealth.fhir import subscriptions
from senhealth.fhir.subscriptions.config import configure, get_config


@pytest.fixture
def fast_retries() -> Iterator[None]:
    """Short back-off, so that a test sees retries within a second or two; put back afterwards."""
    saved = get_config().model_dump()
    configure(backoff_base_s=0.1, backoff_max_s=0.4, error_after=2, ws_poll_s=1.0)
    try:
        yield
    finally:
        configure(**saved)


@pytest.fixture
def sub_url(schema_url: str, fast_retries: None) -> Iterator[str]:
    """A migrated schema; the subscriptions' write hook and operations installed while the test runs."""
    migrate(schema_url)
    subscriptions.install()
    try:
        yield schema_url
    finally:
        subscriptions.uninstall()
