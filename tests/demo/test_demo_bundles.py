"""Transaction bundles are internally consistent; NDJSON references resolve; codes are from the lists."""

from __future__ import annotations

from province_summary import ProvinceSummary, references

from senhealth.demo.generator import generate_province, generate_resources
from senhealth.fhir.terminology import icd10_vn


def test_every_reference_resolves(province: ProvinceSummary) -> None:
    assert province.unresolved == []
    assert province.bundles == 2000


def test_bundle_entries() -> None:
    bundles = list(generate_province(10, seed=9))
    for bundle in bundles:
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
        urls = [e["fullUrl"] for e in bundle["entry"]]
        assert len(set(urls)) == len(urls)
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
            assert entry["request"] == {
                "method": "PUT",
                "url": f"{resource['resourceType']}/{resource['id']}",
            }
    for bundle in bundles[1:]:
        assert bundle["entry"][0]["resource"]["resourceType"] == "Patient"
        refs = {r for e in bundle["entry"] for r in references(e["resource"])}
        assert any(r.startswith("urn:uuid:") for r in refs)
        assert any(r.startswith("Organization/") for r in refs)


def test_ndjson_references_are_type_and_id() -> None:
    resources = list(generate_resources(30, seed=4))
    known = {f"{r['resourceType']}/{r['id']}" for r in resources}
    for resource in resources:
        for ref in references(resource):
            assert ref in known, ref


def test_codes_come_from_the_ministrys_list(province: ProvinceSummary) -> None:
    assert province.icd_codes
    for code in province.icd_codes:
        assert icd10_vn.lookup(code) is not None, code
    assert "A91" not in province.icd_codes


def test_resources_per_citizen(province: ProvinceSummary) -> None:
    citizens = province.resources["Patient"]
    per_citizen = {k: v / citizens for k, v in province.resources.items()}
    total = sum(
        v
        for k, v in province.resources.items()
        if k not in {"Organization", "Location", "Practitioner", "PractitionerRole"}
    )
    print(
        f"{total / citizens:.1f} resources per citizen: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(per_citizen.items()))
    )
    assert 10 < total / citizens < 60
