"""rewrite_references: urn:uuid references of a bundle become Type/id (https://hl7.org/fhir/R4/http.html#trules)."""

from __future__ import annotations

from senhealth.fhir.store.references import bundle_mapping, rewrite_references

MAPPING = {"urn:uuid:aaa": "Patient/aaa", "urn:uuid:bbb": "Encounter/bbb"}


def test_references_anywhere_are_rewritten_and_the_input_kept() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": "urn:uuid:aaa", "display": "An"},
        "encounter": {"reference": "urn:uuid:bbb"},
        "performer": [{"reference": "Practitioner/p1"}, {"reference": "urn:uuid:zzz"}],
        "hasMember": [{"reference": "urn:uuid:aaa#part"}],
        "code": {"coding": [{"system": "urn:uuid:aaa", "code": "x"}]},  # not a reference: kept
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><a href="urn:uuid:aaa">An</a></div>',
        },
    }
    out = rewrite_references(resource, MAPPING)
    assert out["subject"] == {"reference": "Patient/aaa", "display": "An"}
    assert out["encounter"] == {"reference": "Encounter/bbb"}
    assert out["performer"] == [{"reference": "Practitioner/p1"}, {"reference": "urn:uuid:zzz"}]
    assert out["hasMember"] == [{"reference": "Patient/aaa#part"}]
    assert out["code"] is resource["code"]  # untouched branches are shared, not copied
    assert 'href="Patient/aaa"' in out["text"]["div"]
    assert resource["subject"]["reference"] == "urn:uuid:aaa"  # the input is not modified


def test_unchanged_resource_is_returned_as_is() -> None:
    resource = {"resourceType": "Patient", "link": [{"other": {"reference": "Patient/x"}, "type": "seealso"}]}
    assert rewrite_references(resource, MAPPING) is resource
    assert rewrite_references(resource, {}) is resource


def test_bundle_mapping_uses_full_urls_of_entries_with_ids() -> None:
    entries = [
        {"fullUrl": "urn:uuid:aaa", "resource": {"resourceType": "Patient", "id": "aaa"}},
        {"fullUrl": "urn:uuid:ccc", "resource": {"resourceType": "Patient"}},
        {"resource": {"resourceType": "Patient", "id": "ddd"}},
    ]
    assert bundle_mapping(entries) == {"urn:uuid:aaa": "Patient/aaa"}
