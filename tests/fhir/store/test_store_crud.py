"""create / read / vread / update / delete against PostgreSQL (https://hl7.org/fhir/R4/http.html)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from store_support import TABLES, observation, organization, patient

from senhealth.fhir.store import (
    Conflict,
    FhirStore,
    Gone,
    InvalidResource,
    NotFound,
    Stored,
    VersionConflict,
)

INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_create_sets_id_and_meta_and_reads_back(run_store: Any) -> None:
    async def go(store: FhirStore) -> tuple[Stored, Stored, Stored]:
        made = await store.create(patient(id="client-id", meta={"tag": [{"code": "demo"}]}))
        return made, await store.read("Patient", made.res_id), await store.vread("Patient", made.res_id, 1)

    before = datetime.now(UTC) - timedelta(seconds=1)
    made, read, vread = run_store(go)
    assert made.res_id != "client-id"  # a create ignores the client's id
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", made.res_id)
    assert made.version == 1 and not made.deleted and made.method == "POST"
    assert made.etag == 'W/"1"'
    assert before <= made.last_updated <= datetime.now(UTC) + timedelta(seconds=1)
    assert made.last_updated.microsecond % 1000 == 0
    meta = made.content["meta"] if made.content else {}
    assert meta["versionId"] == "1"
    assert INSTANT.match(meta["lastUpdated"])
    assert meta["lastUpdated"] == made.last_updated.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{made.last_updated.microsecond // 1000:03d}Z"
    )
    assert meta["tag"] == [{"code": "demo"}]  # the client's other meta is kept
    assert read.content == made.content and vread.content == made.content
    assert list(read.content or {})[:3] == ["resourceType", "id", "meta"]
    assert (read.rid, read.seq, read.version, read.last_updated) == (
        made.rid,
        made.seq,
        1,
        made.last_updated,
    )


def test_create_with_given_id_and_conflict(run_store: Any) -> None:
    async def go(store: FhirStore) -> Stored:
        made = await store.create(organization(), res_id="org-1")
        with pytest.raises(Conflict) as e:
            await store.create(organization("Other"), res_id="org-1")
        assert e.value.status == 409
        return made

    assert run_store(go).res_id == "org-1"


def test_update_makes_versions_and_vread_reads_each(run_store: Any) -> None:
    async def go(store: FhirStore) -> None:
        made = await store.create(patient())
        body = dict(made.content or {}, gender="female")
        v2, created = await store.update(body)
        assert not created and v2.version == 2 and v2.method == "PUT"
        assert v2.content and v2.content["meta"]["versionId"] == "2"
        assert v2.last_updated >= made.last_updated
        v3, _ = await store.update(dict(body, birthDate="1981"), method="PATCH")
        assert v3.version == 3
        assert (await store.read("Patient", made.res_id)).content == v3.content
        old = await store.vread("Patient", made.res_id, 1)
        assert old.content and old.content["gender"] == "male"
        assert (await store.vread("Patient", made.res_id, 2)).content == v2.content
        with pytest.raises(NotFound):
            await store.vread("Patient", made.res_id, 4)
        assert v2.rid == made.rid == v3.rid and made.seq < v2.seq < v3.seq

    run_store(go)


def test_update_identical_content_makes_no_version(run_store: Any) -> None:
    async def go(store: FhirStore) -> None:
        made = await store.create(patient())
        same, created = await store.update(made.content or {})
        assert not created and same.version == 1 and same.seq == made.seq
        stripped = {k: v for k, v in (made.content or {}).items() if k != "meta"}
        again, _ = await store.update(stripped)
        assert again.version == 1

    run_store(go)


def test_update_as_create_and_if_match(run_store: Any) -> None:
    async def go(store: FhirStore) -> None:
        made, created = await store.update(patient(id="p-new"))
        assert created and made.version == 1 and made.res_id == "p-new"
        with pytest.raises(VersionConflict) as e:
            await store.update(dict(patient(id="p-new"), gender="female"), if_match=3)
        assert e.value.status == 412 and e.value.current == 1
        v2, _ = await store.update(dict(patient(id="p-new"), gender="female"), if_match=1)
        assert v2.version == 2
        with pytest.raises(VersionConflict):
            await store.update(patient(id="never-made"), if_match=1)
        with pytest.raises(NotFound):
            await store.read("Patient", "never-made")

    run_store(go)


def test_update_without_id_is_invalid(run_store: Any) -> None:
    async def go(store: FhirStore) -> None:
        with pytest.raises(InvalidResource) as e:
            await store.update(patient())
        assert e.value.status == 400

    run_store(go)


def test_delete_gone_and_recreate(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> None:
        made = await store.create(patient())
        with pytest.raises(VersionConflict):
            await store.delete("Patient", made.res_id, if_match=7)
        gone = await store.delete("Patient", made.res_id, if_match=1)
        assert gone is not None and gone.deleted and gone.version == 2 and gone.content is None
        assert gone.method == "DELETE" and gone.etag == 'W/"2"'
        with pytest.raises(Gone) as e:
            await store.read("Patient", made.res_id)
        assert e.value.status == 410 and e.value.stored.version == 2 and e.value.stored.deleted
        with pytest.raises(Gone):
            await store.vread("Patient", made.res_id, 2)
        assert (await store.vread("Patient", made.res_id, 1)).content == made.content
        assert await store.delete("Patient", made.res_id) is None  # already deleted: not an error
        assert await store.delete("Patient", "nobody") is None
        back, created = await store.update(dict(patient(), id=made.res_id))
        assert created and back.version == 3
        assert (await store.read("Patient", made.res_id)).version == 3
        with pytest.raises(Conflict):
            await store.create(patient(), res_id=made.res_id)

    run_store(go)


def test_not_found(run_store: Any) -> None:
    async def go(store: FhirStore) -> None:
        with pytest.raises(NotFound) as e:
            await store.read("Patient", "missing")
        assert e.value.status == 404 and e.value.outcome()["issue"][0]["code"] == "not-found"
        with pytest.raises(NotFound):
            await store.vread("Patient", "missing", 1)

    run_store(go)


@pytest.mark.parametrize(
    "bad",
    [
        {"resourceType": "Patient", "gender": "robot"},
        {"resourceType": "Observation", "code": {"text": "x"}},  # status missing
        {"resourceType": "Patient", "birthDate": "1980-13-45"},
        {"resourceType": "NoSuchType"},
        {"resourceType": "Patient", "name": [{"family": "nul\u0000"}]},
        ["not", "an", "object"],
    ],
)
def test_invalid_resource_writes_nothing(run_store: Any, sql: Any, bad: Any) -> None:
    async def go(store: FhirStore) -> None:
        with pytest.raises(InvalidResource) as e:
            await store.create(bad)
        assert e.value.status == 400
        outcome = e.value.outcome()
        assert outcome["resourceType"] == "OperationOutcome"
        assert any(i["severity"] in ("error", "fatal") for i in outcome["issue"])
        if isinstance(bad, dict):
            with pytest.raises(InvalidResource):
                await store.update(dict(bad, id="x1"))
            async with store.transaction() as tx:
                with pytest.raises(InvalidResource):
                    await tx.create(bad)

    run_store(go)
    for table in TABLES:
        assert sql(f"SELECT count(*) FROM {table}") == [(0,)], table


def test_invalid_update_keeps_the_current_version(run_store: Any, sql: Any) -> None:
    async def go(store: FhirStore) -> Stored:
        made = await store.create(observation())
        with pytest.raises(InvalidResource):
            await store.update(dict(made.content or {}, status="nonsense"))
        return made

    made = run_store(go)
    assert sql("SELECT version FROM fhir_resource") == [(1,)]
    assert sql("SELECT count(*) FROM fhir_history") == [(1,)]
    assert sql("SELECT version, deleted FROM fhir_locator") == [(1, False)]
    assert made.version == 1
