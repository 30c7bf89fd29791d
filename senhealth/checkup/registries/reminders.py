"""Reminders to registered patients through an SMS or messaging gateway reached by a webhook.

Spec of the transport: an HTTP POST with a JSON body (RFC 9110 §9.3.3, RFC 8259); a 2xx answer means the
gateway took the message. The HTTP client is httpx (https://www.python-httpx.org/); redirects are not
followed. Body::

    {"to": "0912345678", "text": "Kính gửi ...", "language": "vi", "patient": "Patient/<id>",
     "reference": "<idempotency key>"}

with ``Authorization: Bearer <token>`` when ``SENHEALTH_CHECKUP_REMINDER_WEBHOOK_TOKEN`` is set. The
``reference`` is the same on every attempt of one reminder, so a gateway can drop a repeat.

Delivery goes through the job queue (:mod:`senhealth.checkup.tasks`, task ``checkup.remind``): one job per
attempt; a failed attempt queues the next one after ``reminder_backoff_s · 2^(attempt-1)`` seconds (at most
``reminder_backoff_max_s``) until ``reminder_attempts`` attempts have failed. :func:`queue_overdue_reminders`
queues a reminder for every patient of a station's ``overdue`` worklist who has a phone number (one waiting
reminder per patient, registry and day: calling it twice while the first is queued queues nothing more).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, runtime_checkable

import httpx

from senhealth.checkup.assessment.patient_record import VN_TZ
from senhealth.checkup.registries.config import get_config
from senhealth.checkup.registries.worklist import WorklistItem, worklist
from senhealth.core.errors import SenHealthError
from senhealth.core.queue import AlreadyQueued, enqueue
from senhealth.fhir.store import FhirStore, NotFound

__all__ = [
    "REMIND_TASK",
    "ReminderFailed",
    "ReminderSender",
    "WebhookReminderSender",
    "install_reminder_sender",
    "overdue_text",
    "queue_overdue_reminders",
    "queue_reminder",
    "reminder_sender",
]

REMIND_TASK: Final = "checkup.remind"


class ReminderFailed(SenHealthError):
    """The gateway could not be reached or refused the message (the attempt is retried)."""

    code = "exception"
    status = 502


@runtime_checkable
class ReminderSender(Protocol):
    """Sends one text message; raises :class:`ReminderFailed` when it was not accepted."""

    async def send(self, to_phone: str, text_vi: str, *, extra: Mapping[str, str] | None = None) -> None: ...


class WebhookReminderSender:
    """POSTs each reminder as JSON to ``url``."""

    def __init__(self, url: str, *, token: str = "", timeout_s: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the reminder webhook URL must be http(s): {url!r}")
        self.url = url
        self.token = token
        self.timeout_s = timeout_s

    async def send(self, to_phone: str, text_vi: str, *, extra: Mapping[str, str] | None = None) -> None:
        body: dict[str, Any] = {"to": to_phone, "text": text_vi, "language": "vi", **(extra or {})}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
                response = await client.post(self.url, json=body, headers=headers)
        except httpx.HTTPError as e:
            raise ReminderFailed(
                f"the reminder gateway could not be reached: {type(e).__name__} {e}"
            ) from None
        if not 200 <= response.status_code < 300:
            raise ReminderFailed(f"the reminder gateway answered HTTP {response.status_code}")


_installed: ReminderSender | None = None


def install_reminder_sender(sender: ReminderSender | None) -> None:
    """Use ``sender`` in this process (None: the webhook of the settings, if any)."""
    global _installed
    _installed = sender


def reminder_sender() -> ReminderSender | None:
    """The installed sender, else a webhook sender for ``reminder_webhook_url``, else None (not configured)."""
    if _installed is not None:
        return _installed
    config = get_config()
    if not config.reminder_webhook_url:
        return None
    return WebhookReminderSender(
        config.reminder_webhook_url, token=config.reminder_webhook_token, timeout_s=config.reminder_timeout_s
    )


def overdue_text(item: WorklistItem, station: str) -> str:
    """The Vietnamese reminder of an overdue follow-up visit (no diagnosis in it: an SMS may be read by others)."""
    name = item.name or "ông/bà"
    place = station or "trạm y tế xã"
    return (
        f"Kính gửi {name}: đã đến lịch khám định kỳ của ông/bà tại {place}. "
        "Xin mời ông/bà đến khám trong thời gian sớm nhất. Xin cảm ơn."
    )


async def queue_reminder(
    to_phone: str, text_vi: str, *, reference: str, patient: str = "", attempt: int = 1, delay_s: float = 0.0
) -> int | None:
    """Queue one reminder attempt (``reference``: the reminder's idempotency key; one waiting job per key).
    Returns the job id, or None when one is already waiting."""
    run_at = None
    if delay_s > 0:
        run_at = datetime.now(UTC) + timedelta(seconds=delay_s)
    args = {"to": to_phone, "text": text_vi, "reference": reference, "patient": patient, "attempt": attempt}
    try:
        return await enqueue(REMIND_TASK, args, run_at=run_at, dedupe_key=f"checkup-remind:{reference}")
    except AlreadyQueued:
        return None


async def _station_name(store: FhirStore, org: str) -> str:
    with contextlib.suppress(NotFound):
        stored = await store.read("Organization", org)
        if stored.content is not None and isinstance(stored.content.get("name"), str):
            return str(stored.content["name"])
    return ""


async def queue_overdue_reminders(
    store: FhirStore, organization_id: str, *, now: datetime | None = None
) -> int:
    """Queue a reminder for every overdue patient of the station with a phone number; how many were queued."""
    at = now or datetime.now(UTC)
    items = await worklist(store, organization_id, "overdue", now=at)
    station = await _station_name(store, organization_id.removeprefix("Organization/"))
    day = at.astimezone(VN_TZ).date().isoformat()
    queued = 0
    for item in items:
        if not item.phone:
            continue
        reference = f"overdue:{item.patient_id}:{item.registry}:{day}"
        job = await queue_reminder(
            item.phone, overdue_text(item, station), reference=reference, patient=f"Patient/{item.patient_id}"
        )
        queued += job is not None
    return queued
