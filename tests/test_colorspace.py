"""sRGB <-> CIELAB conversion and colour packing."""

from __future__ import annotations

import numpy as np
from skimage.color import lab2rgb, rgb2lab

from kmimg.colorspace import lab_to_rgb, pack_colors, rgb_to_lab, unpack_colors


def test_rgb_to_lab_matches_skimage(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (500, 3), dtype=np.uint8)
    expected = rgb2lab(rgb[None].astype(np.float64) / 255.0)[0]
    np.testing.assert_allclose(rgb_to_lab(rgb), expected, atol=1e-6)


def test_lab_to_rgb_matches_skimage(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (500, 3), dtype=np.uint8)
    lab = rgb_to_lab(rgb)
    expected = lab2rgb(lab[None])[0] * 255.0
    np.testing.assert_allclose(lab_to_rgb(lab), expected, atol=1e-3)


def test_round_trip_recovers_every_8bit_colour(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (5000, 3), dtype=np.uint8)
    back = np.rint(lab_to_rgb(rgb_to_lab(rgb))).astype(np.uint8)
    np.testing.assert_array_equal(back, rgb)


def test_white_and_black() -> None:
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0]], dtype=np.uint8))
    np.testing.assert_allclose(lab, [[100, 0, 0], [0, 0, 0]], atol=1e-2)


def test_pack_unpack_round_trip(rng: np.random.Generator) -> None:
    for channels in (3, 4):
        colors = rng.integers(0, 256, (100, channels), dtype=np.uint8)
        keys = pack_colors(colors)
        assert keys.dtype == np.uint32
        np.testing.assert_array_equal(unpack_colors(keys, channels), colors)
    assert int(pack_colors(np.array([[0x12, 0x34, 0x56]], dtype=np.uint8))[0]) == 0x123456


def test_8bit_table_path_equals_the_float_formula() -> None:
    every = np.arange(1 << 24, dtype=np.uint32)[:: 1 << 8]  # 65,536 colours spread over the cube
    rgb = np.stack([(every >> 16) & 255, (every >> 8) & 255, every & 255], axis=1).astype(np.uint8)
    np.testing.assert_allclose(rgb_to_lab(rgb), rgb_to_lab(rgb.astype(np.float64)), atol=1e-10)
    assert rgb_to_lab(rgb.reshape(256, 256, 3)).shape == (256, 256, 3)
