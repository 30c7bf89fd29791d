"""The token modifiers :below :above :in :not-in as the search parser reads them and the SQL builder
refuses them unresolved (resolution and results over PostgreSQL: tests/api/test_api_terminology.py).

Replaces the earlier ``test_terminology_modifiers_are_rejected_clearly`` of
tests/fhir/search/test_search_request.py, which asserted that these modifiers were refused."""

from __future__ import annotations

import pytest

from senhealth.fhir.search.query.errors import SearchError
from senhealth.fhir.search.query.predicates import Params, code_set_predicate, table_cols
from senhealth.fhir.search.query.values import CodeSetQuery, TokenQuery, ValueSetQuery
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.search.sql import ParamIds, SqlBuilder
from senhealth.fhir.search.terminology import needs_terminology

ICD = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"


def test_the_parser_keeps_them_for_the_terminology_service() -> None:
    req = parse_search(
        "Condition", [("code:below", f"{ICD}|A97,{ICD}|I"), ("code:not-in", "https://x.org/vs|2")]
    )
    below, not_in = req.clauses
    assert below.modifier == "below" and below.values == (
        TokenQuery("A97", ICD, True),
        TokenQuery("I", ICD, True),
    )
    assert not_in.modifier == "not-in" and not_in.values == (ValueSetQuery("https://x.org/vs|2"),)
    assert all(needs_terminology(c) for c in req.clauses)
    chained = parse_search("Patient", [("_has:Condition:subject:code:in", "ValueSet/abc")])
    assert needs_terminology(chained.clauses[0]) and chained.clauses[0].has is not None
    assert not needs_terminology(parse_search("Condition", [("code", f"{ICD}|A90")]).clauses[0])


@pytest.mark.parametrize("value", ["A90", f"{ICD}|", "|A90"])
def test_below_and_above_need_a_system_and_a_code(value: str) -> None:
    for modifier in ("below", "above"):
        with pytest.raises(SearchError) as err:
            parse_search("Condition", [(f"code:{modifier}", value)])
        assert err.value.expression == f"code:{modifier}" and "system|code" in err.value.message


def test_unresolved_conditions_are_refused_by_the_sql_builder() -> None:
    req = parse_search("Condition", [("code:below", f"{ICD}|A97")])
    builder = SqlBuilder(ParamIds({("Condition", "code"): 7}))
    with pytest.raises(SearchError) as err:
        builder.filters(req)
    assert err.value.code == "not-supported" and err.value.expression == "code:below"


def test_a_code_set_is_one_index_test_per_system() -> None:
    p = Params()
    q = CodeSetQuery(((ICD, "A90"), (ICD, "A97.1"), ("http://hl7.org/fhir/sid/icd-10", "A97.0")))
    text = code_set_predicate(q, table_cols("i"), p).as_string(None)
    assert text.count("= ANY(") == 2 and " OR " in text
    assert sorted(v for v in p.values.values() if isinstance(v, list)) == [["A90", "A97.1"], ["A97.0"]]
    assert code_set_predicate(CodeSetQuery(()), table_cols("i"), Params()).as_string(None) == "FALSE"
