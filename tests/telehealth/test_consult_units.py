"""The consult pieces that need no database: the subscription topics' triggers, attachment limits,
deadlines by urgency, and who is a clinician of a consult."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from senhealth.fhir.access import Principal
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store.hooks import Write
from senhealth.telehealth.consults import (
    CONSULT_MESSAGE,
    CONSULT_TASK,
    Consult,
    caller_of,
    configure,
    get_config,
)
from senhealth.telehealth.consults.access import require_owner, side_of
from senhealth.telehealth.consults.model import (
    CONSULT_TASK_CODE,
    CONSULT_TASK_SYSTEM,
    MESSAGE_CATEGORY,
    MESSAGE_CATEGORY_SYSTEM,
    REQUESTING_FACILITY_URL,
)
from senhealth.telehealth.consults.records import checked_attachment


@pytest.fixture(autouse=True)
def _config() -> Iterator[None]:
    saved = get_config().model_dump()
    yield
    configure(**saved)


def task(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "id": "t1",
        "status": status,
        "intent": "order",
        "code": {"coding": [{"system": CONSULT_TASK_SYSTEM, "code": CONSULT_TASK_CODE}]},
        "extension": [{"url": REQUESTING_FACILITY_URL, "valueReference": {"reference": "Organization/tyt"}}],
        "focus": {"reference": "ServiceRequest/s1"},
        "owner": {"reference": "Organization/bv"},
        **extra,
    }


def write(kind: str, content: dict[str, Any], previous: dict[str, Any] | None = None) -> Write:
    return Write(kind, content["resourceType"], content["id"], 1, content, previous)  # type: ignore[arg-type]


def test_consult_task_topic_fires_on_creation_and_status_changes_only() -> None:
    assert CONSULT_TASK.fires(write("create", task("requested")))
    assert CONSULT_TASK.fires(write("update", task("accepted"), task("requested")))
    assert not CONSULT_TASK.fires(
        write("update", {**task("accepted"), "note": [{"text": "x"}]}, task("accepted"))
    )
    alert = {**task("requested"), "code": {"coding": [{"system": "other", "code": CONSULT_TASK_CODE}]}}
    assert not CONSULT_TASK.fires(write("create", alert))


def test_consult_message_topic_fires_on_new_consult_messages() -> None:
    message = {
        "resourceType": "Communication",
        "id": "c1",
        "status": "completed",
        "category": [{"coding": [{"system": MESSAGE_CATEGORY_SYSTEM, "code": MESSAGE_CATEGORY}]}],
    }
    assert CONSULT_MESSAGE.fires(write("create", message))
    assert not CONSULT_MESSAGE.fires(write("update", message, message))
    chat = {
        **message,
        "category": [{"coding": [{"system": MESSAGE_CATEGORY_SYSTEM, "code": "telehealth-room-chat"}]}],
    }
    assert not CONSULT_MESSAGE.fires(write("create", chat))


def test_attachments_are_measured_and_limited() -> None:
    configure(max_attachment_bytes=2048)
    data = base64.b64encode(b"x" * 2048).decode()
    ok = checked_attachment({"contentType": "image/jpeg", "data": data}, "attachment")
    assert ok["size"] == 2048 and base64.b64decode(ok["hash"]) and len(base64.b64decode(ok["hash"])) == 20
    with pytest.raises(OperationError) as big:
        checked_attachment({"contentType": "image/jpeg", "data": base64.b64encode(b"x" * 2049).decode()}, "a")
    assert big.value.status == 413 and "2049 bytes, the limit is 2048" in str(big.value)
    for bad in ({"contentType": "image/jpeg", "data": "%%%"}, {"data": data}, "text"):
        with pytest.raises(OperationError) as e:
            checked_attachment(bad, "attachment")
        assert e.value.status == 400


def test_deadlines_by_priority() -> None:
    c = configure(deadline_urgent_h=12)
    assert [c.deadline_hours(p) for p in ("stat", "asap", "urgent", "routine", "?")] == [1, 4, 12, 72, 72]


def test_who_takes_part() -> None:
    consult = Consult(
        task("accepted", owner={"reference": "Practitioner/bs-b"}),
        2,
        {"id": "s1", "subject": {"reference": "Patient/p"}, "performer": [{"reference": "Organization/bv"}]},
        1,
    )

    def user(facility: str, practitioner: str, roles: frozenset[str] = frozenset({"doctor"})) -> Principal:
        return Principal("user", practitioner, roles, facility=f"Organization/{facility}",
                         practitioner=f"Practitioner/{practitioner}")  # fmt: skip

    assert side_of(caller_of(user("tyt", "bs-a")), consult) == "requester"
    assert side_of(caller_of(user("bv", "bs-c")), consult) == "consultant"
    require_owner(caller_of(user("bv", "bs-b")), consult)
    for refused in (user("bv", "bs-c"), user("huyen", "bs-d")):
        with pytest.raises(OperationError) as e:
            require_owner(caller_of(refused), consult)
        assert e.value.status == 403
    for principal, status in (
        (None, 401),
        (user("tyt", "bs-a", frozenset({"cdc_officer"})), 403),
        (Principal("patient", "p", frozenset({"patient"}), patient="p"), 403),
        (Principal("user", "u", frozenset({"doctor"})), 403),
    ):
        with pytest.raises(OperationError) as e:
            caller_of(principal)
        assert e.value.status == status
