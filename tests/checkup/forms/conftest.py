"""Fixtures of the check-up form tests: the ``$extract`` registration reset around each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from senhealth.checkup.forms import unregister_forms_operations
from senhealth.fhir import access


@pytest.fixture(autouse=True)
def _clean_forms_registration() -> Iterator[None]:
    unregister_forms_operations()
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)
    yield
    unregister_forms_operations()
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)
