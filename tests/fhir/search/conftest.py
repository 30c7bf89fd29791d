"""Fixtures for the search tests: the Synthea corpus, and fresh search caches for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from search_support import SYNTHEA, Corpus, load_corpus

from senhealth.fhir.search.execute import clear_caches


@pytest.fixture(scope="session")
def synthea() -> Corpus:
    if not SYNTHEA.is_dir():
        pytest.skip(f"the Synthea sample data is not next to the repository ({SYNTHEA})")
    return load_corpus()


@pytest.fixture(autouse=True)
def _fresh_search_caches() -> Iterator[None]:
    """Test databases are rebuilt under the same names: no test sees another's cached row counts."""
    clear_caches()
    yield
    clear_caches()
