"""Quality measures agree with their reference definitions."""

from __future__ import annotations

import math

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
