"""The C kernel (kmimg._engine) against the numpy code it replaced: the same bits, not just close.

The references below are the numpy implementations kmimg used before the kernel, written out
plainly: float32 squared distances summed in order, the lowest index on ties, float64 weighted
sums in point order. The kernel must give exactly their answers whatever search it uses (the
cell lists, the projection search, the Hamerly bounds), so the tests use integer colours with
many exact ties, duplicated centres and every dimension the engine meets.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kmimg.colorfit as cluster
from kmimg import _engine


def _reference_nearest(points: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, ...]:
    x = points.astype(np.float32)
    c = centers.astype(np.float32)
    dist = np.zeros((len(x), len(c)), dtype=np.float32)
    for d in range(x.shape[1]):
        diff = x[:, d : d + 1] - c[None, :, d]
        dist = dist + diff * diff
    labels = np.argmin(dist, axis=1)  # the first (lowest) index on ties
    ordered = np.sort(dist, axis=1)
    second = ordered[:, 1] if len(c) > 1 else np.full(len(x), np.inf, dtype=np.float32)
    return labels, ordered[:, 0], second


def _lattice(rng: np.random.Generator, n: int, dim: int, levels: int) -> np.ndarray:
    """Integer points on a coarse lattice: many points at exactly equal distances."""
    return (rng.integers(0, levels, (n, dim)) * (255 // (levels - 1))).astype(np.float64)


@pytest.mark.parametrize("dim", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(
    ("n", "m"), [(50, 3), (300, 7), (3000, 9), (3000, 64), (5000, 256), (70_000, 4), (20_000, 17)]
)
def test_nearest_matches_a_full_scan_bit_for_bit(dim: int, n: int, m: int) -> None:
    """Up to BOUNDED_SCAN_MAX points x centres by a plain scan, beyond through the search
    structures (the last three sizes): the same answers, ties included."""
    rng = np.random.default_rng(dim * 1000 + m)
    points = _lattice(rng, n, dim, 9)
    centers = _lattice(rng, m, dim, 9)
    centers[m // 2] = centers[0]  # a duplicated centre: a tie at every distance
    labels, best, second = cluster._nearest_two(points, centers)
    ref_labels, ref_best, ref_second = _reference_nearest(points, centers)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(best, ref_best)
    np.testing.assert_array_equal(second, ref_second)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 40),
    st.integers(1, 700),
    st.integers(0, 2**32 - 1),
    st.sampled_from([3, 5, 17, 256]),
)
def test_nearest_on_arbitrary_lattices(dim: int, m: int, n: int, seed: int, levels: int) -> None:
    rng = np.random.default_rng(seed)
    points = _lattice(rng, n, dim, levels) + rng.integers(0, 2, (n, dim))
    centers = _lattice(rng, m, dim, levels)
    labels, best, second = cluster._nearest_two(points, centers)
    ref_labels, ref_best, ref_second = _reference_nearest(points, centers)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(best, ref_best)
    np.testing.assert_array_equal(second, ref_second)


def test_nearest_with_fractional_features() -> None:
    """Lab-like and luma-stretched features are not integers: still the full scan's answer."""
    rng = np.random.default_rng(7)
    points = rng.normal(50, 30, (4000, 3))
    centers = rng.normal(50, 30, (120, 3))
    labels, best, second = cluster._nearest_two(points, centers)
    ref = _reference_nearest(points, centers)
    for ours, theirs in zip((labels, best, second), ref, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_cluster_sums_equal_bincount_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(100, 60, (20_000, 4))
    weights = rng.integers(1, 1000, len(features)).astype(np.float64) / 7.0
    labels = rng.integers(0, 37, len(features)).astype(np.intp)
    mass, sums = cluster._cluster_sums(features, weights, labels, 40)
    np.testing.assert_array_equal(mass, np.bincount(labels, weights=weights, minlength=40))
    for d in range(4):
        expected = np.bincount(labels, weights=weights * features[:, d], minlength=40)
        np.testing.assert_array_equal(sums[:, d], expected)


def test_cluster_sums_refuse_a_label_out_of_range() -> None:
    features = np.zeros((3, 3))
    with pytest.raises(ValueError, match="label out of range"):
        cluster._cluster_sums(features, np.ones(3), np.array([0, 5, 1], dtype=np.intp), 2)


class _Numbers:
    """The fit's seeding numbers (``cluster.uniforms`` of a seed, stream ``_SEEDING``) handed out
    in order, with the two draws the reference makes from them (``choice`` as numpy's
    ``Generator.choice(n, p=p)`` turns one uniform number into an index)."""

    def __init__(self, seed: int) -> None:
        self.numbers = cluster.uniforms(seed, cluster._SEEDING, 1 << 16)
        self.at = 0

    def random(self, count: int) -> np.ndarray:
        self.at += count
        return self.numbers[self.at - count : self.at]

    def choice(self, n: int, p: np.ndarray) -> int:
        cdf = np.cumsum(p)
        cdf /= cdf[-1]
        return min(int(np.searchsorted(cdf, self.random(1)[0], side="right")), n - 1)


def _squared(x32: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared distances of the float32 points to each centre, summed as the engine sums them."""
    diff = x32[:, None, :] - centers[None, :, :].astype(np.float32)
    return np.asarray(np.einsum("ijk,ijk->ij", diff, diff), dtype=np.float64)


def _greedy_steps(
    x32: np.ndarray, weights: np.ndarray, closest: np.ndarray, steps: int, trials: int, rng: _Numbers
) -> list[int]:
    """Up to ``steps`` greedy k-means++ choices from the distances ``closest`` to the centres so
    far: ``trials`` candidates drawn by weight x distance, the one that lowers the total most."""
    n, chosen = len(x32), []
    for _ in range(steps):
        cumulative = np.cumsum(weights * closest)
        total = float(cumulative[-1])
        if total <= 0:
            break
        candidates = np.minimum(np.searchsorted(cumulative, rng.random(trials) * total), n - 1)
        trial = np.minimum(closest[:, None], _squared(x32, x32[candidates]))
        best = int(np.argmin(np.einsum("i,ij->j", weights, trial)))
        chosen.append(int(candidates[best]))
        closest = np.ascontiguousarray(trial[:, best])
    return chosen


def _reference_kmeans_plusplus(
    points: np.ndarray, weights: np.ndarray, *, k: int, rng: _Numbers
) -> np.ndarray:
    """kmimg's greedy weighted k-means++ as it was written in numpy."""
    n = len(points)
    trials = 2 + int(np.log(k))
    x32 = points.astype(np.float32)

    first = int(rng.choice(n, p=weights / weights.sum()))
    closest = _squared(x32, x32[first : first + 1])[:, 0]
    chosen = [first, *_greedy_steps(x32, weights, closest, k - 1, trials, rng)]
    centers = points[chosen]
    if len(centers) < k:
        centers = points[np.resize(np.asarray(chosen), k)]
    return np.asarray(centers, dtype=np.float64)


@pytest.mark.parametrize(("k", "n", "dim"), [(2, 40, 3), (16, 3000, 3), (64, 5000, 4), (256, 8000, 3)])
def test_kmeans_plusplus_picks_the_same_seeds(k: int, n: int, dim: int) -> None:
    rng = np.random.default_rng(k)
    points = _lattice(rng, n, dim, 33) + rng.normal(0, 0.5, (n, dim))
    weights = rng.integers(1, 50, n).astype(np.float64)
    # One start and no Lloyd pass: the seeds themselves.
    ours = cluster._best_start(points, weights, k=k, starts=1, seed=11, passes=0, tol=0.0)
    theirs = _reference_kmeans_plusplus(points, weights, k=k, rng=_Numbers(11))
    np.testing.assert_array_equal(ours, theirs)


def test_several_starts_keep_the_lowest_inertia_as_one_start_after_another_would() -> None:
    rng = np.random.default_rng(2)
    points = _lattice(rng, 3000, 3, 33) + rng.normal(0, 0.5, (3000, 3))
    weights = rng.integers(1, 50, 3000).astype(np.float64)
    together = cluster._best_start(points, weights, k=12, starts=5, seed=3, passes=20, tol=0.05)
    one_by_one = _Numbers(3)
    best, best_inertia = None, np.inf
    for _ in range(5):
        seeds = _reference_kmeans_plusplus(points, weights, k=12, rng=one_by_one)
        centers = cluster._lloyd_passes(points, weights, seeds, 20, tol=0.05)
        inertia = float(np.einsum("i,i->", weights, cluster._nearest_with_distance(points, centers)[1]))
        if inertia < best_inertia:
            best, best_inertia = centers, inertia
    np.testing.assert_array_equal(together, best)


def test_kernel_checks_buffer_sizes() -> None:
    points = np.zeros((10, 3), dtype=np.float32)
    centers = np.zeros((2, 3), dtype=np.float32)
    labels = np.zeros(9, dtype=np.intp)  # one short
    best = np.zeros(10, dtype=np.float32)
    with pytest.raises(ValueError, match="labels"):
        _engine.nearest(points, 10, centers, 2, 3, labels, best, None, 0, 10)
    with pytest.raises(ValueError, match="bad shape or range"):
        _engine.nearest(points, 10, centers, 2, 3, np.zeros(10, dtype=np.intp), best, None, 0, 11)


def _reference_cells(points: np.ndarray, weights: np.ndarray, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid cells as kmimg computed them in numpy: keys, np.unique, weighted centroids."""
    low = points.min(axis=0)
    span = np.maximum(points.max(axis=0) - low, 1e-9)
    cells = np.minimum(((points - low) * (grid / span)).astype(np.int64), grid - 1)
    key = np.zeros(len(points), dtype=np.int64)
    for d in range(points.shape[1]):
        key = key * grid + cells[:, d]
    unique, inverse = np.unique(key, return_inverse=True)
    mass = np.bincount(inverse, weights=weights, minlength=len(unique))
    sums = np.stack(
        [
            np.bincount(inverse, weights=weights * points[:, d], minlength=len(unique))
            for d in range(points.shape[1])
        ],
        axis=1,
    )
    return sums / mass[:, None], mass


@pytest.mark.parametrize("dim", [1, 3, 4])
@pytest.mark.parametrize("grid", [1, 7, 24, 64, 128])
def test_grid_cells_equal_the_numpy_cells_bit_for_bit(dim: int, grid: int) -> None:
    rng = np.random.default_rng(grid * 10 + dim)
    points = np.concatenate([_lattice(rng, 3000, dim, 17), rng.normal(120, 40, (3000, dim))])
    points[5] = points[9]  # equal points share a cell
    weights = rng.integers(1, 30, len(points)).astype(np.float64)
    centroids, mass = cluster._reduce_to_cells(points, weights, k=0, grid=grid)
    ref_centroids, ref_mass = _reference_cells(points, weights, grid)
    np.testing.assert_array_equal(centroids, ref_centroids)
    np.testing.assert_array_equal(mass, ref_mass)


def test_grid_cells_of_one_repeated_point() -> None:
    points = np.full((50, 3), 7.0)
    centroids, mass = cluster._reduce_to_cells(points, np.ones(50), k=0, grid=64)
    np.testing.assert_array_equal(centroids, [[7.0, 7.0, 7.0]])
    np.testing.assert_array_equal(mass, [50.0])


def _key_runs(keys: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(keys)
    unique, counts, inverse = np.empty(n, np.uint32), np.empty(n, np.int64), np.empty(n, np.int64)
    count = _engine.key_runs(keys, n, bits, unique, counts, inverse)
    return unique[:count], counts[:count], inverse


@pytest.mark.parametrize("bits", [1, 8, 12, 13, 24, 25, 32])
@pytest.mark.parametrize("n", [1, 2, 100, 5000, 70_000])
def test_key_runs_equal_np_unique(bits: int, n: int) -> None:
    rng = np.random.default_rng(bits * 1000 + n)
    top = np.uint64(1) << np.uint64(bits)
    keys = (rng.integers(0, 2**32, n, dtype=np.uint64) % top).astype(np.uint32)
    keys[: n // 3] = keys[n // 3 : 2 * (n // 3)]  # repeated keys
    if n > 2:
        keys[-1] = np.uint32(int(top) - 1)  # the largest key
    unique, counts, inverse = _key_runs(keys, bits)
    ref_unique, ref_inverse, ref_counts = np.unique(keys, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(unique, ref_unique)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(inverse, ref_inverse.reshape(-1))


def test_key_runs_refuse_keys_wider_than_the_bits_given() -> None:
    with pytest.raises(ValueError, match="more bits"):
        _key_runs(np.array([3, 256], dtype=np.uint32), 8)
    with pytest.raises(ValueError, match="bad shape"):
        _key_runs(np.array([3], dtype=np.uint32), 33)


@pytest.mark.parametrize(("m", "dim"), [(5, 3), (16, 3), (64, 4), (256, 3)])
def test_settle_gives_a_full_search_s_labels(m: int, dim: int) -> None:
    """The re-assignment from an earlier assignment's bounds (the mapping onto the rounded palette,
    the rounded passes) equals a full search, ties to the lowest index included: integer points
    and centres, moved by up to a few units, one centre a duplicate of another."""
    rng = np.random.default_rng(m * 10 + dim)
    points = _lattice(rng, 6000, dim, 33) + rng.integers(0, 3, (6000, dim))
    old = points[rng.choice(len(points), m, replace=False)] + rng.normal(0, 2, (m, dim))
    before = cluster._assign(points, old)
    new = np.rint(old + rng.normal(0, 1.5, (m, dim)))
    new[m // 2] = new[0]  # two old centres become equal new ones
    settled = cluster._settle(points, new, before, old, np.arange(m))
    labels, best, second = _reference_nearest(points, new)
    np.testing.assert_array_equal(settled.labels, labels)
    assert np.all(settled.up + 1e-3 >= np.sqrt(best.astype(np.float64)))  # bounds that still hold
    assert np.all(settled.low <= np.sqrt(second.astype(np.float64)) + 1e-3)


def test_lloyd_bounds_hold_for_the_returned_centres() -> None:
    rng = np.random.default_rng(4)
    points = np.clip(rng.normal(128, 40, (5000, 3)), 0, 255).round()
    weights = rng.integers(1, 20, len(points)).astype(np.float64)
    start = points[rng.choice(len(points), 40, replace=False)] + 0.5
    centers, last = cluster._lloyd_bounded(points, weights, start, 6, relax=2.0)
    np.testing.assert_array_equal(centers, cluster._lloyd_passes(points, weights, start, 6, relax=2.0))
    assert last.moved is not None
    # The last assignment's bounds, widened by the last move, hold for the returned centres.
    labels, _, _ = _reference_nearest(points, centers)
    up = last.up + last.moved[last.labels]
    assert np.all(up + 1e-3 >= np.sqrt(((points - centers[last.labels]) ** 2).sum(axis=1)))
    settled = cluster._settle(points, centers, last, centers, np.arange(len(centers)))
    np.testing.assert_array_equal(settled.labels, labels)


def test_uniforms_are_deterministic_in_range_and_differ_between_seeds_and_streams() -> None:
    first = cluster.uniforms(7, cluster._SEEDING, 10_000)
    np.testing.assert_array_equal(first, cluster.uniforms(7, cluster._SEEDING, 10_000))
    assert first.min() >= 0.0 and first.max() < 1.0
    assert abs(first.mean() - 0.5) < 0.02
    assert not np.array_equal(first, cluster.uniforms(8, cluster._SEEDING, 10_000))
    assert not np.array_equal(first, cluster.uniforms(7, cluster._SAMPLING, 10_000))
    # The same numbers on every machine: integers through a fixed finaliser (SplitMix64).
    np.testing.assert_array_equal(cluster.uniforms(0, 0, 1) * 2.0**53 % 1.0, [0.0])


def _multinomial(counts: np.ndarray, draws: int, seed: int = 0) -> np.ndarray:
    out = np.full(len(counts), -1, dtype=np.int64)
    _engine.multinomial(np.ascontiguousarray(counts, dtype=np.int64), len(counts), draws, seed, 1, out)
    return out


def test_multinomial_draws_every_pixel_equally_often() -> None:
    rng = np.random.default_rng(5)
    counts = np.concatenate([rng.integers(1, 4, 5000), [0, 0], rng.integers(1, 4000, 50), [1]])
    drawn = _multinomial(counts, 400_000)
    assert drawn.sum() == 400_000
    assert (drawn[counts == 0] == 0).all()
    np.testing.assert_array_equal(drawn, _multinomial(counts, 400_000))
    assert not np.array_equal(drawn, _multinomial(counts, 400_000, seed=1))
    expected = 400_000 * counts / counts.sum()
    seen = counts > 0
    # Pearson's statistic per degree of freedom is about 1 for a multinomial sample.
    chi2 = float((((drawn - expected) ** 2)[seen] / expected[seen]).sum()) / (seen.sum() - 1)
    assert 0.9 < chi2 < 1.1
    big = counts >= 1000
    np.testing.assert_allclose(drawn[big], expected[big], rtol=0.1)


def test_multinomial_edges() -> None:
    assert _multinomial(np.array([3]), 10).tolist() == [10]
    assert _multinomial(np.array([0, 5, 0]), 7).tolist() == [0, 7, 0]
    assert _multinomial(np.array([2, 2]), 0).tolist() == [0, 0]
    with pytest.raises(ValueError, match="positive sum"):
        _multinomial(np.array([0, 0]), 3)
    with pytest.raises(ValueError, match="non-negative"):
        _multinomial(np.array([4, -1]), 3)


def test_every_extension_takes_buffers_one_way() -> None:
    """kmimg/_buffers.h: a buffer of the wrong size is a ValueError naming the argument, and an
    output that cannot be written is refused before any work (in all three extensions)."""
    from kmimg import _dither, _png

    with pytest.raises(ValueError, match="out: 13 bytes, but the sizes given need 14"):
        _png.filter_rows(bytes(12), 2, 6, 3, bytearray(13), 0, 2)
    with pytest.raises(ValueError, match="data: 11 bytes"):
        _png.unfilter_rows(bytes(11), 2, 5, 1, bytearray(10))
    with pytest.raises(BufferError):
        _png.unfilter_rows(bytes(12), 2, 5, 1, bytes(10))  # read-only output
    matrix = np.eye(3)
    rgb, palette, ids = (
        np.zeros((2, 2, 3), np.uint8),
        np.zeros((2, 3), np.uint8),
        np.arange(2, dtype=np.uint8),
    )
    box = ((0.0, 0.0, 0.0, 0.0), (255.0, 255.0, 255.0, 255.0))
    with pytest.raises(ValueError, match="keep: 3 bytes"):
        _dither.diffuse(
            rgb,
            np.zeros(3, np.uint8),
            2,
            2,
            3,
            palette,
            ids,
            2,
            matrix,
            1.0,
            1.0,
            0.0,
            1e9,
            *box,
            bytearray(4),
        )
    with pytest.raises(ValueError, match="matrix: 64 bytes"):
        _dither.diffuse(
            rgb, None, 2, 2, 3, palette, ids, 2, matrix.ravel()[:8], 1.0, 1.0, 0.0, 1e9, *box, bytearray(4)
        )
    with pytest.raises(ValueError, match="pixels: 12 bytes"):  # 4 channels: RGBA pixels
        _dither.diffuse(rgb, None, 2, 2, 4, palette, ids, 2, matrix, 1.0, 1.0, 0.0, 1e9, *box, bytearray(4))
    with pytest.raises(ValueError, match="size out of range"):
        _engine.uniforms(0, 0, np.zeros(1), 2**62)


# Fixed centres: the first m centres take part in every assignment and never move -----------------


def _reference_lloyd(
    points: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    passes: int,
    *,
    fixed: int,
    relax: float = 1.0,
) -> np.ndarray:
    """Weighted Lloyd as the kernel computes it, written out: a full search every pass, sums in
    point order (np.bincount), the first ``fixed`` centres never move and are never empty, an
    empty free centre takes the costliest point, over-relaxation but in the last three passes."""
    centers = centers.astype(np.float64).copy()
    free = np.arange(len(centers)) >= fixed
    for done in range(1, passes + 1):
        labels, best, _ = _reference_nearest(points, centers)
        mass = np.bincount(labels, weights=weights, minlength=len(centers))
        sums = np.stack(
            [
                np.bincount(labels, weights=weights * points[:, d], minlength=len(centers))
                for d in range(points.shape[1])
            ],
            axis=1,
        )
        moves = free & (mass > 0)
        updated = centers.copy()
        updated[moves] = sums[moves] / mass[moves, None]
        if relax != 1.0 and done <= passes - 3:
            updated[moves] = centers[moves] + relax * (updated[moves] - centers[moves])
        empty = np.flatnonzero(free & (mass == 0))
        worst = np.argsort(-(weights * best.astype(np.float64)), kind="stable")[: len(empty)]
        updated[empty[: len(worst)]] = points[worst]
        centers = updated
    return centers


@pytest.mark.parametrize(("k", "fixed", "relax"), [(3, 1, 1.0), (12, 3, 2.0), (40, 5, 1.0), (90, 2, 2.0)])
def test_lloyd_with_fixed_centres_equals_the_reference_bit_for_bit(k: int, fixed: int, relax: float) -> None:
    rng = np.random.default_rng(k + fixed)
    points = _lattice(rng, 6000, 3, 33) + rng.integers(0, 3, (6000, 3))
    weights = rng.integers(1, 20, len(points)).astype(np.float64)
    start = points[rng.choice(len(points), k, replace=False)] + rng.normal(0, 3, (k, 3))
    start[:fixed] = rng.normal(128, 50, (fixed, 3))  # any feature vectors, not points
    start[0] = [900.0, -50.0, 900.0]  # a fixed centre no point comes to: not an empty cluster
    start[-1] = [900.0, 900.0, 900.0]  # a free one: empty on the first pass, moved to a point
    ours = cluster._lloyd_passes(points, weights, start, 25, relax=relax, fixed=fixed)
    np.testing.assert_array_equal(
        ours, _reference_lloyd(points, weights, start, 25, fixed=fixed, relax=relax)
    )
    np.testing.assert_array_equal(ours[:fixed], start[:fixed])
    bounded, last = cluster._lloyd_bounded(points, weights, start, 25, relax=relax, fixed=fixed)
    np.testing.assert_array_equal(bounded, ours)
    assert last.moved is not None and not last.moved[:fixed].any()


def _reference_seeding(
    points: np.ndarray, weights: np.ndarray, *, k: int, fixed: np.ndarray, rng: _Numbers
) -> np.ndarray:
    """:func:`_reference_kmeans_plusplus` continuing from ``fixed`` centres instead of a first point
    (whose number is drawn and not used)."""
    n = len(points)
    trials = 2 + int(np.log(k))
    x32 = points.astype(np.float32)

    rng.random(1)
    closest = _squared(x32, fixed).min(axis=1)
    chosen = _greedy_steps(x32, weights, closest, k - len(fixed), trials, rng)
    picked = np.resize(np.asarray(chosen), k - len(fixed)) if chosen else np.arange(k - len(fixed)) % n
    return np.vstack([fixed, points[picked]])


@pytest.mark.parametrize(
    ("k", "n", "dim", "m"), [(2, 40, 3, 1), (16, 3000, 3, 3), (64, 5000, 4, 5), (256, 8000, 3, 2)]
)
def test_kmeans_plusplus_continues_from_fixed_centres(k: int, n: int, dim: int, m: int) -> None:
    rng = np.random.default_rng(k)
    points = _lattice(rng, n, dim, 33) + rng.normal(0, 0.5, (n, dim))
    weights = rng.integers(1, 50, n).astype(np.float64)
    fixed = rng.normal(128, 60, (m, dim))
    ours = cluster._best_start(points, weights, k=k, starts=1, seed=11, passes=0, tol=0.0, fixed=fixed)
    np.testing.assert_array_equal(
        ours, _reference_seeding(points, weights, k=k, fixed=fixed, rng=_Numbers(11))
    )


def test_starts_with_fixed_centres_keep_the_lowest_inertia_of_the_reference_fits() -> None:
    rng = np.random.default_rng(6)
    points = _lattice(rng, 3000, 3, 33) + rng.normal(0, 0.5, (3000, 3))
    weights = rng.integers(1, 50, 3000).astype(np.float64)
    fixed = np.array([[0.0, 0.0, 0.0], [255.0, 10.5, 3.25]])
    together = cluster._best_start(points, weights, k=10, starts=4, seed=3, passes=15, tol=0.05, fixed=fixed)
    numbers, best, lowest = _Numbers(3), None, np.inf
    for _ in range(4):
        seeds = _reference_seeding(points, weights, k=10, fixed=fixed, rng=numbers)
        numbers.random((10 - 1) * (2 + int(np.log(10))) - (10 - 2) * (2 + int(np.log(10))))  # unused draws
        centers = cluster._lloyd_passes(points, weights, seeds, 15, tol=0.05, fixed=2)
        inertia = float(np.einsum("i,i->", weights, cluster._nearest_with_distance(points, centers)[1]))
        if inertia < lowest:
            best, lowest = centers, inertia
    np.testing.assert_array_equal(together, best)
    np.testing.assert_array_equal(together[:2], fixed)


def test_every_point_on_a_fixed_centre_leaves_the_free_ones_on_points() -> None:
    points = np.array([[0.0, 0.0, 0.0]] * 5 + [[9.0, 9.0, 9.0]] * 5)
    fixed = np.array([[0.0, 0.0, 0.0], [9.0, 9.0, 9.0]])
    centers = cluster._best_start(points, np.ones(10), k=4, starts=1, seed=0, passes=3, tol=0.0, fixed=fixed)
    np.testing.assert_array_equal(centers[:2], fixed)
    assert {tuple(row) for row in centers[2:].tolist()} <= {(0.0, 0.0, 0.0), (9.0, 9.0, 9.0)}


def test_rounded_passes_keep_the_fixed_entries_and_give_a_full_search_s_labels() -> None:
    rng = np.random.default_rng(8)
    colors = np.unique(rng.integers(0, 256, (4000, 3)).astype(np.uint8), axis=0)
    weights = rng.integers(1, 30, len(colors))
    space = cluster._FeatureSpace(cluster.ColorSpace.RGB, 3)
    features = space.features_of(colors)
    palette = np.vstack([[[7, 7, 7], [250, 0, 0]], np.unique(colors[rng.choice(len(colors), 14)], axis=0)])
    palette = palette.astype(np.uint8)
    start = cluster._assign(features, space.features_of(palette))
    rounded, nearest = cluster._rounded_passes(features, weights, palette, start, space, passes=5, fixed=2)
    np.testing.assert_array_equal(rounded[:2], palette[:2])
    assert len(np.unique(rounded, axis=0)) == len(rounded)
    np.testing.assert_array_equal(nearest.labels, _reference_nearest(features, space.features_of(rounded))[0])


@pytest.mark.parametrize(
    ("k", "n", "dim", "m"), [(2, 40, 3, 0), (16, 900, 3, 0), (16, 1500, 4, 1), (64, 2000, 4, 3)]
)
def test_dense_seeding_picks_the_reference_seeds(k: int, n: int, dim: int, m: int) -> None:
    # The dense seeding (small tables) sums each candidate's gain over every point in order, not
    # list by list: on integer points and weights every sum is exact, so the seeds must be the
    # reference's (and the lists' ones) bit for bit, ties included.
    rng = np.random.default_rng(k + n)
    points = _lattice(rng, n, dim, 9)
    weights = rng.integers(1, 50, n).astype(np.float64)
    fixed = _lattice(rng, m, dim, 5) + 0.5 if m else None
    dense = cluster._best_start(
        points, weights, k=k, starts=1, seed=5, passes=0, tol=0.0, fixed=fixed, dense=True
    )
    lists = cluster._best_start(points, weights, k=k, starts=1, seed=5, passes=0, tol=0.0, fixed=fixed)
    np.testing.assert_array_equal(dense, lists)
    if fixed is None:
        theirs = _reference_kmeans_plusplus(points, weights, k=k, rng=_Numbers(5))
    else:
        theirs = _reference_seeding(points, weights, k=k, fixed=fixed, rng=_Numbers(5))
    np.testing.assert_array_equal(dense, theirs)


def test_dense_starts_keep_the_lowest_inertia_as_the_list_seeding_does() -> None:
    rng = np.random.default_rng(8)
    points = _lattice(rng, 1200, 3, 17)
    weights = rng.integers(1, 50, 1200).astype(np.float64)
    dense = cluster._best_start(points, weights, k=16, starts=6, seed=2, passes=5, tol=0.05, dense=True)
    lists = cluster._best_start(points, weights, k=16, starts=6, seed=2, passes=5, tol=0.05)
    np.testing.assert_array_equal(dense, lists)


def test_dense_starts_are_the_same_whatever_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # The dense seeding keeps each candidate's distances for the step's take (small tables, the
    # icons' fit): on float features (gamma, luma stretch) the starts must not depend on how
    # many threads run them, nor differ from run to run.
    rng = np.random.default_rng(11)
    colors = rng.integers(0, 256, (700, 4)).astype(np.uint8)
    features = cluster._FeatureSpace(cluster.ColorSpace.RGB, 4, 1.5, 0.85).features_of(colors)
    weights = rng.integers(1, 40, len(colors)).astype(np.float64)
    fits = []
    for threads in ("1", "3", "1"):
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        fits.append(
            cluster._best_start(features, weights, k=16, starts=3, seed=4, passes=5, tol=0.05, dense=True)
        )
    np.testing.assert_array_equal(fits[0], fits[1])
    np.testing.assert_array_equal(fits[0], fits[2])


@pytest.mark.parametrize(
    ("n", "k", "dim", "fixed", "relax"),
    [
        (300, 16, 3, 0, 1.0),
        (250, 16, 4, 1, 1.0),
        (400, 40, 3, 2, 2.0),
        (120, 5, 3, 0, 2.0),
        (60, 20, 4, 3, 1.0),
    ],
)
def test_small_sets_passes_equal_the_reference_bit_for_bit(
    n: int, k: int, dim: int, fixed: int, relax: float
) -> None:
    """A set of at most SCAN_MAX points x centres (an icon's colours) is assigned by a plain scan
    spared by Hamerly's bounds: the same centres as a full search every pass, ties included, and
    bounds (with the last move) that hold for the returned centres."""
    rng = np.random.default_rng(n + k + dim)
    points = _lattice(rng, n, dim, 9) + rng.integers(0, 2, (n, dim))
    weights = rng.integers(1, 20, n).astype(np.float64)
    start = points[rng.choice(n, k, replace=False)] + rng.normal(0, 3, (k, dim))
    start[:fixed] = rng.normal(128, 50, (fixed, dim))
    start[-1] = 900.0  # a free centre no point comes to: empty on the first pass
    ours = cluster._lloyd_passes(points, weights, start, 40, relax=relax, fixed=fixed)
    np.testing.assert_array_equal(
        ours, _reference_lloyd(points, weights, start, 40, fixed=fixed, relax=relax)
    )
    bounded, last = cluster._lloyd_bounded(points, weights, start, 40, relax=relax, fixed=fixed)
    np.testing.assert_array_equal(bounded, ours)
    assert last.moved is not None
    up = last.up + last.moved[last.labels]
    assert np.all(up + 1e-3 >= np.sqrt(((points - bounded[last.labels]) ** 2).sum(axis=1)))
    settled = cluster._settle(points, bounded, last, bounded, np.arange(k))
    np.testing.assert_array_equal(settled.labels, _reference_nearest(points, bounded)[0])


@pytest.mark.parametrize(
    ("k", "dim", "relax"),
    [(2, 3, 2.0), (64, 3, 2.0), (128, 3, 1.0), (256, 3, 2.0), (300, 3, 2.0), (256, 4, 2.0)],
)
def test_carried_neighbour_lists_give_the_reference_centres(k: int, dim: int, relax: float) -> None:
    """From CARRY_MIN centres the Lloyd passes carry each centre's neighbour list from pass to pass
    (distances lowered by the moves, the rows that moved most listed again) instead of listing
    them anew: the same centres as a full search every pass, bit for bit, ties included (integer
    points, duplicated centres), and bounds that hold for the returned centres."""
    rng = np.random.default_rng(k * 7 + dim)
    points = _lattice(rng, 6000, dim, 33) + rng.integers(0, 3, (6000, dim))
    weights = rng.integers(1, 20, len(points)).astype(np.float64)
    start = points[rng.choice(len(points), k, replace=False)] + rng.normal(0, 2, (k, dim))
    start[k // 2] = start[0]  # a duplicated centre: exact ties on every pass
    ours = cluster._lloyd_passes(points, weights, start, 15, relax=relax)
    np.testing.assert_array_equal(ours, _reference_lloyd(points, weights, start, 15, fixed=0, relax=relax))
    bounded, last = cluster._lloyd_bounded(points, weights, start, 15, relax=relax)
    np.testing.assert_array_equal(bounded, ours)
    assert last.moved is not None
    labels, _, second = _reference_nearest(points, bounded)
    up = last.up + last.moved[last.labels]
    assert np.all(up + 1e-3 >= np.sqrt(((points - bounded[last.labels]) ** 2).sum(axis=1)))
    settled = cluster._settle(points, bounded, last, bounded, np.arange(k))
    np.testing.assert_array_equal(settled.labels, labels)
    assert np.all(settled.low <= np.sqrt(second.astype(np.float64)) + 1e-3)
