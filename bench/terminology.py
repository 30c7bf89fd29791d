"""Terminology benchmark: ``python -m bench.terminology``.

Measures, in this process (no HTTP, no database: packaged value sets only), the ``$expand`` handler
(:func:`senhealth.fhir.terminology.expand_operation.run_expand`) on:

- ICD-10 chapter I (941 concepts) and the whole ICD-10 list (12,433 concepts: codes, chapters, blocks);
- the whole list with a text filter typed without diacritics (``sot xuat huyet``, ``tang huyet ap``...),
  20 codes a page: what an autocomplete box asks at every keystroke;
- ``$lookup`` and ``$validate-code`` of one ICD-10 code; ``:below`` resolution of chapter I.

The first call of each is reported apart (it builds the code system, the expansion and the text index;
the service caches them), then the median of ``--repeat`` calls. Prints a Markdown table and writes it
to ``bench/results/terminology.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from senhealth.fhir.operations.registry import OperationCall
from senhealth.fhir.terminology import service
from senhealth.fhir.terminology.codesystem_lookup import run_lookup
from senhealth.fhir.terminology.expand_operation import run_expand
from senhealth.fhir.terminology.validate_code import run_validate_code

ROOT = Path(__file__).resolve().parents[1]
ICD = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"
FILTERS = ("sot xuat huyet", "tang huyet ap", "dai thao duong", "viem phoi", "lao phoi", "viem gan")


def _call(name: str, res_type: str, params: dict[str, Any]) -> OperationCall:
    return OperationCall(
        name=name,
        level="type",
        resource_type=res_type,
        resource_id=None,
        params={k: [v] for k, v in params.items()},
        store=None,  # type: ignore[arg-type]  # packaged look-ups never touch the store
        method="GET",
    )


async def _time(run: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float]:
    start = time.perf_counter()
    await run()
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await run()
        times.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(times)


async def measure(repeat: int) -> list[tuple[str, float, float]]:
    service.clear_caches()
    rows: list[tuple[str, float, float]] = []

    async def expand(url: str, **extra: Any) -> None:
        result = await run_expand(_call("expand", "ValueSet", {"url": url, **extra}))
        assert result.resource is not None and result.resource["expansion"]["total"] >= 0

    rows.append(("$expand chapter I (941)", *await _time(lambda: expand(f"{ICD}?fhir_vs=isa/I"), repeat)))
    rows.append(("$expand whole ICD-10 (12,433)", *await _time(lambda: expand(f"{ICD}?fhir_vs"), repeat)))
    for word in FILTERS:
        label = f"$expand whole ICD-10, filter '{word}', count 20"
        rows.append(
            (label, *await _time(lambda w=word: expand(f"{ICD}?fhir_vs", filter=w, count="20"), repeat))
        )
    lookup = _call("lookup", "CodeSystem", {"system": ICD, "code": "A97.1"})
    rows.append(("$lookup A97.1", *await _time(lambda: run_lookup(lookup), repeat)))
    check = _call(
        "validate-code",
        "ValueSet",
        {"url": "https://senhealth.vn/fhir/ValueSet/dengue", "system": ICD, "code": "A97.1"},
    )
    rows.append(
        (
            "$validate-code A97.1 in the dengue value set",
            *await _time(lambda: run_validate_code(check), repeat),
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "terminology.md")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.repeat))
    lines = [
        "| operation | first call (ms) | median after (ms) |",
        "|---|---:|---:|",
        *(f"| {label} | {first:.1f} | {median:.2f} |" for label, first, median in rows),
    ]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
