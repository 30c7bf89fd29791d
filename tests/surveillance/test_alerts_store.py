"""Alerts in the store (real PostgreSQL): a detector's alarm opens one signal per disease × area × week ×
method, however often and however concurrently it is reported; the whole workflow from signal to closure,
each step a new Task version with its note, an audit event and its notifications queued in the same
transaction; refusals (wrong step, wrong officer, open response actions, a concurrent change)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from alerts_support import NOW, dengue, practitioner, run

from senhealth.core.migrate import migrate
from senhealth.fhir import access
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.security.audit import PostgresAuditSink
from senhealth.surveillance.alerts import (
    AlertNotFound,
    Step,
    WorkflowError,
    alert_history,
    assign,
    close,
    configure,
    get_config,
    open_alerts,
    open_signal,
    read_alert,
    respond,
    response_actions,
    signal_id,
    triage,
    verify,
)
from senhealth.surveillance.alerts.notify import NOTIFY_TASK, install_notifier


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    saved = get_config().model_dump()
    access.install(sink=PostgresAuditSink())
    install_notifier("email", None)
    install_notifier("webhook", None)
    configure(
        webhook_url="http://127.0.0.1:9/hook",
        smtp_host="127.0.0.1",
        smtp_port=9,
        signal_emails=["truc-ban@cdc.example.vn"],
    )
    try:
        yield schema_url
    finally:
        configure(**saved)
        access.install(sink=access.NO_AUDIT)


def officer(practitioner_id: str, subject: str = "cdc-lan") -> Principal:
    return Principal(
        "user", subject, frozenset({"cdc_officer"}), practitioner=f"Practitioner/{practitioner_id}"
    )


async def audit_rows(store: FhirStore) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT query, res_id, principal_subject, details FROM audit_event WHERE res_type = 'Task' ORDER BY seq"
        )
        return [(q, r, s, d) for q, r, s, d in await cur.fetchall()]


async def notify_jobs(store: FhirStore) -> list[dict[str, Any]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT args FROM procrastinate_jobs WHERE task_name = %s ORDER BY id", (NOTIFY_TASK,)
        )
        return [a for (a,) in await cur.fetchall()]


def test_one_signal_per_disease_area_week_method(url: str) -> None:
    async def body(store: FhirStore) -> None:
        first = await open_signal(store, dengue(), now=NOW)
        assert first is not None and first.opened
        alert = first.alert
        assert alert.id == signal_id("A90", "70101", "2026-W07", "ears-c2")
        assert (alert.step, alert.version, alert.observed, alert.upperbound) == (Step.SIGNAL, 1, 14, 9.1)
        assert alert.content["status"] == "requested"
        assert alert.due == NOW + timedelta(hours=24)  # triage within triage_hours
        again = await open_signal(store, dengue(), now=NOW)
        assert again is not None and not again.opened and not again.updated and again.alert.version == 1
        # concurrent runs of the same alarm meet on one Task
        runs = await asyncio.gather(*(open_signal(store, dengue(week="2026-W08"), now=NOW) for _ in range(6)))
        assert sum(1 for r in runs if r is not None and r.opened) == 1
        assert len({r.alert.id for r in runs if r is not None}) == 1
        # another method, commune or week is another signal; no alarm opens nothing
        other = await open_signal(store, dengue(method="farrington-flexible"), now=NOW)
        assert other is not None and other.opened and other.alert.id != alert.id
        assert await open_signal(store, dengue(commune="70102", alarm=False), now=NOW) is None
        # a re-run with new counts updates the open signal
        more = await open_signal(store, dengue(observed=19), now=NOW + timedelta(hours=1))
        assert more is not None and more.updated and more.alert.observed == 19 and more.alert.version == 2
        assert "14 → 19" in more.alert.content["note"][-1]["text"]
        assert len(await open_alerts(store)) == 3
        rows = await audit_rows(store)
        assert [q for q, *_ in rows] == ["alert-signal-opened"] * 3 + ["alert-signal-updated"]
        jobs = await notify_jobs(store)
        channels = sorted((j["channel"], j["payload"].get("event")) for j in jobs)
        assert channels.count(("email", None)) == 3  # the duty desk, once per new signal
        assert channels.count(("webhook", "signal-opened")) == 3 and ("webhook", "step") in channels
        mail = next(j for j in jobs if j["channel"] == "email")
        assert mail["to"] == ["truc-ban@cdc.example.vn"]
        assert "Sốt xuất huyết Dengue" in mail["subject"] and "Xã Tân Phú" in mail["text"]

    run(url, body)


def test_a_closed_signal_stays_closed_and_bad_results_are_refused(url: str) -> None:
    async def body(store: FhirStore) -> None:
        opened = await open_signal(store, dengue(), now=NOW)
        assert opened is not None
        await triage(store, opened.alert.id, "discard", principal=officer("p1"), note="ca nhập cảnh", now=NOW)
        rerun = await open_signal(store, dengue(observed=30), now=NOW + timedelta(hours=2))
        assert rerun is not None and not rerun.opened and not rerun.updated
        assert (
            rerun.alert.step is Step.CLOSED
            and rerun.alert.closure == "discarded"
            and rerun.alert.observed == 14
        )
        for bad in (
            dengue(week="2026-07"),
            dengue(commune="7010"),
            dengue(disease="dengue"),
            dengue(observed=-1),
        ):
            with pytest.raises(ValueError):
                await open_signal(store, bad)
        assert len(await open_alerts(store)) == 0

    run(url, body)


def test_the_whole_workflow_is_recorded_and_audited(url: str) -> None:
    async def body(store: FhirStore) -> None:
        lan = (await store.create(practitioner("Trần Thị Lan", "lan@cdc.example.vn"))).res_id
        minh = (await store.create(practitioner("Lê Văn Minh"))).res_id
        head = officer(minh, "cdc-minh")
        opened = await open_signal(store, dengue(), now=NOW)
        assert opened is not None
        aid = opened.alert.id
        t = NOW + timedelta(hours=1)
        done = await triage(store, aid, "verify", principal=head, note="cụm ca ở ấp 3", now=t)
        assert done.alert.step is Step.TRIAGED and done.alert.due == t + timedelta(hours=12)
        with pytest.raises(WorkflowError) as refused:  # not before assignment
            await verify(store, aid, "confirmed", principal=officer(lan), note="x", now=t)
        assert refused.value.status == 409
        due = t + timedelta(hours=6)
        done = await assign(store, aid, f"Practitioner/{lan}", principal=head, due=due, now=t)
        assert done.alert.owner == f"Practitioner/{lan}" and done.alert.due == due
        assert done.alert.content["owner"]["display"] == "Trần Thị Lan"
        with pytest.raises(WorkflowError) as refused:  # not the assigned officer
            await verify(store, aid, "confirmed", principal=head, note="x", now=t)
        assert refused.value.status == 403
        doctor = Principal("user", "bs", frozenset({"doctor"}), practitioner=f"Practitioner/{lan}")
        with pytest.raises(WorkflowError) as refused:  # a doctor is no CDC officer
            await assign(store, aid, f"Practitioner/{lan}", principal=doctor)
        assert refused.value.status == 403
        with pytest.raises(WorkflowError, match="needs a note"):
            await verify(store, aid, "confirmed", principal=officer(lan, "cdc-lan"), note=" ")
        done = await verify(
            store, aid, "confirmed", principal=officer(lan), note="5 ca NS1 dương tính", now=t
        )
        assert done.alert.step is Step.EVENT
        assert done.alert.content["output"][0]["valueCode"] == "confirmed"
        first = await respond(store, aid, principal=head, description="Phun hóa chất diệt muỗi", now=t)
        assert first.alert.step is Step.RESPONSE and first.action is not None
        second = await respond(store, aid, principal=head, description="Điều tra ca bệnh chủ động", now=t)
        assert second.action is not None
        with pytest.raises(WorkflowError, match="still open") as refused:
            await close(store, aid, "event-over", principal=head, note="hết ca", now=t)
        assert refused.value.status == 409
        for action in (first.action, second.action):
            await respond(
                store, aid, principal=head, action_id=f"Task/{action['id']}", status="completed", now=t
            )
        actions = await response_actions(store, aid)
        assert [a["status"] for a in actions] == ["completed", "completed"]
        assert all(a["partOf"] == [{"reference": f"Task/{aid}"}] for a in actions)
        end = t + timedelta(days=20)
        done = await close(
            store, aid, "event-over", principal=head, note="2 chu kỳ ủ bệnh không có ca mới", now=end
        )
        assert (
            done.alert.step is Step.CLOSED and done.alert.closure == "event-over" and done.alert.due is None
        )
        assert done.alert.content["status"] == "completed"
        with pytest.raises(WorkflowError):
            await respond(store, aid, principal=head, description="muộn", now=end)

        history = await alert_history(store, aid)
        steps = [a.step.value for a in history]
        assert steps == ["signal", "triaged", "verification", "event", "response", "response", "response",
                         "response", "closed"]  # fmt: skip
        assert [a.version for a in history] == list(range(1, 10))
        notes = history[-1].content["note"]
        assert len(notes) == 9 and notes[1]["authorReference"] == {"reference": f"Practitioner/{minh}"}
        assert notes[3]["authorReference"] == {"reference": f"Practitioner/{lan}"}
        assert "5 ca NS1" in notes[3]["text"]
        rows = [r for r in await audit_rows(store) if r[1] == aid]
        assert [q for q, *_ in rows] == [
            "alert-signal-opened", "alert-triage", "alert-assign", "alert-verify", "alert-respond",
            "alert-respond", "alert-respond", "alert-respond", "alert-close",
        ]  # fmt: skip
        assert [s for _, _, s, _ in rows][1:4] == ["cdc-minh", "cdc-minh", "cdc-lan"]
        assert (
            rows[3][3]["from"] == "verification"
            and rows[3][3]["to"] == "event"
            and rows[3][3]["version"] == 4
        )
        assigned = [
            j
            for j in await notify_jobs(store)
            if j["channel"] == "webhook" and j["payload"]["event"] == "assigned"
        ]
        assert len(assigned) == 1 and assigned[0]["payload"]["owner"] == f"Practitioner/{lan}"
        with pytest.raises(AlertNotFound):
            await read_alert(store, lan)

    run(url, body)


def test_duplicates_and_concurrent_officers(url: str) -> None:
    async def body(store: FhirStore) -> None:
        a = await open_signal(store, dengue(), now=NOW)
        b = await open_signal(store, dengue(method="cusum"), now=NOW)
        assert a is not None and b is not None
        who = officer("p1")
        with pytest.raises(WorkflowError, match="duplicateOf"):
            await triage(store, b.alert.id, "duplicate", principal=who)
        done = await triage(store, b.alert.id, "duplicate", principal=who, duplicate_of=f"Task/{a.alert.id}")
        assert done.alert.content["partOf"] == [{"reference": f"Task/{a.alert.id}"}]
        assert done.alert.closure == "duplicate"
        # two officers triage the same signal at once: one wins, the other is told
        results = await asyncio.gather(
            triage(store, a.alert.id, "verify", principal=who),
            triage(store, a.alert.id, "discard", principal=officer("p2", "cdc-2")),
            return_exceptions=True,
        )
        wins = [r for r in results if not isinstance(r, BaseException)]
        assert len(wins) == 1
        loser = next(r for r in results if isinstance(r, BaseException))
        assert type(loser).__name__ in ("WorkflowError", "VersionConflict")
        assert len(await alert_history(store, a.alert.id)) == 2

    run(url, body)
