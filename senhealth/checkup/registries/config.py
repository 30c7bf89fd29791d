"""Settings of the chronic-disease registries (``SENHEALTH_CHECKUP_*`` environment variables).

Its own pydantic-settings class (https://docs.pydantic.dev/latest/concepts/pydantic_settings/), beside the
platform's :class:`senhealth.core.config.Settings`, as the subscriptions do: follow-up intervals, the
windows of the control indicators and worklists, and the reminder webhook. :func:`get_config` is cached
per process; :func:`configure` replaces values (tests, the app at start-up).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["RegistryConfig", "configure", "get_config"]


class RegistryConfig(BaseSettings):
    """Every value has an environment variable ``SENHEALTH_CHECKUP_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_CHECKUP_", extra="ignore")

    hypertension_follow_up_days: int = Field(
        default=30, ge=1, description="Visits at the commune station for hypertension: every N days."
    )
    diabetes_follow_up_days: int = Field(
        default=30, ge=1, description="Visits at the commune station for diabetes: every N days."
    )
    copd_asthma_follow_up_days: int = Field(
        default=90, ge=1, description="Visits for COPD and asthma: every N days."
    )
    cervical_screening_interval_days: int = Field(
        default=5 * 365, ge=1, description="Cervical cancer screening: every N days."
    )
    breast_screening_interval_days: int = Field(
        default=2 * 365, ge=1, description="Breast cancer screening: every N days."
    )
    seen_within_days: int = Field(
        default=90, ge=1, description="Control indicator 'seen recently': a visit within N days."
    )
    hba1c_within_days: int = Field(
        default=180, ge=1, description="Worklist 'tests missing': diabetics without an HbA1c within N days."
    )
    reminder_webhook_url: str = Field(
        default="", description="Where reminders are POSTed (JSON); empty: reminders are not sent."
    )
    reminder_webhook_token: str = Field(
        default="", description="Sent as 'Authorization: Bearer <token>' when set."
    )
    reminder_timeout_s: float = Field(default=10.0, gt=0, description="HTTP timeout of one attempt.")
    reminder_attempts: int = Field(default=5, ge=1, description="Attempts per reminder before it fails.")
    reminder_backoff_s: float = Field(
        default=60.0, ge=0, description="Wait before the second attempt; doubled each time after."
    )
    reminder_backoff_max_s: float = Field(default=3600.0, ge=0, description="Longest wait between attempts.")

    def follow_up_days(self, registry: str, cohort: str | None = None) -> int:
        """The follow-up interval of ``registry`` (and screening ``cohort``)."""
        if registry == "cancer-screening":
            return (
                self.cervical_screening_interval_days
                if cohort == "cervical"
                else self.breast_screening_interval_days
            )
        days: int = getattr(self, f"{registry.replace('-', '_')}_follow_up_days")
        return days


@cache
def get_config() -> RegistryConfig:
    """The process's registry settings (from the environment, once)."""
    return RegistryConfig()


def configure(**values: Any) -> RegistryConfig:
    """Replace settings in this process (validated); returns the configuration."""
    current = get_config()
    updated = RegistryConfig.model_validate({**current.model_dump(), **values})
    for name in RegistryConfig.model_fields:
        setattr(current, name, getattr(updated, name))
    return current
