"""Colour quantization: an image to at most k colours fitted by k-means, as palette + indices.

Pure: takes arrays, returns a :class:`Quantized` result; the CLI does the reading and writing.
:func:`analyze` does the per-image work that does not depend on k (the colour histogram) so
that a sweep over several k (``compress-report``) pays for it once.

Transparency (``docs/quantize.md``, "Transparency"):

- fully transparent pixels (alpha 0) are all one palette entry, ``(0, 0, 0, 0)``, which counts
  towards k (:func:`fit_colors`): in an image with translucent pixels it is a fixed centre of the
  fit, which nearly invisible pixels may join; in an image whose other pixels are all opaque it
  is an entry beside the k - 1 fitted colours;
- translucent pixels are fitted, mapped and dithered in the alpha-aware space of
  :mod:`kmimg.translucency` (the error seen over black and over white);
- ``options.transparent_index`` puts the transparent entry at that slot, always;
- ``options.alpha_threshold`` makes alpha binary before anything else (:func:`binary_alpha`), as
  mapping onto a palette without translucent colours does at :data:`DEFAULT_ALPHA_THRESHOLD`.

Dithering (:mod:`kmimg.dither`, ``options.dither`` the level, 0 = none) diffuses the error of
every visible pixel; fully transparent pixels keep the transparent entry.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.colorfit import (
    DEFAULT_SCHEDULE,
    ColorTable,
    FitSchedule,
    FittedPalette,
    build_color_table,
    color_keys,
    color_table_of_keys,
    fit_palette,
    nearest_colors,
)
from kmimg.errors import InputError
from kmimg.options import DEFAULT_ALPHA_THRESHOLD
from kmimg.options import QuantizeOptions as QuantizeOptions
from kmimg.translucency import premultiplied_rgba
from kmimg.types import Nearest

MIN_K = QuantizeOptions.MIN_K
MAX_K = QuantizeOptions.MAX_K

#: ``measure=PSNR_ONLY``: the PSNR alone, from the colour table (about 3 % of a photo's work,
#: where SSIM and ΔE2000 together take a quarter); the result's SSIM and ΔE2000 are NaN. What
#: ``kmimg quantize`` computes for its terminal table when no ``--json`` asks for the figures.
PSNR_ONLY = "psnr"
#: What to measure: ``True`` (PSNR, SSIM, ΔE2000), ``False`` (nothing) or :data:`PSNR_ONLY`.
Measure = bool | Literal["psnr"]


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
    SSIM of the luma, mean CIEDE2000 of the visible pixels (these two NaN when only the PSNR
    was asked for: ``measure=PSNR_ONLY``)."""

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
    # the keys of the visible pixels, without building their (n, 4) rows
    keys = color_keys(flat, flat_alpha if translucent else None)[visible]
    table = color_table_of_keys(keys, 4 if translucent else 3)
    return Analysis(rgb, alpha, visible, table, has_transparent=not bool(visible.all()))


def quantize(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None = None,
    options: QuantizeOptions | None = None,
    *,
    measure: Measure = True,
) -> Quantized:
    """Quantize an image to at most ``options.k`` colours (see the module docstring).

    ``measure=False`` skips the quality figures (PSNR, SSIM, ΔE2000: about a fifth of the time
    at small k), ``measure=PSNR_ONLY`` computes the PSNR alone. Deterministic: the same pixels
    and options give the same palette and indices.
    """
    return quantize_analysis(analyze(rgb, alpha), options or QuantizeOptions(), measure=measure)


def quantize_analysis(analysis: Analysis, options: QuantizeOptions, *, measure: Measure = True) -> Quantized:
    """Quantize an already analysed image; lets a k sweep reuse one histogram."""
    if options.alpha_threshold is not None:
        analysis = binary_alpha(analysis, options.alpha_threshold)
    return quantize_prepared(analysis, options, measure=measure)[0]


def quantize_prepared(
    analysis: Analysis, options: QuantizeOptions, *, measure: Measure = True
) -> tuple[Quantized, NDArray[np.intp]]:
    """:func:`quantize_analysis` of an analysis whose alpha is already made binary when
    ``options.alpha_threshold`` asks for it; also returns each table colour's palette entry
    (undithered), from which :mod:`kmimg.core.quality` measures the result on the table."""
    palette, counts, entry_of_color = fit_entries(analysis, options)
    indices = _indices(analysis, entry_of_color, palette, dither=options.dither)
    dither = options.dither > 0.0
    quality = (
        _quality(analysis, palette, None if dither else entry_of_color, indices, measure) if measure else None
    )
    result = Quantized(
        indices=indices,
        palette=palette,
        counts=np.bincount(indices.ravel(), minlength=len(palette)).astype(np.int64) if dither else counts,
        quality=quality,
        options=options,
    )
    return result, entry_of_color


def fit_entries(
    analysis: Analysis, options: QuantizeOptions, schedule: FitSchedule = DEFAULT_SCHEDULE
) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.intp]]:
    """The PNG palette fitted to ``analysis`` at ``options.k`` (``schedule``: the fit's work), the
    pixels per entry, and each table colour's entry: everything of a result but its pixels."""
    if options.transparent_index is not None and options.transparent_index >= options.k:
        raise InputError(
            f"--transparent-index {options.transparent_index} is not a slot of {options.k} colours"
        )
    transparent = analysis.has_transparent or options.transparent_index is not None
    fitted = fit_colors(analysis.table, options, transparent=transparent, schedule=schedule)
    palette, counts, order = _png_palette(fitted, analysis, options.transparent_index)
    return palette, counts, order[fitted.labels]


def redither(analysis: Analysis, plain: Quantized, level: float, *, measure: Measure = True) -> Quantized:
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
    quality = _quality(analysis, plain.palette, None, indices, measure) if measure else None
    counts = np.bincount(indices.ravel(), minlength=len(plain.palette)).astype(np.int64)
    return Quantized(indices=indices, palette=plain.palette, counts=counts, quality=quality, options=options)


def binary_alpha(analysis: Analysis, threshold: int) -> Analysis:
    """The analysis of the image with alpha below ``threshold`` made 0 and the rest 255."""
    if analysis.alpha is None:
        return analysis
    alpha = np.where(analysis.alpha >= threshold, 255, 0).astype(np.uint8)
    return analyze(analysis.rgb, alpha)


#: The fully transparent entry, in every palette that needs one.
TRANSPARENT = np.zeros((1, 4), dtype=np.uint8)


def fit_colors(
    table: ColorTable,
    options: QuantizeOptions,
    *,
    transparent: bool,
    schedule: FitSchedule = DEFAULT_SCHEDULE,
) -> FittedPalette:
    """The palette of at most ``options.k`` entries fitted to ``table``; with ``transparent``
    one of them is the transparent entry ``(0, 0, 0, 0)`` (in ``colors``, RGBA, with the pixels
    the table gives it; the caller adds the fully transparent ones).

    In a translucent (RGBA) table the transparent entry is a fixed centre of the fit, so that
    nearly invisible pixels join it; in an opaque table no colour can, and it stands beside the
    ``k - 1`` fitted colours. ``options.keep`` colours are entries too, bit-exact.
    """
    room = options.k - 1 if transparent else options.k
    if len(options.keep) > room:
        raise InputError(
            f"--keep lists {len(options.keep)} colours, but k = {options.k} leaves {room} beside the "
            "transparent entry"
        )
    keep = np.array(list(dict.fromkeys(options.keep)), dtype=np.uint8).reshape(-1, 3)  # each colour once
    seed, space, sample = options.seed, options.space, options.sample
    if transparent and table.channels == 4:
        fixed = np.vstack([_as_rgba(keep), TRANSPARENT])
        fitted = fit_palette(
            table, k=options.k, seed=seed, space=space, sample=sample, schedule=schedule, fixed=fixed
        )
        return _posterized(fitted, table, options, fixed)
    kept = keep if len(keep) else None
    fitted = fit_palette(table, k=room, seed=seed, space=space, sample=sample, schedule=schedule, fixed=kept)
    fitted = _posterized(fitted, table, options, _as_rgba(keep) if table.channels == 4 else keep)
    return _with_transparent(fitted) if transparent else fitted


def _posterized(
    fitted: FittedPalette, table: ColorTable, options: QuantizeOptions, fixed: NDArray[np.uint8]
) -> FittedPalette:
    """``fitted`` with its entries posterized to ``options.posterize`` bits (:mod:`kmimg.posterize`),
    the ``fixed`` ones (kept colours, the transparent entry) as they are; unchanged at 0."""
    if not options.posterize:
        return fitted
    from kmimg.posterize import posterize_fitted

    return posterize_fitted(fitted, table, options.posterize, space=options.space, fixed=fixed)


def _as_rgba(colors: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if colors.shape[1] == 4:
        return colors
    return np.column_stack([colors, np.full(len(colors), 255, dtype=np.uint8)])


def _with_transparent(fitted: FittedPalette) -> FittedPalette:
    """``fitted`` (opaque colours) with the transparent entry last, serving no colour."""
    colors = np.vstack([_as_rgba(fitted.colors), TRANSPARENT])
    return FittedPalette(colors=colors, labels=fitted.labels, counts=np.append(fitted.counts, 0))


def _png_palette(
    fitted: FittedPalette, analysis: Analysis, transparent_index: int | None
) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.intp]]:
    """RGBA palette in PNG order, pixel counts per entry, and fitted-entry -> PNG-entry map.

    PNG order: entries that are not opaque first (a short tRNS chunk), each group in the fit's
    order (descending pixel count); the transparent entry moved to ``transparent_index`` when
    given (the palette padded with unused black entries if it is shorter)."""
    colors = _as_rgba(fitted.colors)
    counts = np.array(fitted.counts, dtype=np.int64)
    clear = np.flatnonzero(colors[:, 3] == 0)
    if len(clear) and analysis.visible is not None:
        counts[clear[0]] += int((~analysis.visible).sum())
    order = np.argsort(colors[:, 3] == 255, kind="stable")
    if transparent_index is not None:
        pad = max(0, transparent_index + 1 - len(colors))
        colors = np.vstack([colors, np.tile([0, 0, 0, 255], (pad, 1)).astype(np.uint8)])
        counts = np.append(counts, np.zeros(pad, dtype=np.int64))
        order = np.append(order, np.arange(len(order), len(colors)))
        zero = int(np.flatnonzero(colors[order, 3] == 0)[0])
        order = np.insert(np.delete(order, zero), transparent_index, order[zero])
    entry = np.empty(len(colors), dtype=np.intp)
    entry[order] = np.arange(len(colors))
    return colors[order], counts[order], entry[: len(fitted.colors)]


def _indices(
    analysis: Analysis,
    entry_of_color: NDArray[np.intp],
    palette: NDArray[np.uint8],
    *,
    dither: float,
    transparent: int | None = None,
) -> NDArray[np.uint8]:
    """Each pixel's entry: its colour's, and ``transparent`` (the first entry of alpha 0 when
    ``None``) for fully transparent pixels; then the dithering."""
    height, width = analysis.rgb.shape[:2]
    per_visible = np.asarray(analysis.table.spread(entry_of_color.astype(np.uint8)), dtype=np.uint8)
    if analysis.visible is None:
        flat = per_visible
    else:
        clear = _transparent_entry(palette) if transparent is None else transparent
        flat = np.full(height * width, clear, dtype=np.uint8)
        flat[analysis.visible] = per_visible
    indices = flat.reshape(height, width)
    if dither > 0.0:
        from kmimg.dither import dither_indices

        indices = dither_indices(analysis.rgb, analysis.alpha, palette, indices, dither)
    return indices


def pixel_indices(
    analysis: Analysis, entry_of_color: NDArray[np.intp], palette: NDArray[np.uint8]
) -> NDArray[np.uint8]:
    """Each pixel's entry, undithered, from each table colour's (fully transparent pixels on
    the palette's transparent entry)."""
    return _indices(analysis, entry_of_color, palette, dither=0.0)


def _transparent_entry(palette: NDArray[np.uint8]) -> int:
    zero = np.flatnonzero(palette[:, 3] == 0)
    return int(zero[0]) if len(zero) else 0


def _quality(
    analysis: Analysis,
    palette: NDArray[np.uint8],
    entry_of_color: NDArray[np.intp] | None,
    indices: NDArray[np.uint8],
    measure: Measure = True,
) -> Quality:
    """The figures of a result (``measure``: all, or :data:`PSNR_ONLY`); ``entry_of_color``
    ``None`` for a dithered one (measured pixel by pixel, not per colour)."""
    from kmimg import metrics  # here: a run that asks for no figures does not load it

    if measure == PSNR_ONLY and entry_of_color is not None:
        mapped = palette[entry_of_color]
        table = analysis.table
        mse = metrics.weighted_mse(*_measured_pair(table.colors, mapped), table.counts)
        return Quality(metrics.psnr_from_mse(mse), math.nan, math.nan)
    psnr, delta_e = _color_errors(analysis, palette, entry_of_color, indices)
    if measure == PSNR_ONLY:
        return Quality(psnr, math.nan, math.nan)
    return Quality(psnr, metrics.ssim_indexed(analysis.rgb, indices, palette), delta_e)


def _color_errors(
    analysis: Analysis,
    palette: NDArray[np.uint8],
    entry_of_color: NDArray[np.intp] | None,
    indices: NDArray[np.uint8],
) -> tuple[float, float]:
    """PSNR (over R, G, B; over premultiplied R, G, B and A for translucent images) and mean
    CIEDE2000 over the visible pixels."""
    from kmimg import metrics

    table = analysis.table
    if entry_of_color is not None:
        mapped = palette[entry_of_color]
        mse = metrics.weighted_mse(*_measured_pair(table.colors, mapped), table.counts)
        delta_e = metrics.mean_delta_e2000_indexed(table.colors, palette, entry_of_color, table.counts)
        return metrics.psnr_from_mse(mse), delta_e
    from kmimg.dither import color_errors  # a dithered image is measured pixel by pixel

    alpha = analysis.alpha if table.channels == 4 else None
    mse, delta_e = color_errors(analysis.rgb, alpha, analysis.visible, palette, indices)
    return metrics.psnr_from_mse(mse), delta_e


def _measured_pair(
    colors: NDArray[np.uint8], mapped: NDArray[np.uint8]
) -> tuple[NDArray[np.float64] | NDArray[np.uint8], NDArray[np.float64] | NDArray[np.uint8]]:
    """What PSNR compares: the colours, or for RGBA colours premultiplied RGB and alpha."""
    if colors.shape[1] == 3:
        return colors, mapped[:, :3]
    return premultiplied_rgba(colors), premultiplied_rgba(mapped)


def quantize_onto(
    analysis: Analysis, palette: NDArray[np.uint8], options: QuantizeOptions, *, measure: Measure = True
) -> Quantized:
    """Map an analysed image onto a given palette ``(m, 4)`` RGBA, fitting nothing.

    The result's palette is ``palette`` itself, in its order, every entry kept (used or not), so
    that index *i* means the same colour in every image mapped onto it. The transparent slot:
    ``options.transparent_index`` (that entry's alpha set to 0), else the first entry of alpha 0;
    when there is none and the image has fully transparent pixels, one ``(0, 0, 0, 0)`` entry is
    added *after* the palette's colours (an :class:`~kmimg.errors.InputError` if it already has
    256). When the palette holds no translucent colour, alpha is made binary first
    (``options.alpha_threshold``, else :data:`DEFAULT_ALPHA_THRESHOLD`). Visible pixels go to the
    nearest entry by the plain distance of ``options.space`` (alpha-aware for translucent
    pixels), whatever the palette's size; ``options.dither`` applies.
    """
    palette = np.array(palette, dtype=np.uint8, order="C")
    analysis = _alpha_for(analysis, palette, options.alpha_threshold)
    slot = _transparent_slot(palette, options.transparent_index, analysis.has_transparent)
    if slot == len(palette):
        palette = np.vstack([palette, TRANSPARENT])
    elif slot >= 0:
        palette[slot, 3] = 0
    entry_of_color = _entries_of_colors(analysis.table, palette, options, slot)
    transparent = slot if slot >= 0 else None
    indices = _indices(analysis, entry_of_color, palette, dither=options.dither, transparent=transparent)
    dither = options.dither > 0.0
    quality = (
        _quality(analysis, palette, None if dither else entry_of_color, indices, measure) if measure else None
    )
    counts = np.bincount(indices.ravel(), minlength=len(palette)).astype(np.int64)
    return Quantized(indices=indices, palette=palette, counts=counts, quality=quality, options=options)


def _alpha_for(analysis: Analysis, palette: NDArray[np.uint8], threshold: int | None) -> Analysis:
    """The analysis with binary alpha when asked, or when the palette has no translucent colour."""
    translucent_palette = bool(((palette[:, 3] > 0) & (palette[:, 3] < 255)).any())
    if threshold is None and (translucent_palette or analysis.table.channels == 3):
        return analysis
    return binary_alpha(analysis, DEFAULT_ALPHA_THRESHOLD if threshold is None else threshold)


def _transparent_slot(palette: NDArray[np.uint8], index: int | None, needed: bool) -> int:
    """The entry of fully transparent pixels: ``index``, the first of alpha 0, a new one at the
    end (``len(palette)``) when ``needed``, or -1."""
    if index is not None:
        if index >= len(palette):
            raise InputError(
                f"--transparent-index {index} is not a slot of the palette's {len(palette)} colours"
            )
        return index
    zero = np.flatnonzero(palette[:, 3] == 0)
    if len(zero):
        return int(zero[0])
    if not needed:
        return -1
    if len(palette) >= MAX_K:
        raise InputError(
            f"has transparent pixels, but the palette already holds {MAX_K} colours (no room for the "
            "transparent entry; --transparent-index N makes slot N transparent)"
        )
    return len(palette)


def _entries_of_colors(
    table: ColorTable, palette: NDArray[np.uint8], options: QuantizeOptions, slot: int
) -> NDArray[np.intp]:
    """Each visible colour's entry: the nearest by ``options.nearest`` in ``options.space``,
    among the entries that are not fully transparent, and the transparent ``slot`` for
    translucent colours (alpha-aware: a nearly invisible pixel may be nearest to it)."""
    candidates = np.flatnonzero(palette[:, 3] > 0)
    if table.channels == 4 and slot >= 0:
        candidates = np.union1d(candidates, [slot])
    if not len(candidates):
        candidates = np.arange(len(palette))
    choices = palette[candidates]
    if slot >= 0 and table.channels == 4:
        choices = choices.copy()
        choices[candidates == slot] = 0  # the slot as the transparent point, whatever its colour
    colors = table.colors
    if bool((choices[:, 3] < 255).any()) or table.channels == 4:
        colors = _as_rgba(colors)
    else:
        choices = choices[:, :3]
    extra = DEFAULT_SCHEDULE.luma_extra if options.nearest is Nearest.LUMA else 0.0
    chosen = nearest_colors(colors, choices, space=options.space, luma_extra=extra)
    return np.asarray(candidates[chosen], dtype=np.intp)
