"""Fixtures shared by the EMR tests: the import path of their helpers, a migrated schema, a running test
PKI (``emr_pki_support.make_test_pki``), and the process-wide registrations of the signature and printing
operations (operations, the immutability guard, the one-time-code sender, the access policy) reset around
each test so that no test sees another's."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_EMR = Path(__file__).resolve().parent
for _folder in (_EMR, _EMR / "printing"):  # emr_pki_support; printing_support (used by the retention tests)
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from emr_pki_support import TestPki, make_test_pki  # noqa: E402

from senhealth.core.config import Settings  # noqa: E402
from senhealth.core.migrate import migrate  # noqa: E402
from senhealth.emr.claims.operations import unregister_claims_operations  # noqa: E402
from senhealth.emr.documents.operations import unregister_document_operations  # noqa: E402
from senhealth.emr.exchange.operations import unregister_exchange_operations  # noqa: E402
from senhealth.emr.printing import unregister_printing_operations  # noqa: E402
from senhealth.emr.signatures import remove_immutability_guard, unregister_signature_operations  # noqa: E402
from senhealth.emr.signatures.confirmation import install_otp_sender  # noqa: E402
from senhealth.fhir import access  # noqa: E402


def _reset() -> None:
    unregister_claims_operations()
    unregister_document_operations()
    unregister_exchange_operations()
    unregister_printing_operations()
    unregister_signature_operations()
    remove_immutability_guard()
    install_otp_sender(None)
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)


@pytest.fixture(autouse=True)
def _clean_emr_registrations() -> Iterator[None]:
    _reset()
    yield
    _reset()


@pytest.fixture
def emr_url(schema_url: str) -> str:
    """A schema of its own with the platform's migrations applied."""
    migrate(schema_url)
    return schema_url


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[TestPki]:
    with make_test_pki(tmp_path) as running:
        yield running


@pytest.fixture
def settings(emr_url: str, tmp_path: Path, pki: TestPki) -> Settings:
    """Settings on the migrated schema, with the test PKI under ``tmp_path`` (where the platform looks for
    its CA and keys) and a public address for the QR codes of printed copies."""
    return Settings(database_url=emr_url, data_dir=tmp_path, public_url="https://sen.example.vn")
