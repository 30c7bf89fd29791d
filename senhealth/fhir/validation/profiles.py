"""The profile registry: StructureDefinitions a site loads at run time (e.g. Vietnamese core profiles).

Spec: https://hl7.org/fhir/R4/profiling.html and https://hl7.org/fhir/R4/structuredefinition.html

:func:`register_profile` takes a constraining StructureDefinition with a snapshot, or with only a
differential whose ``baseDefinition`` is an R4 type or a profile registered before it, and makes its
canonical ``url`` usable as ``validate(resource, profile=url)``; resources that name it in
``meta.profile`` are checked against it too. What a profile can add is described in
:mod:`.profile_model` (cardinality, types and reference targets, fixed and pattern values, bindings,
invariants) and :mod:`.slicing`.

The registry is process-wide and meant to be filled at start-up; registering invalidates the compiled
validators of that URL only.
"""

from __future__ import annotations

import threading
from typing import Any

from senhealth.fhir.validation.profile_model import Profile, parse_profile
from senhealth.fhir.validation.resources import PROFILES
from senhealth.fhir.validation.structure import clear_cache

__all__ = ["get_profile", "register_profile", "registered_profiles", "unregister_profile"]

_LOCK = threading.Lock()


def register_profile(structure_definition: dict[str, Any]) -> str:
    """Register a profile and return its canonical URL. Raises ValueError when the StructureDefinition
    cannot be used (no url or type, unknown base, paths outside the type)."""
    profile = parse_profile(structure_definition, PROFILES)
    with _LOCK:
        PROFILES[profile.url] = profile
        clear_cache(profile.url)
    return profile.url


def unregister_profile(url: str) -> bool:
    """Forget a profile; True when it was registered."""
    with _LOCK:
        clear_cache(url)
        return PROFILES.pop(url, None) is not None


def get_profile(url: str) -> Profile | None:
    """The registered profile with this canonical URL (a ``|version`` suffix is ignored)."""
    return PROFILES.get(url.split("|", 1)[0])


def registered_profiles() -> list[str]:
    """Canonical URLs of the registered profiles."""
    return sorted(PROFILES)
