"""The synthetic province generator (synthetic data only): ``senhealth demo generate`` and its Python API.

Public API (imported lazily, so that ``senhealth --help`` does not load the generator)::

    generate_province(citizens, seed=1, *, province="24", as_of=date(2025, 12, 31), years=2.0,
                      epidemic_scale=1.0) -> Iterator[dict]      # transaction Bundles, network first
    generate_resources(...same...) -> Iterator[dict]            # resources with Type/id references
    write_province(out: Path, options: Options, fmt="bundle" | "ndjson", progress=None) -> Summary
    Options(citizens, seed, province, as_of, years, epidemic_scale)
    Context(options); citizen(ctx, index, refs); citizen_bundle(ctx, index); network_bundle(ctx)

The model, its sources and what is approximate: ``docs/demo.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from senhealth.demo.context import Context, Options
    from senhealth.demo.generator import (
        citizen,
        citizen_bundle,
        generate_province,
        generate_resources,
        network_bundle,
    )
    from senhealth.demo.writers import Summary, write_province

__all__ = [
    "Context",
    "Options",
    "Summary",
    "citizen",
    "citizen_bundle",
    "generate_province",
    "generate_resources",
    "network_bundle",
    "write_province",
]

_HOME = {
    "Context": "senhealth.demo.context",
    "Options": "senhealth.demo.context",
    "Summary": "senhealth.demo.writers",
    "write_province": "senhealth.demo.writers",
    "citizen": "senhealth.demo.generator",
    "citizen_bundle": "senhealth.demo.generator",
    "generate_province": "senhealth.demo.generator",
    "generate_resources": "senhealth.demo.generator",
    "network_bundle": "senhealth.demo.generator",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'senhealth.demo' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
