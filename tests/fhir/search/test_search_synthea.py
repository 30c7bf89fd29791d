"""Extraction over every Synthea resource: no exception, and hand-written expectations hold."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from search_support import Corpus

from senhealth.core.text import normalize
from senhealth.fhir.search.context import DEFAULT_TZ
from senhealth.fhir.search.extract import extract
from senhealth.fhir.search.index import SearchIndex
from senhealth.fhir.search.params import (
    DateValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
)
from senhealth.fhir.search.params.date import date_range

VALUE_CLASS = {
    "token": TokenValue,
    "string": StringValue,
    "date": DateValue,
    "reference": ReferenceValue,
    "quantity": QuantityValue,
}


# -- independent, hand-written expectations -----------------------------------------------------------


def cc_tokens(cc: dict[str, Any]) -> set[tuple[str | None, str | None]]:
    out = {(c.get("system"), c.get("code")) for c in cc.get("coding", [])}
    displays = {normalize(c["display"]) for c in cc.get("coding", []) if "display" in c}
    if "text" in cc and normalize(cc["text"]) not in displays:
        out.add((None, None))
    return out


def tokens(index: SearchIndex, code: str) -> set[tuple[str | None, str | None]]:
    return {(v.system, v.code) for v in index.token.get(code, [])}


def date_of(value: str) -> DateValue:
    r = date_range(value, DEFAULT_TZ)
    assert r is not None
    return DateValue(*r)


def period_of(p: dict[str, Any]) -> DateValue:
    return DateValue(
        date_of(p["start"]).low if "start" in p else None, date_of(p["end"]).high if "end" in p else None
    )


def ref(index: SearchIndex, code: str) -> list[tuple[str | None, str | None]]:
    return [(v.target_type, v.url) for v in index.reference.get(code, [])]


def expect_observation(r: dict[str, Any], idx: SearchIndex, types: dict[str, str]) -> None:
    assert tokens(idx, "code") == cc_tokens(r["code"])
    assert tokens(idx, "status") == {(None, r["status"])}
    assert tokens(idx, "category") == set().union(*(cc_tokens(c) for c in r.get("category", [])))
    subject = r["subject"]["reference"]
    assert ref(idx, "subject") == [(types[subject], subject)]
    assert ref(idx, "patient") == ([("Patient", subject)] if types[subject] == "Patient" else [])
    assert idx.date["date"] == [date_of(r["effectiveDateTime"])]
    if "valueQuantity" in r:
        (q,) = idx.quantity["value-quantity"]
        assert q.value == Decimal(repr(r["valueQuantity"]["value"])) and q.code == r["valueQuantity"]["code"]
        assert len(idx.composite["code-value-quantity"]) == len(cc_tokens(r["code"]))
    else:
        assert "value-quantity" not in idx.quantity
    comps = r.get("component", [])
    assert tokens(idx, "component-code") == set().union(*(cc_tokens(c["code"]) for c in comps))
    with_q = [c for c in comps if "valueQuantity" in c]
    assert len(idx.composite.get("component-code-value-quantity", [])) == sum(
        len(cc_tokens(c["code"])) for c in with_q
    )


def expect_patient(r: dict[str, Any], idx: SearchIndex) -> None:
    names = r["name"]
    assert {v.value for v in idx.string["family"]} == {n["family"] for n in names}
    assert {v.value for v in idx.string["given"]} == {g for n in names for g in n.get("given", [])}
    assert idx.date["birthdate"] == [date_of(r["birthDate"])]
    assert tokens(idx, "gender") == {(None, r["gender"])}
    assert tokens(idx, "identifier") == {(i.get("system"), i["value"]) for i in r["identifier"]}
    assert tokens(idx, "deceased") == {(None, "true" if "deceasedDateTime" in r else "false")}
    if "deceasedDateTime" in r:
        assert idx.date["death-date"] == [date_of(r["deceasedDateTime"])]


def expect_encounter(r: dict[str, Any], idx: SearchIndex, types: dict[str, str]) -> None:
    assert idx.date["date"] == [period_of(r["period"])]
    assert tokens(idx, "class") == {(r["class"]["system"], r["class"]["code"])}
    assert tokens(idx, "type") == set().union(*(cc_tokens(c) for c in r.get("type", [])))
    assert ref(idx, "patient") == [("Patient", r["subject"]["reference"])]
    practitioners = [p["individual"]["reference"] for p in r.get("participant", [])]
    assert ref(idx, "practitioner") == [(types[p], p) for p in dict.fromkeys(practitioners)]


def expect_generic(r: dict[str, Any], idx: SearchIndex, types: dict[str, str]) -> None:
    rt = r["resourceType"]
    if rt == "Condition":
        assert tokens(idx, "code") == cc_tokens(r["code"])
        assert idx.date["onset-date"] == [date_of(r["onsetDateTime"])]
        if "abatementDateTime" in r:
            assert idx.date["abatement-date"] == [date_of(r["abatementDateTime"])]
    elif rt == "MedicationRequest":
        assert tokens(idx, "code") == cc_tokens(r["medicationCodeableConcept"])
        assert idx.date["authoredon"] == [date_of(r["authoredOn"])]
    elif rt == "Procedure":
        performed = (
            period_of(r["performedPeriod"]) if "performedPeriod" in r else date_of(r["performedDateTime"])
        )
        assert idx.date["date"] == [performed]
    elif rt == "Immunization":
        assert tokens(idx, "vaccine-code") == cc_tokens(r["vaccineCode"])
        assert idx.date["date"] == [date_of(r["occurrenceDateTime"])]
    elif rt == "DiagnosticReport":
        results = [x["reference"] for x in r.get("result", [])]
        assert ref(idx, "result") == [(types[x], x) for x in dict.fromkeys(results)]
    elif rt in ("Claim", "ExplanationOfBenefit"):
        assert ref(idx, "patient") == [("Patient", r["patient"]["reference"])]
        assert idx.date["created"] == [date_of(r["created"])]
        if rt == "ExplanationOfBenefit":
            assert ref(idx, "coverage") == [("Coverage", "#coverage")]  # contained
    elif rt in ("Organization", "Practitioner"):
        assert tokens(idx, "identifier") == {(i["system"], i["value"]) for i in r["identifier"]}
        assert tokens(idx, "active") == {(None, "true")}


def test_every_synthea_resource(synthea: Corpus) -> None:
    per_type: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    for resource, resolver in synthea:
        idx = extract(resource, resolver=resolver)
        types: dict[str, str] = {}
        for t, code, v in idx.rows():
            rows[t] += 1
            if t in VALUE_CLASS:
                assert isinstance(v, VALUE_CLASS[t]), (code, v)
            if isinstance(v, ReferenceValue) and v.url and v.url.startswith("urn:uuid:"):
                assert v.target_type == resolver(v.url), (code, v)
                types[v.url] = v.target_type or ""
        assert idx.values("_id") == [TokenValue(None, resource["id"])]
        if "meta" in resource:
            assert tokens(idx, "_tag") == {(c["system"], c["code"]) for c in resource["meta"]["tag"]}
        rt = resource["resourceType"]
        per_type[rt] += 1
        if rt == "Observation":
            expect_observation(resource, idx, types)
        elif rt == "Patient":
            expect_patient(resource, idx)
        elif rt == "Encounter":
            expect_encounter(resource, idx, types)
        else:
            expect_generic(resource, idx, types)
    assert sum(per_type.values()) == 12724
    assert per_type["Observation"] == 5305
    assert set(rows) >= {"token", "string", "date", "reference", "quantity", "composite"}


def test_extraction_is_deterministic_and_does_not_touch_the_resource(synthea: Corpus) -> None:
    import copy

    for resource, resolver in synthea[:500]:
        before = copy.deepcopy(resource)
        assert extract(resource, resolver=resolver) == extract(resource, resolver=resolver)
        assert resource == before
