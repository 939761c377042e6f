"""Geometric metrics between answers and ground truth, in the caller's units (0–1000 by convention).

Curves are (N, 2) arrays of points. All functions are pure NumPy and deterministic.
"""

from __future__ import annotations

import numpy as np


def _curve(points) -> np.ndarray:
    curve = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(curve) == 0:
        raise ValueError("a curve needs at least one point")
    return curve


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def discrete_frechet(a, b) -> float:
    """Discrete Fréchet distance (Eiter & Mannila): the shortest leash that lets two walkers
    cover both curves in order, each only moving forwards."""
    a, b = _curve(a), _curve(b)
    dist = _pairwise(a, b)
    n, m = dist.shape
    coupling = np.empty((n, m))
    coupling[0, 0] = dist[0, 0]
    for j in range(1, m):
        coupling[0, j] = max(coupling[0, j - 1], dist[0, j])
    for i in range(1, n):
        coupling[i, 0] = max(coupling[i - 1, 0], dist[i, 0])
        for j in range(1, m):
            best = min(coupling[i - 1, j], coupling[i - 1, j - 1], coupling[i, j - 1])
            coupling[i, j] = max(best, dist[i, j])
    return float(coupling[-1, -1])


def hausdorff(a, b) -> float:
    """Symmetric Hausdorff distance between the two point sets."""
    dist = _pairwise(_curve(a), _curve(b))
    return float(max(dist.min(axis=1).max(), dist.min(axis=0).max()))


def resample_by_arc_length(points, n: int = 20) -> np.ndarray:
    """``n`` points spaced uniformly along the polyline (a zero-length curve repeats its point)."""
    curve = _curve(points)
    seg = np.sqrt((np.diff(curve, axis=0) ** 2).sum(-1))
    cumulative = np.concatenate([[0.0], np.cumsum(seg)])
    if cumulative[-1] <= 0:
        return np.repeat(curve[:1], n, axis=0)
    targets = np.linspace(0.0, cumulative[-1], n)
    return np.stack([np.interp(targets, cumulative, curve[:, k]) for k in range(2)], axis=1)


def rmse_resampled(a, b, n: int = 20) -> float:
    """Root-mean-square distance between the curves after resampling both to ``n`` points."""
    diff = resample_by_arc_length(a, n) - resample_by_arc_length(b, n)
    return float(np.sqrt((diff**2).sum(-1).mean()))


def path_length(points) -> float:
    """Length of the polyline."""
    return float(np.sqrt((np.diff(_curve(points), axis=0) ** 2).sum(-1)).sum())


def length_agreement(a, b) -> float:
    """min(L_a, L_b) / max(L_a, L_b) of the two path lengths (1 when both are 0)."""
    la, lb = path_length(a), path_length(b)
    return 1.0 if max(la, lb) == 0 else min(la, lb) / max(la, lb)


def endpoint_error(a, b) -> float:
    """Distance between the curves' last points."""
    return float(np.linalg.norm(_curve(a)[-1] - _curve(b)[-1]))


def box_iou(a, b) -> float:
    """Intersection over union of two boxes [x1, y1, x2, y2] (0 when both are empty)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    return float(inter / union) if union > 0 else 0.0


def _mask_pixel(point, mask: np.ndarray, norm: float) -> tuple[int, int]:
    h, w = mask.shape
    x, y = float(point[0]), float(point[1])
    return int(np.clip(np.floor(y / norm * h), 0, h - 1)), int(np.clip(np.floor(x / norm * w), 0, w - 1))


def point_in_mask(point, mask: np.ndarray, norm: float = 1000.0) -> bool:
    """Whether a point (x, y in [0, norm]) falls on a pixel of the H×W boolean mask."""
    row, col = _mask_pixel(point, mask, norm)
    return bool(mask[row, col])


def distance_to_mask(point, mask: np.ndarray, norm: float = 1000.0) -> float:
    """Distance (in ``norm`` units, x scaled by width and y by height) from a point to the nearest
    mask pixel centre; 0 inside the mask, inf for an empty mask."""
    if point_in_mask(point, mask, norm):
        return 0.0
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return float("inf")
    h, w = mask.shape
    dx = (cols + 0.5) / w * norm - float(point[0])
    dy = (rows + 0.5) / h * norm - float(point[1])
    return float(np.sqrt(dx**2 + dy**2).min())
