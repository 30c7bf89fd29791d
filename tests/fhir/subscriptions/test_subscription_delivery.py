"""Rest-hook delivery against a real HTTP receiver on loopback: handshake, notification bundles as the IG
profiles them, retries while the receiver is away, status error and back, heartbeats, the maximum age."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from subscriptions_support import Receiver, encounter, subscription

from senhealth.core.db import close_pool, open_pool
from senhealth.fhir.store import FhirStore
from senhealth.fhir.subscriptions.config import configure
from senhealth.fhir.subscriptions.delivery import deliver, heartbeat, sweep
from senhealth.fhir.validation import validation_issues


def run(url: str, body: Callable[[FhirStore, Receiver], Awaitable[None]]) -> None:
    async def main() -> None:
        await open_pool(url, max_size=6)
        receiver = Receiver()
        await receiver.start()
        try:
            await body(FhirStore(), receiver)
        finally:
            await receiver.stop()
            await close_pool()

    asyncio.run(main())


async def sub_status(store: FhirStore, sub_id: str) -> tuple[str, str | None]:
    stored = await store.read("Subscription", sub_id)
    assert stored.content is not None
    return stored.content["status"], stored.content.get("error")


def errors(resource: dict[str, object]) -> list[tuple[str, ...]]:
    return [i for i in validation_issues(resource) if i[0] in ("error", "fatal")]


def test_handshake_then_events_in_the_ig_shape(sub_url: str) -> None:
    async def body(store: FhirStore, receiver: Receiver) -> None:
        sub = await store.create(
            subscription(
                "encounter-finished",
                endpoint=receiver.url,
                content="full-resource",
                headers=("Authorization: Bearer abc123",),
            )
        )
        enc = await store.create(encounter("finished", "AMB"))
        assert await deliver(store, sub.res_id) == "sent 1"
        await store.update({**enc.content, "status": "cancelled"})  # a later version: not what is sent
        handshake, event = receiver.received
        assert handshake.kind == "handshake" and handshake.param("status") == "requested"
        assert handshake.headers["content-type"] == "application/fhir+json"
        assert handshake.headers["authorization"] == "Bearer abc123"
        assert event.kind == "event-notification" and event.param("events-since-subscription-start") == "1"
        assert event.param("topic") == "https://senhealth.vn/fhir/SubscriptionTopic/encounter-finished"
        assert event.events[0]["event-number"] == "1"
        assert event.events[0]["focus"] == {"reference": f"Encounter/{enc.res_id}"}
        bundle = event.body
        assert bundle["type"] == "history" and bundle["entry"][0]["resource"]["resourceType"] == "Parameters"
        assert bundle["entry"][0]["request"]["url"].endswith(f"Subscription/{sub.res_id}/$status")
        focus = bundle["entry"][1]
        assert focus["request"] == {"method": "POST", "url": "Encounter"}
        assert focus["resource"]["meta"]["versionId"] == "1" and focus["resource"]["status"] == "finished"
        assert errors(bundle) == [] and errors(handshake.body) == []
        assert await sub_status(store, sub.res_id) == ("active", None)
        assert await deliver(store, sub.res_id) == "sent 0"  # nothing is sent twice
        assert len(receiver.received) == 2

    run(sub_url, body)


def test_channel_headers_are_kept_out_of_the_stored_subscription(sub_url: str) -> None:
    """Whoever may read Subscriptions sees 'Authorization: ***'; the receiver still gets the real value, and
    an update that sends the mask back keeps it."""

    async def body(store: FhirStore, receiver: Receiver) -> None:
        sub = await store.create(
            subscription(
                "encounter-finished", endpoint=receiver.url, headers=("Authorization: Bearer s3cret",)
            )
        )
        stored = await store.read("Subscription", sub.res_id)
        assert stored.content is not None and stored.content["channel"]["header"] == ["Authorization: ***"]
        history = await store.history("Subscription", sub.res_id)
        assert all("s3cret" not in str(e.content) for e in history.entries)
        assert await deliver(store, sub.res_id) == "sent 0"  # the handshake
        assert receiver.received[-1].headers["authorization"] == "Bearer s3cret"
        # the owner edits the read-back resource (mask included): the held value stays
        await store.update({**stored.content, "reason": "theo dõi ra viện / discharge follow-up"})
        await store.create(encounter("finished", "AMB"))
        assert await deliver(store, sub.res_id) == "sent 1"
        assert receiver.received[-1].headers["authorization"] == "Bearer s3cret"
        again = await store.read("Subscription", sub.res_id)
        assert again.content is not None and again.content["channel"]["header"] == ["Authorization: ***"]

    run(sub_url, body)


def test_receiver_away_then_back_gets_every_event_in_order(sub_url: str) -> None:
    async def body(store: FhirStore, receiver: Receiver) -> None:
        sub = await store.create(subscription("patient-admitted", endpoint=receiver.url, max_count=3))
        assert await deliver(store, sub.res_id) == "sent 0"  # the handshake
        await receiver.stop()  # the port is closed
        for _ in range(7):
            await store.create(encounter("in-progress", "IMP"))
        assert await deliver(store, sub.res_id) == "failed"
        assert await sub_status(store, sub.res_id) == ("active", None)  # one failure: not yet an error
        await asyncio.sleep(0.15)
        assert await deliver(store, sub.res_id) == "failed"
        status, error = await sub_status(store, sub.res_id)
        assert status == "error" and error is not None and "could not be reached" in error
        assert await deliver(store, sub.res_id) == "waiting"  # within the back-off: no attempt
        await receiver.start()
        await asyncio.sleep(0.45)
        assert await deliver(store, sub.res_id) == "sent 7"
        assert receiver.numbers() == [1, 2, 3, 4, 5, 6, 7]
        assert [len(n.numbers) for n in receiver.of_kind("event-notification")] == [3, 3, 1]  # max-count 3
        assert await sub_status(store, sub.res_id) == ("active", None)
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT min(attempts), max(attempts), count(delivered_at) FROM subscription_event WHERE subscription_id = %s",
                (sub.res_id,),
            )
            assert await cur.fetchone() == (1, 3, 7)

    run(sub_url, body)


def test_refused_handshake_is_an_error_until_accepted(sub_url: str) -> None:
    async def body(store: FhirStore, receiver: Receiver) -> None:
        receiver.answer = 403
        sub = await store.create(subscription("alert-raised", endpoint=receiver.url))
        await store.create(
            {
                "resourceType": "Flag",
                "status": "active",
                "code": {"text": "Sốt xuất huyết"},
                "subject": {"reference": "Patient/p1"},
            }
        )
        assert await deliver(store, sub.res_id) == "handshake failed"
        assert await sub_status(store, sub.res_id) == ("error", "the endpoint answered HTTP 403")
        receiver.answer = 200
        await asyncio.sleep(0.15)
        assert await deliver(store, sub.res_id) == "sent 1"
        assert [n.kind for n in receiver.received] == ["handshake", "handshake", "event-notification"]
        assert await sub_status(store, sub.res_id) == ("active", None)

    run(sub_url, body)


def test_heartbeat_when_due_and_old_events_dropped(sub_url: str) -> None:
    async def body(store: FhirStore, receiver: Receiver) -> None:
        sub = await store.create(
            subscription("encounter-finished", endpoint=receiver.url, heartbeat=1, content="empty")
        )
        await deliver(store, sub.res_id)
        assert await heartbeat(store, sub.res_id) == "not due"
        await asyncio.sleep(1.0)
        assert await heartbeat(store, sub.res_id) == "sent"
        beat = receiver.of_kind("heartbeat")[0]
        assert beat.param("topic") is None and beat.param("events-since-subscription-start") == "0"  # empty
        await receiver.stop()
        await store.create(encounter("finished"))
        await store.create(encounter("finished"))
        assert await deliver(store, sub.res_id) == "failed"
        configure(max_age_s=0.2)
        await asyncio.sleep(0.5)
        await store.create(encounter("finished"))  # young: still delivered
        await receiver.start()
        assert await deliver(store, sub.res_id) == "sent 1"
        assert receiver.numbers() == [3]
        report = await sweep(store)
        assert report["dropped_events"] >= 2

    run(sub_url, body)
