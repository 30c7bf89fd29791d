"""The exchange operations through the REST API (``create_app``): ``$hosobenhan`` (JSON and XML, patient
and encounter), ``$health-book`` (JSON and FHIR, HIV withheld), ``$e-prescription``, and their errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from exchange_support import Seeded, run_async, seed

from senhealth.api import create_app
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.emr.documents.operations import register_document_operations, unregister_document_operations
from senhealth.emr.exchange.operations import register_exchange_operations, unregister_exchange_operations
from senhealth.fhir.store import FhirStore

FHIR = "application/fhir+json"
HEADERS = {"Content-Type": FHIR, "Accept": FHIR}
Scenario = Callable[[httpx.AsyncClient, Seeded], Awaitable[Any]]


@pytest.fixture
def api(schema_url: str) -> Iterator[Callable[[Scenario], Any]]:
    migrate(schema_url)

    async def seed_with_hiv(store: FhirStore) -> Seeded:
        return await seed(store, hiv=True)

    seeded = run_async(schema_url, seed_with_hiv)
    for off in (unregister_document_operations, unregister_exchange_operations):
        off()
    register_document_operations()
    register_exchange_operations()

    def run(scenario: Scenario) -> Any:
        async def main() -> Any:
            app = create_app(Settings(database_url=schema_url))
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    return await scenario(client, seeded)

        return asyncio.run(main())

    yield run
    unregister_document_operations()
    unregister_exchange_operations()


def test_exports_over_http(api: Any) -> None:
    async def scenario(client: httpx.AsyncClient, s: Seeded) -> None:
        xml = await client.get(f"/fhir/Encounter/{s.encounter}/$hosobenhan", params={"format": "xml"})
        assert xml.status_code == 200, xml.text[:300]
        assert xml.headers["content-type"].startswith("application/xml")
        assert 'filename="HoSoBenhAn_enc-1.xml"' in xml.headers["content-disposition"]
        root = ET.fromstring(xml.content)
        assert root.tag == "HoSoBenhAn"
        assert root.findtext("ThongTinBenhNhan/SoCCCD") == "079085001234"
        assert root.findtext("ThongTinDieuTri/MaBenhChinh") == "J15.9"

        js = await client.get(f"/fhir/Patient/{s.patient}/$hosobenhan")
        assert js.status_code == 200 and js.headers["content-type"].startswith("application/json")
        records = js.json()["DanhSachHoSoBenhAn"]
        assert len(records) == 1 and records[0]["ThongTinVaoVien"]["MaLK"] == "enc-1"
        assert "B20.7" in js.text or "7917-8" in js.text  # the full record, for its holders

        book = await client.get(f"/fhir/Patient/{s.patient}/$health-book")
        assert book.status_code == 200 and book.headers["content-type"].startswith("application/json")
        assert book.json()["SoSucKhoeDienTu"]["ThongTinHanhChinh"]["SoDinhDanhCaNhan"] == "079085001234"
        for word in ("HIV", "B20", "Z21", "J05AR", "7917-8", "giữ kín"):
            assert word not in book.text, word
        fhir = await client.get(
            f"/fhir/Patient/{s.patient}/$health-book", params={"format": "fhir"}, headers={"Accept": FHIR}
        )
        assert fhir.status_code == 200 and fhir.json()["type"] == "collection"
        assert fhir.json()["entry"][0]["fullUrl"] == f"http://test/fhir/Patient/{s.patient}"
        assert "HIV" not in fhir.text and "J05AR" not in fhir.text

        created = await client.post(
            f"/fhir/Encounter/{s.encounter}/$create-document",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "type", "valueCode": "prescription"},
                    {"name": "author", "valueString": s.doctor},
                ],
            },
            headers=HEADERS,
        )
        assert created.status_code == 201, created.text[:300]
        comp_id = created.json()["id"]
        message = await client.get(f"/fhir/Composition/{comp_id}/$e-prescription")
        assert message.status_code == 200 and message.headers["content-type"].startswith("application/json")
        body = json.loads(message.content)
        assert body["don_thuoc"]["ma_dinh_danh_cong_dan"] == "079085001234"
        assert body["don_thuoc"]["ma_don_thuoc"] == created.json()["identifier"]["value"]
        assert {d["ma_thuoc"] for d in body["don_thuoc"]["thong_tin_don_thuoc"]} >= {"J01CA04", "N02BE01"}
        assert body["nguoi_gui"]["ma_co_so_kham_chua_benh"] == "79001"

    api(scenario)


def test_export_errors(api: Any) -> None:
    async def scenario(client: httpx.AsyncClient, s: Seeded) -> None:
        bad = await client.get(f"/fhir/Patient/{s.patient}/$hosobenhan", params={"format": "pdf"})
        assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["format"]
        bad_book = await client.get(f"/fhir/Patient/{s.patient}/$health-book", params={"format": "xml"})
        assert bad_book.status_code == 400
        unknown = await client.get("/fhir/Patient/nobody/$health-book")
        assert unknown.status_code == 404 and unknown.json()["resourceType"] == "OperationOutcome"
        unknown_enc = await client.get("/fhir/Encounter/none/$hosobenhan")
        assert unknown_enc.status_code == 404
        wrong_level = await client.get("/fhir/Observation/obs-wbc/$hosobenhan")
        assert wrong_level.status_code == 404
        created = await client.post(
            f"/fhir/Encounter/{s.encounter}/$create-document",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "type", "valueCode": "discharge-paper"},
                    {"name": "author", "valueString": s.doctor},
                ],
            },
            headers=HEADERS,
        )
        not_rx = await client.get(f"/fhir/Composition/{created.json()['id']}/$e-prescription")
        assert not_rx.status_code == 422
        assert "prescription" in not_rx.json()["issue"][0]["diagnostics"]

    api(scenario)
