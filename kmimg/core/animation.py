"""Quantizing an animation: one palette fitted across every frame, every frame mapped onto it.

Pure: frames in (``(n, h, w, 3)`` RGB and an optional ``(n, h, w)`` alpha), a
:class:`QuantizedFrames` out. The frames are quantized as one image, stacked one below the other:
the colour histogram counts every frame's pixels, so the palette is fitted by the one-image rule
(:func:`kmimg.core.quantize.fit_colors`, the transparent entry included) or taken as given
(``palette``), and each colour maps to one entry in every frame.

Dithering (``options.dither``) diffuses each frame's error within the frame, then every pixel
that is the same in a frame and the frame before keeps the index it had there: static areas do
not flicker, and an unchanged pixel costs no bytes in the frame's changed rectangle.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.core.quantize import (
    Analysis,
    Measure,
    Quality,
    Quantized,
    analyze,
    binary_alpha,
    quantize_analysis,
    quantize_onto,
)
from kmimg.options import DEFAULT_ALPHA_THRESHOLD, QuantizeOptions


@frozen
class QuantizedFrames:
    """Frames on one palette: ``indices`` ``(n, h, w)`` into ``palette`` ``(m, 4)`` RGBA,
    ``counts`` the pixels of all frames per entry; ``quality`` (``None`` unless measured): PSNR
    as the mean over frames of each frame's PSNR, SSIM and ΔE2000 the means over frames."""

    indices: NDArray[np.uint8]
    palette: NDArray[np.uint8]
    counts: NDArray[np.int64]
    quality: Quality | None
    frame_psnr: tuple[float, ...] = ()

    @property
    def frame_count(self) -> int:
        return int(self.indices.shape[0])


def quantize_frames(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    options: QuantizeOptions,
    *,
    palette: NDArray[np.uint8] | None = None,
    measure: Measure = True,
) -> QuantizedFrames:
    """Quantize frames ``rgb`` ``(n, h, w, 3)`` with ``alpha`` ``(n, h, w)`` or ``None`` to one
    palette of at most ``options.k`` colours, or onto ``palette`` (see the module docstring).
    Deterministic, like :func:`kmimg.core.quantize.quantize`."""
    if rgb.ndim != 4 or rgb.shape[3] != 3:
        raise ValueError("rgb must be an (n, h, w, 3) uint8 array")
    count, height, width = rgb.shape[:3]
    tall_alpha = None if alpha is None else alpha.reshape(count * height, width)
    analysis = mapped_alpha(analyze(rgb.reshape(count * height, width, 3), tall_alpha), options, palette)
    plain_options = replace(options, dither=0.0, alpha_threshold=None)
    if palette is None:
        plain: Quantized = quantize_analysis(analysis, plain_options, measure=False)
    else:
        plain = quantize_onto(analysis, palette, plain_options, measure=False)
    indices = plain.indices.reshape(count, height, width)
    frame_alpha = None if analysis.alpha is None else analysis.alpha.reshape(count, height, width)
    if options.dither > 0.0:
        indices = dither_frames(rgb, frame_alpha, plain.palette, indices, options.dither)
    counts = np.bincount(indices.ravel(), minlength=len(plain.palette)).astype(np.int64)
    quality, per_frame = measure_frames(rgb, frame_alpha, plain.palette, indices) if measure else (None, ())
    return QuantizedFrames(indices, plain.palette, counts, quality, per_frame)


def mapped_alpha(analysis: Analysis, options: QuantizeOptions, palette: NDArray[np.uint8] | None) -> Analysis:
    """The analysis with the alpha the mapping uses: binary at ``options.alpha_threshold``, or
    (onto a palette without translucent colours) at :data:`~kmimg.options.DEFAULT_ALPHA_THRESHOLD`,
    as :func:`~kmimg.core.quantize.quantize_onto` does; frames are dithered and measured on it."""
    threshold = options.alpha_threshold
    if threshold is None and palette is not None and analysis.table.channels == 4:
        translucent_palette = bool(((palette[:, 3] > 0) & (palette[:, 3] < 255)).any())
        threshold = None if translucent_palette else DEFAULT_ALPHA_THRESHOLD
    return analysis if threshold is None else binary_alpha(analysis, threshold)


def dither_frames(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    palette: NDArray[np.uint8],
    plain: NDArray[np.uint8],
    level: float,
) -> NDArray[np.uint8]:
    """Each frame dithered on its own, then every pixel equal to the same pixel of the previous
    frame (colour and alpha) given that frame's index."""
    from kmimg.dither import dither_indices

    out = np.empty_like(plain)
    for number in range(len(rgb)):
        frame_alpha = None if alpha is None else alpha[number]
        out[number] = dither_indices(rgb[number], frame_alpha, palette, plain[number], level)
        if number:
            static = (rgb[number] == rgb[number - 1]).all(axis=2)
            if alpha is not None:
                static &= alpha[number] == alpha[number - 1]
            out[number][static] = out[number - 1][static]
    return out


def measure_frames(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    palette: NDArray[np.uint8],
    indices: NDArray[np.uint8],
) -> tuple[Quality, tuple[float, ...]]:
    """Each frame's PSNR (as :func:`kmimg.core.quantize.quantize` measures an image), and the
    means over frames of PSNR, SSIM and ΔE2000."""
    from kmimg import metrics
    from kmimg.dither import color_errors

    psnrs, ssims, deltas = [], [], []
    for number in range(len(rgb)):
        frame_alpha = None if alpha is None else alpha[number]
        visible = None if frame_alpha is None else (frame_alpha > 0).reshape(-1)
        translucent = frame_alpha is not None and bool(((frame_alpha > 0) & (frame_alpha < 255)).any())
        mse, delta_e = color_errors(
            rgb[number], frame_alpha if translucent else None, visible, palette, indices[number]
        )
        psnrs.append(metrics.psnr_from_mse(mse))
        ssims.append(metrics.ssim_indexed(rgb[number], indices[number], palette))
        deltas.append(delta_e)
    quality = Quality(float(np.mean(psnrs)), float(np.mean(ssims)), float(np.mean(deltas)))
    return quality, tuple(float(value) for value in psnrs)
