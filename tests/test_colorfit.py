"""The k-means colour engine: histogram, fit, mapping."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pytest

from kmimg.colorfit import DEFAULT_SCHEDULE, build_color_table, fit_palette, nearest_center
from kmimg.types import ColorSpace

if TYPE_CHECKING:
    from kmimg.colorfit import ColorTable


def test_color_table_counts_distinct_colours() -> None:
    pixels = np.array([[1, 2, 3], [1, 2, 3], [9, 9, 9], [1, 2, 3]], dtype=np.uint8)
    table = build_color_table(pixels)
    assert table.colors.tolist() == [[1, 2, 3], [9, 9, 9]]
    assert table.counts.tolist() == [3, 1]
    assert table.spread(np.array([7, 8])).tolist() == [7, 7, 8, 7]


def expected_table(pixels: np.ndarray) -> dict[tuple[int, ...], int]:
    """Each distinct colour of ``pixels`` and its pixel count, counted independently of
    kmimg.colorfit (numpy's row-wise unique)."""
    colors, counts = np.unique(pixels, axis=0, return_counts=True)
    return {tuple(color): count for color, count in zip(colors.tolist(), counts.tolist(), strict=True)}


def table_as_dict(table: ColorTable) -> dict[tuple[int, ...], int]:
    return {tuple(c): n for c, n in zip(table.colors.tolist(), table.counts.tolist(), strict=True)}


def expected_spread(table: ColorTable, pixels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` (one per row of ``table.colors``) looked up pixel by pixel, by colour."""
    position = {tuple(color): i for i, color in enumerate(table.colors.tolist())}
    return values[[position[tuple(pixel)] for pixel in pixels.tolist()]]


def test_bincount_table_matches_unique_table(rng: np.random.Generator) -> None:
    import kmimg.colorfit as cluster

    pixels = rng.integers(0, 40, (5000, 3), dtype=np.uint8)
    by_unique = build_color_table(pixels)
    by_bincount = cluster._table_by_bincount(cluster.pack_colors(pixels))
    expected = expected_table(pixels)
    assert table_as_dict(by_unique) == expected
    assert table_as_dict(by_bincount) == expected
    np.testing.assert_array_equal(by_unique.colors, by_bincount.colors)
    values = rng.permutation(len(by_unique.colors)).astype(np.int32)
    np.testing.assert_array_equal(by_unique.spread(values), expected_spread(by_unique, pixels, values))
    np.testing.assert_array_equal(by_bincount.spread(values), expected_spread(by_bincount, pixels, values))


def test_rgba_table_keeps_alpha() -> None:
    pixels = np.array([[1, 2, 3, 128], [1, 2, 3, 255]], dtype=np.uint8)
    table = build_color_table(pixels)
    assert table.channels == 4
    assert sorted(map(tuple, table.colors.tolist())) == [(1, 2, 3, 128), (1, 2, 3, 255)]


def test_few_colours_are_kept_exactly() -> None:
    pixels = np.array([[0, 0, 0]] * 5 + [[255, 0, 0]] * 3 + [[0, 0, 255]] * 2, dtype=np.uint8)
    fitted = fit_palette(build_color_table(pixels), k=16)
    assert fitted.colors.tolist() == [[0, 0, 0], [255, 0, 0], [0, 0, 255]]
    assert fitted.counts.tolist() == [5, 3, 2]


@pytest.mark.parametrize("space", list(ColorSpace))
def test_fit_separates_well_separated_clusters(rng: np.random.Generator, space: ColorSpace) -> None:
    centers = np.array([[20, 20, 20], [230, 30, 30], [30, 220, 40], [40, 40, 230]])
    pixels = np.concatenate([np.clip(c + rng.normal(0, 4, (400, 3)), 0, 255) for c in centers])
    table = build_color_table(pixels.astype(np.uint8))
    fitted = fit_palette(table, k=4, seed=1, space=space)
    assert len(fitted.colors) == 4
    found = fitted.colors.astype(int)
    for center in centers:
        assert np.abs(found - center).sum(axis=1).min() < 12
    assert sorted(fitted.counts.tolist()) == [400, 400, 400, 400]


def test_palette_is_unique_sorted_by_count_and_labels_point_to_nearest(noisy_rgb: np.ndarray) -> None:
    table = build_color_table(noisy_rgb.reshape(-1, 3))
    fitted = fit_palette(table, k=8, seed=0)
    assert len(fitted.colors) <= 8
    assert len(np.unique(fitted.colors, axis=0)) == len(fitted.colors)
    assert list(fitted.counts) == sorted(fitted.counts, reverse=True)
    assert fitted.counts.sum() == noisy_rgb.shape[0] * noisy_rgb.shape[1]
    nearest = nearest_center(table.colors.astype(float), fitted.colors.astype(float))
    np.testing.assert_array_equal(fitted.labels, nearest)


def test_fit_is_deterministic_and_seed_matters(noisy_rgb: np.ndarray) -> None:
    table = build_color_table(noisy_rgb.reshape(-1, 3))
    first = fit_palette(table, k=6, seed=3)
    again = fit_palette(table, k=6, seed=3)
    np.testing.assert_array_equal(first.colors, again.colors)
    np.testing.assert_array_equal(first.labels, again.labels)
    # k-means from different starts ends in different local optima on these 1,200 colours: a
    # fit that ignored its seed would give one palette for every seed. (One start per fit: the
    # best of the default 8 starts may well be the same optimum whatever the seed.)
    one_start = dataclasses.replace(DEFAULT_SCHEDULE, max_inits=1)
    palettes = {fit_palette(table, k=6, seed=seed, schedule=one_start).colors.tobytes() for seed in range(8)}
    assert len(palettes) > 1


def test_sampling_still_maps_every_colour(noisy_rgb: np.ndarray) -> None:
    table = build_color_table(noisy_rgb.reshape(-1, 3))
    fitted = fit_palette(table, k=8, sample=200)
    assert fitted.labels.shape == (len(table.colors),)
    assert fitted.labels.max() < len(fitted.colors)


def test_nearest_center_prefers_lowest_index_on_ties() -> None:
    labels = nearest_center(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0], [2.0, 0.0]]))
    assert labels.tolist() == [0]


def test_k_below_one_is_refused(noisy_rgb: np.ndarray) -> None:
    with pytest.raises(ValueError):
        fit_palette(build_color_table(noisy_rgb.reshape(-1, 3)), k=0)


def test_unique_rows_equal_numpy_unique_on_rows() -> None:
    from kmimg.colorfit import _unique_rows

    rng = np.random.default_rng(4)
    for channels in (3, 4):
        rows = (rng.integers(0, 5, (2000, channels)) * 63).astype(np.uint8)
        np.testing.assert_array_equal(_unique_rows(rows), np.unique(rows, axis=0))


def test_small_table_schedule_is_for_small_tables_only(rng: np.random.Generator) -> None:
    # Photos (tables of more than small_table_colors) keep their schedule bit for bit: the
    # small-table knobs must not reach them. A small table's fit does use them, and so does an
    # icon's table of more than coarse_min_points colours (its starts on coarse cells).
    cheap = dataclasses.replace(
        DEFAULT_SCHEDULE, small_start_passes=1, small_max_inits=1, small_rounded_passes=3
    )
    large = build_color_table(rng.integers(0, 256, (6000, 3)).astype(np.uint8))
    assert len(large.colors) > DEFAULT_SCHEDULE.small_table_colors
    for k in (16, 64):
        ours, theirs = fit_palette(large, k=k, seed=2), fit_palette(large, k=k, seed=2, schedule=cheap)
        np.testing.assert_array_equal(ours.colors, theirs.colors)
        np.testing.assert_array_equal(ours.labels, theirs.labels)
    small = build_color_table(rng.integers(0, 256, (900, 3)).astype(np.uint8))
    palettes = {
        fit_palette(small, k=16, seed=seed, schedule=schedule).colors.tobytes()
        for seed in range(3)
        for schedule in (DEFAULT_SCHEDULE, cheap)
    }
    assert len(palettes) > 3
    icon = build_color_table(rng.integers(0, 256, (4096, 3)).astype(np.uint8))
    assert DEFAULT_SCHEDULE.coarse_min_points < len(icon.colors) <= DEFAULT_SCHEDULE.small_table_colors
    rounded = dataclasses.replace(DEFAULT_SCHEDULE, small_rounded_passes=5)
    ours, theirs = fit_palette(icon, k=16, seed=2), fit_palette(icon, k=16, seed=2, schedule=rounded)
    assert not np.array_equal(ours.colors, theirs.colors)
