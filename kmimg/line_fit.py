"""Exact k-means for colours on one line: grey images, and one colour fading in alpha.

When every distinct colour of an image lies on one straight line of the fit's feature space (a
grey image in RGB or CIELAB; in the alpha-aware space of :mod:`kmimg.translucency`, a shadow or a
glow of one colour over transparency), k-means is a one-dimensional problem: every cluster of an
optimal palette is a run of neighbouring points along the line, and dynamic programming over the
sorted points finds the partition of least squared error exactly (Bellman 1973; Wang & Song,
"Ckmeans.1d.dp", The R Journal 2011). Lloyd's local search can do no better, and at some k it
does much worse on such images.

Each run's cost is that of the colour its mean rounds to (``writable``), not of the mean, so the
optimum is taken among palettes that can be written. A fixed centre on the line (the fully
transparent entry) serves the run that holds it.

The walk is ``O(k n^2)`` for ``n`` points on the line; lines of more than :data:`MAX_POINTS`
points are left to k-means (a grey image has at most 256, a fading colour 255).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

#: More distinct points than this on one line are fitted by k-means instead.
MAX_POINTS = 512
#: How far off the line (relative to its length) a point may be and still count as on it.
_OFF_LINE = 1e-9


def line_positions(
    points: NDArray[np.float64], fixed: NDArray[np.float64] | None = None
) -> NDArray[np.float64] | None:
    """Each point's position along the line through ``points`` ``(n, d)`` (and ``fixed``, the
    last position, when given), or ``None`` when they are not all on one line, or are fewer than
    two or more than :data:`MAX_POINTS`."""
    every = points if fixed is None else np.vstack([points, fixed[None, :]])
    if not 2 <= len(points) <= MAX_POINTS:
        return None
    offsets = every - every[0]
    far = int(np.argmax(np.einsum("ij,ij->i", offsets, offsets)))
    length = float(np.sqrt(offsets[far] @ offsets[far]))
    if length == 0.0:
        return None
    unit = offsets[far] / length
    along = offsets @ unit
    if float(np.abs(offsets - along[:, None] * unit).max()) > _OFF_LINE * length:
        return None
    return np.asarray(along, dtype=np.float64)


def fit_on_line(
    points: NDArray[np.float64],
    weights: NDArray[np.float64],
    positions: NDArray[np.float64],
    k: int,
    writable: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    fixed: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """The centres ``(m, d)``, ``m <= k``, of the least-squares partition into runs of
    ``points`` on one line at ``positions`` (from :func:`line_positions`, with ``fixed`` last when
    given). ``writable`` maps centres ``(r, d)`` to the centres that can be written (rounded
    colours, as features). ``fixed`` ``(d,)`` is one of the ``k`` centres."""
    x = points if fixed is None else np.vstack([points, fixed[None, :]])
    w = weights if fixed is None else np.append(weights, 0.0)
    order = np.argsort(positions, kind="stable")
    x, w = x[order], np.asarray(w, dtype=np.float64)[order]
    pinned = -1 if fixed is None else int(np.flatnonzero(order == len(points))[0])
    cost, centres = _run_costs(x, w, writable, fixed, pinned)
    runs = _best_runs(cost, k)
    return np.stack([centres[i, j] for i, j in runs])


def _run_costs(
    x: NDArray[np.float64],
    w: NDArray[np.float64],
    writable: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    fixed: NDArray[np.float64] | None,
    pinned: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``cost[i, j]``: the squared error of the run of sorted points ``i..j`` served by its
    writable centre ``centres[i, j]`` (the fixed centre for runs that hold ``pinned``); ``inf``
    below the diagonal."""
    n, d = x.shape
    mass = np.concatenate([[0.0], np.cumsum(w)])
    first = np.vstack([np.zeros((1, d)), np.cumsum(w[:, None] * x, axis=0)])
    second = np.concatenate([[0.0], np.cumsum(w * np.einsum("ij,ij->i", x, x))])
    i, j = np.triu_indices(n)
    run_mass = mass[j + 1] - mass[i]
    run_first = first[j + 1] - first[i]
    run_second = second[j + 1] - second[i]
    centre = writable(run_first / np.where(run_mass > 0, run_mass, 1.0)[:, None])
    holds = (i <= pinned) & (pinned <= j)
    if fixed is not None:
        centre[holds] = fixed
    error = (
        run_second
        - 2.0 * np.einsum("ij,ij->i", centre, run_first)
        + np.einsum("ij,ij->i", centre, centre) * run_mass
    )
    cost = np.full((n, n), np.inf)
    cost[i, j] = np.maximum(error, 0.0)
    centres = np.zeros((n, n, d))
    centres[i, j] = centre
    return cost, centres


def _best_runs(cost: NDArray[np.float64], k: int) -> list[tuple[int, int]]:
    """The runs ``(first, last)`` of the cheapest cover of ``0..n-1`` by at most ``k`` runs
    (Bellman's walk: ``best[m, j]`` is the least cost of points ``0..j`` in ``m + 1`` runs)."""
    n = len(cost)
    layers = min(k, n)
    best = np.empty((layers, n))
    start = np.zeros((layers, n), dtype=np.intp)
    best[0] = cost[0]
    for m in range(1, layers):
        before = np.concatenate([[np.inf], best[m - 1, :-1]])  # points 0..i-1 in m runs
        total = before[:, None] + cost
        start[m] = np.argmin(total, axis=0)
        best[m] = total[start[m], np.arange(n)]
    m = int(np.argmin(best[:, n - 1]))
    runs = []
    last = n - 1
    while m >= 0:
        first = int(start[m, last]) if m else 0
        runs.append((first, last))
        last, m = first - 1, m - 1
    return runs[::-1]
