"""The shipped topics (what fires them), their R4 Basic form, filter criteria and notification shapes:
pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from subscriptions_support import ACT, encounter

from senhealth.fhir.store.hooks import Write
from senhealth.fhir.subscriptions.filter_criteria import FilterError, matches, parse_filters
from senhealth.fhir.subscriptions.notification import notification_bundle, status_parameters
from senhealth.fhir.subscriptions.state import EventRow
from senhealth.fhir.subscriptions.topic import XVER
from senhealth.fhir.subscriptions.topics import (
    ALERT_RAISED,
    CONSULT_COMPLETED,
    CONSULT_REQUESTED,
    ENCOUNTER_FINISHED,
    PATIENT_ADMITTED,
    TOPICS,
    topic_by_url,
)
from senhealth.fhir.validation import validation_issues

SNOMED = "http://snomed.info/sct"


def w(content: dict[str, Any] | None, previous: dict[str, Any] | None = None, interaction: str = "") -> Write:
    focus = content or previous
    assert focus is not None
    kind = interaction or ("create" if previous is None else "delete" if content is None else "update")
    return Write(kind, focus["resourceType"], focus.get("id", "x"), 1, content, previous)  # type: ignore[arg-type]


def consult(status: str, category: str = "11429006") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": status,
        "intent": "order",
        "category": [{"coding": [{"system": SNOMED, "code": category}]}],
        "subject": {"reference": "Patient/p1"},
        "performer": [{"reference": "Organization/bv-tinh"}],
    }


@pytest.mark.parametrize(
    ("topic", "write", "fires"),
    [
        (PATIENT_ADMITTED, w(encounter("in-progress", "IMP")), True),
        (PATIENT_ADMITTED, w(encounter("in-progress", "ACUTE")), True),
        (PATIENT_ADMITTED, w(encounter("in-progress", "AMB")), False),
        (PATIENT_ADMITTED, w(encounter("planned", "IMP")), False),
        (PATIENT_ADMITTED, w(encounter("in-progress", "IMP"), encounter("planned", "IMP")), True),
        (PATIENT_ADMITTED, w(encounter("in-progress", "IMP"), encounter("in-progress", "IMP")), False),
        (PATIENT_ADMITTED, w(None, encounter("in-progress", "IMP")), False),
        (ENCOUNTER_FINISHED, w(encounter("finished", "AMB")), True),
        (ENCOUNTER_FINISHED, w(encounter("finished"), encounter("in-progress")), True),
        (ENCOUNTER_FINISHED, w(encounter("finished"), encounter("finished")), False),
        (ENCOUNTER_FINISHED, w(encounter("cancelled"), encounter("in-progress")), False),
        (CONSULT_REQUESTED, w(consult("active")), True),
        (CONSULT_REQUESTED, w(consult("active", "108252007")), False),  # a lab request, not a consult
        (CONSULT_REQUESTED, w(consult("active"), consult("draft")), True),
        (CONSULT_REQUESTED, w(consult("completed"), consult("active")), False),
        (CONSULT_COMPLETED, w(consult("completed"), consult("active")), True),
        (CONSULT_COMPLETED, w(consult("completed"), consult("completed")), False),
        (ALERT_RAISED, w({"resourceType": "Flag", "status": "active"}), True),
        (ALERT_RAISED, w({"resourceType": "Flag", "status": "inactive"}), False),
        (
            ALERT_RAISED,
            w({"resourceType": "Flag", "status": "active"}, {"resourceType": "Flag", "status": "inactive"}),
            True,
        ),
        (ALERT_RAISED, w({"resourceType": "DetectedIssue", "status": "final"}), True),
        (ALERT_RAISED, w({"resourceType": "DetectedIssue", "status": "entered-in-error"}), False),
        (
            ALERT_RAISED,
            w(
                {"resourceType": "DetectedIssue", "status": "amended"},
                {"resourceType": "DetectedIssue", "status": "final"},
            ),
            False,
        ),
    ],
)
def test_what_fires_each_topic(topic: Any, write: Write, fires: bool) -> None:
    assert topic.fires(write) is fires


def test_topics_as_r4_basic_resources_validate() -> None:
    assert len(TOPICS) == 5
    for topic in TOPICS:
        basic = topic.to_basic()
        assert [i for i in validation_issues(basic) if i[0] in ("error", "fatal")] == []
        assert basic["code"]["coding"][0] == {
            "system": "http://hl7.org/fhir/fhir-types",
            "code": "SubscriptionTopic",
        }
        urls = {e["url"] for e in basic["extension"]}
        assert f"{XVER}.url" in urls and f"{XVER}.resourceTrigger" in urls and f"{XVER}.canFilterBy" in urls
        assert topic_by_url(topic.url) is topic and topic_by_url(topic.url + "|1.0.0") is topic
        assert topic.url == f"https://senhealth.vn/fhir/SubscriptionTopic/{topic.id}"
    trigger = next(
        e for e in PATIENT_ADMITTED.to_basic()["extension"] if e["url"].endswith("resourceTrigger")
    )
    parts = {p["url"]: p for p in trigger["extension"]}
    assert parts["resource"]["valueUri"] == "http://hl7.org/fhir/StructureDefinition/Encounter"
    assert "%current.status = 'in-progress'" in parts["fhirPathCriteria"]["valueString"]


def test_filter_criteria_forms_and_matching() -> None:
    topic = ENCOUNTER_FINISHED
    enc = {
        **encounter("finished", "IMP", "p7"),
        "serviceProvider": {"reference": "https://senhealth.vn/fhir/Organization/bv1"},
    }
    write = w(enc)

    def ok(*texts: str) -> bool:
        return matches(parse_filters(list(texts), topic), topic, write)

    assert ok("patient=Patient/p7") and ok("patient=p7") and ok("Encounter?patient=Patient/p7")
    assert ok("Encounter.patient=Patient/p7") and ok("patient=Patient/p1,Patient/p7")
    assert not ok("patient=Patient/p1") and not ok("patient=Group/p7")
    assert ok(f"class={ACT}|IMP") and ok("class=IMP") and not ok("class=AMB") and ok("class:not=AMB")
    assert ok("facility=Organization/bv1") and ok("Encounter?patient=p7&facility=Organization/bv1")
    assert not ok("patient=p7", "facility=Organization/bv2")  # ANDed
    alert = ALERT_RAISED
    issue = w({"resourceType": "DetectedIssue", "status": "final", "patient": {"reference": "Patient/p7"}})
    assert matches(parse_filters(["patient=p7"], alert), alert, issue)
    assert not matches(parse_filters(["patient=p8"], alert), alert, issue)
    assert matches(parse_filters(["Flag.category=xyz"], alert), alert, issue)  # about Flags only
    for bad, fragment in [
        ("colour=red", "offers no filter 'colour'"),
        ("patient", "name=value"),
        ("patient=", "no value"),
        ("patient:exact=p1", "modifier :exact"),
        ("Observation?patient=p1", "not a resource type"),
        ("Flag.class=IMP", "not a resource type"),
    ]:
        with pytest.raises(FilterError, match=fragment):
            parse_filters(["patient=p1", bad], topic)


@pytest.mark.parametrize("content", ["empty", "id-only", "full-resource"])
def test_notification_bundles_follow_the_r4_profiles(content: str) -> None:
    when = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    events = [
        EventRow(4, ENCOUNTER_FINISHED.url, "Encounter", "e1", 3, "update", "p1", when),
        EventRow(5, ENCOUNTER_FINISHED.url, "Encounter", "e2", 1, "create", "p1", when),
    ]
    base = "https://senhealth.example/fhir"
    status = status_parameters(
        "s1", base=base, topic=ENCOUNTER_FINISHED.url, status="active", kind="event-notification",
        events_since_start=5, events=events, content=content,
    )  # fmt: skip
    resources = {("Encounter", "e1", 3): {**encounter("finished", res_id="e1"), "meta": {"versionId": "3"}}}
    bundle = notification_bundle(
        status, subscription_id="s1", base=base, events=events, content=content, resources=resources
    )
    assert [i for i in validation_issues(bundle) if i[0] in ("error", "fatal")] == []
    assert bundle["type"] == "history"
    first = bundle["entry"][0]
    assert first["request"] == {"method": "GET", "url": f"{base}/Subscription/s1/$status"}
    names = [p["name"] for p in first["resource"]["parameter"]]
    assert names[:1] == ["subscription"] and names.count("notification-event") == 2
    assert ("topic" in names) is (content != "empty")
    parts = first["resource"]["parameter"][-1]["part"]
    assert parts[0] == {"name": "event-number", "valueString": "5"}
    assert parts[1] == {"name": "timestamp", "valueInstant": "2026-03-01T08:30:00.000Z"}
    if content == "empty":
        assert len(bundle["entry"]) == 1
        return
    assert parts[2] == {"name": "focus", "valueReference": {"reference": f"{base}/Encounter/e2"}}
    update, create = bundle["entry"][1:]
    assert (
        update["request"] == {"method": "PUT", "url": "Encounter/e1"}
        and update["fullUrl"] == f"{base}/Encounter/e1"
    )
    assert create["request"] == {"method": "POST", "url": "Encounter"}
    assert ("resource" in update) is (content == "full-resource")
