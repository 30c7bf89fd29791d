"""Telling people about alerts: e-mail (SMTP) and a webhook, through the job queue with retries.

Spec of the transports: SMTP, RFC 5321, with STARTTLS (RFC 3207) or implicit TLS, and AUTH when a user is
configured, through the standard library's :mod:`smtplib` and :mod:`email.message` (run in a thread: one
message per attempt, no library needed); the webhook is an HTTP POST of JSON (RFC 9110 §9.3.3, RFC 8259)
with httpx (https://www.python-httpx.org/), redirects not followed, a 2xx answer meaning accepted, and
``Authorization: Bearer <token>`` when ``SENHEALTH_ALERTS_WEBHOOK_TOKEN`` is set.

What is sent (:func:`messages_for`): a new signal to the duty desk (``signal_emails``); an assignment to
the assigned officer (the ``email`` of their Practitioner's ``telecom``); an escalation to the level's
recipients (``escalation_levels``) and the owner. The webhook gets every one of them and every other step,
as JSON::

    {"event": "escalated", "alert": "Task/<id>", "step": "verification", "level": 1, "disease": "A90",
     "area": "70101", "week": "2026-W07", "method": "ears-c2", "observed": 14, "expected": 3.2,
     "upperbound": 9.1, "owner": "Practitioner/<id>", "due": "...", "text": "...", "reference": "<key>"}

``reference`` is the same on every attempt of one notification, so a receiver can drop a repeat.

Delivery (:mod:`.tasks`, task ``surveillance.alert_notify``): one job per attempt, queued in the
transaction that recorded the step (no step, no message; no message lost if the step committed); a failed
attempt queues the next after ``notify_backoff_s · 2^(attempt-1)`` seconds (at most ``notify_backoff_max_s``)
until ``notify_attempts`` attempts have failed, so every attempt is visible in the job list.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from typing import Any, Final, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import httpx
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.core.errors import SenHealthError
from senhealth.core.queue import AlreadyQueued, enqueue
from senhealth.surveillance.alerts.config import AlertConfig, get_config
from senhealth.surveillance.alerts.model import Alert

__all__ = [
    "NOTIFY_TASK",
    "Notification",
    "NotificationFailed",
    "Notifier",
    "SmtpNotifier",
    "WebhookNotifier",
    "install_notifier",
    "messages_for",
    "notifier",
    "queue_notification",
    "queue_notifications",
]

NOTIFY_TASK: Final = "surveillance.alert_notify"
VN_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")
CHANNELS: Final = ("email", "webhook")

_SUBJECTS: Final[dict[str, tuple[str, str]]] = {
    "signal-opened": ("Tín hiệu dịch mới", "New outbreak signal"),
    "assigned": ("Được phân công xác minh tín hiệu", "You are assigned to verify a signal"),
    "escalated": ("Quá hạn xử lý tín hiệu", "Overdue outbreak signal"),
    "step": ("Cập nhật cảnh báo", "Alert updated"),
}


class NotificationFailed(SenHealthError):
    """The relay or receiver could not be reached or refused the message (the attempt is retried)."""

    code = "exception"
    status = 502


@dataclass(frozen=True, slots=True)
class Notification:
    """One message: ``to`` e-mail addresses (e-mail), ``payload`` (the webhook's JSON body)."""

    channel: str  # "email" | "webhook"
    reference: str
    subject: str
    text: str
    to: tuple[str, ...] = ()
    payload: Mapping[str, Any] = field(default_factory=dict)

    def to_args(self, attempt: int = 1) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "reference": self.reference,
            "subject": self.subject,
            "text": self.text,
            "to": list(self.to),
            "payload": dict(self.payload),
            "attempt": attempt,
        }

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Notification:
        return cls(
            str(args["channel"]),
            str(args["reference"]),
            str(args.get("subject") or ""),
            str(args.get("text") or ""),
            tuple(str(t) for t in args.get("to") or ()),
            dict(args.get("payload") or {}),
        )


@runtime_checkable
class Notifier(Protocol):
    """Delivers one notification; raises :class:`NotificationFailed` when it was not accepted."""

    async def send(self, message: Notification) -> None: ...


class SmtpNotifier:
    """Sends e-mail through an SMTP relay (standard library, in a worker thread)."""

    def __init__(self, config: AlertConfig) -> None:
        if not config.smtp_host:
            raise ValueError("no SMTP host is configured (SENHEALTH_ALERTS_SMTP_HOST)")
        self.config = config

    def _send(self, message: Notification) -> None:
        c = self.config
        # compat32's Header: it keeps the spaces between RFC 2047 encoded words when it folds a long
        # Vietnamese subject (the default policy's folder drops them)
        mail = MIMEText(message.text, "plain", "utf-8")
        mail["From"] = c.smtp_from
        mail["To"] = ", ".join(message.to)
        mail["Subject"] = Header(message.subject, "utf-8")  # type: ignore[assignment]
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=c.smtp_from.rpartition("@")[2] or None)
        mail["X-Senhealth-Reference"] = message.reference
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if c.smtp_ssl:
            smtp = smtplib.SMTP_SSL(c.smtp_host, c.smtp_port, timeout=c.smtp_timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.smtp_timeout_s)
        with smtp:
            if c.smtp_starttls and not c.smtp_ssl:
                smtp.starttls(context=context)
            if c.smtp_username:
                smtp.login(c.smtp_username, c.smtp_password)
            refused = smtp.send_message(mail)
        if refused:
            raise NotificationFailed(f"the SMTP relay refused {', '.join(sorted(refused))}")

    async def send(self, message: Notification) -> None:
        if not message.to:
            return
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as e:
            raise NotificationFailed(f"e-mail not sent: {type(e).__name__} {e}") from None


class WebhookNotifier:
    """POSTs each notification's payload as JSON to ``url``."""

    def __init__(self, url: str, *, token: str = "", timeout_s: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the alert webhook URL must be http(s): {url!r}")
        self.url = url
        self.token = token
        self.timeout_s = timeout_s

    async def send(self, message: Notification) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
                response = await client.post(self.url, json=dict(message.payload), headers=headers)
        except httpx.HTTPError as e:
            raise NotificationFailed(
                f"the alert webhook could not be reached: {type(e).__name__} {e}"
            ) from None
        if not 200 <= response.status_code < 300:
            raise NotificationFailed(f"the alert webhook answered HTTP {response.status_code}")


_installed: dict[str, Notifier] = {}


def install_notifier(channel: str, sender: Notifier | None) -> None:
    """Use ``sender`` for ``channel`` in this process (None: the one the settings describe)."""
    if channel not in CHANNELS:
        raise ValueError(f"channel {channel!r}: one of {', '.join(CHANNELS)}")
    if sender is None:
        _installed.pop(channel, None)
    else:
        _installed[channel] = sender


def notifier(channel: str) -> Notifier | None:
    """The installed notifier of ``channel``, else the configured one, else None (not configured)."""
    if channel in _installed:
        return _installed[channel]
    config = get_config()
    if channel == "email":
        return SmtpNotifier(config) if config.smtp_host else None
    if channel == "webhook" and config.webhook_url:
        return WebhookNotifier(
            config.webhook_url, token=config.webhook_token, timeout_s=config.webhook_timeout_s
        )
    return None


def _configured(channel: str) -> bool:
    config = get_config()
    if channel in _installed:
        return True
    return bool(config.smtp_host) if channel == "email" else bool(config.webhook_url)


def _local(when: datetime | None) -> str:
    return when.astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y") if when else "—"


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _text(event: str, alert: Alert, *, level: int | None, note: str) -> str:
    vi, en = _SUBJECTS[event]
    config = get_config()
    lines = [
        f"{vi} / {en}",
        "",
        f"Bệnh / disease: {alert.disease_display} ({alert.disease})",
        f"Địa bàn / area: {alert.area_display} ({alert.area})",
        f"Tuần / week: {alert.week}   Phương pháp / method: {alert.method}",
        f"Số ca / observed: {_fmt(alert.observed)}   Kỳ vọng / expected: {_fmt(alert.expected)}   "
        f"Ngưỡng / threshold: {_fmt(alert.upperbound)}",
        f"Bước / step: {alert.step.value}   Hạn / due: {_local(alert.due)}",
    ]
    if level is not None:
        lines.append(f"Cấp nhắc / escalation level: {level}")
    if alert.owner:
        who = (alert.content.get("owner") or {}).get("display") or alert.owner
        lines.append(f"Người xác minh / verifying officer: {who}")
    if note:
        lines.append(f"Ghi chú / note: {note}")
    if config.page_url:
        lines += ["", f"{config.page_url.rstrip('/')}/{alert.id}"]
    lines += [
        "",
        "Tín hiệu là cảnh báo sớm, chưa phải ổ dịch: cần xác minh. / A signal is not yet an outbreak.",
    ]
    return "\n".join(lines)


def messages_for(
    event: str,
    alert: Alert,
    *,
    emails: Sequence[str] = (),
    level: int | None = None,
    note: str = "",
    reference: str,
) -> list[Notification]:
    """The notifications of ``event`` (``signal-opened``, ``assigned``, ``escalated``, ``step``) about
    ``alert``: an e-mail to ``emails`` (when there are any) and the webhook's JSON, on configured channels."""
    vi, en = _SUBJECTS[event]
    subject = f"[Sen Health] {vi}: {alert.disease_display} – {alert.area_display}, {alert.week} / {en}"
    text = _text(event, alert, level=level, note=note)
    out: list[Notification] = []
    recipients = tuple(dict.fromkeys(e.strip() for e in emails if e and e.strip()))
    if recipients and _configured("email"):
        out.append(Notification("email", reference, subject, text, recipients))
    if _configured("webhook"):
        payload: dict[str, Any] = {
            "event": event,
            "alert": alert.reference,
            "step": alert.step.value,
            "disease": alert.disease,
            "area": alert.area,
            "week": alert.week,
            "method": alert.method,
            "observed": alert.observed,
            "expected": alert.expected,
            "upperbound": alert.upperbound,
            "owner": alert.owner,
            "due": alert.due.isoformat() if alert.due else None,
            "text": text,
            "reference": reference,
        }
        if level is not None:
            payload["level"] = level
        out.append(Notification("webhook", reference, subject, text, (), payload))
    return out


async def queue_notification(
    message: Notification,
    *,
    attempt: int = 1,
    delay_s: float = 0.0,
    conn: AsyncConnection[TupleRow] | None = None,
) -> int | None:
    """Queue one attempt (one waiting job per channel and reference); the job id, or None if one waits."""
    run_at = datetime.now(UTC) + timedelta(seconds=delay_s) if delay_s > 0 else None
    try:
        return await enqueue(
            NOTIFY_TASK,
            message.to_args(attempt),
            conn=conn,
            run_at=run_at,
            dedupe_key=f"alert-notify:{message.channel}:{message.reference}",
        )
    except AlreadyQueued:
        return None


async def queue_notifications(messages: Sequence[Notification], conn: AsyncConnection[TupleRow]) -> list[int]:
    """Queue ``messages`` in the caller's transaction; the ids of the jobs queued."""
    ids = []
    for message in messages:
        job = await queue_notification(message, conn=conn)
        if job is not None:
            ids.append(job)
    return ids
