"""One palette across images (merged histograms), kept colours (fixed centres), and mapping an
image onto a given palette."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kmimg.colorfit import build_color_table, fit_palette
from kmimg.core.quantize import QuantizeOptions, analyze, quantize, quantize_onto
from kmimg.errors import InputError
from kmimg.io import encode_indexed_png, load_image
from kmimg.palettes.shared import IMAGE_WEIGHT, HistogramSum, fit_shared, histogram_of
from kmimg.types import PaletteWeight

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def crops(samples: Path) -> list[np.ndarray]:
    """Six overlapping crops of one photo: related images, as frames of a scene are."""
    rgb = load_image(samples / "chelsea.png").rgb
    return [np.ascontiguousarray(rgb[y : y + 120, x : x + 160]) for y in (0, 60) for x in (0, 80, 160)]


def merged(images: list[np.ndarray], weight: PaletteWeight = PaletteWeight.PIXELS) -> HistogramSum:
    total = HistogramSum(weight=weight)
    for image in images:
        total.add(histogram_of(analyze(image).table))
    return total


def test_merge_of_one_image_is_its_table(noisy_rgb: np.ndarray) -> None:
    table = build_color_table(noisy_rgb.reshape(-1, 3))
    merged_table = merged([noisy_rgb]).table()
    np.testing.assert_array_equal(merged_table.colors, table.colors)
    np.testing.assert_array_equal(merged_table.counts, table.counts)


def test_counts_add_exactly(noisy_rgb: np.ndarray) -> None:
    twice = merged([noisy_rgb, noisy_rgb, noisy_rgb[:10]]).table()
    once = build_color_table(np.vstack([noisy_rgb.reshape(-1, 3)] * 2 + [noisy_rgb[:10].reshape(-1, 3)]))
    np.testing.assert_array_equal(twice.colors, once.colors)
    np.testing.assert_array_equal(twice.counts, once.counts)


def test_shared_fit_goes_through_the_one_image_fit(noisy_rgb: np.ndarray) -> None:
    """The merged table of one image is fitted exactly as that image's own table."""
    table = build_color_table(noisy_rgb.reshape(-1, 3))
    np.testing.assert_array_equal(fit_shared(merged([noisy_rgb]), k=8).colors, fit_palette(table, k=8).colors)


@pytest.mark.parametrize("weight", list(PaletteWeight))
def test_shared_palette_does_not_depend_on_the_order_of_images(samples: Path, weight: PaletteWeight) -> None:
    images = crops(samples)
    first = fit_shared(merged(images, weight), k=16)
    for order in ([5, 4, 3, 2, 1, 0], [2, 0, 5, 1, 4, 3]):
        again = fit_shared(merged([images[i] for i in order], weight), k=16)
        np.testing.assert_array_equal(again.colors, first.colors)


def test_image_weighting_gives_every_image_the_same_total(noisy_rgb: np.ndarray) -> None:
    small, large = noisy_rgb[:3, :3], noisy_rgb
    total = merged([small, large], PaletteWeight.IMAGES).table().counts.sum()
    assert abs(int(total) - 2 * IMAGE_WEIGHT) <= len(build_color_table(noisy_rgb.reshape(-1, 3)).colors) + 9


def test_any_transparent_is_reported() -> None:
    rgb = np.full((2, 2, 3), 9, dtype=np.uint8)
    alpha = np.array([[255, 0], [255, 255]], dtype=np.uint8)
    total = HistogramSum()
    analysis = analyze(rgb, alpha)
    total.add(histogram_of(analysis.table, hidden=1))
    total.add(histogram_of(analyze(rgb).table))
    assert total.any_transparent and total.table().counts.tolist() == [7]


KEEP = np.array([[230, 0, 18], [255, 255, 255], [1, 2, 3]], dtype=np.uint8)


def test_kept_colours_are_entries_bit_exact_and_count_towards_k(samples: Path) -> None:
    table = build_color_table(crops(samples)[0].reshape(-1, 3))
    fitted = fit_palette(table, k=12, seed=3, fixed=KEEP)
    assert len(fitted.colors) == 12
    rows = {tuple(row) for row in fitted.colors.tolist()}
    assert {tuple(row) for row in KEEP.tolist()} <= rows
    assert len(rows) == 12  # no duplicates


def test_pixels_of_a_kept_colour_map_to_it(noisy_rgb: np.ndarray) -> None:
    image = noisy_rgb.copy()
    image[:5, :5] = KEEP[0]
    image[-3:, -3:] = KEEP[1]
    result = quantize(image, options=QuantizeOptions(k=8, keep=tuple(tuple(map(int, c)) for c in KEEP[:2])))
    for color, where in (
        (KEEP[0], (slice(0, 5), slice(0, 5))),
        (KEEP[1], (slice(-3, None), slice(-3, None))),
    ):
        entries = np.unique(result.indices[where])
        assert len(entries) == 1
        np.testing.assert_array_equal(result.palette[entries[0], :3], color)
        assert result.palette[entries[0], 3] == 255


def test_keeping_costs_little_against_the_free_fit(samples: Path) -> None:
    """Two kept colours (one absent) at k = 16 lose well under 1 dB against the free fit."""
    image = crops(samples)[1]
    free = quantize(image, options=QuantizeOptions(k=16))
    kept = quantize(image, options=QuantizeOptions(k=16, keep=((230, 0, 18), (20, 20, 20))))
    assert kept.psnr > free.psnr - 1.0


def test_keep_with_transparency_leaves_room_for_the_entry() -> None:
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0] = np.arange(16).reshape(4, 4) * 15
    alpha = np.full((4, 4), 255, dtype=np.uint8)
    alpha[0, 0] = 0
    result = quantize(rgb, alpha, QuantizeOptions(k=4, keep=((255, 255, 255), (0, 0, 255), (0, 255, 0))))
    assert len(result.palette) == 4 and result.palette[:, 3].tolist().count(0) == 1
    with pytest.raises(InputError, match="k = 3 leaves 2 beside the transparent entry"):
        quantize(rgb, alpha, QuantizeOptions(k=3, keep=((255, 255, 255), (0, 0, 255), (0, 255, 0))))


@SETTINGS
@given(
    image=st.tuples(st.integers(1, 16), st.integers(1, 16)).flatmap(lambda s: arrays(np.uint8, (*s, 3))),
    keep=arrays(np.uint8, (3, 3)),
    k=st.integers(3, 24),
    seed=st.integers(0, 100),
)
def test_keep_properties(image: np.ndarray, keep: np.ndarray, k: int, seed: int) -> None:
    kept = tuple(dict.fromkeys(tuple(int(v) for v in row) for row in keep))
    options = QuantizeOptions(k=k, seed=seed, keep=kept)  # type: ignore[arg-type]
    result = quantize(image, options=options)
    rows = [tuple(row) for row in result.palette[:, :3].tolist()]
    assert set(kept) <= set(rows) and len(rows) == len(set(rows)) <= k
    mapped = result.to_rgb()
    for color in kept:
        exact = (image == color).all(axis=-1)
        assert (mapped[exact] == color).all()
    again = quantize(image.copy(), options=options)
    assert encode_indexed_png(again.indices, again.palette) == encode_indexed_png(
        result.indices, result.palette
    )


PALETTE = np.array(
    [[255, 255, 255, 255], [0, 0, 0, 255], [200, 20, 20, 255], [0, 0, 0, 255], [20, 20, 200, 255]],
    dtype=np.uint8,
)


def test_mapping_keeps_the_palette_exactly_in_order(noisy_rgb: np.ndarray) -> None:
    result = quantize_onto(analyze(noisy_rgb), PALETTE, QuantizeOptions())
    np.testing.assert_array_equal(result.palette, PALETTE)  # unused and repeated entries stay
    assert int(result.indices.max()) < len(PALETTE)
    assert 3 not in result.indices  # a repeated colour: the first of the two takes its pixels


def test_mapping_picks_the_nearest_entry() -> None:
    rgb = np.array([[[250, 250, 250], [190, 30, 10], [10, 10, 10], [30, 30, 180]]], dtype=np.uint8)
    result = quantize_onto(analyze(rgb), PALETTE, QuantizeOptions())
    assert result.indices.tolist() == [[0, 2, 1, 4]]


def test_transparent_entry_comes_after_the_files_colours() -> None:
    rgb = np.full((2, 2, 3), 250, dtype=np.uint8)
    alpha = np.array([[0, 255], [255, 255]], dtype=np.uint8)
    result = quantize_onto(analyze(rgb, alpha), PALETTE, QuantizeOptions())
    np.testing.assert_array_equal(result.palette[:5], PALETTE)
    assert result.palette[5].tolist() == [0, 0, 0, 0] and result.indices.tolist() == [[5, 0], [0, 0]]
    full = np.vstack([PALETTE] * 52)[:256]
    with pytest.raises(InputError, match="palette already holds 256 colours"):
        quantize_onto(analyze(rgb, alpha), full, QuantizeOptions())
    assert len(quantize_onto(analyze(rgb), full, QuantizeOptions()).palette) == 256


def test_a_transparent_entry_of_the_file_is_used() -> None:
    rgb = np.full((1, 2, 3), 250, dtype=np.uint8)
    alpha = np.array([[0, 255]], dtype=np.uint8)
    with_clear = np.vstack([PALETTE[:2], [[0, 0, 0, 0]], PALETTE[2:]]).astype(np.uint8)
    result = quantize_onto(analyze(rgb, alpha), with_clear, QuantizeOptions())
    np.testing.assert_array_equal(result.palette, with_clear)
    assert result.indices.tolist() == [[2, 0]]


def test_dithered_mapping_uses_only_the_palette(noisy_rgb: np.ndarray) -> None:
    result = quantize_onto(analyze(noisy_rgb), PALETTE, QuantizeOptions(dither=True))
    np.testing.assert_array_equal(result.palette, PALETTE)
    assert set(np.unique(result.indices)) <= {0, 1, 2, 4}


@SETTINGS
@given(
    images=st.lists(
        st.tuples(st.integers(1, 8), st.integers(1, 8)).flatmap(
            lambda s: arrays(np.uint8, (*s, 3), elements=st.integers(0, 3).map(lambda v: v * 85))
        ),
        min_size=1,
        max_size=6,
    ),
    order=st.randoms(use_true_random=False),
    weight=st.sampled_from(list(PaletteWeight)),
)
def test_merged_table_is_the_same_in_any_order(
    images: list[np.ndarray], order, weight: PaletteWeight
) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(images)
    order.shuffle(shuffled)
    first, second = merged(images, weight).table(), merged(shuffled, weight).table()
    np.testing.assert_array_equal(first.colors, second.colors)
    np.testing.assert_array_equal(first.counts, second.counts)
    if weight is PaletteWeight.PIXELS:
        assert int(first.counts.sum()) == sum(image.shape[0] * image.shape[1] for image in images)


@SETTINGS
@given(
    image=st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(lambda s: arrays(np.uint8, (*s, 4))),
    palette=st.integers(1, 31).flatmap(lambda n: arrays(np.uint8, (n, 3))),
    dither=st.booleans(),
)
def test_mapping_onto_any_palette_keeps_it_exactly(
    image: np.ndarray, palette: np.ndarray, dither: bool
) -> None:
    alpha = np.where(image[..., 3] < 128, 0, 255).astype(np.uint8)
    rgba = np.column_stack([palette, np.full(len(palette), 255, dtype=np.uint8)])
    result = quantize_onto(analyze(image[..., :3].copy(), alpha), rgba, QuantizeOptions(dither=dither))
    np.testing.assert_array_equal(result.palette[: len(rgba)], rgba)
    extra = len(result.palette) - len(rgba)
    assert extra == int(bool((alpha == 0).any()))
    assert int(result.indices.max()) < len(result.palette)
    if extra:
        assert (result.indices[alpha == 0] == len(rgba)).all() and result.palette[-1].tolist() == [0, 0, 0, 0]
    if not dither:  # each visible pixel on its nearest colour (below 32 entries: plain squared RGB distance)
        visible = alpha == 255
        colors = image[..., :3][visible].astype(np.int64)
        distances = ((colors[:, None, :] - palette[None, :, :].astype(np.int64)) ** 2).sum(-1)
        assert (distances[np.arange(len(colors)), result.indices[visible]] == distances.min(axis=1)).all()


def test_fixed_centres_need_not_be_colours_of_the_table(noisy_rgb: np.ndarray) -> None:
    """A fixed entry anywhere (here a fully transparent one in an RGBA table that has none) stays
    bit-exact, used or not, and counts towards k; the fit around it is the ordinary one."""
    rgba = np.column_stack([noisy_rgb.reshape(-1, 3), np.full(noisy_rgb.size // 3, 200, dtype=np.uint8)])
    table = build_color_table(rgba)
    fixed = np.array([[0, 0, 0, 0], [255, 0, 0, 255]], dtype=np.uint8)
    fitted = fit_palette(table, k=10, seed=1, fixed=fixed)
    rows = [tuple(row) for row in fitted.colors.tolist()]
    assert len(rows) == len(set(rows)) == 10 and {(0, 0, 0, 0), (255, 0, 0, 255)} <= set(rows)
    np.testing.assert_array_equal(fitted.colors, fit_palette(table, k=10, seed=1, fixed=fixed).colors)


def test_fixed_colours_are_checked(noisy_rgb: np.ndarray) -> None:
    table = build_color_table(noisy_rgb.reshape(-1, 3))
    with pytest.raises(ValueError, match="more than k"):
        fit_palette(table, k=2, fixed=KEEP)
    with pytest.raises(ValueError, match="distinct"):
        fit_palette(table, k=8, fixed=np.vstack([KEEP, KEEP[:1]]))
    with pytest.raises(ValueError, match="uint8"):
        fit_palette(table, k=8, fixed=KEEP.astype(np.float64))
    lossless = fit_palette(build_color_table(KEEP[:2]), k=5, fixed=KEEP)  # every colour fits
    assert {tuple(row) for row in lossless.colors.tolist()} == {tuple(row) for row in KEEP.tolist()}
