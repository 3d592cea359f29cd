"""Quality measures agree with their reference definitions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from kmimg import metrics


def test_psnr_matches_skimage(noisy_rgb: np.ndarray, rng: np.random.Generator) -> None:
    other = np.clip(noisy_rgb.astype(int) + rng.integers(-20, 21, noisy_rgb.shape), 0, 255).astype(np.uint8)
    expected = peak_signal_noise_ratio(noisy_rgb, other, data_range=255)
    assert metrics.psnr(noisy_rgb, other) == pytest.approx(expected, abs=1e-9)


def test_psnr_identical_is_infinite(noisy_rgb: np.ndarray) -> None:
    assert metrics.psnr(noisy_rgb, noisy_rgb) == math.inf


def test_ssim_matches_skimage_on_luma(noisy_rgb: np.ndarray, rng: np.random.Generator) -> None:
    other = np.clip(noisy_rgb.astype(int) + rng.integers(-30, 31, noisy_rgb.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(
        metrics.luma(noisy_rgb).astype(np.float64), metrics.luma(other).astype(np.float64), data_range=255
    )
    assert metrics.ssim(noisy_rgb, other) == pytest.approx(expected, abs=1e-4)
    assert metrics.ssim(noisy_rgb, noisy_rgb) == pytest.approx(1.0)


def test_ssim_on_images_smaller_than_window() -> None:
    tiny = np.zeros((1, 1, 3), dtype=np.uint8)
    assert metrics.ssim(tiny, tiny) == pytest.approx(1.0)
    strip = np.arange(15, dtype=np.uint8).reshape(1, 5, 3)
    assert 0.0 < metrics.ssim(strip, strip[:, ::-1]) <= 1.0


def test_weighted_delta_e_equals_per_pixel_mean(rng: np.random.Generator) -> None:
    a = rng.integers(0, 256, (300, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (300, 3), dtype=np.uint8)
    per_pixel = deltaE_ciede2000(rgb2lab(a[None] / 255.0)[0], rgb2lab(b[None] / 255.0)[0])
    weights = rng.integers(1, 5, 300)
    expected = float(np.average(per_pixel, weights=weights))
    assert metrics.mean_delta_e2000(a, b, weights) == pytest.approx(expected, rel=1e-6)


def test_delta_e_images_uses_every_pixel(rng: np.random.Generator) -> None:
    a = rng.integers(0, 4, (20, 20, 3), dtype=np.uint8) * 60
    b = rng.integers(0, 4, (20, 20, 3), dtype=np.uint8) * 60
    per_pixel = deltaE_ciede2000(rgb2lab(a / 255.0), rgb2lab(b / 255.0))
    assert metrics.delta_e2000_images(a, b) == pytest.approx(float(per_pixel.mean()), rel=1e-6)


def test_weighted_mse_matches_repeated_pixels(rng: np.random.Generator) -> None:
    a = rng.integers(0, 256, (10, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (10, 3), dtype=np.uint8)
    weights = rng.integers(1, 6, 10)
    expanded = np.mean((np.repeat(a, weights, 0).astype(float) - np.repeat(b, weights, 0)) ** 2)
    assert metrics.weighted_mse(a, b, weights) == pytest.approx(expanded)


def test_bits_per_pixel() -> None:
    assert metrics.bits_per_pixel(100, 800) == 1.0
    assert metrics.bits_per_pixel(100, 0) == 0.0


def _lab_pairs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    def lab() -> np.ndarray:
        return np.column_stack([rng.uniform(0, 100, n), rng.uniform(-128, 127, (n, 2))])

    first, second = lab(), lab()
    second[: n // 4] = first[: n // 4] + rng.normal(0, 2, (n // 4, 3))  # near pairs, like a quantizer's
    first[n // 4 : n // 4 + 20, 1:] = 0  # greys: no hue
    second[n // 4 + 10 : n // 4 + 30, 1:] = 0
    return first, second


def test_delta_e2000_matches_skimage_pair_by_pair(rng: np.random.Generator) -> None:
    first, second = _lab_pairs(rng, 20_000)
    np.testing.assert_allclose(metrics.delta_e2000(first, second), deltaE_ciede2000(first, second), atol=2e-4)


def test_delta_e2000_published_pairs() -> None:
    # All 34 pairs of Sharma, Wu & Dalal (2005), table 1, including the exactly opposite hues.
    table = np.loadtxt(Path(__file__).parent / "data" / "ciede2000_sharma.txt")
    assert table.shape == (34, 7)
    np.testing.assert_allclose(metrics.delta_e2000(table[:, :3], table[:, 3:6]), table[:, 6], atol=1e-4)
    np.testing.assert_allclose(metrics.delta_e2000(table[:, 3:6], table[:, :3]), table[:, 6], atol=1e-4)


def test_delta_e2000_is_zero_for_equal_colours_and_symmetric(rng: np.random.Generator) -> None:
    first, second = _lab_pairs(rng, 2000)
    assert np.all(metrics.delta_e2000(first, first) == 0)
    forth, back = metrics.delta_e2000(first, second), metrics.delta_e2000(second, first)
    np.testing.assert_allclose(forth, back, atol=1e-4)
