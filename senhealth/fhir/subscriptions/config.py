"""Settings of topic-based subscriptions (``SENHEALTH_SUBSCRIPTIONS_*`` environment variables).

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html (rest-hook, websocket) and
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/errors.html (what a server does when delivery fails).

Its own pydantic-settings class (https://docs.pydantic.dev/latest/concepts/pydantic_settings/), beside the
platform's :class:`senhealth.core.config.Settings`, so that this subsystem's knobs live with it.
:func:`get_config` is cached per process; :func:`configure` replaces values (tests, the app at start-up).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SubscriptionConfig", "configure", "get_config"]


class SubscriptionConfig(BaseSettings):
    """How notifications are delivered; every value has an environment variable ``SENHEALTH_SUBSCRIPTIONS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_SUBSCRIPTIONS_", extra="ignore")

    base_url: str = Field(
        default="",
        description="The public FHIR base URL written in notifications (fullUrl, references); "
        "default: the store's first base URL, else relative references.",
    )
    backoff_base_s: float = Field(default=1.0, ge=0, description="First wait after a failed delivery.")
    backoff_max_s: float = Field(default=300.0, ge=0, description="Longest wait between two attempts.")
    error_after: int = Field(
        default=3,
        ge=1,
        description="Failed attempts in a row after which the subscription's status is error.",
    )
    max_age_s: float = Field(
        default=7 * 86400.0,
        gt=0,
        description="Events older than this are no longer delivered, and are removed (also from $events).",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="HTTP timeout when backport-timeout is absent.")
    max_timeout_s: float = Field(default=60.0, gt=0, description="Cap on a subscription's backport-timeout.")
    max_count: int = Field(
        default=20, ge=1, description="Events per notification when backport-max-count is absent."
    )
    max_count_cap: int = Field(default=1000, ge=1, description="Cap on a subscription's backport-max-count.")
    min_heartbeat_s: int = Field(default=1, ge=1, description="Shortest heartbeat period accepted.")
    allow_http: bool = Field(
        default=True, description="Accept http:// rest-hook endpoints (production: false, https only)."
    )
    ws_token_ttl_s: float = Field(default=300.0, gt=0, description="Lifetime of a websocket binding token.")
    ws_poll_s: float = Field(
        default=5.0, gt=0, description="Websocket sessions also look for missed events this often."
    )
    drain_limit: int = Field(
        default=2000, ge=1, description="Events one delivery job sends before it queues the next one."
    )
    events_page_max: int = Field(default=1000, ge=1, description="Most events one $events answer holds.")


@cache
def get_config() -> SubscriptionConfig:
    """The process's subscription settings (from the environment, once)."""
    return SubscriptionConfig()


def configure(**values: Any) -> SubscriptionConfig:
    """Replace settings in this process (validated); returns the new configuration."""
    current = get_config()
    updated = SubscriptionConfig.model_validate({**current.model_dump(), **values})
    for name in SubscriptionConfig.model_fields:
        setattr(current, name, getattr(updated, name))
    return current
