"""Settings of the imaging AI (``SENHEALTH_IMAGING_AI_*`` environment variables).

Its own pydantic-settings class (https://docs.pydantic.dev/latest/concepts/pydantic_settings/), as the
outbreak alerts have: the review's agreement threshold and minimum number of cases for the automatic
suspension of a model, whether a final report must carry the radiologist's digital signature, and where
inference runs. :func:`get_config` is cached per process; :func:`configure` replaces values (tests, the app
at start-up).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ImagingAiConfig", "configure", "get_config"]


class ImagingAiConfig(BaseSettings):
    """Every value has an environment variable ``SENHEALTH_IMAGING_AI_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_IMAGING_AI_", extra="ignore")

    agreement_threshold: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="A model whose monthly agreement with the radiologists falls below this is suspended.",
    )
    agreement_min_cases: int = Field(
        default=20, ge=1, description="Reviewed cases in the month before the agreement can suspend a model."
    )
    require_signature: bool = Field(
        default=True, description="A final report needs the radiologist's digital signature."
    )
    device: Literal["auto", "cpu"] = Field(
        default="auto", description="auto: the CUDA provider when onnxruntime has one; cpu: never."
    )
    threads: int = Field(default=0, ge=0, description="onnxruntime's threads per run (0: one per core).")
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="The months of the agreement are local.")


@cache
def get_config() -> ImagingAiConfig:
    """The process's imaging AI settings (from the environment, once)."""
    return ImagingAiConfig()


def configure(**values: Any) -> ImagingAiConfig:
    """Replace settings in this process (validated); returns the configuration."""
    current = get_config()
    updated = ImagingAiConfig.model_validate({**current.model_dump(), **values})
    for name in ImagingAiConfig.model_fields:
        setattr(current, name, getattr(updated, name))
    return current
