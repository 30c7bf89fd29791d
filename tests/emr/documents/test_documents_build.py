"""Clinical documents on a real database: each national form built from demo-like data, its document
Bundle (``Composition/$document``): order, completeness, identifiers; the Vietnamese sections and the
facts of the record in them; bad input refused with the path."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from documents_support import PERSONAL_ID, Seeded, run_async, seed

from senhealth.core.migrate import migrate
from senhealth.emr.documents.builder import create_document, form_fields, missing_fields
from senhealth.emr.documents.document import DocumentError, build_document_bundle
from senhealth.emr.documents.types import DOCUMENT_TYPES, LOINC, SECTION_SYSTEM
from senhealth.fhir.store import FhirStore
from senhealth.fhir.terminology.loinc import check_digit_ok

BASE = "https://ehr.example.vn/fhir"


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


async def _make(store: FhirStore, s: Seeded, key: str, **fields: str) -> dict[str, Any]:
    return await create_document(
        store,
        key,
        patient_id=s.patient,
        encounter_id=s.encounter,
        author_practitioner_id=s.doctor,
        custodian_org_id=s.facility,
        fields=fields or None,
    )


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [v for k, v in node.items() if k == "reference" and isinstance(v, str)]
        for k, v in node.items():
            if k != "reference":
                out += _refs(v)
        return out
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def _div(section: dict[str, Any]) -> str:
    return str(section["text"]["div"])


def test_the_table_of_document_types() -> None:
    assert set(DOCUMENT_TYPES) == {
        "outpatient-record",
        "inpatient-summary",
        "discharge-paper",
        "referral-paper",
        "prescription",
        "lab-report",
        "imaging-report",
    }
    for t in DOCUMENT_TYPES.values():
        assert check_digit_ok(t.loinc), t.key
        assert t.retention_years in (10, 20, 30, None)
        assert t.source, t.key
        keys = [s.key for s in t.sections]
        assert len(keys) == len(set(keys)), t.key
        assert keys[0] == "administrative"
        for s in t.sections:
            assert s.title_vi and s.title_en and s.title_vi != s.title_en, (t.key, s.key)
            if s.system == LOINC:
                assert check_digit_ok(s.code), (t.key, s.key, s.code)
            else:
                assert s.system == SECTION_SYSTEM
    assert DOCUMENT_TYPES["discharge-paper"].organization_signature
    assert DOCUMENT_TYPES["referral-paper"].loinc == "57133-1"


def test_every_form_builds_a_complete_document_bundle(url: str) -> None:
    async def go(store: FhirStore) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        s = await seed(store)
        out = {}
        for key in DOCUMENT_TYPES:
            comp = await _make(store, s, key)
            out[key] = (comp, await build_document_bundle(store, comp["id"], base_url=BASE))
        return out

    built = run_async(url, go)
    for key, (comp, bundle) in built.items():
        doc_type = DOCUMENT_TYPES[key]
        assert comp["status"] == "preliminary"
        assert comp["type"]["coding"][0] == {
            "system": LOINC,
            "code": doc_type.loinc,
            "display": doc_type.loinc_display,
        }
        assert comp["title"] == doc_type.title_vi
        # the document rules: type, identifier, timestamp, the Composition first, then its own references
        assert bundle["type"] == "document"
        assert bundle["identifier"]["value"].startswith("urn:uuid:")
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", bundle["timestamp"])
        entries = bundle["entry"]
        assert entries[0]["resource"]["id"] == comp["id"]
        assert [e["resource"]["resourceType"] for e in entries[:5]] == [
            "Composition",
            "Patient",
            "Encounter",
            "Practitioner",
            "Organization",
        ]
        full_urls = [e["fullUrl"] for e in entries]
        assert len(set(full_urls)) == len(full_urls)
        for e in entries:
            r = e["resource"]
            assert e["fullUrl"] == f"{BASE}/{r['resourceType']}/{r['id']}"
        # every reference in the document resolves inside it
        for e in entries:
            for ref in _refs(e["resource"]):
                assert f"{BASE}/{ref}" in full_urls, (key, e["fullUrl"], ref)
        # every section of the form, in the form's order, with its Vietnamese title and code
        sections = comp["section"]
        assert [s["id"] for s in sections] == [s.key for s in doc_type.sections]
        for st, sec in zip(doc_type.sections, sections, strict=True):
            assert sec["title"] == st.title_vi
            assert sec["code"]["coding"][0]["code"] == st.code
            assert sec["code"]["text"] == st.title_en
            assert _div(sec).startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
            assert ("entry" in sec) != ("emptyReason" in sec) or ("entry" not in sec and "extension" in sec)
        # the sections' entries come right after the Composition's own references, in section order
        order = [f"{BASE}/{r}" for sec in sections for r in _refs(sec.get("entry", []))]
        positions = [full_urls.index(u) for u in dict.fromkeys(order)]
        assert positions == sorted(positions), key

    fields = {k: form_fields(c) for k, (c, _) in built.items()}

    discharge = fields["discharge-paper"]
    assert discharge["administrative"]["name"] == "NGUYỄN VĂN AN"
    assert discharge["administrative"]["personalId"] == PERSONAL_ID
    assert discharge["administrative"]["birthDate"] == "12/04/1985"
    assert discharge["administrative"]["insuranceCard"].startswith("DN4797900123456, giá trị đến 31/12/2026")
    assert discharge["treatment-period"]["admissionTime"] == "08 giờ 15 phút, ngày 02/03/2026"
    assert discharge["treatment-period"]["dischargeTime"] == "10 giờ 30 phút, ngày 09/03/2026"
    assert discharge["treatment-period"]["facility"] == "Bệnh viện Đa khoa Sen Hồng"
    assert discharge["discharge-diagnosis"]["mainDiagnosis"].startswith("J15.9 – Viêm phổi do vi khuẩn")
    assert discharge["discharge-diagnosis"]["otherDiagnoses"].startswith("E11.9")
    assert "J18.9" not in discharge["discharge-diagnosis"]["mainDiagnosis"]  # the admission diagnosis
    assert "Amoxicilin 500mg" in discharge["treatment"]["method"]
    assert "Đặt nội khí quản" in discharge["procedures"]["procedures"]
    assert discharge["follow-up"]["revisitDate"] == "23/03/2026"

    summary = fields["inpatient-summary"]
    assert summary["admission-diagnosis"]["diagnosis"].startswith("J18.9")
    assert summary["discharge-diagnosis"]["mainDiagnosis"].startswith("J15.9")
    assert "Bạch cầu: 15.2 G/L" in summary["results"]["results"]
    assert "Viêm phổi thùy dưới phải" in summary["imaging-results"]["findings"]

    outpatient = fields["outpatient-record"]
    assert outpatient["vital-signs"]["pulse"] == "102 lần/phút"
    assert outpatient["vital-signs"]["bloodPressure"] == "130/85 mmHg"
    assert outpatient["vital-signs"]["temperature"] == "39.2 °C"
    assert outpatient["allergies"]["allergies"] == "Penicilin (Nổi mề đay)"
    assert outpatient["history"]["personal"].startswith("I10")
    assert outpatient["reason"]["reason"] == "Sốt cao, ho có đờm 5 ngày"
    assert outpatient["physical-exam"]["general"] == "Khám phổi: Ran nổ đáy phổi phải"

    referral = fields["referral-paper"]
    assert referral["referral-reason"]["destination"] == "Bệnh viện Chợ Rẫy"
    assert referral["referral-reason"]["reason"] == "Vượt quá khả năng chuyên môn"
    referral_bundle = built["referral-paper"][1]
    assert f"{BASE}/Organization/org-2" in [e["fullUrl"] for e in referral_bundle["entry"]]
    assert f"{BASE}/ServiceRequest/sr-ref" in [e["fullUrl"] for e in referral_bundle["entry"]]

    prescription_comp = built["prescription"][0]
    code = fields["prescription"]["prescription-info"]["prescriptionCode"]
    assert re.fullmatch(r"79001[A-Z0-9]{7}-c", code)
    assert prescription_comp["identifier"] == {
        "system": "https://senhealth.vn/fhir/sid/prescription-code",
        "value": code,
    }
    meds = fields["prescription"]["medications"]
    assert meds["drug"] == "Amoxicilin 500mg; Paracetamol 500mg"
    assert meds["quantity"] == "21 viên; 10 viên"
    assert meds["usage"].startswith("Uống 1 viên x 3 lần/ngày, sau ăn")
    assert fields["prescription"]["administrative"]["personalId"] == PERSONAL_ID
    med_section = next(s for s in prescription_comp["section"] if s["id"] == "medications")
    assert "<th>Tên thuốc, hàm lượng</th>" in _div(med_section)
    assert [r["reference"] for r in med_section["entry"]] == [
        "MedicationRequest/med-amox",
        "MedicationRequest/med-para",
    ]

    lab = fields["lab-report"]["results"]
    assert set(lab["test"].split("; ")) == {"Nhóm máu", "Bạch cầu", "CRP"}
    assert "15.2" in lab["value"]
    assert "4-10 G/L" in lab["reference"]
    lab_entries = [
        r["reference"] for s in built["lab-report"][0]["section"] if s["id"] == "results" for r in s["entry"]
    ]
    assert "DiagnosticReport/dr-lab" in lab_entries and "Observation/obs-xray" not in lab_entries
    assert fields["lab-report"]["request"]["requester"] == "Trần Thị Lan"

    imaging = fields["imaging-report"]["findings"]["findings"]
    assert "Viêm phổi thùy dưới phải" in imaging
    img_entries = [
        r["reference"]
        for s in built["imaging-report"][0]["section"]
        if s["id"] == "findings"
        for r in s["entry"]
    ]
    assert img_entries[0] == "DiagnosticReport/dr-xray" and "Observation/obs-wbc" not in img_entries


def test_author_fields_free_text_and_missing_required(url: str) -> None:
    async def go(store: FhirStore) -> tuple[dict[str, Any], dict[str, Any]]:
        s = await seed(store)
        draft = await _make(store, s, "referral-paper")
        filled = await _make(
            store,
            s,
            "referral-paper",
            **{
                "transfer-state.state": "Tỉnh, tiếp xúc tốt, SpO2 94%",
                "transport.transport": "Xe cứu thương",
                "transport.escort": "Điều dưỡng Lê Văn Bình",
                "treatment-plan": "Tiếp tục kháng sinh <đường tĩnh mạch>",
            },
        )
        return draft, filled

    draft, filled = run_async(url, go)
    assert "transfer-state.state" in missing_fields(draft)
    assert "transfer-state.state" not in missing_fields(filled)
    sections = {s["id"]: s for s in filled["section"]}
    assert form_fields(filled)["transport"]["transport"] == "Xe cứu thương"
    assert "<b>Phương tiện vận chuyển:</b> Xe cứu thương" in _div(sections["transport"])
    assert "Tiếp tục kháng sinh &lt;đường tĩnh mạch&gt;" in _div(sections["treatment-plan"])  # escaped
    assert sections["treatment-plan"]["text"]["status"] == "additional"
    draft_sections = {s["id"]: s for s in draft["section"]}
    assert draft_sections["treatment-plan"]["emptyReason"]["coding"][0]["code"] == "notstarted"
    assert "Không có dữ liệu" in _div(draft_sections["treatment-plan"])


def test_bundle_identifier_follows_the_content_and_urn_mode_resolves(url: str) -> None:
    async def go(store: FhirStore) -> tuple[dict[str, Any], ...]:
        s = await seed(store)
        comp = await _make(store, s, "discharge-paper")
        first = await build_document_bundle(store, comp["id"])
        again = await build_document_bundle(store, comp["id"])
        cond = (await store.read("Condition", "cond-main")).content
        assert cond is not None
        await store.update({**cond, "note": [{"text": "Đã điều trị ổn định"}]})
        changed = await build_document_bundle(store, comp["id"])
        return first, again, changed

    first, again, changed = run_async(url, go)
    assert first["identifier"] == again["identifier"]
    assert changed["identifier"] != first["identifier"]
    full_urls = {e["fullUrl"] for e in first["entry"]}
    assert all(u.startswith("urn:uuid:") for u in full_urls)
    for e in first["entry"]:
        for ref in _refs(e["resource"]):
            assert ref in full_urls, ref  # rewritten to the entries' urn:uuid


def test_bad_input_is_refused_with_the_path(url: str) -> None:
    async def go(store: FhirStore) -> list[DocumentError]:
        s = await seed(store)
        errors: list[DocumentError] = []
        attempts: list[Callable[[], Awaitable[Any]]] = [
            lambda: build_document_bundle(store, "nope"),
            lambda: _make(store, s, "death-certificate"),
            lambda: _make(store, s, "discharge-paper", **{"transport.transport": "xe"}),
            lambda: _make(store, s, "discharge-paper", **{"notes.colour": "x"}),
            lambda: create_document(
                store,
                "discharge-paper",
                patient_id=s.patient,
                encounter_id=s.encounter,
                author_practitioner_id="ghost",
                custodian_org_id=s.facility,
            ),
        ]
        for attempt in attempts:
            try:
                await attempt()
            except DocumentError as e:
                errors.append(e)
        other = await store.create({"resourceType": "Patient", "name": [{"family": "Lê"}]})
        try:
            await create_document(
                store,
                "discharge-paper",
                patient_id=other.res_id,
                encounter_id=s.encounter,
                author_practitioner_id=s.doctor,
                custodian_org_id=s.facility,
            )
        except DocumentError as e:
            errors.append(e)
        # a section entry that does not resolve: the document cannot be built
        comp = await _make(store, s, "discharge-paper")
        comp["section"][0]["entry"].append({"reference": "Observation/deleted-one"})
        await store.update(comp)
        try:
            await build_document_bundle(store, comp["id"])
        except DocumentError as e:
            errors.append(e)
        before = await _count(store)
        draft = await create_document(
            store,
            "discharge-paper",
            patient_id=s.patient,
            encounter_id=s.encounter,
            author_practitioner_id=s.doctor,
            custodian_org_id=s.facility,
            persist=False,
        )
        assert "id" not in draft and await _count(store) == before
        return errors

    errors = run_async(url, go)
    assert [e.status for e in errors] == [404, 400, 400, 400, 422, 422, 422]
    assert "known: outpatient-record" in str(errors[1])
    assert "no section 'transport'" in str(errors[2])
    assert "no field 'colour'" in str(errors[3])
    assert "Practitioner/ghost" in str(errors[4])
    assert "is not an encounter of Patient/" in str(errors[5])
    assert errors[6].expression == "Composition.section[0].entry[1]"


async def _count(store: FhirStore) -> int:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM fhir_locator WHERE res_type = 'Composition'")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


def test_confidentiality_follows_the_content(url: str) -> None:
    async def go(store: FhirStore) -> tuple[str, str, list[str]]:
        s = await seed(store, hiv=True)
        prescription = await _make(store, s, "prescription")  # names the antiretroviral
        report = await _make(store, s, "imaging-report")  # names nothing sensitive
        drugs = [
            r["reference"] for x in prescription["section"] if x["id"] == "medications" for r in x["entry"]
        ]
        return prescription["confidentiality"], report["confidentiality"], drugs

    prescription, report, drugs = run_async(url, go)
    assert "MedicationRequest/med-arv" in drugs
    assert (prescription, report) == ("R", "N")
