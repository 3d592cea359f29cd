"""Dithering: mapping an image to a fitted palette with error diffusion (``--dither LEVEL``).

Pure, like :mod:`kmimg.core.quantize`, which calls :func:`dither_indices` after the plain mapping.
The method, chosen by SSIMULACRA2 and FLIP against pngquant (``benchmarks/dither.py``,
``benchmarks/NOTES.md``):

- serpentine Floyd-Steinberg error diffusion of the sRGB values;
- the nearest palette entry by a distance that weights luma (``|d|² + 6 (y . d)²``, y the
  Rec. 601 weights): the eye sees the structure of dither noise mostly in its luma;
- libimagequant's rules: the level's curve ``1 - (1 - level)²`` times 15/16, errors too small
  to see not diffused, the target kept near the colour cube by shrinking the whole error
  vector (no clipped channels, so no hue shifts), and large errors damped (no lone specks);
- ``level`` (0-1, as pngquant's ``--floyd``) scales the diffusion; 0 means no dithering.

The loop is in C (``kmimg/_dither.c``); :func:`reference_diffuse` is the same loop in Python,
for the tests. Pixels that are not fully opaque keep their plain index and take no part in
the diffusion. Deterministic: one serial pass, the same for any number of threads or jobs.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.colorspace import LUMA_WEIGHTS
from kmimg.options import DEFAULT_DITHER_LEVEL

#: Level of a bare ``--dither`` (pngquant's default ``--floyd=1``).
DEFAULT_LEVEL = DEFAULT_DITHER_LEVEL
#: Weight of the squared luma difference in the distance that picks each pixel's entry.
LUMA_WEIGHT = 6.0
#: Errors over this many times the plain mapping's mean squared error are damped.
DAMP_FACTOR = 6.0
#: ... but never below this squared error (libimagequant's quality 35, in 8-bit units).
DAMP_FLOOR = 0.001 * 255.0**2
#: Diffused errors whose square is below this are not applied (2 / 256² of the unit cube).
MIN_ERR2 = 2.0 * (255.0 / 256.0) ** 2
#: The target colour may leave the cube by this share of its side (libimagequant's 0.1).
OVERSHOOT = 0.1


@frozen
class Kernel:
    """Everything the diffusion loop reads besides the pixels and the palette: the working
    space's ``matrix`` (sRGB values to working coordinates), the share of the error applied,
    the squared errors below which nothing is diffused and above which it is damped, and the
    box (working coordinates) that holds the targets."""

    matrix: NDArray[np.float64]
    strength: float
    min_err2: float
    max_err2: float
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]


def level_strength(level: float) -> float:
    """Share of the error diffused at a level in [0, 1]: libimagequant's curve
    ``1 - (1 - level)²`` (a linear one would dither almost nothing below 0.8) times 15/16, so
    that small errors do not accumulate."""
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"dither level must be between 0 and 1, got {level}")
    return (1.0 - (1.0 - level) * (1.0 - level)) * (15.0 / 16.0)


def luma_matrix(weight: float) -> NDArray[np.float64]:
    """``M`` with ``|M d|² = |d|² + weight (y . d)²`` (y the Rec. 601 luma weights)."""
    y = np.array(LUMA_WEIGHTS)
    yy = float(y @ y)
    return np.eye(3) + ((math.sqrt(1.0 + weight * yy) - 1.0) / yy) * np.outer(y, y)


def make_kernel(level: float, mean_err2: float) -> Kernel:
    """The kernel's settings for a level and the plain mapping's mean squared error in the
    working space."""
    matrix = luma_matrix(LUMA_WEIGHT)
    lo, hi = _box_bounds(matrix, -OVERSHOOT * 255.0, (1.0 + OVERSHOOT) * 255.0)
    return Kernel(
        matrix=np.ascontiguousarray(matrix, dtype=np.float64),
        strength=level_strength(level),
        min_err2=MIN_ERR2,
        max_err2=max(DAMP_FACTOR * mean_err2, DAMP_FLOOR),
        lo=lo,
        hi=hi,
    )


def _box_bounds(
    matrix: NDArray[np.float64], lo: float, hi: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-coordinate bounds of ``matrix @ v`` for v in the cube [lo, hi]³."""
    low = np.where(matrix > 0, matrix * lo, matrix * hi).sum(axis=1)
    high = np.where(matrix > 0, matrix * hi, matrix * lo).sum(axis=1)
    return (float(low[0]), float(low[1]), float(low[2])), (float(high[0]), float(high[1]), float(high[2]))


def dither_indices(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    palette: NDArray[np.uint8],
    plain: NDArray[np.uint8],
    level: float,
) -> NDArray[np.uint8]:
    """Indices of ``rgb`` (h, w, 3) into the RGBA ``palette`` with error diffusion at
    ``level``; pixels with ``alpha`` < 255 keep their ``plain`` (undithered) index, and the
    plain mapping's error sets the damping threshold."""
    entries = np.flatnonzero(palette[:, 3] == 255)
    if level == 0.0 or len(entries) < 2:
        return plain
    from kmimg import _dither

    kernel = make_kernel(level, _mean_err2(rgb, plain, palette))
    keep = None if alpha is None else np.ascontiguousarray(alpha != 255, dtype=np.uint8)
    out = np.array(plain, dtype=np.uint8, order="C")
    height, width = plain.shape
    _dither.diffuse(
        np.ascontiguousarray(rgb),
        keep,
        width,
        height,
        np.ascontiguousarray(palette[entries, :3]),
        entries.astype(np.uint8),
        len(entries),
        kernel.matrix,
        kernel.strength,
        kernel.min_err2,
        kernel.max_err2,
        kernel.lo,
        kernel.hi,
        out,
    )
    return out


def _mean_err2(rgb: NDArray[np.uint8], plain: NDArray[np.uint8], palette: NDArray[np.uint8]) -> float:
    """Mean squared error of the plain mapping in the working space (``|d|² + w (y . d)²``),
    over every 7th pixel of a large image (every pixel of a small one). Element-wise numpy
    (no BLAS), so that the figure is the same for any number of threads."""
    step = 7 if plain.size > 70_000 else 1
    pixels = rgb.reshape(-1, 3)[::step]
    mapped = palette[plain.reshape(-1)[::step], :3]
    if not len(pixels):
        return 0.0
    d = [pixels[:, c].astype(np.float64) - mapped[:, c] for c in range(3)]
    luma = (d[0] * LUMA_WEIGHTS[0] + d[1] * LUMA_WEIGHTS[1]) + d[2] * LUMA_WEIGHTS[2]
    squared = (d[0] * d[0] + d[1] * d[1]) + d[2] * d[2] + LUMA_WEIGHT * (luma * luma)
    return float(np.mean(squared))


# ----------------------------------------------------------------------------- reference


def reference_diffuse(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    palette: NDArray[np.uint8],
    plain: NDArray[np.uint8],
    level: float,
) -> NDArray[np.uint8]:
    """:func:`dither_indices` in pure Python, operation for operation as ``_dither.c`` (with
    a plain scan for the nearest entry); for the tests, on small images."""
    entries = [int(e) for e in np.flatnonzero(palette[:, 3] == 255)]
    if level == 0.0 or len(entries) < 2:
        return plain
    kernel = make_kernel(level, _mean_err2(rgb, plain, palette))
    m = [float(v) for v in kernel.matrix.reshape(-1)]
    rows = [_work(m, palette[e, :3]) for e in entries]
    height, width = plain.shape
    out = plain.copy()
    this_row = [[0.0, 0.0, 0.0] for _ in range(width + 2)]
    forward = True
    for y in range(height):
        next_row = [[0.0, 0.0, 0.0] for _ in range(width + 2)]
        for x in range(width) if forward else range(width - 1, -1, -1):
            if alpha is not None and alpha[y, x] != 255:
                continue
            target = _target(kernel, _work(m, rgb[y, x]), this_row[x + 1])
            dists = [_dist2(row, target) for row in rows]
            j = dists.index(min(dists))
            out[y, x] = entries[j]
            e = [target[c] - rows[j][c] for c in range(3)]
            if (e[0] * e[0] + e[1] * e[1]) + e[2] * e[2] > kernel.max_err2:
                e = [v * 0.75 for v in e]
            _spread(this_row, next_row, x + 1, 1 if forward else -1, e)
        this_row, forward = next_row, not forward
    return out


def _work(m: list[float], rgb: NDArray[np.uint8]) -> list[float]:
    v = [float(c) for c in rgb]
    return [(m[3 * r] * v[0] + m[3 * r + 1] * v[1]) + m[3 * r + 2] * v[2] for r in range(3)]


def _dist2(a: list[float], b: list[float]) -> float:
    d = [a[c] - b[c] for c in range(3)]
    return (d[0] * d[0] + d[1] * d[1]) + d[2] * d[2]


def _target(kernel: Kernel, px: list[float], err: list[float]) -> list[float]:
    s = [v * kernel.strength for v in err]
    e2 = (s[0] * s[0] + s[1] * s[1]) + s[2] * s[2]
    if e2 < kernel.min_err2:
        return px
    ratio = 1.0
    for c in range(3):
        v = px[c] + s[c]
        if v > kernel.hi[c]:
            ratio = min(ratio, (kernel.hi[c] - px[c]) / s[c])
        elif v < kernel.lo[c]:
            ratio = min(ratio, (kernel.lo[c] - px[c]) / s[c])
    ratio = max(ratio, 0.0)
    if e2 > kernel.max_err2:
        ratio *= 0.8
    return [px[c] + s[c] * ratio for c in range(3)]


def _spread(
    this_row: list[list[float]], next_row: list[list[float]], x: int, step: int, e: list[float]
) -> None:
    for c in range(3):
        this_row[x + step][c] += e[c] * (7.0 / 16.0)
        next_row[x + step][c] += e[c] * (1.0 / 16.0)
        next_row[x][c] += e[c] * (5.0 / 16.0)
        next_row[x - step][c] += e[c] * (3.0 / 16.0)


# ----------------------------------------------------------------------------- quality figures

#: Pixels measured at a time by :func:`color_errors` (bounded memory on large images).
_MEASURE_STRIP = 1 << 20


def color_errors(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    visible: NDArray[np.bool_] | None,
    palette: NDArray[np.uint8],
    indices: NDArray[np.uint8],
) -> tuple[float, float]:
    """Mean squared error per sample (R, G, B; premultiplied R, G, B and A when ``alpha`` is
    given) and mean CIEDE2000 of a dithered image over its ``visible`` pixels, a strip of pixels
    at a time (a dithered image has no colour-to-entry function to measure by, as the plain one
    does)."""
    from kmimg import metrics
    from kmimg.translucency import premultiplied_rgba

    flat_rgb, flat_indices = rgb.reshape(-1, 3), indices.reshape(-1)
    channels = 3 if alpha is None else 4
    squared = delta_e = 0.0
    total = 0
    for start in range(0, len(flat_indices), _MEASURE_STRIP):
        rows = slice(start, start + _MEASURE_STRIP)
        original = flat_rgb[rows]
        if alpha is not None:
            original = np.column_stack([original, alpha.reshape(-1)[rows]])
        output = palette[flat_indices[rows], :channels]
        if visible is not None:
            original, output = original[visible[rows]], output[visible[rows]]
        if not len(original):
            continue
        if alpha is not None:
            diff = premultiplied_rgba(original) - premultiplied_rgba(output)
        else:
            diff = original.astype(np.float64) - output.astype(np.float64)
        squared += float(np.einsum("ij,ij->", diff, diff))
        delta_e += metrics.delta_e2000_images(original[:, :3], output[:, :3]) * len(original)
        total += len(original)
    if not total:
        return 0.0, 0.0
    return squared / (channels * total), delta_e / total
