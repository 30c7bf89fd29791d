"""Reminders through the webhook: delivered to a real HTTP receiver on loopback, retried through the job
queue after a failure, given up after the configured attempts; Vietnamese text; overdue patients only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from checkup_record_support import NOW, condition, encounter, organization, patient, run
from loopback_support import Receiver

import senhealth.checkup.tasks  # noqa: F401  (registers the tasks in this process)
from senhealth.checkup.registries import (
    ReminderFailed,
    WebhookReminderSender,
    configure,
    enrol,
    get_config,
    install_reminder_sender,
    queue_overdue_reminders,
)
from senhealth.checkup.registries.reminders import REMIND_TASK
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.jobs.worker import run_worker


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    saved = get_config().model_dump()
    install_reminder_sender(None)
    try:
        yield schema_url
    finally:
        configure(**saved)
        install_reminder_sender(None)


async def remind_jobs(store: FhirStore) -> list[tuple[str, dict[str, Any]]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status::text, args FROM procrastinate_jobs WHERE task_name = %s ORDER BY id",
            (REMIND_TASK,),
        )
        return [(s, a) for s, a in await cur.fetchall()]


async def work_until(store: FhirStore, done: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        await run_worker(wait=False, install_signal_handlers=False)
        if await done():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout} s: {await remind_jobs(store)}")
        await asyncio.sleep(0.1)


async def overdue_station(store: FhirStore) -> tuple[str, str]:
    org = (await store.create(organization("Trạm Y tế xã Đông"))).res_id
    with_phone = (
        await store.create(patient(66, "male", org=org, phone="0912000002", name="Hoàng Văn Bảo"))
    ).res_id
    no_phone = (await store.create(patient(64, "female", org=org, name="Đinh Thị Hà"))).res_id
    recent = (
        await store.create(patient(58, "male", org=org, phone="0912000003", name="Lý Văn Cường"))
    ).res_id
    for pid, seen in ((with_phone, 45), (no_phone, 50), (recent, 5)):
        await store.create(condition(pid, "I10"))
        await store.create(encounter(pid, seen, org))
        await enrol(store, pid, now=NOW.replace(month=1))
    return org, with_phone


def test_overdue_reminder_is_delivered_after_a_failed_attempt(url: str) -> None:
    async def body(store: FhirStore) -> None:
        receiver = Receiver(path="/sms", answers=[500])
        await receiver.start()
        try:
            configure(
                reminder_webhook_url=receiver.url,
                reminder_webhook_token="tok-123",
                reminder_backoff_s=0.2,
                reminder_attempts=3,
            )
            org, pid = await overdue_station(store)
            assert await queue_overdue_reminders(store, org, now=NOW) == 1
            assert await queue_overdue_reminders(store, org, now=NOW) == 0  # one waiting already

            async def delivered() -> bool:
                return any(r.answered == 200 for r in receiver.received)

            await work_until(store, delivered)
        finally:
            await receiver.stop()
        first, second = receiver.received
        assert (first.answered, second.answered) == (500, 200)
        assert first.body == second.body
        body_ = second.body
        assert body_["to"] == "0912000002" and body_["language"] == "vi"
        assert body_["patient"] == f"Patient/{pid}" and body_["reference"].startswith(
            f"overdue:{pid}:hypertension:"
        )
        assert body_["text"].startswith("Kính gửi Hoàng Văn Bảo: đã đến lịch khám định kỳ")
        assert "Trạm Y tế xã Đông" in body_["text"] and "huyết áp" not in body_["text"]
        assert second.headers["authorization"] == "Bearer tok-123"
        assert [(s, a["attempt"]) for s, a in await remind_jobs(store)] == [("failed", 1), ("succeeded", 2)]

    run(url, body)


def test_the_reminder_fails_for_good_after_the_last_attempt(url: str) -> None:
    async def body(store: FhirStore) -> None:
        receiver = Receiver(path="/sms", answers=[503, 500, 200])
        await receiver.start()
        try:
            configure(reminder_webhook_url=receiver.url, reminder_backoff_s=0.1, reminder_attempts=2)
            org, _ = await overdue_station(store)
            assert await queue_overdue_reminders(store, org, now=NOW) == 1

            async def finished() -> bool:
                return [s for s, _ in await remind_jobs(store)] == ["failed", "failed"]

            await work_until(store, finished)
            await asyncio.sleep(0.3)
            await run_worker(wait=False, install_signal_handlers=False)
        finally:
            await receiver.stop()
        assert [r.answered for r in receiver.received] == [503, 500]  # no third attempt
        assert len(await remind_jobs(store)) == 2

    run(url, body)


def test_no_gateway_configured_fails_the_job_without_retries(url: str) -> None:
    async def body(store: FhirStore) -> None:
        configure(reminder_webhook_url="")
        org, _ = await overdue_station(store)
        assert await queue_overdue_reminders(store, org, now=NOW) == 1
        await run_worker(wait=False, install_signal_handlers=False)
        assert [s for s, _ in await remind_jobs(store)] == ["failed"]

    run(url, body)


def test_the_webhook_sender_reports_an_unreachable_gateway() -> None:
    async def main() -> None:
        receiver = Receiver(path="/sms")
        await receiver.start()
        sender = WebhookReminderSender(receiver.url, timeout_s=5)
        await sender.send("0900000000", "Xin chào")
        assert receiver.received[0].body == {"to": "0900000000", "text": "Xin chào", "language": "vi"}
        assert "authorization" not in receiver.received[0].headers
        await receiver.stop()
        with pytest.raises(ReminderFailed, match="could not be reached"):
            await sender.send("0900000000", "Xin chào")

    asyncio.run(main())
    with pytest.raises(ValueError, match="http"):
        WebhookReminderSender("ftp://example.invalid/sms")
