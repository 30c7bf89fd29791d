"""Fixtures for the search-extraction tests."""

from __future__ import annotations

import pytest
from search_support import SYNTHEA, Corpus, load_corpus


@pytest.fixture(scope="session")
def synthea() -> Corpus:
    if not SYNTHEA.is_dir():
        pytest.skip(f"the Synthea sample data is not next to the repository ({SYNTHEA})")
    return load_corpus()
