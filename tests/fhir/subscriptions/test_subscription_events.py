"""The write hook on a real PostgreSQL: events exist exactly for committed writes that fire a topic, with
consecutive numbers; Subscriptions are checked when written; the owner's restriction filters events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from subscriptions_support import encounter, patient, subscription

from senhealth.core.db import close_pool, open_pool, transaction
from senhealth.fhir import access
from senhealth.fhir.access import Principal, Restriction
from senhealth.fhir.store import FhirStore, InvalidResource
from senhealth.fhir.store.hooks import Write, register_write_hook, unregister_write_hook
from senhealth.fhir.subscriptions.events import SubscriptionForbidden


def run(url: str, body: Callable[[FhirStore], Awaitable[None]]) -> None:
    async def main() -> None:
        await open_pool(url, max_size=6)
        try:
            await body(FhirStore())
        finally:
            await close_pool()

    asyncio.run(main())


async def events(store: FhirStore, sub_id: str) -> list[tuple[Any, ...]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event_number, focus_type, focus_id, focus_version, interaction FROM subscription_event "
            "WHERE subscription_id = %s ORDER BY event_number",
            (sub_id,),
        )
        return list(await cur.fetchall())


async def state(store: FhirStore, sub_id: str) -> tuple[Any, ...]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, events_since_start, owner, channel FROM subscription_state WHERE subscription_id = %s",
            (sub_id,),
        )
        row = await cur.fetchone()
        assert row is not None
        return tuple(row)


async def deliver_jobs(store: FhirStore) -> int:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'subscriptions.deliver'"
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


def test_committed_writes_that_fire_get_consecutive_events_and_rolled_back_ones_none(sub_url: str) -> None:
    async def body(store: FhirStore) -> None:
        sub = await store.create(subscription("patient-admitted", endpoint="http://127.0.0.1:9/hook"))
        assert await state(store, sub.res_id) == ("requested", 0, None, "rest-hook")
        assert await deliver_jobs(store) == 1  # the handshake, queued with the Subscription
        admitted = await store.create(encounter("in-progress", "IMP"))  # fires
        await store.create(encounter("in-progress", "AMB"))  # not an admission
        planned = await store.create(encounter("planned", "IMP"))  # not yet
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                await tx.create(encounter("in-progress", "IMP"))
                raise RuntimeError("rolled back")
        await store.update({**planned.content, "status": "in-progress"})  # becomes in-progress: fires
        await store.update({**admitted.content, "period": {"start": "2026-01-01"}})  # still in-progress: no
        await store.update({**admitted.content, "status": "finished"})
        await store.update({**admitted.content, "status": "in-progress"})  # again in-progress: fires
        assert await events(store, sub.res_id) == [
            (1, "Encounter", admitted.res_id, 1, "create"),
            (2, "Encounter", planned.res_id, 2, "update"),
            (3, "Encounter", admitted.res_id, 4, "update"),
        ]
        assert (await state(store, sub.res_id))[1] == 3
        assert await deliver_jobs(store) == 1  # one waiting job per subscription, whatever the events

    run(sub_url, body)


def test_transaction_bundle_path_and_deletes_and_filters(sub_url: str) -> None:
    async def body(store: FhirStore) -> None:
        mine = await store.create(
            subscription(
                "encounter-finished", endpoint="http://127.0.0.1:9/h", filters=("patient=Patient/p7",)
            )
        )
        everyone = await store.create(subscription("encounter-finished", endpoint="http://127.0.0.1:9/h"))
        inpatient = await store.create(
            subscription("encounter-finished", endpoint="http://127.0.0.1:9/h", filters=("class=IMP,ACUTE",))
        )
        existing = await store.create(encounter("in-progress", "AMB", "p7"))
        async with store.transaction() as tx:  # the bulk path of a transaction Bundle (write_many)
            written = await tx.write_many(
                [
                    (encounter("finished", "IMP", "p7", res_id="e-new"), "e-new", "POST"),
                    ({**existing.content, "status": "finished"}, existing.res_id, "PUT"),
                    (encounter("finished", "AMB", "p8", res_id="e-other"), "e-other", "POST"),
                    (encounter("in-progress", "IMP", "p7", res_id="e-open"), "e-open", "POST"),
                ]
            )
        assert [w.changed for w in written] == [True, True, True, True]
        assert [e[2] for e in await events(store, mine.res_id)] == ["e-new", existing.res_id]
        assert [e[2] for e in await events(store, everyone.res_id)] == ["e-new", existing.res_id, "e-other"]
        assert [e[2] for e in await events(store, inpatient.res_id)] == ["e-new"]
        assert (await events(store, everyone.res_id))[1][4] == "update"  # the previous version was read
        await store.delete("Encounter", "e-new")  # the topic does not listen to deletes
        assert len(await events(store, everyone.res_id)) == 3
        await store.delete("Subscription", mine.res_id)
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM subscription_event WHERE subscription_id = %s", (mine.res_id,)
            )
            assert (await cur.fetchone()) == (0,)
        await store.create(encounter("finished", "IMP", "p7"))  # the deleted one no longer counts
        assert len(await events(store, everyone.res_id)) == 4

    run(sub_url, body)


def test_subscription_requests_are_checked_and_name_the_faulty_element(sub_url: str) -> None:
    async def body(store: FhirStore) -> None:
        cases = [
            ({"criteria": "https://example.org/topic/x"}, "Subscription.criteria"),
            ({"channel": {"type": "email", "endpoint": "mailto:a@b.vn"}}, "Subscription.channel.type"),
            (
                {"channel": {"type": "rest-hook", "payload": "application/fhir+json"}},
                "Subscription.channel.endpoint",
            ),
            ({"channel": {"type": "rest-hook", "endpoint": "ftp://x/y"}}, "Subscription.channel.endpoint"),
            (
                {
                    "channel": {
                        "type": "rest-hook",
                        "endpoint": "http://h/x",
                        "payload": "application/fhir+xml",
                    }
                },
                "Subscription.channel.payload",
            ),
            (
                {"channel": {"type": "rest-hook", "endpoint": "http://h/x", "header": ["no colon"]}},
                "Subscription.channel.header[0]",
            ),
        ]
        for change, path in cases:
            bad = {**subscription("patient-admitted", endpoint="http://127.0.0.1:9/h"), **change}
            with pytest.raises(InvalidResource) as caught:
                await store.create(bad)
            assert caught.value.status == 422 and caught.value.expression == path, (
                change,
                caught.value.message,
            )
        bad_filter = subscription(
            "patient-admitted", endpoint="http://h/x", filters=("patient=Patient/1", "colour=red")
        )
        with pytest.raises(InvalidResource) as caught:
            await store.create(bad_filter)
        assert caught.value.expression == "Subscription.criteria.extension[1].valueString"
        assert "colour" in caught.value.message
        async with store.pool.connection() as conn:  # nothing was written
            cur = await conn.execute("SELECT count(*) FROM subscription_state")
            assert (await cur.fetchone()) == (0,)
        ok = await store.create(
            subscription("alert-raised", endpoint="http://h/x", filters=("DetectedIssue.patient=p1",))
        )
        assert (await state(store, ok.res_id))[0] == "requested"

    run(sub_url, body)


def test_owner_restriction_filters_events_and_guards_changes(sub_url: str) -> None:
    class Policy:
        def check(self, principal: Principal | None, action: access.Action, res_type: str | None) -> bool:
            return True

        def restriction(self, principal: Principal | None, action: access.Action) -> Restriction | None:
            if principal is None or principal.kind == "system":
                return None
            if "analyst" in principal.roles:
                return Restriction(deidentified=True)
            return Restriction(patients=frozenset({"p1"}))

    nurse = Principal("user", "nurse-1", roles=frozenset({"nurse"}))
    other = Principal("user", "nurse-2", roles=frozenset({"nurse"}))
    analyst = Principal("user", "analyst-1", roles=frozenset({"analyst"}))

    async def body(store: FhirStore) -> None:
        token = access.current_principal().set(nurse)
        try:
            sub = await store.create(subscription("patient-admitted", endpoint="http://127.0.0.1:9/h"))
        finally:
            access.current_principal().reset(token)
        assert (await state(store, sub.res_id))[2] == "nurse-1"
        await store.update(patient("p1"))
        await store.update(patient("p2"))
        seen = await store.create(encounter("in-progress", "IMP", "p1"))
        await store.create(encounter("in-progress", "IMP", "p2"))  # outside the nurse's restriction
        assert [e[2] for e in await events(store, sub.res_id)] == [seen.res_id]
        for who, error in ((other, SubscriptionForbidden), (analyst, SubscriptionForbidden)):
            token = access.current_principal().set(who)
            try:
                with pytest.raises(error):
                    if who is analyst:
                        await store.create(subscription("patient-admitted", endpoint="http://h/x"))
                    else:
                        await store.update({**sub.content, "status": "off"})
            finally:
                access.current_principal().reset(token)
        assert (await state(store, sub.res_id))[0] == "requested"

    access.install(policy=Policy())
    try:
        run(sub_url, body)
    finally:
        access.install(policy=access.OPEN)


def test_hooks_see_every_write_path_inside_the_transaction(schema_url: str) -> None:
    from senhealth.core.migrate import migrate

    migrate(schema_url)
    seen: list[Write] = []

    async def hook(tx: Any, writes: Any) -> None:
        seen.extend(writes)
        async with transaction() as conn:  # the writer's transaction: it sees the version just written
            w = writes[-1]
            cur = await conn.execute(
                "SELECT version FROM fhir_locator WHERE res_type = %s AND res_id = %s", (w.res_type, w.res_id)
            )
            assert (await cur.fetchone()) == (w.version,)

    async def body(store: FhirStore) -> None:
        p = await store.create(patient("x"))
        await store.update({**p.content, "gender": "female"}, method="PATCH")
        await store.update({**p.content, "gender": "female"})  # the same content: no version, no call
        await store.delete("Patient", p.res_id)
        await store.update(patient(p.res_id))  # over a delete: a create
        async with store.transaction() as tx:
            await tx.write_many(
                [(patient("y"), "y", "PUT"), ({**patient(p.res_id), "gender": "male"}, p.res_id, "PUT")]
            )

    register_write_hook(hook, types={"Patient"})
    try:
        run(schema_url, body)
    finally:
        unregister_write_hook(hook)
    assert [(w.interaction, w.version, w.method) for w in seen] == [
        ("create", 1, "POST"),
        ("update", 2, "PATCH"),
        ("delete", 3, "DELETE"),
        ("create", 4, "PUT"),
        ("create", 1, "PUT"),
        ("update", 5, "PUT"),
    ]
    assert seen[1].previous is not None and "gender" not in seen[1].previous
    assert seen[2].content is None and seen[2].previous is not None and seen[2].previous["gender"] == "female"
    assert seen[5].previous is not None and "gender" not in seen[5].previous
