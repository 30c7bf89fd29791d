"""Assembles the platform: the only module that knows every layer (DESIGN.md §2).

The FHIR core calls upward only through interfaces it defines (operation registry, access policy,
audit sink, write hooks, terminology hooks); :func:`bootstrap` fills them at start-up. At this stage
the FHIR core runs on its own and there is nothing above it to wire in yet.
"""

from __future__ import annotations

from functools import cache

__all__ = ["bootstrap"]


@cache
def bootstrap() -> None:
    """Wire the layers together once per process (idempotent)."""
    from senhealth.fhir.model import get_model

    get_model()
