"""Settings of the outbreak alerts (``SENHEALTH_ALERTS_*`` environment variables).

Its own pydantic-settings class (https://docs.pydantic.dev/latest/concepts/pydantic_settings/), beside the
platform's :class:`senhealth.core.config.Settings`, as the check-up registries do: how long each step of the
workflow may take before it is overdue, who is told of new signals and of escalations, the SMTP relay, the
webhook, and the retries of a notification. :func:`get_config` is cached per process; :func:`configure`
replaces values (tests, the app at start-up).

List values are JSON in the environment (pydantic-settings), for example
``SENHEALTH_ALERTS_SIGNAL_EMAILS='["truc-ban@cdc.example.vn"]'`` and
``SENHEALTH_ALERTS_ESCALATION_LEVELS='[["truongkhoa@cdc.example.vn"], ["giamdoc@cdc.example.vn"]]'``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AlertConfig", "configure", "get_config"]


class AlertConfig(BaseSettings):
    """Every value has an environment variable ``SENHEALTH_ALERTS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_ALERTS_", extra="ignore")

    triage_hours: float = Field(default=24.0, gt=0, description="A new signal is triaged within N hours.")
    assign_hours: float = Field(
        default=12.0, gt=0, description="A signal kept at triage gets a verifying officer within N hours."
    )
    verification_hours: float = Field(
        default=24.0,
        gt=0,
        description="Default time an assigned officer has to verify (the assigner may set it).",
    )
    response_start_hours: float = Field(
        default=48.0, gt=0, description="A verified event gets its first response action within N hours."
    )
    response_review_hours: float = Field(
        default=168.0,
        gt=0,
        description="An event under response is reviewed (an action or closure) every N hours.",
    )
    escalation_interval_hours: float = Field(
        default=12.0, gt=0, description="Hours between one escalation level and the next while still overdue."
    )
    escalation_levels: list[list[str]] = Field(
        default_factory=list,
        description="E-mail recipients of each escalation level, level 1 first (the owner is copied at every level).",
    )
    signal_emails: list[str] = Field(
        default_factory=list, description="Who is e-mailed of every new signal (the CDC duty desk)."
    )
    smtp_host: str = Field(default="", description="SMTP relay; empty: no e-mail is sent.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(default=True, description="STARTTLS before sending (RFC 3207).")
    smtp_ssl: bool = Field(default=False, description="Implicit TLS (port 465) instead of STARTTLS.")
    smtp_username: str = Field(default="", description="SMTP AUTH user; empty: no AUTH.")
    smtp_password: str = Field(default="")
    smtp_from: str = Field(default="canh-bao@senhealth.invalid", description="The From address.")
    smtp_timeout_s: float = Field(default=20.0, gt=0)
    webhook_url: str = Field(
        default="", description="Where every notification is POSTed as JSON; empty: none."
    )
    webhook_token: str = Field(default="", description="Sent as 'Authorization: Bearer <token>' when set.")
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    notify_attempts: int = Field(default=6, ge=1, description="Attempts per notification before it fails.")
    notify_backoff_s: float = Field(
        default=30.0, ge=0, description="Wait before the second attempt; doubled each time after."
    )
    notify_backoff_max_s: float = Field(default=3600.0, ge=0, description="Longest wait between attempts.")
    page_url: str = Field(
        default="", description="Base URL of the alert inbox, for links in messages (empty: no link)."
    )


@cache
def get_config() -> AlertConfig:
    """The process's alert settings (from the environment, once)."""
    return AlertConfig()


def configure(**values: Any) -> AlertConfig:
    """Replace settings in this process (validated); returns the configuration."""
    current = get_config()
    updated = AlertConfig.model_validate({**current.model_dump(), **values})
    for name in AlertConfig.model_fields:
        setattr(current, name, getattr(updated, name))
    return current
