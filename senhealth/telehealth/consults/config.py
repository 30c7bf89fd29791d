"""Settings of the teleconsultations (``SENHEALTH_TELEHEALTH_CONSULT_*`` environment variables).

Spec: the deadline is written as ``Task.restriction.period.end`` (https://hl7.org/fhir/R4/task.html), one
per ``ServiceRequest.priority`` (https://hl7.org/fhir/R4/valueset-request-priority.html).

Its own pydantic-settings class, as the video rooms' (:mod:`senhealth.telehealth.rooms.config`).
:func:`get_config` is cached per process; :func:`configure` replaces values (tests, the app at start-up).
docs/telehealth-consults.md.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ConsultConfig", "configure", "get_config"]


class ConsultConfig(BaseSettings):
    """Answer deadlines by urgency, attachment limits and the video meeting's default length; each value has
    an environment variable ``SENHEALTH_TELEHEALTH_CONSULT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_TELEHEALTH_CONSULT_", extra="ignore")

    deadline_stat_h: float = Field(default=1, gt=0, description="Deadline of a 'stat' consult (hours).")
    deadline_asap_h: float = Field(default=4, gt=0, description="Deadline of an 'asap' consult (hours).")
    deadline_urgent_h: float = Field(default=24, gt=0, description="Deadline of an 'urgent' consult (hours).")
    deadline_routine_h: float = Field(
        default=72, gt=0, description="Deadline of a 'routine' consult (hours): a working weekend included."
    )
    max_attachment_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest inline attachment (decoded bytes) of a request or a message: a photo, an ECG.",
    )
    max_attachments: int = Field(default=10, ge=1, le=100, description="Inline attachments per call.")
    max_message_chars: int = Field(default=10000, ge=1, description="Longest message text.")
    meeting_minutes: int = Field(default=30, ge=5, le=480, description="Video meeting length by default.")

    def deadline_hours(self, priority: str) -> float:
        """The answer deadline of a consult of ``priority`` (routine when unknown)."""
        return {
            "stat": self.deadline_stat_h,
            "asap": self.deadline_asap_h,
            "urgent": self.deadline_urgent_h,
        }.get(priority, self.deadline_routine_h)


@cache
def get_config() -> ConsultConfig:
    """The process's consult settings (from the environment, once)."""
    return ConsultConfig()


def configure(**values: Any) -> ConsultConfig:
    """Replace settings in this process (validated); returns the new configuration."""
    current = get_config()
    updated = ConsultConfig.model_validate({**current.model_dump(), **values})
    for name in ConsultConfig.model_fields:
        setattr(current, name, getattr(updated, name))
    return current
