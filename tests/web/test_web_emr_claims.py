"""The claim XML pages over HTTP (in-process): uploading signed claim files (one good, one with a field
fault, one empty) gives one report per file, the good one imported with its resources and patient, the
bad one refused with its field and nothing written; a finished visit recorded in FHIR is exported as a
signed ``GIAMDINHHS`` file from the patient's documents page; an encounter that cannot be claimed shows
its field errors.

A doctor imports their own facility's files (``$import-claim-xml`` authorises its writes itself: staff of
the facility named in ``MACSKCB``); the report is also checked on the API's real answers for the same
files (``test_report_of_real_import_answers``).
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from emr_web_support import EmrWeb, doctor, emr_environment, text_of
from web_dataset import Seeded, system_token
from web_support import csrf_of

from senhealth.emr.claims.synthetic import SyntheticClaim, generate_claims
from senhealth.web.views.emr_claims import file_report
from senhealth.web.views.emr_fhir import Answer

CLAIMS_TESTS = str(Path(__file__).resolve().parents[1] / "emr" / "claims")

FACILITY_SYSTEM = "https://senhealth.vn/fhir/sid/facility"


@pytest.fixture
def emr_web(schema_url: str, tmp_path: Path) -> Iterator[EmrWeb]:
    with emr_environment(schema_url, tmp_path) as env:
        yield env


def claims(env: EmrWeb) -> tuple[SyntheticClaim, SyntheticClaim]:
    """A good file and one whose XML1 has a sex code outside 1/2/3, both signed by the hospital."""
    key = env.pki.issue_organization("bv-tinh", "Bệnh viện Đa khoa tỉnh")
    good = next(iter(generate_claims(1, seed=11, key=key, broken=0.0, facility="01001")))
    bad = next(
        c
        for seed in range(1, 60)
        for c in generate_claims(1, seed=seed, key=key, broken=1.0, facility="01001")
        if c.defect == "sex-code"
    )
    return good, bad


async def give_facility_code(c: httpx.AsyncClient, env: EmrWeb) -> None:
    """The hospital's insurance facility code, so that imported visits are attached to it."""
    headers = {
        "Authorization": f"Bearer {system_token(env.settings)}",
        "Content-Type": "application/fhir+json",
    }
    org = {
        "resourceType": "Organization",
        "id": "bv-tinh",
        "name": "Bệnh viện Đa khoa tỉnh",
        "identifier": [{"system": FACILITY_SYSTEM, "value": "01001"}],
    }
    assert (await c.put("/fhir/Organization/bv-tinh", json=org, headers=headers)).status_code == 200


def test_import_report_per_file_then_export_the_imported_encounter(emr_web: EmrWeb) -> None:
    good, bad = claims(emr_web)

    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        await give_facility_code(c, emr_web)
        await doctor(c, s)
        page = await c.get("/app/claims/import")
        assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
        files = [
            ("files", (good.name, good.data, "application/xml")),
            ("files", (bad.name, bad.data, "application/xml")),
            ("files", ("empty.xml", b"", "application/xml")),
        ]
        r = await c.post("/app/claims/import", data={"csrf_token": csrf_of(page.text)}, files=files)
        assert r.status_code == 200, text_of(r.text)[:1500]
        assert "is not available to your role" not in r.text
        kinds = {
            name: kind for kind, name in re.findall(r'class="claim-report (\w+)" data-file="([^"]+)"', r.text)
        }
        assert kinds.get(good.name) == "accepted", text_of(r.text)[:3000]
        assert kinds == {good.name: "accepted", bad.name: "refused", "empty.xml": "refused"}
        assert "1 tệp được nhập, 2 tệp bị từ chối" in text_of(r.text)
        refused = r.text[r.text.index(f'data-file="{bad.name}"') :]
        refused = refused[: refused.index("</article>")]
        assert f'<code class="field">{bad.expected[0]}</code>' in refused  # the field, named
        assert "GIOI_TINH" in refused and "Không có dữ liệu nào của tệp này được nhập" in text_of(refused)
        accepted = r.text[r.text.index(f'data-file="{good.name}"') :]
        accepted = accepted[: accepted.index("</article>")]
        assert "Encounter" in accepted or "Lượt khám" in accepted
        patient = re.search(r'href="/app/patients/([^"/]+)"', accepted)
        assert patient is not None

        # nothing of the bad file was written: its patient's personal ID is unknown
        headers = {"Authorization": f"Bearer {system_token(emr_web.settings)}"}
        cccd = bad.tables["XML1"][0]["SO_CCCD"]
        found = await c.get(
            "/fhir/Patient",
            params={"identifier": f"https://senhealth.vn/fhir/sid/cccd|{cccd}"},
            headers=headers,
        )
        assert not found.json().get("entry")

        # the imported visit, exported again as a signed claim file from its documents page
        pid = patient.group(1)
        listing = await c.get(f"/app/patients/{pid}/clinical-documents")
        assert listing.status_code == 200, text_of(listing.text)[:500]
        export = re.search(r'href="(/app/patients/[^"]+/claim\.xml)"', listing.text)
        assert export is not None
        xml = await c.get(export.group(1))
        assert xml.status_code == 200, text_of(xml.text)[:1500]
        assert xml.headers["content-type"].startswith("application/xml")
        assert xml.headers["content-disposition"].startswith("attachment;")
        root = ElementTree.fromstring(xml.content)
        assert root.tag.rsplit("}", 1)[-1] == "GIAMDINHHS"
        assert root.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is not None

    emr_web.run(scenario)


async def post_import(c: httpx.AsyncClient, env: EmrWeb, data: bytes) -> Answer:
    headers = {"Authorization": f"Bearer {system_token(env.settings)}", "Content-Type": "application/xml"}
    r = await c.post("/fhir/$import-claim-xml", content=data, headers=headers)
    media = r.headers.get("content-type", "").split(";")[0]
    return Answer(r.status_code, r.content, media, dict(r.headers))


def test_report_of_real_import_answers(emr_web: EmrWeb) -> None:
    good, bad = claims(emr_web)

    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        await give_facility_code(c, emr_web)
        refused = file_report(bad.name, await post_import(c, emr_web, bad.data), "vi")
        assert not refused["accepted"] and refused["status"] == 422
        assert [e["where"] for e in refused["errors"]] == list(bad.expected)
        assert all(" / " not in e["text"] and e["text"] for e in refused["errors"])  # Vietnamese only
        english = file_report(bad.name, await post_import(c, emr_web, bad.data), "en")
        assert english["errors"][0]["text"] != refused["errors"][0]["text"]
        accepted = file_report(good.name, await post_import(c, emr_web, good.data), "vi")
        assert accepted["accepted"] and accepted["status"] == 200, accepted
        types = dict(accepted["counts"])
        assert types.get("Encounter") == 1 and types.get("Patient") == 1 and len(accepted["patients"]) == 1
        assert all(x["created"] for x in accepted["resources"])
        again = file_report(good.name, await post_import(c, emr_web, good.data), "vi")
        assert again["accepted"] and not any(x["created"] for x in again["resources"])  # nothing duplicated

    emr_web.run(scenario)


def native_visit_at_the_hospital() -> list[dict[str, Any]]:
    """A finished inpatient visit recorded in FHIR (the claim tests' own), provided by the hospital."""
    if CLAIMS_TESTS not in sys.path:
        sys.path.insert(0, CLAIMS_TESTS)
    from claims_support import native_visit  # type: ignore[import-not-found,unused-ignore]

    out = []
    for resource in native_visit("01001", "web"):
        if resource["resourceType"] == "Organization":
            continue
        text = json.dumps(resource).replace("Organization/org-web", "Organization/bv-tinh")
        out.append(json.loads(text))
    return out


def test_export_claim_xml_of_a_visit_from_the_documents_page(emr_web: EmrWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        await give_facility_code(c, emr_web)
        headers = {
            "Authorization": f"Bearer {system_token(emr_web.settings)}",
            "Content-Type": "application/fhir+json",
        }
        for resource in native_visit_at_the_hospital():
            r = await c.put(
                f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=headers
            )
            assert r.status_code in (200, 201), r.text[:300]
        await doctor(c, s)
        listing = await c.get("/app/patients/pat-web/clinical-documents")
        assert listing.status_code == 200, text_of(listing.text)[:500]
        link = "/app/patients/pat-web/encounters/enc-web/claim.xml"
        assert link in listing.text
        xml = await c.get(link)
        assert xml.status_code == 200, text_of(xml.text)[:1500]
        assert xml.headers["content-type"].startswith("application/xml")
        assert xml.headers["content-disposition"] == 'attachment; filename="claim-enc-web.xml"'
        root = ElementTree.fromstring(xml.content)
        assert root.tag.rsplit("}", 1)[-1] == "GIAMDINHHS"
        assert root.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is not None

    emr_web.run(scenario)


def test_an_encounter_that_cannot_be_claimed_lists_its_field_errors(emr_web: EmrWeb) -> None:
    async def scenario(c: httpx.AsyncClient, s: Seeded) -> None:
        await doctor(c, s)
        r = await c.get("/app/patients/p-an/encounters/p-an-enc2/claim.xml")
        assert r.status_code in (409, 422), r.text[:500]
        assert "Chưa tạo được hồ sơ XML giám định" in r.text
        items = re.findall(r"<li>(.*?)</li>", r.text[r.text.index('id="claim-errors"') :], re.S)
        assert items  # each reason listed
        # another patient's encounter through this patient's address: not found
        assert (await c.get("/app/patients/p-an2/encounters/p-an-enc2/claim.xml")).status_code == 404
        # nothing chosen: the form says so
        page = await c.get("/app/claims/import")
        r = await c.post("/app/claims/import", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 422 and "Hãy chọn một hoặc nhiều tệp XML" in r.text

    emr_web.run(scenario)
