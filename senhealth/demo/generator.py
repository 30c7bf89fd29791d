"""The synthetic province, citizen by citizen: the Python API behind ``senhealth demo generate``.

Two shapes of output, both streamed (one citizen in memory at a time):

- :func:`generate_province` yields FHIR transaction Bundles (https://hl7.org/fhir/R4/bundle.html,
  https://hl7.org/fhir/R4/http.html#transaction): first one for the care network (the Department of
  Health, facilities, locations, practitioners and their roles), then one per citizen. Entries have
  ``urn:uuid:`` full URLs and ``PUT Type/id`` requests, so ids are stable and loading twice is idempotent;
  inside a bundle resources point at each other by ``urn:uuid:``, and citizens point at the network by
  ``Type/id`` (load the network bundle first).
- :func:`generate_resources` yields the same resources one by one with ``Type/id`` references, as FHIR
  Bulk Data NDJSON files hold them (https://hl7.org/fhir/uv/bulkdata/).

Same options → the same resources, byte for byte (see :mod:`senhealth.demo.streams`).
SYNTHETIC DATA ONLY: every person, facility and record is invented.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from senhealth.demo.context import DEFAULT_AS_OF, Context, Options
from senhealth.demo.facility_resources import network_resources
from senhealth.demo.fhir_types import Refs
from senhealth.demo.geography import DEFAULT_PROVINCE
from senhealth.demo.person import Citizen, make_citizen
from senhealth.demo.records import citizen_resources
from senhealth.demo.streams import stream

__all__ = [
    "citizen",
    "citizen_bundle",
    "generate_province",
    "generate_resources",
    "network_bundle",
    "transaction",
]


def transaction(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle that PUTs ``resources`` (each with its id) under ``urn:uuid:`` full URLs."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def citizen(ctx: Context, index: int, refs: Refs) -> tuple[Citizen, list[dict[str, Any]]]:
    """Citizen number ``index`` (1-based) and their resources."""
    rng = stream(ctx.seed, "citizen", index)
    commune = ctx.communes.pick(rng)
    person = make_citizen(
        index,
        rng,
        seed=ctx.seed,
        as_of=ctx.options.as_of,
        province_code=ctx.province.code,
        region=ctx.province.region,
        old_codes=ctx.province.old_codes,
        commune=commune,
    )
    return person, list(citizen_resources(ctx, person, rng, refs))


def network_bundle(ctx: Context) -> dict[str, Any]:
    """The transaction Bundle of the care network."""
    return transaction(list(network_resources(ctx.network, Refs("bundle"))))


def citizen_bundle(ctx: Context, index: int) -> dict[str, Any]:
    """The transaction Bundle of citizen number ``index``."""
    return transaction(citizen(ctx, index, Refs("bundle"))[1])


def _options(
    citizens: int, seed: int, province: str, as_of: date, years: float, epidemic_scale: float
) -> Options:
    return Options(citizens, seed, f"{int(province):02d}", as_of, years, epidemic_scale)


def generate_province(
    citizens: int,
    seed: int = 1,
    *,
    province: str = DEFAULT_PROVINCE,
    as_of: date = DEFAULT_AS_OF,
    years: float = 2.0,
    epidemic_scale: float = 1.0,
) -> Iterator[dict[str, Any]]:
    """Transaction Bundles: the care network first, then one per citizen (1 … ``citizens``)."""
    ctx = Context(_options(citizens, seed, province, as_of, years, epidemic_scale))
    yield network_bundle(ctx)
    for index in range(1, citizens + 1):
        yield citizen_bundle(ctx, index)


def generate_resources(
    citizens: int,
    seed: int = 1,
    *,
    province: str = DEFAULT_PROVINCE,
    as_of: date = DEFAULT_AS_OF,
    years: float = 2.0,
    epidemic_scale: float = 1.0,
) -> Iterator[dict[str, Any]]:
    """Every resource with ``Type/id`` references: the care network first, then citizen by citizen."""
    ctx = Context(_options(citizens, seed, province, as_of, years, epidemic_scale))
    refs = Refs("ndjson")
    yield from network_resources(ctx.network, refs)
    for index in range(1, citizens + 1):
        yield from citizen(ctx, index, refs)[1]
