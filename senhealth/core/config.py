"""Platform configuration from the environment (``SENHEALTH_*`` variables) and an optional ``.env`` file.

Uses pydantic-settings: https://docs.pydantic.dev/latest/concepts/pydantic_settings/
One cached :func:`get_settings` per process; tests call ``get_settings.cache_clear()`` after changing
the environment.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


ROOT_DATA_DIR = Path("/var/lib/senhealth")


def _default_data_dir() -> Path:
    """``/var/lib/senhealth`` for root (a system service), else the XDG user data directory."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return ROOT_DATA_DIR
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "senhealth"


class Settings(BaseSettings):
    """Every setting of the platform, with its environment variable ``SENHEALTH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; when unset the CLI runs an embedded PostgreSQL."
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir, description="Where the platform keeps its files."
    )
    timezone: str = Field(
        default="Asia/Ho_Chi_Minh", description="Zone for dates and times given without one."
    )
    language: str = Field(default="vi", description="Default UI language: vi (Vietnamese) or en.")
    partitions: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Hash partitions of each FHIR table, fixed when the store's migration first runs.",
    )
    search_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a search statement may run before PostgreSQL stops it (0: no limit).",
    )


@cache
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
