"""Colour quantization core: palette, indices, alpha policy, metrics, PNG round trip."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from kmimg import metrics
from kmimg.core.quantize import PSNR_ONLY, QuantizeOptions, analyze, quantize, quantize_analysis
from kmimg.io import encode_indexed_png, load_image
from kmimg.types import ColorSpace


def test_output_shape_palette_and_counts(noisy_rgb: np.ndarray) -> None:
    result = quantize(noisy_rgb, options=QuantizeOptions(k=8))
    assert result.indices.shape == noisy_rgb.shape[:2]
    assert result.indices.dtype == np.uint8
    assert result.palette.shape == (8, 4)
    assert (result.palette[:, 3] == 255).all()
    assert result.counts.sum() == noisy_rgb.shape[0] * noisy_rgb.shape[1]
    np.testing.assert_array_equal(np.bincount(result.indices.ravel(), minlength=8), result.counts)


def test_reported_metrics_match_the_image(noisy_rgb: np.ndarray) -> None:
    result = quantize(noisy_rgb, options=QuantizeOptions(k=6))
    out = result.to_rgb()
    assert result.psnr == pytest.approx(metrics.psnr(noisy_rgb, out), abs=1e-9)
    assert result.ssim == pytest.approx(metrics.ssim(noisy_rgb, out), abs=1e-9)
    assert result.delta_e == pytest.approx(metrics.delta_e2000_images(noisy_rgb, out), rel=1e-9)


@pytest.mark.parametrize("translucent", [False, True])
def test_psnr_only_measures_the_same_psnr_and_nothing_else(noisy_rgb: np.ndarray, translucent: bool) -> None:
    alpha = None
    if translucent:
        alpha = np.full(noisy_rgb.shape[:2], 255, dtype=np.uint8)
        alpha[:, :10] = np.arange(10, dtype=np.uint8)[None, :] * 25
    options = QuantizeOptions(k=8)
    full = quantize(noisy_rgb, alpha, options)
    cheap = quantize(noisy_rgb, alpha, options, measure=PSNR_ONLY)
    assert cheap.psnr == full.psnr
    assert np.isnan(cheap.ssim) and np.isnan(cheap.delta_e)
    assert not np.isnan(full.ssim) and not np.isnan(full.delta_e)
    assert np.array_equal(cheap.indices, full.indices) and np.array_equal(cheap.palette, full.palette)
    from kmimg.cli.quantize import PSNR_ONLY as CLI_PSNR_ONLY  # named there without numpy

    assert CLI_PSNR_ONLY == PSNR_ONLY
    dithered = quantize(noisy_rgb, alpha, QuantizeOptions(k=8, dither=1.0), measure=PSNR_ONLY)
    assert dithered.psnr == quantize(noisy_rgb, alpha, QuantizeOptions(k=8, dither=1.0)).psnr
    assert np.isnan(dithered.ssim)


def test_more_colours_do_not_lower_quality(samples) -> None:  # type: ignore[no-untyped-def]
    picture = load_image(samples / "flower.jpg")
    analysis = analyze(picture.rgb)
    psnrs = [quantize_analysis(analysis, QuantizeOptions(k=k)).psnr for k in (4, 16, 64)]
    assert psnrs[0] < psnrs[1] < psnrs[2]
    assert psnrs[1] > 28.5  # 16 colours on flower.jpg: measured 29.5 dB


def test_lab_space_gives_lower_delta_e(samples) -> None:  # type: ignore[no-untyped-def]
    picture = load_image(samples / "flower.jpg")
    analysis = analyze(picture.rgb)
    rgb = quantize_analysis(analysis, QuantizeOptions(k=16, space=ColorSpace.RGB))
    lab = quantize_analysis(analysis, QuantizeOptions(k=16, space=ColorSpace.LAB))
    assert lab.delta_e < rgb.delta_e
    assert rgb.psnr > lab.psnr


def test_dither_keeps_palette_and_changes_indices(noisy_rgb: np.ndarray) -> None:
    plain = quantize(noisy_rgb, options=QuantizeOptions(k=4))
    dithered = quantize(noisy_rgb, options=QuantizeOptions(k=4, dither=1.0))
    np.testing.assert_array_equal(plain.palette, dithered.palette)
    assert not np.array_equal(plain.indices, dithered.indices)
    np.testing.assert_array_equal(np.bincount(dithered.indices.ravel(), minlength=4), dithered.counts)
    out = dithered.to_rgb()
    assert dithered.psnr == pytest.approx(metrics.psnr(noisy_rgb, out), abs=1e-9)


def test_transparent_pixels_do_not_take_part_and_stay_hidden(noisy_rgb: np.ndarray) -> None:
    alpha = np.full(noisy_rgb.shape[:2], 255, dtype=np.uint8)
    alpha[:, :10] = 0
    rgb = noisy_rgb.copy()
    rgb[:, :10] = [255, 0, 255]  # a loud colour hidden under alpha 0 (the loader zeroes it too)
    result = quantize(rgb, alpha, QuantizeOptions(k=4))
    assert len(result.palette) <= 4
    assert result.palette[0].tolist() == [0, 0, 0, 0]  # transparent entry first (short tRNS)
    assert (result.indices[:, :10] == 0).all()
    assert (result.indices[:, 10:] != 0).all()
    assert not any(c[:3].tolist() == [255, 0, 255] for c in result.palette)


def test_translucent_alpha_is_clustered_with_colour() -> None:
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:2] = [200, 10, 10]
    alpha = np.full((4, 4), 255, dtype=np.uint8)
    alpha[2:] = 100
    result = quantize(rgb, alpha, QuantizeOptions(k=4))
    rgba = result.to_rgba()
    assert rgba[0, 0].tolist() == [200, 10, 10, 255]
    assert rgba[3, 3].tolist() == [0, 0, 0, 100]


def test_fully_opaque_alpha_is_ignored(noisy_rgb: np.ndarray) -> None:
    alpha = np.full(noisy_rgb.shape[:2], 255, dtype=np.uint8)
    with_alpha = quantize(noisy_rgb, alpha, QuantizeOptions(k=5))
    without = quantize(noisy_rgb, None, QuantizeOptions(k=5))
    np.testing.assert_array_equal(with_alpha.indices, without.indices)


def test_png_round_trip_gives_the_reported_palette(noisy_rgb: np.ndarray) -> None:
    result = quantize(noisy_rgb, options=QuantizeOptions(k=16))
    png = encode_indexed_png(result.indices, result.palette)
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "P"
        palette = np.frombuffer(image.palette.tobytes(), dtype=np.uint8).reshape(-1, 3)
        np.testing.assert_array_equal(palette, result.palette[:, :3])
        np.testing.assert_array_equal(np.asarray(image), result.indices)


def test_png_with_transparency_round_trips_rgba(noisy_rgb: np.ndarray) -> None:
    alpha = np.full(noisy_rgb.shape[:2], 255, dtype=np.uint8)
    alpha[5:9, 5:9] = 0
    alpha[10:12] = 128
    result = quantize(noisy_rgb, alpha, QuantizeOptions(k=8))
    png = encode_indexed_png(result.indices, result.palette)
    with Image.open(io.BytesIO(png)) as image:
        np.testing.assert_array_equal(np.asarray(image.convert("RGBA")), result.to_rgba())


@pytest.mark.parametrize(("k", "bit_depth"), [(2, 1), (4, 2), (16, 4), (17, 8)])
def test_png_bit_depth_follows_palette_size(k: int, bit_depth: int) -> None:
    indices = (np.arange(64) % k).astype(np.uint8).reshape(8, 8)
    palette = np.column_stack([np.arange(k) * (255 // k), np.zeros((k, 2)), np.full(k, 255)]).astype(np.uint8)
    png = encode_indexed_png(indices, palette)
    assert png[24] == bit_depth  # IHDR bit depth byte
    with Image.open(io.BytesIO(png)) as image:
        np.testing.assert_array_equal(np.asarray(image), indices)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        QuantizeOptions(k=1)
    with pytest.raises(ValueError):
        QuantizeOptions(k=257)
    with pytest.raises(ValueError):
        QuantizeOptions(sample=-1)


@pytest.mark.parametrize("dither", [0.0, 1.0])
def test_alpha_errors_count_in_psnr(dither: float) -> None:
    rgb = np.full((16, 16, 3), 90, dtype=np.uint8)
    alpha = np.tile(np.arange(1, 256, 16, dtype=np.uint8), (16, 1))  # 16 translucent levels
    result = quantize(rgb, alpha, QuantizeOptions(k=2, dither=dither))
    rgba = result.to_rgba()
    assert len(np.unique(rgba[..., 3])) <= 2
    assert result.psnr < 30  # 16 alpha levels in 2 entries is far from lossless
    # premultiplied R, G, B and alpha: the colour counts as much as it is seen
    opacity = alpha[..., None] / 255.0
    expected = metrics.psnr(
        np.dstack([rgb * opacity, alpha]), np.dstack([rgba[..., :3] * (rgba[..., 3:] / 255.0), rgba[..., 3]])
    )
    assert result.psnr == pytest.approx(expected, abs=1e-9)


def test_measure_false_skips_only_the_quality_figures() -> None:
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    measured = quantize(rgb, None, QuantizeOptions(k=8))
    plain = quantize(rgb, None, QuantizeOptions(k=8), measure=False)
    np.testing.assert_array_equal(plain.indices, measured.indices)
    np.testing.assert_array_equal(plain.palette, measured.palette)
    assert plain.quality is None and measured.quality is not None
    assert measured.psnr == measured.quality.psnr
    with pytest.raises(ValueError, match="measure=False"):
        _ = plain.psnr
