"""Patient-index quality on a synthetic population (issue 4, item 5), at a test-sized scale.

20,000 people + 1,000 injected duplicates, seed 11, the packaged model: automatic links must reach
precision ≥ 0.99 and recall ≥ 0.95. bench/mpi/quality.py runs the full 100,000 + 5,000.
"""

from __future__ import annotations

from mpi_population import generate

from senhealth.mpi.match import Thresholds, clusters, deduplicate_rows
from senhealth.mpi.record import match_row


def test_quality_on_synthetic_population() -> None:
    pop = generate(20_000, 1_000, seed=11)
    result = deduplicate_rows([match_row(c) for c in pop.records], Thresholds())
    links = {(p.left, p.right) for p in result.links}
    true_links = len(links & pop.truth)
    precision = true_links / len(links)
    recall = true_links / len(pop.truth)
    assert precision >= 0.99, (precision, recall)
    assert recall >= 0.95, (precision, recall)
    assert all(len(group) <= 3 for group in clusters(result.links))
    assert all(p.reasons for p in result.review)
