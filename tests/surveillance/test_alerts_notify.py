"""Alert notifications and escalation, delivered for real: e-mail to an SMTP server on loopback, JSON to a
webhook receiver on loopback, through the job queue (a refused attempt is retried, the last failure fails
for good); overdue alerts escalated one level at a time, each level once, recorded and audited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alerts_support import NOW, SmtpServer, dengue, practitioner, run
from loopback_support import Receiver

import senhealth.surveillance.alerts.tasks  # noqa: F401  (registers the tasks in this process)
from senhealth.core.migrate import migrate
from senhealth.core.queue import enqueue, schedule, unschedule
from senhealth.fhir import access
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.jobs.worker import run_worker
from senhealth.security.audit import PostgresAuditSink
from senhealth.surveillance.alerts import (
    Notification,
    NotificationFailed,
    SmtpNotifier,
    WebhookNotifier,
    assign,
    configure,
    escalate_overdue,
    get_config,
    install_notifier,
    open_signal,
    read_alert,
    triage,
)
from senhealth.surveillance.alerts.notify import NOTIFY_TASK
from senhealth.surveillance.alerts.tasks import ESCALATE_CRON, ESCALATE_TASK

CDC = Principal("user", "cdc-minh", frozenset({"cdc_officer"}), practitioner="Practitioner/minh")


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    saved = get_config().model_dump()
    access.install(sink=PostgresAuditSink())
    install_notifier("email", None)
    install_notifier("webhook", None)
    unschedule(ESCALATE_TASK, "every-15-min")  # the worker would escalate these past-dated alerts itself
    try:
        yield schema_url
    finally:
        schedule(ESCALATE_TASK, cron=ESCALATE_CRON, schedule_id="every-15-min")
        configure(**saved)
        access.install(sink=access.NO_AUDIT)


def transports(smtp: SmtpServer, receiver: Receiver, **more: Any) -> None:
    configure(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, smtp_from="canh-bao@cdc.example.vn",
        webhook_url=receiver.url, webhook_token="tok-alerts", notify_backoff_s=0.1, **more,
    )  # fmt: skip


async def jobs(store: FhirStore) -> list[tuple[str, dict[str, Any]]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status::text, args FROM procrastinate_jobs WHERE task_name = %s ORDER BY id",
            (NOTIFY_TASK,),
        )
        return [(s, a) for s, a in await cur.fetchall()]


async def work_until(store: FhirStore, done: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        await run_worker(wait=False, install_signal_handlers=False)
        if await done():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout} s: {await jobs(store)}")
        await asyncio.sleep(0.1)


async def all_finished(store: FhirStore) -> bool:
    return all(s in ("succeeded", "failed") for s, _ in await jobs(store))


def test_a_new_signal_is_mailed_and_posted_after_refused_attempts(url: str) -> None:
    async def body(store: FhirStore) -> None:
        smtp, receiver = SmtpServer(refuse=1), Receiver(answers=[503])
        await smtp.start()
        await receiver.start()
        try:
            transports(smtp, receiver, signal_emails=["truc-ban@cdc.example.vn", "dich-te@cdc.example.vn"])
            opened = await open_signal(store, dengue(), now=NOW)
            assert opened is not None

            async def delivered() -> bool:
                return len(smtp.mails) == 1 and any(r.answered == 200 for r in receiver.received)

            await work_until(store, delivered)
        finally:
            await smtp.stop()
            await receiver.stop()
        (mail,) = smtp.mails
        assert smtp.refused == 1 and mail.sender == "canh-bao@cdc.example.vn"
        assert mail.recipients == ["truc-ban@cdc.example.vn", "dich-te@cdc.example.vn"]
        assert mail.message["Subject"].startswith(
            "[Sen Health] Tín hiệu dịch mới: Sốt xuất huyết Dengue – Xã Tân Phú"
        )
        text = mail.message.get_content()
        assert "Số ca / observed: 14" in text and "Ngưỡng / threshold: 9.10" in text and "2026-W07" in text
        assert "Hạn / due: 08:00 17/02/2026" in text  # 24 h to triage, in Vietnam's time
        first, second = receiver.received
        assert (first.answered, second.answered) == (503, 200) and first.body == second.body
        assert second.headers["authorization"] == "Bearer tok-alerts"
        assert second.body["event"] == "signal-opened" and second.body["alert"] == f"Task/{opened.alert.id}"
        assert (second.body["observed"], second.body["expected"], second.body["upperbound"]) == (14, 3.2, 9.1)
        statuses = sorted((a["channel"], a["attempt"], s) for s, a in await jobs(store))
        assert statuses == [("email", 1, "failed"), ("email", 2, "succeeded"), ("webhook", 1, "failed"),
                            ("webhook", 2, "succeeded")]  # fmt: skip

    run(url, body)


def test_the_last_failed_attempt_fails_for_good(url: str) -> None:
    async def body(store: FhirStore) -> None:
        smtp, receiver = SmtpServer(refuse=10), Receiver(answers=[500, 500, 500])
        await smtp.start()
        await receiver.start()
        try:
            transports(smtp, receiver, signal_emails=["truc-ban@cdc.example.vn"], notify_attempts=2)
            await open_signal(store, dengue(), now=NOW)
            await work_until(store, lambda: _count_finished(store, 4))
            await asyncio.sleep(0.3)
            await run_worker(wait=False, install_signal_handlers=False)
        finally:
            await smtp.stop()
            await receiver.stop()
        assert (
            smtp.refused == 2 and smtp.mails == [] and [r.answered for r in receiver.received] == [500, 500]
        )
        assert [s for s, _ in await jobs(store)] == ["failed"] * 4

    run(url, body)


async def _count_finished(store: FhirStore, n: int) -> bool:
    return len(await jobs(store)) == n and await all_finished(store)


def test_overdue_alerts_are_escalated_once_per_level(url: str) -> None:
    async def body(store: FhirStore) -> None:
        smtp, receiver = SmtpServer(), Receiver()
        await smtp.start()
        await receiver.start()
        try:
            transports(
                smtp, receiver, escalation_levels=[["truong-khoa@cdc.example.vn"], ["giam-doc@cdc.example.vn"]],
                escalation_interval_hours=12, triage_hours=24,
            )  # fmt: skip
            opened = await open_signal(store, dengue(), now=NOW)
            assert opened is not None
            aid = opened.alert.id
            assert await escalate_overdue(store, now=NOW + timedelta(hours=23)) == []
            done = await escalate_overdue(store, now=NOW + timedelta(hours=25))
            assert [(e.step, e.level) for e in done] == [("signal", 1)]
            assert await escalate_overdue(store, now=NOW + timedelta(hours=26)) == []  # level 1 only once
            done = await escalate_overdue(store, now=NOW + timedelta(hours=37))
            assert [(e.step, e.level) for e in done] == [("signal", 2)]
            assert await escalate_overdue(store, now=NOW + timedelta(hours=90)) == []  # two levels configured
            # a new step starts again at level 1, with the assigned officer copied
            t = NOW + timedelta(hours=91)
            lan = (await store.create(practitioner("Trần Thị Lan", "lan@cdc.example.vn"))).res_id
            await triage(store, aid, "verify", principal=CDC, now=t)
            await assign(store, aid, f"Practitioner/{lan}", principal=CDC, due=t + timedelta(hours=4), now=t)
            done = await escalate_overdue(store, now=t + timedelta(hours=5))
            assert [(e.step, e.level) for e in done] == [("verification", 1)]
            alert = await read_alert(store, aid)
            assert [(e.step, e.level) for e in alert.escalations] == [
                ("signal", 1),
                ("signal", 2),
                ("verification", 1),
            ]
            assert alert.escalations[2].due == t + timedelta(hours=4)
            assert "escalated to level 1" in alert.content["note"][-1]["text"]
            await work_until(store, lambda: _count_finished(store, 10))
        finally:
            await smtp.stop()
            await receiver.stop()
        mails = [(m.message["Subject"].split(":")[0], m.recipients) for m in smtp.mails]
        assert sorted(mails) == sorted([
            ("[Sen Health] Quá hạn xử lý tín hiệu", ["truong-khoa@cdc.example.vn"]),
            ("[Sen Health] Quá hạn xử lý tín hiệu", ["giam-doc@cdc.example.vn"]),
            ("[Sen Health] Được phân công xác minh tín hiệu", ["lan@cdc.example.vn"]),
            ("[Sen Health] Quá hạn xử lý tín hiệu", ["truong-khoa@cdc.example.vn", "lan@cdc.example.vn"]),
        ])  # fmt: skip
        events = [(r.body["event"], r.body.get("level")) for r in receiver.received]
        assert sorted(events, key=str) == sorted(
            [("signal-opened", None), ("escalated", 1), ("escalated", 2), ("step", None), ("assigned", None),
             ("escalated", 1)], key=str,
        )  # fmt: skip
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT details->>'level', details->>'overdueStep' FROM audit_event "
                "WHERE query = 'alert-escalated' ORDER BY seq"
            )
            assert await cur.fetchall() == [("1", "signal"), ("2", "signal"), ("1", "verification")]

    run(url, body)


def test_the_escalation_job_runs_from_the_queue(url: str) -> None:
    async def body(store: FhirStore) -> None:
        receiver = Receiver()
        await receiver.start()
        try:
            configure(webhook_url=receiver.url, triage_hours=24, escalation_levels=[])
            opened = await open_signal(store, dengue(), now=datetime.now(UTC) - timedelta(hours=30))
            assert opened is not None
            await enqueue(ESCALATE_TASK)

            async def escalated() -> bool:
                return any(r.body["event"] == "escalated" for r in receiver.received)

            await work_until(store, escalated)
        finally:
            await receiver.stop()
        alert = await read_alert(store, opened.alert.id)
        assert [(e.step, e.level) for e in alert.escalations] == [("signal", 1)]

    run(url, body)


def test_the_senders_report_unreachable_transports() -> None:
    async def main() -> None:
        smtp = SmtpServer()
        await smtp.start()
        port = smtp.port
        configure_copy = get_config().model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port,
                                                         "smtp_starttls": False})  # fmt: skip
        message = Notification("email", "ref-1", "Chủ đề", "Nội dung tiếng Việt", ("a@cdc.example.vn",))
        await SmtpNotifier(configure_copy).send(message)
        assert smtp.mails[0].message.get_content().strip() == "Nội dung tiếng Việt"
        assert smtp.mails[0].message["X-Senhealth-Reference"] == "ref-1"
        await smtp.stop()
        with pytest.raises(NotificationFailed, match="e-mail not sent"):
            await SmtpNotifier(configure_copy).send(message)
        with pytest.raises(NotificationFailed, match="could not be reached"):
            await WebhookNotifier(f"http://127.0.0.1:{port}/hook", timeout_s=2).send(message)

    asyncio.run(main())
    with pytest.raises(ValueError, match="http"):
        WebhookNotifier("ftp://example.invalid/hook")
    with pytest.raises(ValueError, match="SMTP"):
        SmtpNotifier(get_config().model_copy(update={"smtp_host": ""}))
