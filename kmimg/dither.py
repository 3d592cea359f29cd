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

Images with translucent pixels are dithered in kmimg's alpha-aware space
(:mod:`kmimg.translucency`): the working coordinates are the composite over mid-grey through the
same luma-weighting matrix, and the alpha times :data:`ALPHA_WEIGHT`; the error of both is
diffused (libimagequant diffuses alpha error too), so soft shadows and glows do not band. The
alpha of a target is clipped to [0, 255]. Fully transparent pixels keep their plain index (the
transparent entry), take no error and give none: they stay exactly transparent, as pngquant
keeps them. In an image whose alpha is only 0 or 255 the opaque pixels are dithered among the
opaque entries.

The loop is in C (``kmimg/_dither.c``); :func:`reference_diffuse` is the same loop in Python,
for the tests. Deterministic: one serial pass, the same for any number of threads or jobs.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.colorspace import LUMA_WEIGHTS
from kmimg.options import DEFAULT_DITHER_LEVEL
from kmimg.translucency import MID_GREY

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
#: Weight of alpha (0-255) in the working space of translucent images, beside the luma-weighted
#: composite over mid-grey (see :mod:`kmimg.translucency`).
ALPHA_WEIGHT = 1.5


@frozen
class Kernel:
    """Everything the diffusion loop reads besides the pixels and the palette: the working
    space's ``matrix`` (sRGB values to working coordinates) and, for RGBA pixels, the weight of
    alpha; the share of the error applied, the squared errors below which nothing is diffused
    and above which it is damped, and the box (working coordinates, alpha's last) that holds the
    targets."""

    matrix: NDArray[np.float64]
    strength: float
    min_err2: float
    max_err2: float
    lo: tuple[float, float, float, float]
    hi: tuple[float, float, float, float]
    alpha_weight: float


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
        lo=(*lo, 0.0),
        hi=(*hi, 255.0 * ALPHA_WEIGHT),
        alpha_weight=ALPHA_WEIGHT,
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
    """Indices of ``rgb`` (h, w, 3) with ``alpha`` into the RGBA ``palette`` with error diffusion
    at ``level`` (see the module docstring); the plain (undithered) mapping ``plain`` sets the
    damping threshold and stays the index of fully transparent pixels."""
    job = _job(rgb, alpha, palette, plain)
    if level == 0.0 or job is None:
        return plain
    from kmimg import _dither

    pixels, keep, entries = job
    channels = pixels.shape[-1]
    kernel = make_kernel(level, _mean_err2(pixels, plain, palette, keep))
    out = np.array(plain, dtype=np.uint8, order="C")
    height, width = plain.shape
    _dither.diffuse(
        pixels, keep, width, height, channels, np.ascontiguousarray(palette[entries, :channels]),
        entries.astype(np.uint8), len(entries), kernel.matrix, kernel.alpha_weight, kernel.strength,
        kernel.min_err2, kernel.max_err2, kernel.lo, kernel.hi, out,
    )  # fmt: skip
    return out


def _job(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    palette: NDArray[np.uint8],
    plain: NDArray[np.uint8],
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None, NDArray[np.intp]] | None:
    """The pixels the loop reads (RGB, or RGBA when any is translucent), the pixels it leaves
    (``None``: none) and the entries it may choose; ``None`` when there is nothing to dither."""
    keep: NDArray[np.uint8] | None
    translucent = alpha is not None and bool(((alpha > 0) & (alpha < 255)).any())
    if translucent:
        assert alpha is not None
        entries = np.arange(len(palette))
        pixels = np.ascontiguousarray(np.dstack([rgb, alpha]))
        keep = np.ascontiguousarray(alpha == 0, dtype=np.uint8)
    else:
        entries = np.flatnonzero(palette[:, 3] == 255)
        pixels = np.ascontiguousarray(rgb)
        keep = None if alpha is None else np.ascontiguousarray(alpha != 255, dtype=np.uint8)
    return (pixels, keep, entries) if len(entries) >= 2 else None


def working(pixels: NDArray[np.uint8], matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """Colours ``(n, 3)`` RGB or ``(n, 4)`` RGBA in the working space (alpha-aware for RGBA),
    element-wise in the loop's order of operations."""
    v = [pixels[:, c].astype(np.float64) for c in range(3)]
    if pixels.shape[1] == 4:
        opacity = pixels[:, 3].astype(np.float64) / 255.0
        rest = (255.0 - pixels[:, 3].astype(np.float64)) * (MID_GREY / 255.0)
        v = [channel * opacity + rest for channel in v]
    m = matrix.reshape(-1)
    out = [(m[3 * r] * v[0] + m[3 * r + 1] * v[1]) + m[3 * r + 2] * v[2] for r in range(3)]
    if pixels.shape[1] == 4:
        out.append(pixels[:, 3].astype(np.float64) * ALPHA_WEIGHT)
    return np.stack(out, axis=1)


def _mean_err2(
    pixels: NDArray[np.uint8],
    plain: NDArray[np.uint8],
    palette: NDArray[np.uint8],
    keep: NDArray[np.uint8] | None,
) -> float:
    """Mean squared error of the plain mapping in the working space over the pixels the loop
    dithers, every 7th pixel of a large image (every pixel of a small one). Element-wise numpy
    (no BLAS), so that the figure is the same for any number of threads."""
    step = 7 if plain.size > 70_000 else 1
    channels = pixels.shape[-1]
    flat = pixels.reshape(-1, channels)[::step]
    mapped = palette[plain.reshape(-1)[::step], :channels]
    if channels == 3:  # every pixel, as kmimg measured it before translucent dithering
        d = [flat[:, c].astype(np.float64) - mapped[:, c] for c in range(3)]
        luma = (d[0] * LUMA_WEIGHTS[0] + d[1] * LUMA_WEIGHTS[1]) + d[2] * LUMA_WEIGHTS[2]
        squared = (d[0] * d[0] + d[1] * d[1]) + d[2] * d[2] + LUMA_WEIGHT * (luma * luma)
        return float(np.mean(squared)) if len(flat) else 0.0
    assert keep is not None
    dithered = keep.reshape(-1)[::step] == 0
    flat, mapped = flat[dithered], mapped[dithered]
    if not len(flat):
        return 0.0
    matrix = luma_matrix(LUMA_WEIGHT)
    w = working(flat, matrix) - working(mapped, matrix)
    return float(np.mean(((w[:, 0] * w[:, 0] + w[:, 1] * w[:, 1]) + w[:, 2] * w[:, 2]) + w[:, 3] * w[:, 3]))


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
    job = _job(rgb, alpha, palette, plain)
    if level == 0.0 or job is None:
        return plain
    pixels, keep, entries = job
    dim = pixels.shape[-1]
    kernel = make_kernel(level, _mean_err2(pixels, plain, palette, keep))
    rows = [list(row) for row in working(palette[entries, :dim], kernel.matrix)]
    height, width = plain.shape
    out = plain.copy()
    this_row = [[0.0] * dim for _ in range(width + 2)]
    forward = True
    for y in range(height):
        next_row = [[0.0] * dim for _ in range(width + 2)]
        for x in range(width) if forward else range(width - 1, -1, -1):
            if keep is not None and keep[y, x]:
                continue
            target = _target(kernel, list(working(pixels[y, x][None, :], kernel.matrix)[0]), this_row[x + 1])
            dists = [_dist2(row, target) for row in rows]
            j = dists.index(min(dists))
            out[y, x] = entries[j]
            e = [target[c] - rows[j][c] for c in range(dim)]
            if _dist2(e, [0.0] * dim) > kernel.max_err2:
                e = [v * 0.75 for v in e]
            _spread(this_row, next_row, x + 1, 1 if forward else -1, e)
        this_row, forward = next_row, not forward
    return out


def _dist2(a: list[float], b: list[float]) -> float:
    d = [a[c] - b[c] for c in range(len(a))]
    total = (d[0] * d[0] + d[1] * d[1]) + d[2] * d[2]
    return total + d[3] * d[3] if len(d) == 4 else total


def _target(kernel: Kernel, px: list[float], err: list[float]) -> list[float]:
    s = [v * kernel.strength for v in err]
    e2 = _dist2(s, [0.0] * len(s))
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
    target = [px[c] + s[c] * ratio for c in range(3)]
    if len(px) == 4:
        target.append(min(max(px[3] + s[3], kernel.lo[3]), kernel.hi[3]))
    return target


def _spread(
    this_row: list[list[float]], next_row: list[list[float]], x: int, step: int, e: list[float]
) -> None:
    for c in range(len(e)):
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
    *,
    delta: bool = True,
) -> tuple[float, float]:
    """Mean squared error per sample (R, G, B; premultiplied R, G, B and A when ``alpha`` is
    given) and mean CIEDE2000 of a dithered image over its ``visible`` pixels, a strip of pixels
    at a time (a dithered image has no colour-to-entry function to measure by, as the plain one
    does); without ``delta`` the CIEDE2000 is not computed (NaN)."""
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
        if delta:
            delta_e += metrics.delta_e2000_images(original[:, :3], output[:, :3]) * len(original)
        total += len(original)
    if not total:
        return 0.0, 0.0 if delta else math.nan
    return squared / (channels * total), delta_e / total if delta else math.nan
