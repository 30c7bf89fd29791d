"""Fixtures of the retention tests: a migrated schema, a running test PKI, settings pointing at both, and
the process-wide registrations ($pdf, the signature operations and guard, the audit sink) reset around
each test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_EMR_TESTS = str(Path(__file__).resolve().parents[1])
for _folder in (_EMR_TESTS, str(Path(_EMR_TESTS) / "printing")):  # emr_pki_support, printing_support
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

from emr_pki_support import TestPki, make_test_pki  # noqa: E402

from senhealth.core.config import Settings  # noqa: E402
from senhealth.core.migrate import migrate  # noqa: E402
from senhealth.emr.printing import unregister_printing_operations  # noqa: E402
from senhealth.emr.signatures import remove_immutability_guard, unregister_signature_operations  # noqa: E402
from senhealth.fhir import access  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_registrations() -> Iterator[None]:
    unregister_printing_operations()
    unregister_signature_operations()
    yield
    unregister_printing_operations()
    unregister_signature_operations()
    remove_immutability_guard()
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)


@pytest.fixture
def print_url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[TestPki]:
    with make_test_pki(tmp_path) as running:
        yield running


class PrintSettings(Settings):
    """The platform's settings plus the ones printing reads with ``getattr`` (not in Settings yet)."""

    public_url: str | None = None


@pytest.fixture
def settings(print_url: str, tmp_path: Path, pki: TestPki) -> Any:
    return PrintSettings(database_url=print_url, data_dir=tmp_path, public_url="https://sen.example.vn")
