"""Whatever JSON arrives, validation answers with an OperationOutcome and never raises."""

from __future__ import annotations

import copy
import threading
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from validation_cases import CASES

from senhealth.fhir.validation import validate, validation_issues
from senhealth.fhir.validation.structure import clear_cache

KEYS = [
    "resourceType", "id", "meta", "profile", "versionId", "extension", "modifierExtension", "url",
    "valueString", "valueQuantity", "_valueString", "value", "coding", "system", "code", "display",
    "text", "div", "status", "reference", "type", "contained", "entry", "resource", "fullUrl",
    "request", "method", "name", "given", "_given", "family", "birthDate", "_birthDate", "start",
    "end", "period", "subject", "component", "low", "high", "identifier", "parameter", "part",
    "fhir_comments", "deceasedBoolean", "deceasedDateTime", "effectivePeriod", "total", "search",
]  # fmt: skip
TYPES = ["Patient", "Observation", "Bundle", "Parameters", "Organization", "Condition", "Nope", None, 3]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["#x", "Patient/1", "urn:uuid:1", "2024-02-30", "http://x", "<div>", " ", ""]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
BASES = [c[1] for c in CASES[:: max(1, len(CASES) // 40)]]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rt=st.sampled_from(TYPES), body=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6))
def test_random_resources_never_raise(rt: Any, body: dict[str, Any]) -> None:
    outcome = validate({**body, "resourceType": rt})
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"]


def _mutate(node: Any, choices: list[int], value: Any) -> Any:
    """Replace one node of ``node`` (chosen by ``choices``) with ``value``."""
    if not choices or not isinstance(node, dict | list) or not node:
        return value
    keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
    k = keys[choices[0] % len(keys)]
    node[k] = _mutate(node[k], choices[1:], value)
    return node


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(BASES),
    choices=st.lists(st.integers(min_value=0, max_value=50), max_size=6),
    value=json_values,
)
def test_mutated_resources_never_raise(base: dict[str, Any], choices: list[int], value: Any) -> None:
    resource = _mutate(copy.deepcopy(base), choices, value)
    outcome = validate(resource)
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"]


def test_deep_nesting_is_refused_not_crashed() -> None:
    ext: dict[str, Any] = {"url": "http://x.vn/e", "valueString": "leaf"}
    for _ in range(5000):
        ext = {"url": "http://x.vn/e", "extension": [ext]}
    outcome = validate({"resourceType": "Patient", "extension": [ext]})
    assert outcome["issue"][-1]["severity"] == "fatal"


def test_concurrent_first_use_sees_complete_validators() -> None:
    """Threads that hit a type while it is being compiled get the finished validator."""
    resources = [c[1] for c in CASES]
    expected = [validation_issues(r) for r in resources]
    clear_cache()
    results: list[list[Any]] = [[] for _ in range(8)]

    def work(n: int) -> None:
        results[n] = [validation_issues(r) for r in resources[n::2]]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(8):
        assert results[n] == expected[n::2]
