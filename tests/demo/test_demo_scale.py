"""Speed (reported, not asserted) and flat memory: the generator streams citizen by citizen."""

from __future__ import annotations

import gc
import time
import tracemalloc

from province_summary import ProvinceSummary

from senhealth.demo.generator import generate_province


def test_resources_per_citizen_and_speed(province: ProvinceSummary) -> None:
    """500 citizens give a plausible record each (the capacity model counts on ~25 resources a
    citizen); the generation speed is printed for the reader, not asserted (bench/ measures it)."""
    print(f"2,000 citizens in {province.seconds:.2f} s (with this test's bookkeeping)")
    started = time.perf_counter()
    count = sum(len(b["entry"]) for b in generate_province(500, seed=1))
    elapsed = time.perf_counter() - started
    print(f"500 citizens, {count} resources in {elapsed:.2f} s ({count / elapsed:,.0f} resources/s)")
    assert 10 * 500 <= count <= 60 * 500, count


def _peak(citizens: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        for bundle in generate_province(citizens, seed=5):
            del bundle
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat() -> None:
    small, large = _peak(100), _peak(800)
    print(f"peak traced memory: {small / 1e6:.1f} MB for 100 citizens, {large / 1e6:.1f} MB for 800")
    assert large < small * 1.5 + 2_000_000
