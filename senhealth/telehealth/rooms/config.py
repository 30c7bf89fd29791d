"""Settings of the video rooms (``SENHEALTH_TELEHEALTH_VIDEO_*`` environment variables).

Spec: ICE servers as ``RTCIceServer`` https://www.w3.org/TR/webrtc/#rtciceserver-dictionary; TURN REST
credentials (coturn ``use-auth-secret`` / ``static-auth-secret``)
https://datatracker.ietf.org/doc/html/draft-uberti-behave-turn-rest-00 and
https://github.com/coturn/coturn/blob/master/README.turnserver.

Its own pydantic-settings class, beside :class:`senhealth.core.config.Settings`, as the subscriptions'
(:mod:`senhealth.fhir.subscriptions.config`): this subsystem's knobs live with it. :func:`get_config` is
cached per process; :func:`configure` replaces values (tests, the app at start-up). docs/telehealth-video.md.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["VideoConfig", "configure", "get_config"]


class VideoConfig(BaseSettings):
    """Room tokens, the room's opening window, its size and the ICE servers; each value has an environment
    variable ``SENHEALTH_TELEHEALTH_VIDEO_<NAME>`` (lists as JSON: ``'["stun:stun.example.vn:3478"]'``)."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_TELEHEALTH_VIDEO_", extra="ignore")

    token_ttl_s: int = Field(
        default=600, ge=30, le=3600, description="Lifetime of a room token (seconds): enough to connect."
    )
    open_before_min: int = Field(
        default=30, ge=0, description="The room opens this many minutes before the Appointment's start."
    )
    close_after_min: int = Field(
        default=60,
        ge=0,
        description="The room closes this many minutes after the Appointment's end (its start plus "
        "default_duration_min when it has no end).",
    )
    default_duration_min: int = Field(
        default=30, ge=1, description="Duration assumed for an Appointment without an end."
    )
    max_participants: int = Field(default=4, ge=2, le=8, description="Participants of one room (mesh).")
    public_ws_url: str | None = Field(
        default=None,
        description="The WebSocket URL handed to clients (wss://ehr.example.vn/api/telehealth/ws); "
        "default: the request's own host and scheme (ws:// or wss://).",
    )
    stun_urls: list[str] = Field(
        default_factory=list, description='STUN servers, e.g. ["stun:turn.example.vn:3478"].'
    )
    turn_urls: list[str] = Field(
        default_factory=list,
        description='TURN servers, e.g. ["turn:turn.example.vn:3478?transport=udp", '
        '"turns:turn.example.vn:5349?transport=tcp"].',
    )
    turn_secret: SecretStr | None = Field(
        default=None,
        description="coturn's static-auth-secret (use-auth-secret): TURN credentials are then minted per "
        "token, time-limited (HMAC-SHA1).",
    )
    turn_username: str | None = Field(
        default=None, description="A fixed TURN user name, only when no turn_secret is set (weaker)."
    )
    turn_password: SecretStr | None = Field(
        default=None, description="The fixed TURN password that goes with turn_username."
    )
    turn_credential_ttl_s: int = Field(
        default=3600, ge=60, description="Lifetime of minted TURN credentials (seconds): the whole call."
    )
    keep_chat: bool = Field(
        default=True,
        description="Keep the room's chat messages as Communication resources about the Appointment.",
    )
    max_message_bytes: int = Field(
        default=65536, ge=1024, description="Largest signalling message accepted (SDP included)."
    )
    max_chat_chars: int = Field(default=2000, ge=1, description="Longest chat message.")


@cache
def get_config() -> VideoConfig:
    """The process's video settings (from the environment, once)."""
    return VideoConfig()


def configure(**values: Any) -> VideoConfig:
    """Replace settings in this process (validated); returns the new configuration."""
    current = get_config()
    updated = VideoConfig.model_validate({**current.model_dump(), **values})
    for name in VideoConfig.model_fields:
        setattr(current, name, getattr(updated, name))
    return current
