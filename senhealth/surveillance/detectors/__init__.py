"""Outbreak detectors: pure functions over count series, reproducing the R package ``surveillance``.

https://cran.r-project.org/package=surveillance (the reference implementation named in issue 8). Methods by their
command-line name (``senhealth surveillance detect --method NAME``) are in :data:`METHODS`; each module registers
its own :class:`~.base.MethodSpec` with :func:`register`.
"""

from __future__ import annotations

from senhealth.surveillance.detectors.base import Detection, MethodSpec, Params, monitored_range

__all__ = [
    "METHODS",
    "Detection",
    "MethodSpec",
    "Params",
    "load_methods",
    "method",
    "monitored_range",
    "register",
]

METHODS: dict[str, MethodSpec] = {}
"""Every detector by its command-line name."""


def register(spec: MethodSpec) -> MethodSpec:
    METHODS[spec.name] = spec
    return spec


def method(name: str) -> MethodSpec:
    """The detector called ``name``; ValueError naming the known ones otherwise."""
    load_methods()
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}") from None


def load_methods() -> dict[str, MethodSpec]:
    """Import the method modules (each registers itself); every detector by name."""
    import importlib

    for module in ("ears", "cusum", "glr", "bayes", "farrington", "farrington_flexible", "endemic_channel"):
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise
    return METHODS
