"""Fixtures of the robustness tests: a fresh database and a ``senhealth serve`` subprocess on it.

``robust_server`` (module scope) is one real server process on one fresh database for a whole test
module: the tests of a module use resources of their own (unique markers), so they do not see each
other's writes. The crash tests make their own databases and servers (they kill them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from robustness_support import ServerProcess, fresh_database, running_server


@pytest.fixture(scope="module")
def robust_database(server_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    label = request.module.__name__.rsplit("_", 1)[-1][:12]
    with fresh_database(server_url, label) as url:
        yield url


@pytest.fixture(scope="module")
def robust_server(robust_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(robust_database, tmp_path_factory.mktemp("server")) as server:
        yield server
