"""The bulk path (COPY text written by hand) stores exactly what the single-write path stores."""

from __future__ import annotations

from typing import Any

from store_support import INDEX_TABLES, observation, patient

from senhealth.fhir.store import FhirStore

LONG = "Trạm y tế " * 60  # 600 characters: index text is cut to 256

TRICKY: list[dict[str, Any]] = [
    patient(
        family='Nguyễn "Tab"\tBackslash\\ và\nxuống dòng',
        given="Thị\rĐào",
        address=[{"line": [LONG], "city": "Hà Nội", "district": "Ba Đình"}],
        telecom=[{"system": "phone", "value": "+84 912\\345"}],
    ),
    observation(
        "Patient/x1",
        value=7.25,
        note=[{"text": LONG}],
        identifier=[{"system": "urn:oid:1.2.3", "value": "a\tb\\c " + LONG}],
    ),
    observation(
        "Patient/x1",
        component=[
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": 'Sys "BP"'}]},
                "valueQuantity": {
                    "value": 120,
                    "unit": "mm[Hg]",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                },
            }
        ],
    ),
    {
        "resourceType": "Location",
        "name": "Trạm\\y tế",
        "position": {"latitude": 21.0285, "longitude": 105.8542},
        "description": LONG,
    },
]

COLUMNS = {
    "idx_token": "param_id, system, code, text, type_system, type_code",
    "idx_string": "param_id, value, value_norm",
    "idx_date": "param_id, low, high",
    "idx_reference": "param_id, target_type, target_id, version, url, identifier_system, identifier_value",
    "idx_quantity": "param_id, system, code, unit, low::text, high::text, canon_code, canon_low::text, canon_high::text",
    "idx_number": "param_id, low::text, high::text",
    "idx_uri": "param_id, value",
    "idx_composite": "param_id, parts - 0",
    "idx_special": "param_id, latitude, longitude",
}


def test_copy_and_single_writes_store_the_same_rows(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> None:
        await store.load([dict(r, id=f"bulk{i}") for i, r in enumerate(TRICKY)])
        for i, r in enumerate(TRICKY):
            await store.update(dict(r, id=f"one{i}"))
        for i, r in enumerate(TRICKY):
            a = await store.read(r["resourceType"], f"bulk{i}")
            b = await store.read(r["resourceType"], f"one{i}")
            assert {k: v for k, v in (a.content or {}).items() if k not in ("id", "meta")} == {
                k: v for k, v in (b.content or {}).items() if k not in ("id", "meta")
            }

    run_store(go)
    assert sql("SELECT max(length(value)) FROM idx_string") == [(256,)]
    for table in INDEX_TABLES:
        cols = COLUMNS[table].replace("parts - 0", "parts")
        for i in range(len(TRICKY)):
            rows = []
            for prefix in ("bulk", "one"):
                rows.append(
                    sorted(
                        tuple(str(x) for x in row)
                        for row in sql(
                            f"SELECT {cols} FROM {table} "
                            "WHERE rid = (SELECT rid FROM fhir_locator WHERE res_id = %s) AND param_id NOT IN "
                            "(SELECT param_id FROM fhir_search_param WHERE code IN ('_id', '_lastUpdated'))",
                            (f"{prefix}{i}",),
                        )
                    )
                )
            assert rows[0] == rows[1], (table, i)
    # the text with tabs, quotes and backslashes arrived intact
    assert sql("SELECT value FROM idx_string WHERE value LIKE 'Nguyễn%' LIMIT 1") == [
        ('Nguyễn "Tab"\tBackslash\\ và\nxuống dòng',)
    ]
