"""Quality mode's core (kmimg.core.quality): pngquant's quality scale, the K search, its result."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from kmimg.core.quality import (
    CALIBRATION,
    PNGQUANT_SCALE,
    measure_table,
    mse_to_quality,
    quality_to_mse,
    quantize_to_goal,
    table_mse,
)
from kmimg.core.quantize import QuantizeOptions, analyze, quantize_analysis, quantize_prepared
from kmimg.options import QualityGoal, parse_quality


def photo(seed: int = 0, height: int = 96, width: int = 128) -> np.ndarray:
    """A small photo-like image: smooth colour fields, a few shapes, sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(3 * x + seed) * 0.5 + 0.5, np.cos(2 * y) * 0.5 + 0.5, (x * y) % 1.0], -1) * 255
    for _ in range(6):
        cy, cx, r = rng.integers(0, height), rng.integers(0, width), rng.integers(5, 25)
        base[
            (np.mgrid[0:height, 0:width][0] - cy) ** 2 + (np.mgrid[0:height, 0:width][1] - cx) ** 2 < r * r
        ] = rng.integers(0, 256, 3)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def libimagequant_unit(quality: int) -> float:
    """libimagequant's quality_to_mse on its 0-1 scale, written out again for the test."""
    fudge = max(0.0, 0.016 / (0.001 + quality) - 0.001)
    return fudge + 2.5 / (210.0 + quality) ** 1.2 * (100.1 - quality) / 100.0


def full_fit_mse(analysis, options: QuantizeOptions, k: int) -> float:  # type: ignore[no-untyped-def]
    result, entry = quantize_prepared(analysis, replace(options, k=k), measure=False)
    return table_mse(analysis.table.colors, result.palette[entry], analysis.table.counts)


@pytest.mark.parametrize("quality", [1, 10, 40, 60, 65, 80, 90, 99])
def test_the_scale_is_libimagequants_times_the_calibration(quality: int) -> None:
    expected = CALIBRATION * PNGQUANT_SCALE * libimagequant_unit(quality)
    assert quality_to_mse(quality) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("mse", "quality"), [(4.633, 84), (13.152, 60), (13.466, 59), (2.160, 92), (5.130, 82)]
)
def test_the_scale_reads_pngquants_own_reports(mse: float, quality: int) -> None:
    """``pngquant -v`` printed these ``MSE=... (Q=...)`` pairs for hold-out photos: its MSE is
    the unit error times 65536 / 6, and the quality the highest whose limit it is within."""
    reported = max(q for q in range(101) if q == 0 or mse <= PNGQUANT_SCALE * libimagequant_unit(q) + 1e-6)
    assert reported == quality
    assert mse_to_quality(mse * CALIBRATION) == quality


def test_the_scale_falls_and_round_trips() -> None:
    limits = [quality_to_mse(q) for q in range(0, 101)]
    assert limits[0] == math.inf and limits[100] == 0.0
    assert all(a > b for a, b in itertools.pairwise(limits))
    assert [mse_to_quality(quality_to_mse(q)) for q in range(1, 101)] == list(range(1, 101))
    assert mse_to_quality(0.0) == 100
    assert mse_to_quality(1e9) == 0
    assert mse_to_quality(quality_to_mse(70) * 1.001) == 69


@pytest.mark.parametrize(("text", "expected"), [("60-80", (60, 80)), ("80", (0, 80)), ("0-100", (0, 100))])
def test_parse_quality(text: str, expected: tuple[int, int]) -> None:
    assert parse_quality(text) == expected


@pytest.mark.parametrize("text", ["80-60", "101", "60-", "a", "", "-5-"])
def test_parse_quality_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"quality|MIN"):
        parse_quality(text)


def test_a_goal_needs_something_to_reach() -> None:
    with pytest.raises(ValueError):
        QualityGoal()
    with pytest.raises(ValueError):
        QualityGoal(minimum=50, maximum=40)
    with pytest.raises(ValueError):
        QualityGoal(ssim=1.5)


@pytest.mark.parametrize(("seed", "maximum"), [(0, 60), (1, 50), (2, 62)])
def test_the_search_finds_close_to_the_fewest_colours(seed: int, maximum: int) -> None:
    """Against every k fitted in full: the k found reaches MAX, and no k below 90 % of it does."""
    analysis = analyze(photo(seed))
    options = QuantizeOptions(k=96)
    goal = QualityGoal(maximum=maximum)
    found = quantize_to_goal(analysis, options, goal, measure=False)
    limit = quality_to_mse(maximum)
    assert found.meets and found.measured.quality >= maximum
    assert full_fit_mse(analysis, options, found.k) <= limit
    fewest = next(k for k in range(2, 97) if full_fit_mse(analysis, options, k) <= limit)
    assert fewest <= found.k <= max(fewest + 2, math.ceil(fewest * 1.1))
    assert 1 <= found.trials <= 6


def test_the_result_is_quantize_at_the_k_found() -> None:
    analysis = analyze(photo(3))
    found = quantize_to_goal(analysis, QuantizeOptions(k=128, seed=5), QualityGoal(maximum=75))
    plain = quantize_analysis(analysis, QuantizeOptions(k=found.k, seed=5))
    assert found.quantized.options.k == found.k
    assert np.array_equal(found.quantized.indices, plain.indices)
    assert np.array_equal(found.quantized.palette, plain.palette)
    assert found.quantized.quality == plain.quality


def test_the_search_is_deterministic() -> None:
    analysis = analyze(photo(4))
    goal = QualityGoal(minimum=30, maximum=85)
    first = quantize_to_goal(analysis, QuantizeOptions(k=256), goal, measure=False)
    again = quantize_to_goal(analyze(photo(4)), QuantizeOptions(k=256), goal, measure=False)
    assert (first.k, first.trials, first.measured) == (again.k, again.trials, again.measured)
    assert np.array_equal(first.quantized.indices, again.quantized.indices)


def test_below_the_minimum_with_every_colour_allowed() -> None:
    found = quantize_to_goal(analyze(photo(5)), QuantizeOptions(k=6), QualityGoal(minimum=90, maximum=95))
    assert found.k == 6
    assert found.below_minimum and not found.meets
    assert found.measured.quality < 90


def test_between_min_and_max_is_the_best_it_got() -> None:
    found = quantize_to_goal(analyze(photo(5)), QuantizeOptions(k=6), QualityGoal(minimum=0, maximum=95))
    assert found.k == 6 and not found.below_minimum and not found.meets


def test_a_few_colours_are_kept_exactly() -> None:
    rgb = np.zeros((20, 30, 3), dtype=np.uint8)
    for i, colour in enumerate([(10, 20, 30), (200, 0, 0), (0, 200, 0), (0, 0, 200), (250, 250, 250)]):
        rgb[:, i * 6 : (i + 1) * 6] = colour
    found = quantize_to_goal(analyze(rgb), QuantizeOptions(k=256), QualityGoal(maximum=100))
    assert found.measured.mse == 0.0 and found.measured.quality == 100
    assert found.quantized.colors_used == 5 and found.k <= 8


@pytest.mark.parametrize(
    ("goal", "check"),
    [
        (QualityGoal(psnr=33.0), lambda m: m.psnr >= 33.0),
        (QualityGoal(ssim=0.9), lambda m: m.ssim >= 0.9),
        (QualityGoal(delta_e=2.0), lambda m: m.delta_e <= 2.0),
        (QualityGoal(maximum=70, psnr=36.0), lambda m: m.psnr >= 36.0 and m.quality >= 70),
    ],
)
def test_targets_are_reached(goal: QualityGoal, check) -> None:  # type: ignore[no-untyped-def]
    analysis = analyze(photo(6))
    found = quantize_to_goal(analysis, QuantizeOptions(k=256), goal, measure=True)
    assert found.meets and check(found.measured)
    if found.k > 8:  # and clearly fewer colours would not do
        fewer = quantize_to_goal(analysis, QuantizeOptions(k=max(2, found.k * 3 // 4)), goal, measure=False)
        assert not fewer.meets


def test_the_table_measures_are_the_pixels() -> None:
    """PSNR from the table equals the pixel PSNR of the written result; the MSE is its base."""
    analysis = analyze(photo(7))
    options = QuantizeOptions(k=24)
    result, entry = quantize_prepared(analysis, options)
    measured = measure_table(analysis, result.palette, entry, QualityGoal(maximum=80, ssim=0.5, delta_e=9.0))
    assert measured.psnr == pytest.approx(result.psnr, abs=1e-9)
    assert measured.ssim == pytest.approx(result.ssim, abs=1e-9)
    assert measured.delta_e == pytest.approx(result.delta_e, abs=1e-6)
    pixels = (analysis.rgb.astype(float) - result.to_rgb().astype(float)) ** 2
    assert measured.mse == pytest.approx(float(pixels.mean()), rel=1e-9)


def test_translucent_images_are_measured_in_the_alpha_aware_space() -> None:
    rgb = photo(8)
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
    analysis = analyze(rgb, alpha)
    found = quantize_to_goal(analysis, QuantizeOptions(k=256), QualityGoal(maximum=80))
    assert found.meets and analysis.table.channels == 4
    colors = analysis.table.colors
    # a colour at alpha a, off by d in one channel, costs (d a / 255)^2 / 3 per channel
    shifted = colors.copy()
    shifted[:, 0] = np.where(colors[:, 0] < 245, colors[:, 0] + 10, colors[:, 0] - 10)
    counts = np.ones(len(colors), dtype=np.int64)
    expected = float(np.mean((10.0 * colors[:, 3] / 255.0) ** 2) / 3.0)
    assert table_mse(colors, shifted, counts) == pytest.approx(expected, rel=1e-9)
