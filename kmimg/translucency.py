"""Translucent colours as they are seen: the distance between two RGBA colours is the error seen
when both are composited over a dark background and over a light one, and the error of alpha.

A pixel of colour ``c`` (0-255) and opacity ``A = a / 255`` shows ``c A`` over black and
``c A + 255 (1 - A)`` over white. kmimg clusters, maps and dithers translucent images on

    d^2 = 1/2 * (|Δ(c A)|^2 + |Δ(c A) - Δa|^2) + 1/4 * Δa^2

the mean of the squared errors over black and over white (summed over R, G, B), and a quarter of
the squared alpha error:

- the colour of a pixel counts in proportion to how visible it is (premultiplied), so an almost
  invisible pixel's colour takes almost no palette room;
- an alpha error counts as what it is, the error seen over light and over dark, and a little on
  its own (the quarter: on the tuning translucent set it raised the premultiplied PSNR of the
  worst image from -0.44 to -0.02 dB against pngquant at k = 16, and the means by 0.1 dB, for
  none of the over-white mean; ``benchmarks/translucent_set.py``).

In RGB the composites are linear in ``(c A, a)``, and this distance is, exactly, the squared
distance of four numbers: the composite over mid-grey, ``g = c A + 127.5 (1 - A)``, and the
alpha (:func:`rgba_features`; expand the squares to check). For an opaque pixel ``g`` is its
colour, so kmimg's colour rules (the luma term, the small-k gamma of
:class:`kmimg.colorfit.FitSchedule`) apply to ``g`` unchanged, and an image without translucency
is fitted exactly as before. Every fully transparent pixel is the one point ``g = 127.5, a = 0``.

In CIELAB the composites are not linear in the colour, so the features are the two composites
themselves, each in CIELAB, and the alpha on the L* scale (seven numbers).

Back to 8-bit colours (:func:`rgba_colors`): alpha is rounded first, then the colour that gives
the feature's composite at that alpha. An entry whose alpha rounds to 255 is its composite
rounded, bit for bit what an opaque fit gives; an entry whose alpha rounds to 0 is
``(0, 0, 0, 0)``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import NDArray

from kmimg.colorspace import lab_to_rgb, rgb_to_lab
from kmimg.types import ColorSpace

#: Weight of the alpha feature (0-255 scale) beside the mid-grey composite: 1, so that the
#: distance is the module docstring's (sqrt(3)/2 would leave out its quarter of alpha error).
ALPHA_WEIGHT = 1.0
#: The background the three colour features are composited over (the midpoint of black and white).
MID_GREY = 127.5
_HALF = 1.0 / math.sqrt(2.0)
#: The alpha feature in CIELAB: the quarter of the squared alpha error on the L* scale (0-100).
_LAB_ALPHA = 0.5 * 100.0 / 255.0


def premultiplied(colors: NDArray[np.uint8]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(c A, a)`` of RGBA rows: the colour over black (0-255 floats) and the alpha (0-255)."""
    alpha = colors[:, 3].astype(np.float64)
    return colors[:, :3].astype(np.float64) * (alpha / 255.0)[:, None], alpha


def premultiplied_rgba(colors: NDArray[np.uint8]) -> NDArray[np.float64]:
    """RGBA rows as ``(R A, G A, B A, alpha)`` on the 0-255 scale: what kmimg's PSNR of a
    translucent image compares (the colour counts as much as it is seen)."""
    black, alpha = premultiplied(colors)
    return np.column_stack([black, alpha])


@functools.cache
def _over_grey(gamma: float = 1.0) -> NDArray[np.float64]:
    """``table[a, c]``: the composite over mid-grey of channel value ``c`` at alpha ``a`` (a
    lookup costs less than the arithmetic), raised to ``gamma`` on the 0-255 scale when not 1."""
    alpha = np.arange(256, dtype=np.float64)[:, None]
    value = np.arange(256, dtype=np.float64)[None, :]
    grey = value * (alpha / 255.0) + (255.0 - alpha) * (MID_GREY / 255.0)
    return grey if gamma == 1.0 else 255.0 * (np.clip(grey, 0.0, 255.0) / 255.0) ** gamma


def composite_levels(gamma: float = 1.0) -> NDArray[np.float64]:
    """:func:`_over_grey` flat, ``(65536,)``: the composite of channel value ``c`` at alpha ``a``
    at ``256 a + c`` (what :func:`rgba_features` reads; kmimg._engine.small_fit reads it too)."""
    return _over_grey(gamma).reshape(-1)


def rgba_features(colors: NDArray[np.uint8], space: ColorSpace, *, gamma: float = 1.0) -> NDArray[np.float64]:
    """The features of RGBA colours ``(n, 4)`` uint8 in ``space``: ``(n, 4)`` in RGB, ``(n, 7)``
    in CIELAB (module docstring); ``gamma`` (RGB only): the composite raised to it on the 0-255
    scale (the small-k fit space of :class:`kmimg.colorfit.FitSchedule`)."""
    if space is ColorSpace.RGB:
        out = np.empty((len(colors), 4))
        table, level = _over_grey(gamma).reshape(-1), colors[:, 3]
        row = level.astype(np.intp) << 8  # table[a, c] is the flat table's entry 256 a + c
        for c in range(3):
            np.take(table, row + colors[:, c], out=out[:, c])
        np.multiply(level, ALPHA_WEIGHT, out=out[:, 3])
        return out
    black, alpha = premultiplied(colors)
    white = black + (255.0 - alpha)[:, None]
    return np.column_stack([rgb_to_lab(black) * _HALF, rgb_to_lab(white) * _HALF, alpha * _LAB_ALPHA])


def rgba_colors(features: NDArray[np.float64], space: ColorSpace) -> NDArray[np.uint8]:
    """8-bit RGBA colours of features (the inverse of :func:`rgba_features`, rounded)."""
    if space is ColorSpace.RGB:
        alpha = np.clip(np.rint(features[:, 3] / ALPHA_WEIGHT), 0.0, 255.0)
        black = features[:, :3] - (255.0 - alpha)[:, None] * (MID_GREY / 255.0)
    else:
        over_black = lab_to_rgb(features[:, :3] / _HALF)
        over_white = lab_to_rgb(features[:, 3:6] / _HALF)
        alpha = np.clip(np.rint(features[:, 6] / _LAB_ALPHA), 0.0, 255.0)
        black = (over_black + over_white - (255.0 - alpha)[:, None]) / 2.0
    return straight_colors(black, alpha)


def straight_colors(black: NDArray[np.float64], alpha: NDArray[np.float64]) -> NDArray[np.uint8]:
    """8-bit straight (un-premultiplied) RGBA of colours over black ``(n, 3)`` at the integer
    alphas ``alpha`` ``(n,)``: ``c = 255 (c A) / a``, rounded and clipped; ``(0, 0, 0, 0)`` where
    ``a`` is 0. At ``a`` = 255 the colour is ``c A`` rounded: no drift for opaque entries."""
    opacity = np.where(alpha > 0, alpha, 255.0) / 255.0
    colour = np.clip(np.rint(black / opacity[:, None]), 0.0, 255.0)
    colour[alpha == 0] = 0.0
    return np.column_stack([colour, alpha]).astype(np.uint8)
