"""Index rows, partition keys and compartments written with each version (docs/storage.md "Keys")."""

from __future__ import annotations

from typing import Any

from store_support import INDEX_TABLES, observation, organization, patient

from senhealth.fhir.store import FhirStore, Stored


def rows_of(sql: Any, rid: int) -> dict[str, int]:
    return {t: sql(f"SELECT count(*) FROM {t} WHERE rid = %s", (rid,))[0][0] for t in INDEX_TABLES}


def test_index_rows_written_replaced_and_removed(run_store: Any, sql: Any) -> None:
    async def made(store: FhirStore) -> tuple[Stored, dict[tuple[str, str], int]]:
        pat = await store.create(patient())
        obs = await store.create(observation(f"Patient/{pat.res_id}"))
        return obs, await store.param_ids()

    obs, ids = run_store(made)
    code = ids[("Observation", "code")]
    assert sql("SELECT system, code FROM idx_token WHERE rid = %s AND param_id = %s", (obs.rid, code)) == [
        ("http://loinc.org", "4548-4")
    ]
    subject = sql(
        "SELECT target_type, target_id, pkey FROM idx_reference WHERE rid = %s AND param_id = %s",
        (obs.rid, ids[("Observation", "subject")]),
    )
    target = (obs.content or {})["subject"]["reference"][len("Patient/") :]
    assert subject == [("Patient", target, target)]
    value = sql(
        "SELECT low, high, code, canon_code FROM idx_quantity WHERE rid = %s AND param_id = %s",
        (obs.rid, ids[("Observation", "value-quantity")]),
    )
    assert [(str(a), str(b), c) for a, b, c, _ in value] == [("7.2", "7.2", "%")]
    dates = sql(
        "SELECT low, high FROM idx_date WHERE rid = %s AND param_id = %s",
        (obs.rid, ids[("Observation", "date")]),
    )
    assert dates and dates[0][0].isoformat().startswith("2024-03-01T01:30:00")
    last_updated = sql(
        "SELECT low FROM idx_date WHERE rid = %s AND param_id = %s",
        (obs.rid, ids[("Observation", "_lastUpdated")]),
    )
    assert last_updated == [(obs.last_updated,)]
    before = rows_of(sql, obs.rid)
    assert before["idx_token"] >= 3 and before["idx_composite"] >= 1

    async def change(store: FhirStore) -> None:
        body = dict(obs.content or {})
        body["code"] = {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]}
        await store.update(body)

    run_store(change)
    assert sql("SELECT code FROM idx_token WHERE rid = %s AND param_id = %s", (obs.rid, code)) == [
        ("2345-7",)
    ]
    after = rows_of(sql, obs.rid)
    assert after == before  # the same shape of rows, with the new values: the old ones are gone
    assert sql("SELECT count(*) FROM idx_token WHERE rid = %s AND code = '4548-4'", (obs.rid,)) == [(0,)]
    assert after["idx_reference"] == before["idx_reference"]

    async def remove(store: FhirStore) -> None:
        await store.delete("Observation", obs.res_id)

    run_store(remove)
    assert sum(rows_of(sql, obs.rid).values()) == 0
    assert sql("SELECT count(*) FROM fhir_resource WHERE rid = %s", (obs.rid,)) == [(0,)]
    assert sql("SELECT count(*) FROM fhir_history WHERE rid = %s", (obs.rid,)) == [(3,)]


def test_param_ids_are_stable_and_complete(run_store: Any, sql: Any) -> None:
    async def twice(store: FhirStore) -> tuple[Any, Any]:
        first = await store.param_ids()
        return first, await FhirStore(store.pool).param_ids()

    first, second = run_store(twice)
    assert first == second and len(first) > 3000
    assert len(set(first.values())) == len(first)
    assert ("Patient", "name") in first and ("Observation", "_lastUpdated") in first
    assert sql("SELECT count(*) FROM fhir_search_param") == [(len(first),)]


def test_pkey_and_compartments(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> tuple[Stored, ...]:
        pat = await store.create(patient())
        other = await store.create(patient("Trần", "Thị Bình"))
        obs = await store.create(observation(f"Patient/{pat.res_id}"))
        org = await store.create(organization())
        # performer is a compartment parameter too: the observation is in both patients' compartments
        both = await store.create(
            observation(f"Patient/{pat.res_id}", performer=[{"reference": f"Patient/{other.res_id}"}])
        )
        linked = await store.create(
            patient(
                "Lê", "Văn C", link=[{"other": {"reference": f"Patient/{pat.res_id}"}, "type": "seealso"}]
            )
        )
        group = await store.create(observation("Group/g1"))
        return pat, other, obs, org, both, linked, group

    pat, other, obs, org, both, linked, group = run_store(go)

    def keys(s: Stored) -> tuple[str, list[str]]:
        ((pkey, comps),) = sql("SELECT pkey, compartments FROM fhir_resource WHERE rid = %s", (s.rid,))
        return pkey, comps

    assert keys(pat) == (pat.res_id, [pat.res_id])
    assert keys(obs) == (pat.res_id, [pat.res_id])
    assert keys(org) == ("", [])
    assert keys(both) == (pat.res_id, [pat.res_id, other.res_id])
    assert keys(linked) == (linked.res_id, [linked.res_id, pat.res_id])
    assert keys(group) == ("", [])
    for table in ("fhir_history", "fhir_locator", "idx_token"):
        assert {r[0] for r in sql(f"SELECT pkey FROM {table} WHERE rid = %s", (obs.rid,))} == {pat.res_id}


def test_changing_patient_moves_the_resource_and_its_history(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> tuple[Stored, Stored, Stored]:
        a = await store.create(patient())
        b = await store.create(patient("Trần", "Bình"))
        obs = await store.create(observation(f"Patient/{a.res_id}"))
        await store.update(dict(obs.content or {}, subject={"reference": f"Patient/{b.res_id}"}))
        assert (await store.vread("Observation", obs.res_id, 1)).content == obs.content
        return a, b, obs

    a, b, obs = run_store(go)
    for table in ("fhir_resource", "fhir_history", "fhir_locator", "idx_token", "idx_reference"):
        assert {r[0] for r in sql(f"SELECT pkey FROM {table} WHERE rid = %s", (obs.rid,))} == {b.res_id}, (
            table
        )
    assert a.res_id != b.res_id
