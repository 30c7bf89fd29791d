"""An Encounter recorded in FHIR → the signed claim file → imported back: the same clinical facts.

Spec: the claim tables of Decisions 130/4750/3176 and the mapping of docs/claims.md; FHIR R4.
"""

from __future__ import annotations

from typing import Any

import pytest
from claims_support import (
    FACILITY,
    by_identifier,
    make_claims_pki,
    native_visit,
    put_all,
    run_with_store,
    with_encounter,
)

from senhealth.core.migrate import migrate
from senhealth.emr.claims import fhir_terms as t
from senhealth.emr.claims.envelope import read_envelope, verify_envelope
from senhealth.emr.claims.export import ClaimInvalid, encounter_data, export_claim
from senhealth.emr.claims.export_mapping import ExportError, claim_tables
from senhealth.emr.claims.importer import import_claim
from senhealth.emr.claims.tables import table
from senhealth.emr.claims.validate import validate_table
from senhealth.emr.claims.xml_tables import parse_xml, read_records, record_values
from senhealth.fhir.store import FhirStore

PKI = make_claims_pki()
KEY = PKI.facility("01001")


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def _tables(data: bytes) -> dict[str, list[dict[str, str]]]:
    out = {}
    for item in read_envelope(data).records[0]:
        spec = table(item.kind)
        out[item.kind] = [record_values(spec, r) for r in read_records(spec, parse_xml(item.content))]
    return out


def _code(concept: dict[str, Any], system: str) -> str:
    return next(c["code"] for c in concept["coding"] if c["system"] == system)


def test_export_import_gives_back_the_clinical_facts(url: str) -> None:
    async def body(store: FhirStore) -> None:
        originals = native_visit()
        await put_all(store, originals)
        exported = await export_claim(store, "enc-a", key=KEY)
        verified = verify_envelope(exported, trust_roots=PKI.trust_roots)
        assert verified.signer == KEY.certificate
        tables = _tables(exported)
        assert list(tables) == [
            "XML0",
            "XML1",
            "XML2",
            "XML3",
            "XML4",
            "XML5",
            "XML7",
            "XML8",
            "XML13",
            "XML14",
        ]
        for name in tables:
            assert (
                validate_table(
                    name, next(f.content for f in read_envelope(exported).records[0] if f.kind == name)
                )
                == []
            )
        x1 = tables["XML1"][0]
        assert (x1["MA_CSKCB"], x1["MA_LK"], x1["MA_LOAI_KCB"]) == ("01001", "enc-a", "03")
        assert (x1["NGAY_VAO"], x1["NGAY_RA"], x1["SO_NGAY_DTRI"]) == ("202503100815", "202503141030", "5")
        assert (x1["MA_BENH_CHINH"], x1["MA_BENH_KT"]) == ("J18.9", "I10")
        assert (x1["SO_CCCD"], x1["MA_THE_BHYT"], x1["GT_THE_TU"], x1["GT_THE_DEN"]) == (
            "001085012345",
            "DN4010123456789",
            "20250101",
            "20251231",
        )
        assert (x1["HO_TEN"], x1["NGAY_SINH"], x1["GIOI_TINH"], x1["CAN_NANG"]) == (
            "Nguyễn Văn An",
            "198506150000",
            "1",
            "62.5",
        )
        assert x1["MA_LOAI_RV"] == "2" and x1["MA_NOI_DEN"] == "01002"  # the referral
        assert x1["NGAY_TAI_KHAM"] == "20250328"
        assert [(r["MA_THUOC"], r["SO_LUONG"], r["DON_VI_TINH"]) for r in tables["XML2"]] == [
            ("05.2210", "21", "Viên"),
            ("05.5507", "2.5", "Chai"),
        ]
        assert tables["XML2"][0]["MA_BAC_SI"] == "000123/HNO-CCHN"
        assert [(r.get("MA_DICH_VU"), r.get("MA_VAT_TU"), r["SO_LUONG"]) for r in tables["XML3"]] == [
            ("22.0120", None, "1"),
            (None, "N03.02.070", "3"),
            ("18.0001", None, "1"),
        ]
        assert tables["XML3"][2]["MA_PTTT_QT"] == "87.44"
        assert [(r["TEN_CHI_SO"], r["GIA_TRI"], r["DON_VI_DO"]) for r in tables["XML4"]] == [
            ("Glucose máu", "7.8", "mmol/L")
        ]
        assert tables["XML4"][0]["MA_CHI_SO"] == "GLUCOSEMAU"  # no national code: the name, unaccented
        assert tables["XML5"][0]["DIEN_BIEN_LS"] == "Ngày 2: hết sốt, còn ho ít"
        assert tables["XML13"][0]["MA_CSKCB_DEN"] == "01002"
        assert tables["XML14"][0]["NGAY_HEN_KL"] == "20250328"
        assert tables["XML7"][0]["MA_BS"] == "000123/HNO-CCHN"

        result = await import_claim(store, exported, trust_roots=PKI.trust_roots)
        assert result.accepted, [i.message for i in result.issues]
        assert result.patients == ["Patient/pat-a (personal ID)"]  # the patient index found the person
        found = await by_identifier(store, "Encounter", f"{t.MA_LK_PREFIX}01001", "enc-a")
        assert len(found) == 1
        enc = found[0]
        assert enc["id"] != "enc-a"
        original = next(r for r in originals if r["resourceType"] == "Encounter")
        assert enc["period"] == original["period"]
        assert enc["class"]["code"] == original["class"]["code"] == "IMP"
        assert enc["subject"] == {"reference": "Patient/pat-a"}
        assert enc["serviceProvider"] == {"reference": "Organization/org-a"}
        conditions = await with_encounter(store, "Condition", enc["id"])
        ranked = {d["condition"]["reference"]: d["rank"] for d in enc["diagnosis"]}
        codes = sorted(conditions, key=lambda c: ranked[f"Condition/{c['id']}"])
        assert [_code(c["code"], "https://senhealth.vn/fhir/CodeSystem/icd10-vn") for c in codes] == [
            "J18.9",
            "I10",
        ]
        drugs = await with_encounter(store, "MedicationRequest", enc["id"])
        assert sorted(
            (
                _code(m["medicationCodeableConcept"], t.DRUG),
                m["dispenseRequest"]["quantity"]["value"],
                m["dispenseRequest"]["quantity"]["unit"],
            )
            for m in drugs
        ) == [("05.2210", 21, "Viên"), ("05.5507", 2.5, "Chai")]
        charges = await with_encounter(store, "ChargeItem", enc["id"], "context")
        assert sorted((c["code"]["coding"][0]["code"], c["quantity"]["value"]) for c in charges) == [
            ("18.0001", 1),
            ("22.0120", 1),
            ("N03.02.070", 3),
        ]
        glucose = next(c for c in charges if c["code"]["coding"][0]["code"] == "22.0120")
        assert glucose["priceOverride"] == {"value": 26900, "currency": "VND"}
        observations = await with_encounter(store, "Observation", enc["id"])
        values = sorted(
            (o["code"].get("text", ""), o["valueQuantity"]["value"], o["valueQuantity"]["unit"])
            for o in observations
        )
        assert values == [("Cân nặng", 62.5, "kg"), ("Glucose máu", 7.8, "mmol/L")]
        notes = await with_encounter(store, "ClinicalImpression", enc["id"])
        assert [n["description"] for n in notes] == ["Ngày 2: hết sốt, còn ho ít"]
        referrals = await with_encounter(store, "ServiceRequest", enc["id"])
        assert referrals[0]["performer"] == [{"identifier": {"system": FACILITY, "value": "01002"}}]
        appointments = await with_encounter(store, "Appointment", enc["id"], "supporting-info")
        assert appointments[0]["start"].startswith("2025-03-28")
        compositions = await with_encounter(store, "Composition", enc["id"])
        assert sorted(_code(c["type"], "http://loinc.org") for c in compositions) == ["18842-5", "34133-9"]

        # and the imported visit exports to the same tables: nothing lost on the way
        again = claim_tables(await encounter_data(store, enc["id"]))
        for name, rows in tables.items():
            assert again[name] == rows, name

    run_with_store(url, body)


def test_an_unfinished_or_incomplete_encounter_is_not_exported(url: str) -> None:
    async def body(store: FhirStore) -> None:
        visit = native_visit(suffix="b", inpatient=False)
        encounter = next(r for r in visit if r["resourceType"] == "Encounter")
        encounter["status"] = "in-progress"
        del encounter["period"]["end"]
        await put_all(store, visit)
        with pytest.raises(ExportError) as unfinished:
            await export_claim(store, "enc-b", key=KEY)
        assert unfinished.value.expression == "Encounter.period.end"
        encounter["status"] = "finished"
        encounter["period"]["end"] = "2025-03-10T09:05:00+07:00"
        del encounter["diagnosis"]
        await put_all(store, [encounter])
        for condition in (r for r in visit if r["resourceType"] == "Condition"):
            await store.delete("Condition", condition["id"])
        with pytest.raises(ClaimInvalid) as invalid:
            await export_claim(store, "enc-b", key=KEY)
        assert {e.expression for e in invalid.value.errors} == {
            "XML1[1].MA_BENH_CHINH",
            "XML1[1].CHAN_DOAN_RV",
            "XML13[1].CHAN_DOAN_RV",  # the referral still names its reason (J18.9), not its text
            "XML14[1].MA_BENH_CHINH",
            "XML14[1].CHAN_DOAN_RV",
        }
        assert all(e.message_vi and e.message_en for e in invalid.value.errors)
        outpatient = native_visit(suffix="c", inpatient=False)
        await put_all(store, outpatient)
        exported = await export_claim(store, "enc-c", key=KEY)
        kinds = [f.kind for f in read_envelope(exported).records[0]]
        assert "XML7" not in kinds and "XML8" not in kinds  # no discharge paper for an outpatient visit
        assert _tables(exported)["XML1"][0]["MA_LOAI_KCB"] == "01"

    run_with_store(url, body)


def test_every_finished_encounter_of_the_demo_province_exports_and_imports(url: str) -> None:
    from senhealth.demo.generator import generate_resources

    resources = list(generate_resources(8, seed=4))
    finished = [r["id"] for r in resources if r["resourceType"] == "Encounter" and r["status"] == "finished"]
    assert len(finished) >= 5

    async def body(store: FhirStore) -> None:
        await store.load(resources)
        for encounter_id in finished:
            exported = await export_claim(store, encounter_id, key=KEY)
            result = await import_claim(store, exported, trust_roots=PKI.trust_roots)
            assert result.accepted, [i.message for i in result.issues]
            assert result.patients[0].endswith("(personal ID)")  # the demo's Patient, found by its CCCD

    run_with_store(url, body)


def test_the_export_reads_under_the_callers_restriction(url: str) -> None:
    from senhealth.fhir.access import Restriction
    from senhealth.fhir.store import NotFound

    async def body(store: FhirStore) -> None:
        await put_all(store, native_visit(suffix="r"))
        with pytest.raises(NotFound):
            await encounter_data(store, "enc-r", restriction=Restriction())  # no patient data at all
        with pytest.raises(NotFound):
            await encounter_data(store, "enc-r", restriction=Restriction(facilities=("elsewhere",)))
        data = await encounter_data(store, "enc-r", restriction=Restriction(facilities=("org-r",)))
        assert data.patient["id"] == "pat-r" and len(data.medication_requests) == 1

    run_with_store(url, body)
