"""What the fit does for image quality: the luma-stretched distance at large k and the Lloyd
passes on the rounded 8-bit palette."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import kmimg.colorfit as cluster
from kmimg.colorfit import build_color_table, fit_palette, nearest_center, to_features
from kmimg.translucency import ALPHA_WEIGHT
from kmimg.types import ColorSpace

LUMA = np.array([0.299, 0.587, 0.114])


@given(arrays(np.float64, (6, 3), elements=st.floats(0, 255)))
def test_stretched_distance_adds_a_share_of_the_luma_difference(colors: np.ndarray) -> None:
    stretched = cluster._stretch_luma(colors)
    for a in range(len(colors)):
        for b in range(len(colors)):
            plain = float(np.sum((colors[a] - colors[b]) ** 2))
            luma = float((colors[a] - colors[b]) @ LUMA)
            expected = plain + cluster._LUMA_EXTRA * luma**2
            assert float(np.sum((stretched[a] - stretched[b]) ** 2)) == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(cluster._unstretch_luma(stretched), colors, atol=1e-9)


def test_stretch_leaves_alpha_alone() -> None:
    rgba = np.array([[10.0, 200.0, 30.0, 128.0], [0.0, 0.0, 0.0, 7.0]])
    stretched = cluster._stretch_luma(rgba)
    np.testing.assert_array_equal(stretched[:, 3], rgba[:, 3])
    assert not np.allclose(stretched[:, :3], rgba[:, :3])


def _stretched_nearest(colors: np.ndarray, palette: np.ndarray) -> np.ndarray:
    return nearest_center(
        cluster._stretch_luma(colors.astype(np.float64)), cluster._stretch_luma(palette.astype(np.float64))
    )


def test_large_palettes_map_colours_by_the_luma_stretched_distance(noisy_rgb: np.ndarray) -> None:
    table = build_color_table(noisy_rgb.reshape(-1, 3))
    k = cluster.DEFAULT_SCHEDULE.large_k + 8
    fitted = fit_palette(table, k=k, seed=0)
    assert len(fitted.colors) > cluster.DEFAULT_SCHEDULE.large_k
    np.testing.assert_array_equal(fitted.labels, _stretched_nearest(table.colors, fitted.colors))
    plain = nearest_center(table.colors.astype(np.float64), fitted.colors.astype(np.float64))
    assert (plain != fitted.labels).any()  # the two distances really differ on this image


def test_small_palettes_and_lab_keep_their_plain_distance(noisy_rgb: np.ndarray) -> None:
    table = build_color_table(noisy_rgb.reshape(-1, 3))
    small = fit_palette(table, k=cluster.DEFAULT_SCHEDULE.large_k - 1, seed=0)
    _assert_nearest(table.colors.astype(np.float64), small.colors.astype(np.float64), small.labels)
    lab = fit_palette(table, k=cluster.DEFAULT_SCHEDULE.large_k + 8, seed=0, space=ColorSpace.LAB)
    _assert_nearest(
        to_features(table.colors, ColorSpace.LAB), to_features(lab.colors, ColorSpace.LAB), lab.labels
    )


def _assert_nearest(points: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> None:
    """Each point's label is one of its nearest centres (on a tie, either entry will do: the
    palette is reordered by count after the fit)."""
    squared = ((points[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(squared[np.arange(len(points)), labels], squared.min(axis=1), rtol=1e-6)
    assert (labels == nearest_center(points, centers)).mean() > 0.99  # ties are rare


def _squared_error(table: cluster.ColorTable, fitted: cluster.FittedPalette) -> float:
    diff = table.colors.astype(np.float64) - fitted.colors[fitted.labels].astype(np.float64)
    return float(np.einsum("i,i->", table.counts.astype(np.float64), np.einsum("ij,ij->i", diff, diff)))


def test_large_palettes_trade_a_little_rgb_error_for_less_luma_error(noisy_rgb: np.ndarray) -> None:
    table = build_color_table(noisy_rgb.reshape(-1, 3))
    k = 48
    # Six starts for both fits (this table of 1,200 colours is a small one, fitted from 2 starts by
    # default): from fewer, which local optimum each fit lands in moves the luma error more
    # than the luma term does (2 starts: 57,200 against 56,200).
    schedule = replace(cluster.DEFAULT_SCHEDULE, small_max_inits=6)
    stretched = fit_palette(table, k=k, seed=0, schedule=schedule)

    def luma_error(fitted: cluster.FittedPalette) -> float:
        diff = (table.colors.astype(np.float64) - fitted.colors[fitted.labels].astype(np.float64)) @ LUMA
        return float(np.einsum("i,i->", table.counts.astype(np.float64), diff * diff))

    plain_schedule = replace(schedule, large_k=10_000)  # the plain RGB fit at the same k
    plain = fit_palette(table, k=k, seed=0, schedule=plain_schedule)
    assert luma_error(stretched) < luma_error(plain)
    assert _squared_error(table, stretched) < 1.15 * _squared_error(table, plain)


def test_rounded_passes_never_increase_the_error_and_settle(rng: np.random.Generator) -> None:
    pixels = np.clip(rng.normal(128, 40, (4000, 3)), 0, 255).astype(np.uint8)
    table = build_color_table(pixels)
    features = table.colors.astype(np.float64)

    space = cluster._FeatureSpace(ColorSpace.RGB, 3)  # plain RGB: rounded, clipped, distinct

    def palette_of(centers: np.ndarray) -> np.ndarray:
        return np.unique(np.clip(np.rint(centers), 0, 255).astype(np.uint8), axis=0)

    def features_of(palette: np.ndarray) -> np.ndarray:
        return palette.astype(np.float64)

    # As in fit_palette: from converged float centres, rounded to 8-bit colours.
    centers = cluster._lloyd_passes(features, table.counts, features[rng.choice(len(features), 12)], 200)
    start = palette_of(centers)
    labels = nearest_center(features, features_of(start))

    def error(palette: np.ndarray, labels: np.ndarray) -> float:
        diff = features - palette[labels].astype(np.float64)
        return float(np.sum(table.counts * np.sum(diff * diff, axis=1)))

    np.testing.assert_array_equal(space.palette_of(centers), start)
    nearest = cluster._assign(features, features_of(start))
    np.testing.assert_array_equal(nearest.labels, labels)
    palette, settled = cluster._rounded_passes(features, table.counts, start, nearest, space)
    assert error(palette, settled.labels) < error(start, labels)
    # Each pass re-assigns from the last one's bounds: the labels of a full search.
    np.testing.assert_array_equal(settled.labels, nearest_center(features, features_of(palette)))
    # Settled: one more round of passes moves no entry.
    again, _ = cluster._rounded_passes(features, table.counts, palette, settled, space)
    np.testing.assert_array_equal(again, palette)


@pytest.mark.parametrize("threads", ["2", "4"])
def test_large_k_fit_is_the_same_whatever_the_thread_count(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    # More distinct colours than one chunk of the nearest-entry search, so threads share it.
    table = build_color_table(rng.integers(0, 256, (3 * cluster._CHUNK, 3), dtype=np.uint8))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    reference = fit_palette(table, k=64, seed=2)
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    again = fit_palette(table, k=64, seed=2)
    np.testing.assert_array_equal(reference.colors, again.colors)
    np.testing.assert_array_equal(reference.labels, again.labels)


def test_over_relaxed_passes_get_further_than_as_many_plain_ones() -> None:
    """Plain Lloyd creeps on dense colours (a noisy smooth image: ~88,000 distinct colours);
    the large-k schedule's relaxed passes close most of the gap to many more plain passes."""
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:300, 0:300] / 300.0
    smooth = np.stack([255 * x, 255 * y, 128 + 100 * np.sin(6 * x + 4 * y)], axis=-1)
    pixels = np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8).reshape(-1, 3)
    table = build_color_table(pixels)
    features = table.colors.astype(np.float64)
    start = cluster._kmeans_centers(features, table.counts, k=64, seed=0, sample=20_000)

    def inertia(centers: np.ndarray) -> float:
        _, distances = cluster._nearest_with_distance(features, centers)
        return float(table.counts @ distances.astype(np.float64))

    passes = cluster.DEFAULT_SCHEDULE.large_k_full_passes
    plain = inertia(cluster._lloyd_passes(features, table.counts, start, passes))
    many = inertia(cluster._lloyd_passes(features, table.counts, start, 40))
    relaxed = inertia(
        cluster._lloyd_passes(
            features, table.counts, start, passes, relax=cluster.DEFAULT_SCHEDULE.large_k_relax
        )
    )
    assert relaxed < plain - 0.4 * (plain - many)


@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.sampled_from([3, 4]))))
def test_fit_space_turns_8_bit_colours_back_into_themselves(colors: np.ndarray) -> None:
    """Every 8-bit colour comes back from its features, but a fully transparent one, which has
    no colour to see: it comes back as (0, 0, 0, 0)."""
    space = cluster._FeatureSpace(ColorSpace.RGB, colors.shape[1], extra=1.5, gamma=0.85)
    if colors.shape[1] == 4:
        colors = np.where(colors[:, 3:] == 0, 0, colors).astype(np.uint8)
    np.testing.assert_array_equal(space.palette_of(space.features_of(colors)), cluster._unique_rows(colors))


def test_fit_space_gamma_spreads_dark_tones_and_leaves_alpha_alone() -> None:
    """In RGBA the gamma applies to the composite over mid-grey (an opaque pixel's colour)."""
    rgba = np.array(
        [[0, 0, 0, 255], [8, 8, 8, 255], [240, 240, 240, 255], [248, 248, 248, 40]], dtype=np.uint8
    )
    rgba[3, 3] = 255
    features = cluster._FeatureSpace(ColorSpace.RGB, 4, gamma=0.85).features_of(rgba)
    assert features[1, 0] - features[0, 0] > 8 * 1.5  # dark steps grow ...
    assert features[3, 0] - features[2, 0] < 8  # ... bright ones shrink
    np.testing.assert_allclose(features[:, 3], rgba[:, 3] * ALPHA_WEIGHT)


def test_small_palettes_give_dark_tones_more_entries_than_the_plain_fit() -> None:
    """The small-k schedule (gamma and luma term in the fit, plain distance to settle and map)
    keeps more of a dark, noisy sky's levels, which SSIM sees as texture: a 256x256 crop of the
    Hubble deep field that scikit-image ships (one of the benchmarks' hold-out photos)."""
    from kmimg import metrics

    data = pytest.importorskip("skimage.data")
    crop = np.ascontiguousarray(data.hubble_deep_field()[500:756, 500:756])
    table = build_color_table(crop.reshape(-1, 3))
    plain_schedule = replace(cluster.DEFAULT_SCHEDULE, small_k_gamma=1.0, small_k_luma_extra=0.0)
    plain = fit_palette(table, k=8, seed=0, schedule=plain_schedule)
    ours = fit_palette(table, k=8, seed=0)

    def dark_entries(fitted: cluster.FittedPalette) -> int:
        return int((fitted.colors.astype(np.float64) @ LUMA < 40).sum())

    def ssim(fitted: cluster.FittedPalette) -> float:
        return metrics.ssim(crop, fitted.colors[table.spread(fitted.labels)].reshape(crop.shape))

    assert dark_entries(ours) > dark_entries(plain)
    assert ssim(ours) > ssim(plain) + 0.01  # 0.954 against 0.935
    np.testing.assert_array_equal(
        ours.labels, nearest_center(table.colors.astype(np.float64), ours.colors.astype(np.float64))
    )
