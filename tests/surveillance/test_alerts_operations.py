"""The alert operations through the FHIR REST API with the platform's role policy and audit log: a CDC
officer triages and assigns, only the assigned officer verifies, response actions and closure; other roles
are refused, the Task cannot be changed around the workflow, every step is in the history and the audit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest
from alerts_support import NOW, dengue, practitioner

from senhealth.api import create_app
from senhealth.core.config import Settings
from senhealth.core.db import close_pool, open_pool
from senhealth.core.migrate import migrate
from senhealth.fhir import access
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore
from senhealth.security.audit import PostgresAuditSink
from senhealth.security.policy import RolePolicy
from senhealth.surveillance.alerts import (
    configure,
    get_config,
    open_signal,
    register_alert_operations,
    unregister_alert_operations,
)

JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def url(schema_url: str) -> Iterator[str]:
    migrate(schema_url)
    saved = get_config().model_dump()
    configure(webhook_url="", smtp_host="")
    access.install(policy=RolePolicy(), sink=PostgresAuditSink())
    register_alert_operations()
    try:
        yield schema_url
    finally:
        unregister_alert_operations()
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)
        configure(**saved)


def params(**values: Any) -> dict[str, Any]:
    out = []
    for name, value in values.items():
        key = {"owner": "valueReference", "actionTask": "valueReference", "due": "valueDateTime"}.get(
            name, "valueString"
        )
        out.append({"name": name, key: {"reference": value} if key == "valueReference" else value})
    return {"resourceType": "Parameters", "parameter": out}


def test_the_verification_workflow_through_the_api(url: str) -> None:
    tokens: dict[str, Principal] = {}

    async def authenticate(headers: Mapping[str, str]) -> Principal | None:
        value = headers.get("authorization", "")
        return tokens.get(value.removeprefix("Bearer ")) if value else None

    async def main() -> None:
        await open_pool(url, max_size=6)
        try:
            store = FhirStore()
            lan = (await store.create(practitioner("Trần Thị Lan", "lan@cdc.example.vn"))).res_id
            minh = (await store.create(practitioner("Lê Văn Minh"))).res_id
            opened = await open_signal(store, dengue(), now=NOW)
            assert opened is not None
            other = (
                await store.create({"resourceType": "Task", "status": "requested", "intent": "order"})
            ).res_id
            tokens.update(
                minh=Principal(
                    "user", "cdc-minh", frozenset({"cdc_officer"}), practitioner=f"Practitioner/{minh}"
                ),
                lan=Principal(
                    "user", "cdc-lan", frozenset({"cdc_officer"}), practitioner=f"Practitioner/{lan}"
                ),
                doctor=Principal("user", "bs-an", frozenset({"doctor"}), facility="Organization/f1"),
                province=Principal("user", "so-yte", frozenset({"provincial_officer"})),
            )
            app = create_app(Settings(database_url=url), authenticate=authenticate)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                    await scenario(c, store, opened.alert.id, lan, other)
        finally:
            await close_pool()

    async def scenario(c: httpx.AsyncClient, store: FhirStore, aid: str, lan: str, other: str) -> None:
        def post(who: str, op: str, body: dict[str, Any], target: str = aid) -> Any:
            return c.post(
                f"/fhir/Task/{target}/$alert-{op}",
                json=body,
                headers={**JSON, "Authorization": f"Bearer {who}"},
            )

        r = await post("doctor", "triage", params(decision="verify"))
        assert r.status_code == 403, r.text
        r = await post("province", "triage", params(decision="verify"))
        assert r.status_code == 403, r.text
        r = await c.get(
            f"/fhir/Task/{aid}/$alert-triage?decision=verify", headers={"Authorization": "Bearer minh"}
        )
        assert r.status_code == 405
        r = await post("minh", "triage", params(decision="maybe"))
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
        r = await post("minh", "triage", params(decision="verify", note="cụm ca ở ấp 3"))
        assert r.status_code == 200, r.text
        step = {p["name"]: p for p in r.json()["parameter"]}
        assert step["step"]["valueCode"] == "triaged" and step["alert"]["resource"]["status"] == "accepted"
        r = await post("minh", "triage", params(decision="verify"))
        assert r.status_code == 409  # already triaged
        due = (NOW + timedelta(days=400)).isoformat()
        r = await post("minh", "assign", params(owner=f"Practitioner/{lan}", due=due))
        assert r.status_code == 200, r.text
        r = await post("minh", "verify", params(outcome="confirmed", note="đã gọi trạm"))
        assert r.status_code == 403 and "assigned officer" in r.text
        r = await post("lan", "verify", params(outcome="confirmed", note="5 ca NS1 dương tính"))
        assert r.status_code == 200, r.text
        r = await post("lan", "respond", params(action="Phun hóa chất diệt muỗi ấp 3"))
        assert r.status_code == 200, r.text
        action = {p["name"]: p for p in r.json()["parameter"]}["action"]["resource"]
        assert action["partOf"] == [{"reference": f"Task/{aid}"}] and action["status"] == "requested"
        r = await post("minh", "close", params(reason="event-over", note="hết ca"))
        assert r.status_code == 409 and "still open" in r.text
        r = await post("lan", "respond", params(actionTask=f"Task/{action['id']}", status="completed"))
        assert r.status_code == 200, r.text
        r = await post("minh", "close", params(reason="event-over", note="2 chu kỳ ủ bệnh không có ca mới"))
        assert r.status_code == 200, r.text
        assert {p["name"]: p for p in r.json()["parameter"]}["step"]["valueCode"] == "closed"
        r = await post("minh", "close", params(reason="event-over", note="lần nữa"))
        assert r.status_code == 409
        r = await post("minh", "triage", params(decision="verify"), target=other)
        assert r.status_code == 404  # a Task that is not an alert

        # the workflow is the only way to change an alert: a CDC officer may not PUT the Task
        task = (await c.get(f"/fhir/Task/{aid}", headers={"Authorization": "Bearer minh"})).json()
        task["status"] = "requested"
        r = await c.put(f"/fhir/Task/{aid}", json=task, headers={**JSON, "Authorization": "Bearer minh"})
        assert r.status_code == 403
        history = (await c.get(f"/fhir/Task/{aid}/_history", headers={"Authorization": "Bearer minh"})).json()
        steps = [e["resource"]["businessStatus"]["coding"][0]["code"] for e in history["entry"]]
        assert steps[::-1] == ["signal", "triaged", "verification", "event", "response", "response", "closed"]

        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT query, principal_subject FROM audit_event WHERE res_id = %s AND query LIKE 'alert-%%' "
                "ORDER BY seq",
                (aid,),
            )
            rows = await cur.fetchall()
        assert rows == [
            ("alert-signal-opened", None), ("alert-triage", "cdc-minh"), ("alert-assign", "cdc-minh"),
            ("alert-verify", "cdc-lan"), ("alert-respond", "cdc-lan"), ("alert-respond", "cdc-lan"),
            ("alert-close", "cdc-minh"),
        ]  # fmt: skip

    asyncio.run(main())
