"""Dithering: mapping an image to a fitted palette with error diffusion (``--dither LEVEL``).

Pure, like :mod:`kmimg.quantize`, which calls :func:`dither_indices` after the plain mapping.
The method (measured against pngquant, ImageMagick and Pillow in ``benchmarks/dither.py``):

- serpentine Floyd-Steinberg error diffusion in a working colour space (:data:`SPACES`), with
  libimagequant's rules: errors too small to see are not diffused, the target colour is kept
  near the colour cube by shrinking the whole error vector, and large errors are damped;
- a *dither map* (:func:`dither_map`): the strength of the diffusion per pixel, lowered on
  edges and in textured areas (where dithering only adds noise: jagged edges, speckled
  texture) and full in smooth areas, where the undithered image shows bands;
- ``level`` (0-1, as pngquant's ``--floyd``) scales the strength; 0 means no dithering.

The error-diffusion loop is in C (``kmimg/_dither.c``); :func:`reference_diffuse` is the same
loop in Python, for the tests. Pixels that are not fully opaque keep their plain index and
take no part in the diffusion. Deterministic: one serial pass, the same for any thread count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kmimg.colorspace import _LINEAR_OF_BYTE, _RGB_TO_XYZ_D65
from kmimg.types import DEFAULT_DITHER_LEVEL, ColorSpace

#: Level of plain ``--dither`` (pngquant's default ``--floyd=1``).
DEFAULT_LEVEL = DEFAULT_DITHER_LEVEL

#: Working spaces of the C kernel: each channel through a table, CIELAB, or linear-light
#: diffusion with the nearest entry chosen in CIELAB.
SPACE_TABLE, SPACE_LAB, SPACE_LINEAR_LAB = 0, 1, 2

#: Rows of the dither map computed at a time (bounded memory on large images).
_STRIP = 256


@dataclass(frozen=True)
class Kernel:
    """Everything the diffusion loop reads besides the pixels: the working space (``space``,
    the per-byte ``table``, the 3x3 ``matrix`` to XYZ / white), the strength per map unit,
    the squared error below which nothing is diffused and above which it is damped, and the
    bounds of the target colour."""

    space: int
    table: NDArray[np.float64]
    matrix: NDArray[np.float64]
    strength: float
    min_err2: float
    max_err2: float
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]


def level_strength(level: float) -> float:
    """Diffusion strength of a level in (0, 1]: libimagequant's curve ``1 - (1 - level)²``
    (a linear one would dither almost nothing below 0.8) times 15/16, so that small errors do
    not accumulate; per unit of the 0-255 dither map."""
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"dither level must be between 0 and 1, got {level}")
    return (1.0 - (1.0 - level) * (1.0 - level)) * (15.0 / 16.0) / 255.0


def make_kernel(level: float, space: int, mean_err2: float) -> Kernel:
    """The kernel's settings for a level, a working space and the plain mapping's mean squared
    error in that space (large errors are those over 2.4 times it, libimagequant's rule)."""
    if space == SPACE_LAB:
        table, scale = _LINEAR_OF_BYTE, 100.0
        lo, hi = (-10.0, -150.0, -150.0), (110.0, 150.0, 150.0)
    else:
        table = _LINEAR_OF_BYTE * 255.0 if space == SPACE_LINEAR_LAB else np.arange(256.0)
        scale = 255.0
        lo, hi = (-0.1 * scale,) * 3, (1.1 * scale,) * 3
    return Kernel(
        space=space,
        table=np.ascontiguousarray(table, dtype=np.float64),
        matrix=np.ascontiguousarray(_RGB_TO_XYZ_D65 / (255.0 if space == SPACE_LINEAR_LAB else 1.0)),
        strength=level_strength(level),
        min_err2=2.0 * (scale / 256.0) ** 2,
        max_err2=max(2.4 * mean_err2, 0.001 * scale * scale),
        lo=lo,
        hi=hi,
    )


def dither_indices(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    palette: NDArray[np.uint8],
    plain: NDArray[np.uint8],
    level: float,
    fit_space: ColorSpace = ColorSpace.RGB,
    *,
    working: int | None = None,
) -> NDArray[np.uint8]:
    """Indices of ``rgb`` (h, w, 3) into the RGBA ``palette`` with error diffusion at
    ``level``; pixels with ``alpha`` < 255 keep their ``plain`` index (the undithered
    mapping, which also shapes the dither map). ``working`` overrides the working space that
    :func:`working_space` picks for the palette's ``fit_space``."""
    entries = np.flatnonzero(palette[:, 3] == 255)
    if level == 0.0 or len(entries) < 2:
        return plain
    space = working_space(fit_space) if working is None else working
    from kmimg import _dither

    rgb = np.ascontiguousarray(rgb)
    colors = np.ascontiguousarray(palette[entries, :3])
    kernel = make_kernel(level, space, _mean_err2(rgb, plain, palette, space))
    keep = None if alpha is None else np.ascontiguousarray(alpha != 255, dtype=np.uint8)
    out = plain.copy()
    height, width = plain.shape
    _dither.diffuse(
        rgb,
        dither_map(rgb, plain),
        keep,
        width,
        height,
        colors,
        entries.astype(np.uint8),
        len(entries),
        kernel.table,
        kernel.matrix,
        kernel.space,
        kernel.strength,
        kernel.min_err2,
        kernel.max_err2,
        kernel.lo,
        kernel.hi,
        out,
    )
    return out


def working_space(fit_space: ColorSpace) -> int:
    """The kernel's working space for a palette fitted in ``fit_space``."""
    del fit_space  # sRGB values measured best for both (benchmarks/NOTES.md)
    return SPACE_TABLE


def to_working(rgb: NDArray[np.uint8], space: int) -> NDArray[np.float64]:
    """Colours ``(..., 3)`` in the diffusion space of ``space`` (numpy; as the kernel does)."""
    kernel = make_kernel(1.0, space, 0.0)
    lin = kernel.table[rgb]
    if space != SPACE_LAB:
        return lin
    m = kernel.matrix
    xyz = [m[r, 0] * lin[..., 0] + m[r, 1] * lin[..., 1] + m[r, 2] * lin[..., 2] for r in range(3)]
    f = [np.where(v > 0.008856, np.cbrt(v), 7.787 * v + 16.0 / 116.0) for v in xyz]
    return np.stack([116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])], axis=-1)


def _mean_err2(rgb: NDArray[np.uint8], plain: NDArray[np.uint8], palette: NDArray[np.uint8], space: int) -> float:
    """Mean squared error of the plain mapping in the diffusion space, over every 7th pixel."""
    step = 7 if plain.size > 70_000 else 1
    pixels = rgb.reshape(-1, 3)[::step]
    mapped = palette[plain.reshape(-1)[::step], :3]
    diff = to_working(pixels, space) - to_working(mapped, space)
    return float(np.mean(np.sum(diff * diff, axis=-1)))


# ----------------------------------------------------------------------------- dither map


def dither_map(rgb: NDArray[np.uint8], plain: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Strength of the diffusion per pixel, 0-255 (C; :func:`reference_dither_map` is the
    same in numpy)."""
    from kmimg import _dither

    height, width = plain.shape
    out = np.empty((height, width), dtype=np.uint8)
    _dither.dither_map(np.ascontiguousarray(rgb), np.ascontiguousarray(plain), width, height, out)
    return out


def reference_dither_map(rgb: NDArray[np.uint8], plain: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Strength of the diffusion per pixel, 0-255: low on edges and texture of the image and
    where the plain mapping changes index often, full in smooth areas (libimagequant's idea:
    its contrast maps and ``update_dither_map``). Integer filters, so that the C version gives
    the same bytes."""
    noise, edges = _contrast(rgb)
    noise = _cross(_cross(noise, np.maximum), np.maximum)
    noise = _cross(_box_blur(noise, 3), np.maximum)
    for _ in range(3):
        noise = _cross(noise, np.minimum)
    edges = _cross(_cross(edges, np.minimum), np.maximum)
    flat = np.minimum(noise, edges).astype(np.float64)
    value = (flat + 128.0) * (255.0 / 383.0) * _run_factor(plain)
    return value.astype(np.uint8)


def _contrast(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Two maps, 255 where the image is smooth: ``noise`` (low in texture, not on lone edges)
    and ``edges`` (low on any contrast), from the second differences of each pixel's row and
    column neighbours (largest over the channels, 0-510)."""
    v = rgb.astype(np.int32)
    p = np.pad(v, ((1, 1), (1, 1), (0, 0)), mode="edge")
    horiz = np.abs(p[1:-1, :-2] + p[1:-1, 2:] - 2 * v).max(axis=-1)
    vert = np.abs(p[:-2, 1:-1] + p[2:, 1:-1] - 2 * v).max(axis=-1)
    edge = np.maximum(horiz, vert)
    h, e = horiz.astype(np.float64) / 255.0, edge.astype(np.float64) / 255.0
    vv = vert.astype(np.float64) / 255.0
    z = 1.0 - np.maximum(e - np.abs(h - vv) * 0.5, np.minimum(h, vv))
    z = np.maximum(z, 0.0)
    z = (z * z) * (z * z)
    noise = (80.0 + z * 175.0).astype(np.uint8)
    edges = np.clip(255 - edge, 0, 255).astype(np.uint8)
    return noise, edges


def _cross(a: NDArray[np.uint8], op: np.ufunc) -> NDArray[np.uint8]:
    """``op`` (maximum or minimum) of each value and its four neighbours (edges replicated)."""
    p = np.pad(a, 1, mode="edge")
    result = op(op(op(p[1:-1, :-2], p[1:-1, 2:]), op(p[:-2, 1:-1], p[2:, 1:-1])), a)
    return np.asarray(result, dtype=np.uint8)


def _box_blur(a: NDArray[np.uint8], radius: int) -> NDArray[np.uint8]:
    """Mean (rounded down) over 2 radius + 1 values along the rows, then the columns."""
    out = a.astype(np.int32)
    for axis in (1, 0):
        widths = [(0, 0), (0, 0)]
        widths[axis] = (radius, radius)
        p = np.pad(out, widths, mode="edge")
        size = out.shape[axis]
        total = sum(np.take(p, np.arange(d, d + size), axis=axis) for d in range(2 * radius + 1))
        out = np.asarray(total) // (2 * radius + 1)
    return out.astype(np.uint8)


def _run_factor(plain: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Per pixel, how settled the plain mapping is around it: a run of one index along a row,
    of length L with V pixels of the same index right above or below it, scores
    ``1 - 20 / (20 + 10 L + 15 V)`` (libimagequant's ``update_dither_map``)."""
    height, width = plain.shape
    starts = np.ones((height, width), dtype=bool)
    starts[:, 1:] = plain[:, 1:] != plain[:, :-1]
    run = np.cumsum(starts.reshape(-1)) - 1
    same = np.zeros((height, width), dtype=np.int64)
    same[1:] += plain[1:] == plain[:-1]
    same[:-1] += plain[:-1] == plain[1:]
    length = np.bincount(run)
    vertical = np.bincount(run, weights=same.reshape(-1)).astype(np.int64)
    score = (10 * length + 15 * vertical).astype(np.float64)
    factor = 1.0 - 20.0 / (20.0 + score)
    return np.asarray(factor[run].reshape(height, width))
