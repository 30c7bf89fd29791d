"""The prospective space-time permutation scan (Kulldorff et al., PLoS Med 2005) on synthetic grids."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from senhealth.surveillance.scan import llr, permute_times, space_time_permutation_scan
from senhealth.surveillance.scan.geometry import distance_matrix, neighbour_order

# The internals are tested against a brute force: the pruned maximum must be exact.
from senhealth.surveillance.scan.space_time_permutation import _max_llr, _prepare

STEP = 0.01  # degrees between grid "communes", on the equator: distances are nearly Euclidean


def _grid(rows: int, cols: int) -> dict[str, tuple[float, float]]:
    return {f"r{r}c{c}": (c * STEP, r * STEP) for r in range(rows) for c in range(cols)}


def _long(table: np.ndarray, keys: list[str]) -> tuple[list[str], list[int], list[int]]:
    locs, times, counts = [], [], []
    for z, t in zip(*np.nonzero(table), strict=True):
        locs.append(keys[z])
        times.append(int(t))
        counts.append(int(table[z, t]))
    return locs, times, counts


def _plus(centre: tuple[int, int]) -> set[str]:
    r, c = centre
    return {f"r{r + dr}c{c + dc}" for dr, dc in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))}


def test_llr_equals_the_formula_on_a_tiny_example() -> None:
    # Three communes in a row, three weeks. Commune A has 4 of the 4 cases of the last week.
    centroids = {"A": (0.0, 0.0), "B": (0.01, 0.0), "C": (0.02, 0.0)}
    table = {"A": [1, 1, 4], "B": [1, 1, 0], "C": [2, 2, 0]}
    locs, times, counts = [], [], []
    for key, row in table.items():
        for t, v in enumerate(row):
            locs.append(key)
            times.append(t)
            counts.append(v)
    result = space_time_permutation_scan(
        locs, times, counts, centroids, max_share=1.0, max_window=1, replications=99, seed=3
    )
    top = result.clusters[0]
    # C = 12, C_A = 6, C_week3 = 4: μ = 6·4/12 = 2; LLR = 4·log(4/2) + 8·log(8/10)
    assert result.total_cases == 12
    assert (top.centre, top.locations, top.start, top.end) == ("A", ("A",), 2, 2)
    assert top.observed == 4 and top.expected == pytest.approx(2.0)
    assert top.llr == pytest.approx(4 * math.log(2) + 8 * math.log(8 / 10), rel=1e-12)
    assert top.llr == pytest.approx(llr(4, 2, 12), rel=1e-12)
    assert top.relative_risk == pytest.approx((4 / 2) / (8 / 10))
    assert top.observed_over_expected == pytest.approx(2.0)
    assert 0 < top.p_value <= 1 and top.recurrence_interval == pytest.approx(1 / top.p_value)
    assert llr(2, 2, 12) == 0.0 and llr(1, 2, 12) == 0.0  # only an excess scores


def test_permutation_keeps_both_marginals_and_matches_the_expected_counts() -> None:
    rng = np.random.default_rng(11)
    table = np.array([[5, 0, 1, 2], [0, 3, 3, 0], [2, 2, 0, 7]])
    total = np.zeros(table.shape)
    draws = 4000
    for _ in range(draws):
        permuted = permute_times(table, rng)
        assert permuted.sum(axis=1).tolist() == table.sum(axis=1).tolist()
        assert permuted.sum(axis=0).tolist() == table.sum(axis=0).tolist()
        total += permuted
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()  # μ_zd = C_z·C_d / C
    assert total / draws == pytest.approx(expected, abs=0.1)


def test_pruned_replication_maximum_equals_brute_force() -> None:
    rng = np.random.default_rng(5)
    centroids = _grid(8, 9)
    keys = list(centroids)
    lon = np.array([centroids[k][0] for k in keys])
    lat = np.array([centroids[k][1] for k in keys])
    table = rng.poisson(2.0, size=(len(keys), 12))
    newest = table[:, ::-1][:, :3]
    window_totals = np.cumsum(newest.sum(axis=0))
    order, sizes = neighbour_order(distance_matrix(lon, lat), max_size=70)
    cyl = _prepare(table.sum(axis=1), window_totals, order, sizes)
    total = int(table.sum())
    for _ in range(5):
        permuted = permute_times(table, rng)
        recent = np.cumsum(permuted[:, ::-1][:, :3], axis=1)
        brute = 0.0
        for centre, k, win in itertools.product(range(len(keys)), range(70), range(3)):
            members = order[centre, : k + 1]
            mu = table.sum(axis=1)[members].sum() * window_totals[win] / total
            brute = max(brute, llr(float(recent[members, win].sum()), mu, total))
        pruned = _max_llr(cyl, np.ascontiguousarray(recent.T, dtype=np.int32), slice(0, len(keys)))
        assert pruned == pytest.approx(brute, rel=1e-10)


def _planted(
    seed: int, centres: list[tuple[int, int]], extra: int
) -> tuple[dict[str, tuple[float, float]], list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    centroids = _grid(14, 15)  # 210 "communes"
    keys = list(centroids)
    table = rng.poisson(3.0, size=(len(keys), 30))
    for centre in centres:
        for key in _plus(centre):
            table[keys.index(key), -2:] += extra
    return centroids, keys, table


def test_planted_cluster_across_two_districts_is_found() -> None:
    # Districts: columns 0-6 and 7-14. The outbreak is the plus shape around r6c7: r6c6 lies in the first
    # district, the other four in the second; it runs in the last two weeks (28 and 29). A second, weaker
    # outbreak around r11c2 must come out as a secondary cluster that shares no commune with the first.
    centroids, keys, table = _planted(1, [(6, 7)], extra=10)
    weaker = _plus((11, 2))
    for key in weaker:
        table[keys.index(key), -2:] += 6
    result = space_time_permutation_scan(*_long(table, keys), centroids, replications=99, seed=7)
    top = result.clusters[0]
    assert set(top.locations) == _plus((6, 7))
    assert {int(str(k).split("c")[1]) < 7 for k in top.locations} == {True, False}  # both districts
    assert (top.start, top.end) == (28, 29)
    assert top.p_value < 0.05 and top.p_value == pytest.approx(1 / 100)
    assert top.recurrence_interval == pytest.approx(100)
    assert top.observed > 2 * top.expected
    second = result.clusters[1]
    assert set(second.locations) == weaker and second.p_value < 0.05
    llrs = [c.llr for c in result.clusters]
    assert llrs == sorted(llrs, reverse=True)
    for a, b in itertools.combinations(result.clusters, 2):
        assert not set(a.locations) & set(b.locations)
    assert len(result.null_llr) == 99 and max(result.null_llr) < top.llr


def test_no_cluster_gives_large_p_values_most_of_the_time() -> None:
    p_values = []
    for seed in range(6):
        centroids, keys, table = _planted(100 + seed, [], extra=0)
        result = space_time_permutation_scan(*_long(table, keys), centroids, replications=99, seed=seed)
        p_values.append(result.clusters[0].p_value)
    assert sum(p > 0.05 for p in p_values) >= 5, p_values


def test_radius_and_seed() -> None:
    centroids, keys, table = _planted(2, [(6, 7)], extra=10)
    args = (*_long(table, keys), centroids)
    near = space_time_permutation_scan(*args, replications=19, seed=1, max_radius_km=0.5)
    assert all(len(c.locations) == 1 for c in near.clusters)  # 0.5 km holds only the centre (grid: 1.1 km)
    again = space_time_permutation_scan(*args, replications=19, seed=1, max_radius_km=0.5)
    assert again.null_llr == near.null_llr
    other = space_time_permutation_scan(*args, replications=19, seed=2, max_radius_km=0.5)
    assert other.null_llr != near.null_llr


def test_bad_input_is_refused() -> None:
    centroids = _grid(2, 2)
    with pytest.raises(ValueError, match="no centroid"):
        space_time_permutation_scan(["nowhere"], [0], [1], centroids)
    with pytest.raises(ValueError, match="whole numbers"):
        space_time_permutation_scan(["r0c0"], [0], [1.5], centroids)
    with pytest.raises(ValueError, match="max_share"):
        space_time_permutation_scan(["r0c0"], [0], [1], centroids, max_share=0)
    empty = space_time_permutation_scan([], [], [], centroids)
    assert empty.clusters == () and empty.total_cases == 0
