"""Distances between location centroids and the circles of the scan: each location's neighbours, nearest first.

Great-circle (haversine) distance on a sphere of radius 6,371.0088 km (the IUGG mean Earth radius), from
``(longitude, latitude)`` in degrees: https://en.wikipedia.org/wiki/Haversine_formula. A circle centred on a
location holds it and its k − 1 nearest neighbours; equal distances are ordered by location index (SaTScan adds
tied locations together; with real centroids exact ties are rare).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["EARTH_RADIUS_KM", "distance_matrix", "neighbour_order"]

EARTH_RADIUS_KM = 6371.0088


def distance_matrix(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Great-circle distances in km between every pair of points (n × n)."""
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    dphi = phi[:, None] - phi[None, :]
    dlam = lam[:, None] - lam[None, :]
    h = np.sin(dphi / 2) ** 2 + np.cos(phi)[:, None] * np.cos(phi)[None, :] * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def neighbour_order(
    distances: npt.NDArray[np.float64], *, max_size: int, max_radius_km: float | None = None
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """(order, sizes): ``order[c, j]`` is the j-th nearest location to ``c`` (itself first), j < ``max_size``;
    ``sizes[c]`` the largest circle allowed around ``c`` (``max_size``, fewer where ``max_radius_km`` cuts it)."""
    n = distances.shape[0]
    size = max(1, min(max_size, n))
    # Stable sort on (distance, index); the centre itself comes first even where another location shares its
    # centroid exactly.
    d = distances.copy()
    np.fill_diagonal(d, -1.0)
    order = np.argsort(d, axis=1, kind="stable")[:, :size]
    sizes = np.full(n, size, dtype=np.int64)
    if max_radius_km is not None:
        within = np.take_along_axis(distances, order, axis=1) <= max_radius_km
        sizes = np.maximum(1, within.sum(axis=1)).astype(np.int64)
    return order.astype(np.int32), sizes
