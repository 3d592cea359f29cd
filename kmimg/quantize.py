"""Colour quantization: an image to at most k colours fitted by k-means, as palette + indices.

Pure: takes arrays, returns a :class:`Quantized` result; the CLI does the reading and writing.
:func:`analyze` does the per-image work that does not depend on k (the colour histogram) so
that a sweep over several k (``compress-report``) pays for it once.

Transparency policy: fully transparent pixels (alpha 0) take no part in the fit and all map to
one palette entry ``(0, 0, 0, 0)``, which counts towards k; translucent alpha values are
clustered together with the colour. Dithering (:mod:`kmimg.dither`, ``options.dither`` the level,
0 = none) applies to fully opaque pixels; the others are mapped without it.
"""

from __future__ import annotations

from dataclasses import field

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.cluster import (
    ColorTable,
    FittedPalette,
    build_color_table,
    fit_palette,
    nearest_entries,
)
from kmimg.errors import InputError
from kmimg.options import QuantizeOptions as QuantizeOptions
from kmimg.types import ColorSpace

MIN_K = QuantizeOptions.MIN_K
MAX_K = QuantizeOptions.MAX_K


@frozen
class Analysis:
    """What quantizing an image at any k starts from: pixels, visibility, colour histogram."""

    rgb: NDArray[np.uint8]
    alpha: NDArray[np.uint8] | None
    visible: NDArray[np.bool_] | None
    table: ColorTable
    has_transparent: bool

    @property
    def distinct_colors(self) -> int:
        return len(self.table.colors)


@frozen
class Quality:
    """How close a quantized image is to its input: PSNR in dB (``inf`` when lossless), mean
    SSIM of the luma, mean CIEDE2000 of the visible pixels."""

    psnr: float
    ssim: float
    delta_e: float


@frozen
class Quantized:
    """A quantized image.

    ``indices`` ``(h, w)`` uint8 index the RGBA ``palette`` ``(m, 4)`` (in PNG order: entries
    with alpha < 255 first, then opaque entries by descending pixel count); ``counts`` holds
    the pixels per entry. ``quality`` is ``None`` when it was not asked for (``measure=False``);
    ``psnr``, ``ssim`` and ``delta_e`` read it.
    """

    indices: NDArray[np.uint8]
    palette: NDArray[np.uint8]
    counts: NDArray[np.int64]
    quality: Quality | None
    options: QuantizeOptions = field(default_factory=QuantizeOptions)

    @property
    def colors_used(self) -> int:
        return len(self.palette)

    @property
    def psnr(self) -> float:
        return self._measured().psnr

    @property
    def ssim(self) -> float:
        return self._measured().ssim

    @property
    def delta_e(self) -> float:
        return self._measured().delta_e

    def _measured(self) -> Quality:
        if self.quality is None:
            raise ValueError("quality figures were not computed (quantized with measure=False)")
        return self.quality

    def to_rgb(self) -> NDArray[np.uint8]:
        """The quantized image as RGB (transparent pixels black)."""
        return np.asarray(self.palette[:, :3][self.indices], dtype=np.uint8)

    def to_rgba(self) -> NDArray[np.uint8]:
        """The quantized image as RGBA."""
        return np.asarray(self.palette[self.indices], dtype=np.uint8)


def analyze(rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None = None) -> Analysis:
    """Count the colours of the visible pixels of an RGB image with optional alpha."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("rgb must be an (h, w, 3) uint8 array")
    flat = rgb.reshape(-1, 3)
    if alpha is None or bool((alpha == 255).all()):
        return Analysis(rgb, None, None, build_color_table(flat), has_transparent=False)
    flat_alpha = alpha.reshape(-1)
    visible = flat_alpha > 0
    translucent = bool(((flat_alpha > 0) & (flat_alpha < 255)).any())
    pixels = np.column_stack([flat, flat_alpha]) if translucent else flat
    table = build_color_table(np.ascontiguousarray(pixels[visible]))
    return Analysis(rgb, alpha, visible, table, has_transparent=not bool(visible.all()))


def quantize(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None = None,
    options: QuantizeOptions | None = None,
    *,
    measure: bool = True,
) -> Quantized:
    """Quantize an image to at most ``options.k`` colours (see the module docstring).

    ``measure=False`` skips the quality figures (PSNR, SSIM, ΔE2000: about a fifth of the time
    at small k). Deterministic: the same pixels and options give the same palette and indices.
    """
    return quantize_analysis(analyze(rgb, alpha), options or QuantizeOptions(), measure=measure)


def quantize_analysis(analysis: Analysis, options: QuantizeOptions, *, measure: bool = True) -> Quantized:
    """Quantize an already analysed image; lets a k sweep reuse one histogram."""
    k_colors = options.k - 1 if analysis.has_transparent else options.k
    fitted = _fit(analysis, options, k_colors)
    palette, counts, order = _png_palette(fitted, analysis)
    entry_of_color = order[fitted.labels]
    indices = _indices(analysis, entry_of_color, palette, dither=options.dither)
    dither = options.dither > 0.0
    quality = _quality(analysis, palette, None if dither else entry_of_color, indices) if measure else None
    return Quantized(
        indices=indices,
        palette=palette,
        counts=np.bincount(indices.ravel(), minlength=len(palette)).astype(np.int64) if dither else counts,
        quality=quality,
        options=options,
    )


def redither(analysis: Analysis, plain: Quantized, level: float, *, measure: bool = True) -> Quantized:
    """``plain``, an undithered result of ``analysis``, mapped again with dithering at ``level``:
    the same palette without a second fit, so equal to :func:`quantize_analysis` with
    ``options.dither = level`` (a k sweep measures both at the cost of one fit)."""
    from dataclasses import replace

    from kmimg.dither import dither_indices

    if plain.options.dither != 0.0:
        raise ValueError("redither starts from an undithered result")
    options = replace(plain.options, dither=level)
    indices = dither_indices(analysis.rgb, analysis.alpha, plain.palette, plain.indices, level)
    if level == 0.0:
        return replace(plain, options=options)
    quality = _quality(analysis, plain.palette, None, indices) if measure else None
    counts = np.bincount(indices.ravel(), minlength=len(plain.palette)).astype(np.int64)
    return Quantized(indices=indices, palette=plain.palette, counts=counts, quality=quality, options=options)


def _fit(analysis: Analysis, options: QuantizeOptions, k: int) -> FittedPalette:
    if not options.keep:
        return fit_palette(analysis.table, k=k, seed=options.seed, space=options.space, sample=options.sample)
    if len(options.keep) > k:
        raise InputError(
            f"--keep lists {len(options.keep)} colours, but k = {options.k} leaves {k} beside the "
            "transparent entry"
        )
    keep = np.array(list(dict.fromkeys(options.keep)), dtype=np.uint8).reshape(-1, 3)  # each colour once
    return fit_palette(
        analysis.table, k=k, seed=options.seed, space=options.space, sample=options.sample, fixed=keep
    )


def _png_palette(
    fitted: FittedPalette, analysis: Analysis
) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.intp]]:
    """RGBA palette in PNG order, pixel counts per entry, and fitted-entry -> PNG-entry map."""
    colors = fitted.colors
    if colors.shape[1] == 3:
        colors = np.column_stack([colors, np.full(len(colors), 255, dtype=np.uint8)])
    counts = fitted.counts
    if analysis.has_transparent:
        assert analysis.visible is not None
        hidden = int((~analysis.visible).sum())
        colors = np.vstack([colors, np.zeros((1, 4), dtype=np.uint8)])
        counts = np.append(counts, hidden)
    # Non-opaque entries first keep the tRNS chunk short; stable so count order is kept.
    png_order = np.argsort(colors[:, 3] == 255, kind="stable")
    entry = np.empty(len(colors), dtype=np.intp)
    entry[png_order] = np.arange(len(colors))
    return colors[png_order], counts[png_order], entry[: len(fitted.colors)]


def _indices(
    analysis: Analysis,
    entry_of_color: NDArray[np.intp],
    palette: NDArray[np.uint8],
    *,
    dither: float,
) -> NDArray[np.uint8]:
    height, width = analysis.rgb.shape[:2]
    per_visible = np.asarray(analysis.table.spread(entry_of_color.astype(np.uint8)), dtype=np.uint8)
    if analysis.visible is None:
        flat = per_visible
    else:
        flat = np.full(height * width, _transparent_entry(palette), dtype=np.uint8)
        flat[analysis.visible] = per_visible
    indices = flat.reshape(height, width)
    if dither > 0.0:
        from kmimg.dither import dither_indices

        indices = dither_indices(analysis.rgb, analysis.alpha, palette, indices, dither)
    return indices


def _transparent_entry(palette: NDArray[np.uint8]) -> int:
    zero = np.flatnonzero(palette[:, 3] == 0)
    return int(zero[0]) if len(zero) else 0


def _quality(
    analysis: Analysis,
    palette: NDArray[np.uint8],
    entry_of_color: NDArray[np.intp] | None,
    indices: NDArray[np.uint8],
) -> Quality:
    """The figures of a result; ``entry_of_color`` ``None`` for a dithered one (measured pixel
    by pixel, not per colour)."""
    from kmimg import metrics  # here: a run that asks for no figures does not load it

    psnr, delta_e = _color_errors(analysis, palette, entry_of_color, indices)
    return Quality(psnr, metrics.ssim_indexed(analysis.rgb, indices, palette), delta_e)


def _color_errors(
    analysis: Analysis,
    palette: NDArray[np.uint8],
    entry_of_color: NDArray[np.intp] | None,
    indices: NDArray[np.uint8],
) -> tuple[float, float]:
    """PSNR (over R, G, B, and A for translucent images) and mean CIEDE2000 over the visible
    pixels."""
    from kmimg import metrics

    table = analysis.table
    if entry_of_color is not None:
        mapped = palette[entry_of_color]
        mse = metrics.weighted_mse(table.colors, mapped, table.counts)
        delta_e = metrics.mean_delta_e2000_indexed(table.colors, palette, entry_of_color, table.counts)
        return metrics.psnr_from_mse(mse), delta_e
    from kmimg.dither import color_errors  # a dithered image is measured pixel by pixel

    alpha = analysis.alpha if table.channels == 4 else None
    mse, delta_e = color_errors(analysis.rgb, alpha, analysis.visible, palette, indices)
    return metrics.psnr_from_mse(mse), delta_e


def quantize_onto(
    analysis: Analysis, palette: NDArray[np.uint8], options: QuantizeOptions, *, measure: bool = True
) -> Quantized:
    """Map an analysed image onto a given palette ``(m, 4)`` RGBA, fitting nothing.

    The result's palette is ``palette`` itself, in its order, every entry kept (used or not), so
    that index *i* means the same colour in every image mapped onto it. Fully transparent pixels
    take the first entry with alpha 0; when there is none, one ``(0, 0, 0, 0)`` entry is added
    *after* the palette's colours (an :class:`~kmimg.errors.InputError` if it already has 256).
    Visible pixels go to the nearest entry that is not fully transparent (by the distance the
    fit uses for a palette of that size, in ``options.space``); ``options.dither`` applies.
    """
    palette = np.ascontiguousarray(palette, dtype=np.uint8)
    if analysis.has_transparent and not bool((palette[:, 3] == 0).any()):
        if len(palette) >= MAX_K:
            raise InputError(
                f"has transparent pixels, but the palette already holds {MAX_K} colours (no room for "
                "the transparent entry)"
            )
        palette = np.vstack([palette, np.zeros((1, 4), dtype=np.uint8)])
    entry_of_color = _entries_of_colors(analysis.table, palette, options.space)
    indices = _indices(analysis, entry_of_color, palette, dither=options.dither)
    dither = options.dither > 0.0
    quality = _quality(analysis, palette, None if dither else entry_of_color, indices) if measure else None
    counts = np.bincount(indices.ravel(), minlength=len(palette)).astype(np.int64)
    return Quantized(indices=indices, palette=palette, counts=counts, quality=quality, options=options)


def _entries_of_colors(table: ColorTable, palette: NDArray[np.uint8], space: ColorSpace) -> NDArray[np.intp]:
    """Each visible colour's entry: the nearest among the entries that are not fully
    transparent (all entries when every one is), compared in RGBA when any is translucent."""
    candidates = np.flatnonzero(palette[:, 3] > 0)
    if not len(candidates):
        candidates = np.arange(len(palette))
    choices = palette[candidates]
    colors = table.colors
    if bool((choices[:, 3] < 255).any()) or table.channels == 4:
        if table.channels == 3:
            colors = np.column_stack([colors, np.full(len(colors), 255, dtype=np.uint8)])
    else:
        choices = choices[:, :3]
    return np.asarray(candidates[nearest_entries(colors, choices, space=space)], dtype=np.intp)
