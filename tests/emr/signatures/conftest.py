"""Fixtures of the signature tests: a migrated schema, a running test PKI, settings pointing at both, and
the process-wide registrations (operations, the immutability guard, the OTP sender) reset around each test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_EMR_TESTS = str(Path(__file__).resolve().parents[1])
if _EMR_TESTS not in sys.path:  # tests/emr/emr_pki_support.py, the PKI helper shared by the EMR tests
    sys.path.insert(0, _EMR_TESTS)

from emr_pki_support import TestPki, make_test_pki  # noqa: E402

from senhealth.core.config import Settings  # noqa: E402
from senhealth.core.migrate import migrate  # noqa: E402
from senhealth.emr.signatures.confirmation import install_otp_sender  # noqa: E402
from senhealth.emr.signatures.operations import unregister_signature_operations  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_registrations() -> Iterator[None]:
    unregister_signature_operations()
    install_otp_sender(None)
    yield
    unregister_signature_operations()
    install_otp_sender(None)


@pytest.fixture
def sig_url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[TestPki]:
    with make_test_pki(tmp_path) as running:
        yield running


@pytest.fixture
def settings(sig_url: str, tmp_path: Path, pki: TestPki) -> Any:
    return Settings(database_url=sig_url, data_dir=tmp_path)
