"""FHIR JSON parsing that keeps decimals exact (https://hl7.org/fhir/R4/datatypes.html#decimal), and
its round trip through the store's jsonb content."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from store_support import observation

from senhealth.fhir import json as json_module
from senhealth.fhir.json import dumps, needs_exact, parse
from senhealth.fhir.store import FhirStore

EXACT = [
    b'{"v":1.50}',
    b'{"v":1e2}',
    b'{"v":1e-7}',
    b'{"v":0.000001}',
    b'{"v":1.10,"w":3}',
    b'{"v":[1.00,2]}',
    b'{"v":12345678901234567890123}',
    b'{"v":0.12345678901234567}',
    b'{"v":-2.5e10}',
]
FAST = [
    b'{"v":1.5}',
    b'{"v":[1.0, 2.25]}',
    b'{"v":100}',
    b'{"d":"2020-01-01T10:00:00.120Z"}',
    b'{"v":-0.001}',
]


def digits(raw: bytes) -> Any:
    """The digits and exponent of the number ``v`` as written (its value and precision)."""
    return json.loads(raw, parse_float=Decimal, parse_int=Decimal)["v"].as_tuple()


@pytest.mark.parametrize("raw", EXACT)
def test_numbers_a_float_would_change_round_trip(raw: bytes) -> None:
    assert needs_exact(raw)
    data = parse(raw)
    assert dumps(data) == raw
    assert dumps(parse(raw.decode())) == raw


@pytest.mark.parametrize("raw", FAST)
def test_other_bodies_take_the_fast_path(raw: bytes) -> None:
    assert not needs_exact(raw)
    assert dumps(parse(raw)) == orjson.dumps(orjson.loads(raw))


def test_exponents_keep_digits_and_exponent() -> None:
    assert dumps(parse(b'{"v":1E+2}')) == b'{"v":1e2}'
    assert parse(b'{"v":1E+2}')["v"].as_tuple() == Decimal("1e2").as_tuple()
    assert dumps(parse(b'{"v":-2.5e+10}')) == b'{"v":-2.5e10}'
    # Python's own notation for the same digits and exponent (0.00150 has the precision of 1.50e-3)
    assert dumps(parse(b'{"v":1.50e-3}')) == b'{"v":0.00150}'


def test_exact_values_are_plain_decimals() -> None:
    v = parse(b'{"v":1.50}')["v"]
    assert type(v) is Decimal and v == Decimal("1.5") and v + 1 == Decimal("2.50")
    assert dumps({"v": Decimal("1.50")}) == b'{"v":1.50}'
    assert dumps({"b": 2, "a": 1}, sort_keys=True) == b'{"a":1,"b":2}'
    with pytest.raises(ValueError):
        parse(b'{"v":')


@given(st.integers(0, 12).flatmap(lambda p: st.decimals(allow_nan=False, allow_infinity=False, places=p)))
def test_any_decimal_text_round_trips(d: Decimal) -> None:
    assume(str(d) != "-0")  # an integer minus zero: Python's int has no sign for zero
    raw = b'{"v":' + str(d).encode() + b"}"
    assert digits(dumps(parse(raw))) == digits(raw)  # the same digits and exponent


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_written_by_orjson_round_trip(x: float) -> None:
    raw = orjson.dumps({"v": x})
    assert digits(dumps(parse(raw))) == digits(raw)


def test_decimals_round_trip_through_the_store(run_store: Any, sql: Any) -> None:
    raw = b"""{"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "valueQuantity": {"value": 1.50, "unit": "mg"},
        "component": [
          {"code": {"text": "a"}, "valueQuantity": {"value": 1e2}},
          {"code": {"text": "b"}, "valueQuantity": {"value": 0.000001}},
          {"code": {"text": "c"}, "valueQuantity": {"value": 12345678901234567890.123456789}}]}"""
    body = parse(raw)

    async def go(store: FhirStore) -> tuple[Any, ...]:
        made = await store.create(body)
        read = await store.read("Observation", made.res_id)
        page = await store.history("Observation", made.res_id)
        return made, read, page.entries[0]

    made, read, hist = run_store(go)
    for stored in (read, hist):
        text = dumps(stored.content)
        assert b'"value":1.50' in text
        assert b'"value":1e2' in text
        assert b'"value":0.000001' in text
        assert b'"value":12345678901234567890.123456789' in text
        assert stored.content == made.content
    # jsonb keeps 1.50 and 0.000001; the exact text sits beside it because jsonb writes 1e2 as 100
    assert sql("SELECT content->'valueQuantity'->>'value', content_raw IS NOT NULL FROM fhir_resource") == [
        ("1.50", True)
    ]
    quantity = sql("SELECT low::text FROM idx_quantity WHERE rid = %s ORDER BY 1", (made.rid,))
    assert ("1.50",) in quantity


def test_plain_content_has_no_raw_copy(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> None:
        await store.create(observation(value=Decimal("2.50")))

    run_store(go)
    assert sql("SELECT content->'valueQuantity'->>'value', content_raw FROM fhir_resource") == [
        ("2.50", None)
    ]


# ``needs_exact`` searches backwards, from where numbers end; it must answer what the forward definition does.
_JSONISH = st.text(alphabet='0123456789.eE+-,:[]{} "aT\n', max_size=60).map(str.encode)


@given(_JSONISH)
def test_the_backward_search_agrees_with_the_definition(raw: bytes) -> None:
    assert needs_exact(raw) == (json_module._RISKY.search(raw) is not None), raw


@given(
    st.recursive(
        st.one_of(
            st.decimals(allow_nan=False, allow_infinity=False),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.text(max_size=8),
        ),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
        max_leaves=12,
    )
)
def test_the_backward_search_agrees_on_serialised_values(value: Any) -> None:
    raw = dumps({"v": value})
    assert needs_exact(raw) == (json_module._RISKY.search(raw) is not None), raw
