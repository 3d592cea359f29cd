"""Translucent images (issue 24): the alpha-aware space, its round trips, the fit with the fixed
transparent entry, the exact fit of colours on one line, and dithering of translucent pixels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import kmimg.colorfit as colorfit
from kmimg import dither
from kmimg.core.quantize import analyze, quantize
from kmimg.line_fit import fit_on_line, line_positions
from kmimg.options import QuantizeOptions
from kmimg.translucency import ALPHA_WEIGHT, premultiplied_rgba, rgba_colors, rgba_features
from kmimg.types import ColorSpace

rgba_rows = arrays(np.uint8, st.tuples(st.integers(1, 30), st.just(4)))


def _composites(colors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    black = colors[:, :3].astype(np.float64) * (colors[:, 3:] / 255.0)
    return black, black + (255.0 - colors[:, 3:].astype(np.float64))


@given(rgba_rows, rgba_rows)
def test_distance_is_the_error_over_black_and_over_white(first: np.ndarray, second: np.ndarray) -> None:
    """The squared feature distance of two colours is the mean of the squared differences of
    their composites over black and over white, plus a quarter of the squared alpha difference
    (kmimg.translucency's definition)."""
    n = min(len(first), len(second))
    a, b = first[:n], second[:n]
    fa, fb = rgba_features(a, ColorSpace.RGB), rgba_features(b, ColorSpace.RGB)
    (black_a, white_a), (black_b, white_b) = _composites(a), _composites(b)
    seen = 0.5 * (((black_a - black_b) ** 2).sum(axis=1) + ((white_a - white_b) ** 2).sum(axis=1))
    seen += 0.25 * (a[:, 3].astype(np.float64) - b[:, 3]) ** 2
    np.testing.assert_allclose(((fa - fb) ** 2).sum(axis=1), seen, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("space", [ColorSpace.RGB, ColorSpace.LAB])
@given(colors=rgba_rows)
def test_every_visible_colour_comes_back_from_its_features(space: ColorSpace, colors: np.ndarray) -> None:
    colors = colors[colors[:, 3] > 0] if space is ColorSpace.RGB else colors[colors[:, 3] >= 64]
    np.testing.assert_array_equal(rgba_colors(rgba_features(colors, space), space), colors)


@given(
    arrays(np.uint8, st.tuples(st.integers(1, 30), st.just(3))),
    arrays(np.float64, st.tuples(st.integers(1, 30), st.just(4)), elements=st.floats(-0.45, 0.45)),
)
def test_opaque_entries_do_not_drift(rgb: np.ndarray, nudge: np.ndarray) -> None:
    """A centre within rounding of an opaque colour's features comes back as exactly that colour:
    un-premultiplying divides by 1, never by a rounded-down alpha."""
    n = min(len(rgb), len(nudge))
    colors = np.column_stack([rgb[:n], np.full(n, 255, dtype=np.uint8)])
    centres = rgba_features(colors, ColorSpace.RGB) + nudge[:n] * np.array([1, 1, 1, ALPHA_WEIGHT])
    np.testing.assert_array_equal(rgba_colors(centres, ColorSpace.RGB), colors)


def test_fully_transparent_colours_are_one_point() -> None:
    clear = np.array([[0, 0, 0, 0], [255, 10, 99, 0], [7, 7, 7, 0]], dtype=np.uint8)
    features = rgba_features(clear, ColorSpace.RGB)
    assert (features == features[0]).all()
    np.testing.assert_array_equal(rgba_colors(features, ColorSpace.RGB), np.zeros((3, 4), dtype=np.uint8))


def test_premultiplied_rgba_weighs_colour_by_visibility() -> None:
    rows = np.array([[200, 100, 0, 255], [200, 100, 0, 51], [200, 100, 0, 0]], dtype=np.uint8)
    np.testing.assert_allclose(premultiplied_rgba(rows), [[200, 100, 0, 255], [40, 20, 0, 51], [0, 0, 0, 0]])


def _sprite(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A disc of noisy colour with a soft edge and a faint halo of random colours at alpha 1-3."""
    y, x = np.mgrid[0:64, 0:64]
    d = np.hypot(x - 32, y - 32)
    alpha = np.clip((24 - d) * 64, 0, 255)
    halo = (d > 25) & (d < 31)
    alpha[halo] = rng.integers(1, 4, halo.sum())
    rgb = rng.integers(0, 256, (64, 64, 3))
    rgb[d < 24] = (rng.normal([200, 60, 30], 25, ((d < 24).sum(), 3))).clip(0, 255)
    return rgb.astype(np.uint8), alpha.astype(np.uint8)


def test_nearly_invisible_pixels_take_no_palette_room(rng: np.random.Generator) -> None:
    """The halo's random colours at alpha 1-3 are almost invisible: they join the transparent
    entry (or one faint entry) and leave the palette to the disc."""
    rgb, alpha = _sprite(rng)
    result = quantize(rgb, alpha, QuantizeOptions(k=8))
    faint = result.palette[(result.palette[:, 3] > 0) & (result.palette[:, 3] < 16)]
    assert len(faint) <= 1
    assert (result.palette[:, 3] == 0).sum() == 1
    assert (result.to_rgba()[alpha == 0] == 0).all()  # fully transparent stays exactly transparent


def test_translucent_fit_reaches_the_optimum_of_its_space_nearly(rng: np.random.Generator) -> None:
    """On a small translucent table the fit's error in the alpha-aware space is within 3 % of
    the best of many exhaustive restarts of plain Lloyd (a check that the fit fits the space
    it says it fits)."""
    rgb, alpha = _sprite(rng)
    table = analyze(rgb, alpha).table
    features = colorfit.to_features(table.colors, ColorSpace.RGB)
    fitted = colorfit.fit_palette(table, k=6, fixed=np.zeros((1, 4), dtype=np.uint8))
    _, ours = colorfit._nearest_with_distance(features, colorfit.to_features(fitted.colors, ColorSpace.RGB))
    best = np.inf
    for seed in range(20):
        start = features[np.random.default_rng(seed).choice(len(features), 5, replace=False)]
        centres = colorfit._lloyd_passes(features, table.counts, start, 100)
        centres = np.vstack([colorfit.to_features(np.zeros((1, 4), dtype=np.uint8), ColorSpace.RGB), centres])
        _, theirs = colorfit._nearest_with_distance(features, centres)
        best = min(best, float(theirs @ table.counts))
    assert float(ours @ table.counts) <= 1.03 * best


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 255), min_size=2, max_size=7, unique=True),
    st.lists(st.integers(1, 50), min_size=7, max_size=7),
    st.integers(1, 4),
)
def test_line_fit_is_the_exact_optimum(levels: list[int], counts: list[int], k: int) -> None:
    """Grey levels on a line: the fit's squared error equals the least over every partition into
    at most k runs, each served by its rounded mean (brute force)."""
    levels = sorted(levels)
    x = np.array(levels, dtype=np.float64)[:, None] * np.ones((1, 3))
    w = np.array(counts[: len(levels)], dtype=np.float64)

    def writable(centres: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(centres), 0, 255)

    positions = line_positions(x)
    assert positions is not None
    centres = fit_on_line(x, w, positions, k, writable)
    ours = float(w @ ((x[:, None, :] - centres[None]) ** 2).sum(axis=2).min(axis=1))
    best = np.inf
    n = len(levels)
    for runs in range(1, min(k, n) + 1):
        for cuts in itertools.combinations(range(1, n), runs - 1):
            bounds = [0, *cuts, n]
            cost = 0.0
            for a, b in itertools.pairwise(bounds):
                mean = np.rint((w[a:b] @ x[a:b, 0]) / w[a:b].sum())
                cost += float(w[a:b] @ (3 * (x[a:b, 0] - mean) ** 2))
            best = min(best, cost)
    assert ours == pytest.approx(best, abs=1e-6)


def test_colours_off_a_line_are_not_on_it() -> None:
    assert line_positions(np.array([[0.0, 0, 0], [1, 1, 1], [2, 2, 3]])) is None
    assert line_positions(np.array([[5.0, 5, 5]])) is None
    positions = line_positions(np.array([[0.0, 0, 0], [2, 2, 2], [1, 1, 1]]))
    assert positions is not None
    np.testing.assert_allclose(positions, [0, 2 * np.sqrt(3), np.sqrt(3)])


@pytest.mark.parametrize("k", [4, 16, 23, 32])
def test_grey_images_get_the_least_squared_error_palette(k: int, rng: np.random.Generator) -> None:
    """A grey photo is fitted exactly: no Lloyd run from any of 20 starts finds k levels with a
    smaller squared error, and the palette is grey."""
    grey = np.clip(rng.normal(110, 50, (48, 48)), 0, 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    exact = quantize(rgb, None, QuantizeOptions(k=k))
    exact_error = float(((rgb.astype(float) - exact.to_rgb()) ** 2).sum())
    table = analyze(rgb).table
    features = table.colors.astype(np.float64)
    for seed in range(20):
        start = features[np.random.default_rng(seed).choice(len(features), k, replace=False)]
        centres = np.clip(np.rint(colorfit._lloyd_passes(features, table.counts, start, 100)), 0, 255)
        _, distances = colorfit._nearest_with_distance(features, centres)
        assert exact_error <= float(distances @ table.counts) + 1e-6
    assert (exact.palette[:, 0] == exact.palette[:, 1]).all()
    assert (exact.palette[:, 1] == exact.palette[:, 2]).all()


def test_dithering_of_translucent_pixels_matches_the_reference(rng: np.random.Generator) -> None:
    """The C loop in the alpha-aware space equals the Python reference, pixel for pixel."""
    rgb, alpha = _sprite(rng)
    rgb, alpha = np.ascontiguousarray(rgb[16:48, 16:48]), np.ascontiguousarray(alpha[16:48, 16:48])
    plain = quantize(rgb, alpha, QuantizeOptions(k=8))
    fast = dither.dither_indices(rgb, alpha, plain.palette, plain.indices, 1.0)
    slow = dither.reference_diffuse(rgb, alpha, plain.palette, plain.indices, 1.0)
    np.testing.assert_array_equal(fast, slow)


def test_soft_shadows_are_dithered_and_transparent_pixels_stay(rng: np.random.Generator) -> None:
    """A shadow's alpha ramp is dithered (indices change beside the plain mapping, and the mean
    alpha stays closer to the original's than the plain mapping's), while fully transparent
    pixels keep the transparent entry."""
    x = np.mgrid[0:64, 0:96][1]
    alpha = np.clip(x * 2.7 - 20, 0, 255).astype(np.uint8)
    rgb = np.zeros((64, 96, 3), dtype=np.uint8)
    plain = quantize(rgb, alpha, QuantizeOptions(k=4))
    dithered = quantize(rgb, alpha, QuantizeOptions(k=4, dither=1.0))
    assert (dithered.indices != plain.indices).mean() > 0.1
    clear = alpha == 0
    assert (dithered.to_rgba()[clear] == 0).all()
    column_mean = dithered.to_rgba()[..., 3].astype(float).mean(axis=0)
    plain_mean = plain.to_rgba()[..., 3].astype(float).mean(axis=0)
    target = alpha.astype(float).mean(axis=0)
    assert np.abs(column_mean - target).mean() < 0.5 * np.abs(plain_mean - target).mean()
