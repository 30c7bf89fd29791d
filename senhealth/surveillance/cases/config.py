"""Settings of case reporting (``SENHEALTH_SURVEILLANCE_*`` environment variables).

Its own pydantic-settings class (https://docs.pydantic.dev/latest/concepts/pydantic_settings/), as the
check-up registries have. ``SENHEALTH_SURVEILLANCE_LISTS_DIR`` (read by
:mod:`senhealth.surveillance.notifiable.lists`) replaces the packaged lists.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CaseConfig", "configure", "get_config"]


class CaseConfig(BaseSettings):
    """Every value has an environment variable ``SENHEALTH_SURVEILLANCE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_SURVEILLANCE_", extra="ignore")

    auto_report: bool = Field(
        default=False,
        description=(
            "A detected case counts as reported when detected (the platform is the report); otherwise a"
            " health worker reports it and the deadline is tracked until then."
        ),
    )


@cache
def get_config() -> CaseConfig:
    """The process's case-reporting settings (from the environment, once)."""
    return CaseConfig()


def configure(**values: Any) -> CaseConfig:
    """Replace settings in this process (validated); returns the configuration."""
    current = get_config()
    updated = CaseConfig.model_validate({**current.model_dump(), **values})
    for name in CaseConfig.model_fields:
        setattr(current, name, getattr(updated, name))
    return current
