"""Property tests of quantization over small random images (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kmimg.core.quantize import QuantizeOptions, quantize
from kmimg.io import encode_indexed_png

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))
images = shapes.flatmap(lambda s: arrays(np.uint8, (s[0], s[1], 3)))
ks = st.integers(2, 256)


@SETTINGS
@given(image=images, k=ks, seed=st.integers(0, 2**31 - 1))
def test_shape_kept_and_at_most_k_colours(image: np.ndarray, k: int, seed: int) -> None:
    result = quantize(image, options=QuantizeOptions(k=k, seed=seed))
    assert result.indices.shape == image.shape[:2]
    assert len(result.palette) <= k
    assert int(result.indices.max()) < len(result.palette)
    assert len(np.unique(result.palette, axis=0)) == len(result.palette)
    assert len(np.unique(result.to_rgb().reshape(-1, 3), axis=0)) <= k


@SETTINGS
@given(image=images, k=st.integers(2, 32), seed=st.integers(0, 1000))
def test_same_seed_gives_identical_png_bytes(image: np.ndarray, k: int, seed: int) -> None:
    options = QuantizeOptions(k=k, seed=seed)
    first = quantize(image, options=options)
    second = quantize(image.copy(), options=options)
    assert encode_indexed_png(first.indices, first.palette) == encode_indexed_png(
        second.indices, second.palette
    )


@SETTINGS
@given(
    palette=arrays(np.uint8, (3, 3), unique=False),
    shape=shapes,
    data=st.data(),
)
def test_three_colours_at_k16_are_lossless(
    palette: np.ndarray, shape: tuple[int, int], data: st.DataObject
) -> None:
    choice = data.draw(arrays(np.uint8, shape, elements=st.integers(0, 2)))
    image = palette[choice]
    result = quantize(image, options=QuantizeOptions(k=16))
    np.testing.assert_array_equal(result.to_rgb(), image)
    assert len(result.palette) == len(np.unique(image.reshape(-1, 3), axis=0))
    assert result.psnr == float("inf")


@SETTINGS
@given(image=images, alpha_bits=st.data())
def test_alpha_zero_pixels_become_transparent(image: np.ndarray, alpha_bits: st.DataObject) -> None:
    alpha = alpha_bits.draw(arrays(np.uint8, image.shape[:2], elements=st.sampled_from([0, 255])))
    result = quantize(image, alpha, QuantizeOptions(k=8))
    rgba = result.to_rgba()
    assert len(result.palette) <= 8
    assert (rgba[alpha == 0] == 0).all()
    assert (rgba[alpha == 255, 3] == 255).all()
