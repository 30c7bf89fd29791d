"""Settings of remote visits (``SENHEALTH_TELEHEALTH_VISITS_*`` environment variables).

Its own pydantic-settings class (https://docs.pydantic.dev/latest/concepts/pydantic_settings/), beside the
platform's :class:`senhealth.core.config.Settings`, as the alerts and the video rooms do. :func:`get_config`
is cached per process; :func:`configure` replaces values (tests, the app at start-up).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["VisitConfig", "configure", "get_config"]


class VisitConfig(BaseSettings):
    """Every value has an environment variable ``SENHEALTH_TELEHEALTH_VISITS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_TELEHEALTH_VISITS_", extra="ignore")

    outside_list: Literal["warn", "block"] = Field(
        default="warn",
        description=(
            "A booking for a condition outside the list of Circular 30/2023: 'warn' books it and answers "
            "a warning (the Appointment is marked), 'block' refuses it (422)."
        ),
    )
    default_channel: Literal["video", "phone"] = Field(
        default="video", description="The channel of a remote visit when the booking names none."
    )


@cache
def get_config() -> VisitConfig:
    """The process's remote-visit settings (from the environment, once)."""
    return VisitConfig()


def configure(**values: Any) -> VisitConfig:
    """Replace settings in this process (validated); returns the configuration."""
    current = get_config()
    updated = VisitConfig.model_validate({**current.model_dump(), **values})
    for name in VisitConfig.model_fields:
        setattr(current, name, getattr(updated, name))
    return current
