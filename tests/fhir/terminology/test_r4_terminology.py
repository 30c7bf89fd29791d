"""The R4 code systems and value sets: the packaged file is fresh, and its expansions agree with the
validator's pre-expanded bindings (senhealth.fhir.model.valuesets)."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import orjson
import pytest

from senhealth.fhir.terminology import r4, registry
from senhealth.fhir.terminology.valueset_expand import ExpandError, expand

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / ".." / "shared" / "fhir-r4"


@pytest.mark.skipif(not (SOURCE / "valuesets.json").exists(), reason="the shared R4 definitions are not here")
def test_packaged_file_is_fresh() -> None:
    spec = importlib.util.spec_from_file_location("pkg", ROOT / "scripts" / "package_fhir_terminology.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = (ROOT / "senhealth" / "fhir" / "terminology" / "data" / "r4-terminology.json.gz").read_bytes()
    assert module.serialise(module.derive(SOURCE)) == shipped


#: where the two disagree, and why: the R4 v3 code systems are polyhierarchies (``child`` properties),
#: which the validator's derivation ignores (it follows the nesting only); R4's ``icd-10`` value set lists
#: example codes that are not ICD-10 codes, which an expansion against the real code system leaves out.
KNOWN = {
    "http://hl7.org/fhir/ValueSet/detectedissue-category": "more codes: v3 polyhierarchy",
    "http://terminology.hl7.org/ValueSet/v3-ActPharmacySupplyType": "more codes: v3 polyhierarchy",
    "http://hl7.org/fhir/ValueSet/icd-10": "fewer codes: 7 example codes are not ICD-10",
}


def test_expansions_agree_with_the_validators_bindings() -> None:
    path = ROOT / "senhealth" / "fhir" / "model" / "data" / "r4-valuesets.json.gz"
    raw = orjson.loads(gzip.decompress(path.read_bytes()))
    compared = 0
    differ: dict[str, str] = {}
    for url, v in raw["valueSets"].items():
        if not v["x"]:
            continue
        vs = registry.value_set(url)
        assert vs is not None, url
        try:
            expansion = expand(vs, registry.PackagedResolver())
        except ExpandError as exc:  # pragma: no cover - would be a regression
            pytest.fail(f"{url}: {exc}")
        got: dict[str, set[str]] = {}
        for item in expansion.items:
            got.setdefault(item.system, set()).add(item.code)
        want = {s: set(c) for s, c in v["c"].items()}
        if got != want:
            more = sum(len(got.get(s, set()) - want.get(s, set())) for s in got)
            differ[url] = "more codes" if more else "fewer codes"
            assert all(want.get(s, set()) <= got.get(s, set()) for s in want) or url.endswith("/icd-10"), url
        compared += 1
    assert compared == 482
    assert {u: KNOWN[u].split(":")[0] for u in differ} == {u: r for u, r in differ.items()}
    assert set(differ) == set(KNOWN)


def test_r4_lookups() -> None:
    gender = r4.code_systems()["http://hl7.org/fhir/administrative-gender"]
    assert gender.find("female").display == "Female"
    act = r4.code_systems()["http://terminology.hl7.org/CodeSystem/v3-ActCode"]
    assert act.find("_ActEncounterCode").abstract
    assert act.subsumes("_ActEncounterCode", "AMB") == "subsumes"
    assert registry.value_set("http://hl7.org/fhir/ValueSet/administrative-gender") is not None
