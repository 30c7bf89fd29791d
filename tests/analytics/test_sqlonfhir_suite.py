"""The official SQL-on-FHIR v2 test suite, one pytest case per test of every file.

Source: the ``sql-on-fhir-v2`` repository's ``tests/*.json``, read from
``../shared/conformance/sql-on-fhir``. How a case is judged:

- ``expectError``: :func:`run_view` (validation, or running over the file's resources) must raise
  :class:`ViewDefinitionError`;
- ``expect``: the rows must equal the expected rows as a multiset (order ignored); numbers are
  compared by value (``Decimal`` against the JSON float/int);
- ``expectColumns``: the output columns must be exactly those, in that order;
- ``expectCount``: the number of rows.

Failing cases are listed with a one-line reason in ``tests/conformance/sqlonfhir_known_failures.json``
and marked ``xfail(strict=True)``, so fixing one is noticed; the list is empty: all 134 cases pass
(``join()`` of an empty collection is ``''`` in views, :mod:`senhealth.analytics.viewdef.view_fhirpath`).
``test_pass_count`` prints ``N / M`` and requires :data:`REQUIRED_PASSES`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from senhealth.analytics.viewdef import ViewDefinitionError, column_names, run_view

SUITE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "sql-on-fhir"
KNOWN_FAILURES_FILE = Path(__file__).resolve().parents[1] / "conformance" / "sqlonfhir_known_failures.json"

if not SUITE_DIR.exists():
    pytest.skip(f"SQL-on-FHIR suite not found at {SUITE_DIR}", allow_module_level=True)

pytestmark = pytest.mark.conformance

#: The issue's "must show": every case of the suite passes.
REQUIRED_PASSES = 134


def _suite_files() -> list[Path]:
    return sorted(p for p in SUITE_DIR.glob("*.json") if p.name != "tests.schema.json")


def _cases() -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    out = []
    for path in _suite_files():
        suite = json.loads(path.read_text(encoding="utf-8"))
        for test in suite["tests"]:
            out.append((f"{path.stem}::{test['title']}", test, suite["resources"]))
    return out


CASES = _cases()


@cache
def _known_failures() -> dict[str, str]:
    data: dict[str, str] = json.loads(KNOWN_FAILURES_FILE.read_text(encoding="utf-8"))
    return data


def _norm(value: Any) -> Any:
    """A value in a form where JSON numbers and Decimals compare by value, hashable."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return ("n", Decimal(str(value)).normalize())
    if isinstance(value, list):
        return ("l", tuple(_norm(v) for v in value))
    if isinstance(value, dict):
        return ("d", tuple(sorted((k, _norm(v)) for k, v in value.items())))
    return ("o", str(value))


def _multiset(rows: list[dict[str, Any]]) -> list[Any]:
    return sorted((_norm(r) for r in rows), key=repr)


def check_case(test: dict[str, Any], resources: list[dict[str, Any]]) -> None:
    """Run one suite test; raise AssertionError when the result differs from the expectation."""
    view = test["view"]
    if test.get("expectError"):
        with pytest.raises(ViewDefinitionError):
            list(run_view(view, resources))
        return
    rows = list(run_view(view, resources))
    if "expectColumns" in test:
        assert column_names(view) == test["expectColumns"]
        for row in rows:
            assert list(row) == test["expectColumns"]
    if "expectCount" in test:
        assert len(rows) == test["expectCount"]
    if "expect" in test:
        assert _multiset(rows) == _multiset(test["expect"]), f"got {rows!r}"


def _params() -> list[Any]:
    known = _known_failures()
    params = []
    for case_id, test, resources in CASES:
        marks = [pytest.mark.xfail(reason=known[case_id], strict=True)] if case_id in known else []
        params.append(pytest.param(test, resources, id=case_id, marks=marks))
    return params


@pytest.mark.parametrize(("test", "resources"), _params())
def test_suite_case(test: dict[str, Any], resources: list[dict[str, Any]]) -> None:
    check_case(test, resources)


def test_known_failures_name_real_cases() -> None:
    ids = {c[0] for c in CASES}
    assert set(_known_failures()) <= ids


def test_pass_count() -> None:
    """Print ``N / M`` and check that the known-failure list is exactly the set of failing cases."""
    failing = set()
    for case_id, test, resources in CASES:
        try:
            check_case(test, resources)
        except (AssertionError, pytest.fail.Exception, Exception):
            failing.add(case_id)
    passed = len(CASES) - len(failing)
    print(f"SQL-on-FHIR v2 suite: {passed} / {len(CASES)} pass")
    assert len(CASES) == 134
    assert failing == set(_known_failures())
    assert passed >= REQUIRED_PASSES, f"{passed} / {len(CASES)}: failing {sorted(failing)}"
