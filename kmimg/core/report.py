"""Compression report: how many colours does an image need?

For one image, :func:`compress_report` quantizes at every requested k with the engine of
``kmimg quantize`` (the colour histogram of :func:`kmimg.core.quantize.analyze` is built once and
reused for every k), encodes each result as an indexed PNG in memory and measures:

- ``png_bytes`` and bits per pixel (``8 * bytes / (width * height)``);
- the compression ratio against the input file (``input_bytes / png_bytes``) and against a plain
  truecolour PNG of the same pixels (``png24_bytes / png_bytes``; RGB, or RGBA when the image has
  transparency, encoded once per image at the same zlib level);
- PSNR, SSIM and mean CIEDE2000 (see :mod:`kmimg.metrics`) and the seconds the k took.

With ``dither`` (a level, 0-1, as ``kmimg quantize --dither``), each k is also mapped with
dithering onto the same fitted palette (no second fit) and that PNG is measured the same way
(:class:`DitheredResult`). The recommendation stays on the undithered PNGs: dithering lowers
PSNR and SSIM even where it looks better, so those figures show its cost in bytes and the pictures
show its benefit (low k, smooth gradients; see docs/dithering.md).

A quality target (:class:`Target`; several targets must all hold) picks the recommended k: the
search of quality mode (:func:`kmimg.core.quality.quantize_to_goal`, the one colour table, cheap
trial fits) finds the fewest colours up to 256 that meet every target, and its result is measured
like a swept k and added to ``steps`` (``searched=True``) when it is not a requested k; the
recommendation is the *smallest* k of ``steps`` whose result meets every target (the search's,
or a requested k when one below it meets: the search lands within a few percent of the fewest),
or ``None`` when none does. Quality is not assumed to grow with k (sampled k-means need not be
monotonic), so every k is measured and checked.

Pure: arrays in, a :class:`CompressReport` out; reading and writing files is the caller's job.
Deterministic: the same pixels, ks, seed, space and dither level give the same PNG bytes and measures (all
but ``seconds``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field, replace
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.options import DEFAULT_KS, DEFAULT_TARGET_PSNR, QuantizeOptions
from kmimg.types import ColorSpace

if TYPE_CHECKING:
    from kmimg.core.quantize import Analysis, Quantized
    from kmimg.options import QualityGoal


class Metric(str, Enum):
    """A quality measure a target can be set on."""

    PSNR = "psnr"
    SSIM = "ssim"
    DELTA_E = "delta_e2000"


@frozen
class Target:
    """A quality threshold: PSNR and SSIM must be at least ``value``, ΔE2000 at most ``value``."""

    metric: Metric
    value: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError("a target must be a finite number")
        if self.metric is Metric.SSIM and not -1.0 <= self.value <= 1.0:
            raise ValueError("an SSIM target must be between -1 and 1")
        if self.metric is not Metric.SSIM and self.value < 0:
            raise ValueError("a PSNR or ΔE target must not be negative")

    @property
    def higher_is_better(self) -> bool:
        return self.metric is not Metric.DELTA_E

    def met_by(self, step: KResult) -> bool:
        """Whether one k's result meets this target (a lossless result meets any PSNR)."""
        measured = step.quality(self.metric)
        return measured >= self.value if self.higher_is_better else measured <= self.value

    def describe(self, *, ascii_only: bool = False) -> str:
        """Human wording, e.g. ``PSNR ≥ 32 dB`` (``PSNR >= 32 dB`` with ``ascii_only``)."""
        at_least, at_most, delta = (">=", "<=", "dE") if ascii_only else ("≥", "≤", "ΔE")
        if self.metric is Metric.PSNR:
            return f"PSNR {at_least} {self.value:g} dB"
        if self.metric is Metric.SSIM:
            return f"SSIM {at_least} {self.value:g}"
        return f"mean {delta}2000 {at_most} {self.value:g}"


#: The target used when none is given (see :data:`kmimg.options.DEFAULT_TARGET_PSNR`).
DEFAULT_TARGET = Target(Metric.PSNR, DEFAULT_TARGET_PSNR)


@frozen
class DitheredResult:
    """One k's PNG mapped with dithering onto the same palette: its size (``bytes_vs_plain`` is
    ``png_bytes`` over the undithered PNG's) and quality, and the seconds the dithering, its
    measures and encoding took (the fit is shared with the undithered PNG)."""

    png_bytes: int
    bits_per_pixel: float
    ratio_vs_input: float
    ratio_vs_png24: float
    bytes_vs_plain: float
    psnr: float
    ssim: float
    delta_e: float
    seconds: float


@frozen
class KResult:
    """Measures of one image quantized at one k. ``psnr`` is ``inf`` for a lossless result."""

    k: int
    colors_used: int
    png_bytes: int
    bits_per_pixel: float
    ratio_vs_input: float
    ratio_vs_png24: float
    psnr: float
    ssim: float
    delta_e: float
    seconds: float
    meets_target: bool
    #: The same k dithered, ``None`` when the report was made without ``dither``.
    dithered: DitheredResult | None = None
    #: Not one of the requested ks: the k the recommendation's search found (see the module
    #: docstring), measured the same way.
    searched: bool = False

    def quality(self, metric: Metric) -> float:
        if metric is Metric.PSNR:
            return self.psnr
        if metric is Metric.SSIM:
            return self.ssim
        return self.delta_e


@frozen
class CompressReport:
    """The k sweep of one image.

    ``steps`` are in ascending k; ``pngs`` maps each k to its indexed PNG bytes and
    ``dithered_pngs`` to its dithered PNG (when ``dither`` > 0; both empty after
    :meth:`without_pngs`). ``recommended_k`` is ``None`` when no k meets every target.
    """

    width: int
    height: int
    input_bytes: int
    png24_bytes: int
    distinct_colors: int
    steps: tuple[KResult, ...]
    targets: tuple[Target, ...]
    recommended_k: int | None
    seed: int
    space: ColorSpace
    seconds: float
    pngs: Mapping[int, bytes] = field(default_factory=dict, repr=False, compare=False)
    #: The dithering level of the dithered PNGs, 0 when they were not made.
    dither: float = 0.0
    dithered_pngs: Mapping[int, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def recommended(self) -> KResult | None:
        return next((step for step in self.steps if step.k == self.recommended_k), None)

    def without_pngs(self) -> CompressReport:
        """The same report without the PNG bytes (small enough to keep for a whole folder)."""
        return replace(self, pngs={}, dithered_pngs={})

    def dither_cost(self) -> tuple[float, float] | None:
        """The smallest and largest ``bytes_vs_plain`` over the ks, ``None`` without dithering."""
        ratios = [step.dithered.bytes_vs_plain for step in self.steps if step.dithered is not None]
        return (min(ratios), max(ratios)) if ratios else None


def recommend(steps: Iterable[KResult], targets: Sequence[Target]) -> int | None:
    """The smallest k whose result meets every target, or ``None``."""
    meeting = [step.k for step in steps if all(target.met_by(step) for target in targets)]
    return min(meeting) if meeting else None


def compress_report(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None = None,
    *,
    input_bytes: int,
    ks: Sequence[int] = DEFAULT_KS,
    targets: Sequence[Target] = (DEFAULT_TARGET,),
    seed: int = 0,
    space: ColorSpace = ColorSpace.RGB,
    dither: float = 0.0,
    progress: Callable[[int], None] | None = None,
    search: bool = True,
) -> CompressReport:
    """Quantize an image at every k in ``ks`` and measure each result (see the module docstring).

    Parameters
    ----------
    rgb, alpha
        The image, as :func:`kmimg.io.load_image` returns it.
    input_bytes
        Size of the input file, for the ratio against it.
    ks
        Palette sizes to try (2..256); duplicates are dropped and the sweep runs in ascending k.
    targets
        Quality targets that the recommended k must all meet (at least one).
    seed, space
        As for ``kmimg quantize``: the PNG at a k is byte-identical to ``quantize -k K``.
    dither
        Also measure each k dithered at this level (0-1; 0 = not at all): byte-identical to
        ``quantize -k K --dither LEVEL``.
    progress
        Called with each k once it is measured.
    search
        Search for the fewest colours meeting the targets (the module docstring); ``False``:
        the recommendation is the smallest requested k that meets them, and ``steps`` are the
        requested ks only.
    """
    from kmimg.core.quantize import analyze
    from kmimg.io.png import reference_png_bytes

    if not targets:
        raise ValueError("give at least one target")
    if not 0.0 <= dither <= 1.0:
        raise ValueError(f"dither level must be between 0 and 1, got {dither}")
    ordered = tuple(sorted(set(ks)))
    if not ordered:
        raise ValueError("give at least one k")
    start = time.perf_counter()
    analysis = analyze(rgb, alpha)
    height, width = rgb.shape[:2]
    truecolor = rgb if alpha is None else np.dstack([rgb, alpha])
    sizes = _Sizes(width * height, input_bytes, reference_png_bytes(truecolor))
    png24_bytes = sizes.png24
    steps: list[KResult] = []
    pngs: dict[int, bytes] = {}
    dithered_pngs: dict[int, bytes] = {}
    for k in ordered:
        options = QuantizeOptions(k=k, seed=seed, space=space)
        step, pngs[k], dithered_png = _measure(analysis, options, sizes, dither)
        if dithered_png is not None:
            dithered_pngs[k] = dithered_png
        steps.append(replace(step, meets_target=all(target.met_by(step) for target in targets)))
        if progress is not None:
            progress(k)
    if search:
        options = QuantizeOptions(k=QuantizeOptions.MAX_K, seed=seed, space=space)
        steps = _with_search(analysis, options, targets, steps, (pngs, dithered_pngs), sizes, dither)
    return CompressReport(
        width=width,
        height=height,
        input_bytes=input_bytes,
        png24_bytes=png24_bytes,
        distinct_colors=analysis.distinct_colors,
        steps=tuple(steps),
        targets=tuple(targets),
        recommended_k=recommend(steps, targets),
        seed=seed,
        space=space,
        seconds=time.perf_counter() - start,
        pngs=pngs,
        dither=dither,
        dithered_pngs=dithered_pngs,
    )


def goal_of(targets: Sequence[Target]) -> QualityGoal:
    """Quality mode's goal of report targets (the strictest of each metric)."""
    from kmimg.options import QualityGoal

    def strictest(metric: Metric, pick: Callable[[Iterable[float]], float]) -> float | None:
        values = [target.value for target in targets if target.metric is metric]
        return pick(values) if values else None

    psnr, ssim = strictest(Metric.PSNR, max), strictest(Metric.SSIM, max)
    return QualityGoal(psnr=psnr, ssim=ssim, delta_e=strictest(Metric.DELTA_E, min))


def _with_search(
    analysis: Analysis,
    options: QuantizeOptions,
    targets: Sequence[Target],
    steps: list[KResult],
    pngs: tuple[dict[int, bytes], dict[int, bytes]],
    sizes: _Sizes,
    dither: float,
) -> list[KResult]:
    """``steps`` with the search's k added (``searched=True``) when it is not one of them; its
    PNGs go into ``pngs`` (undithered, dithered)."""
    searched = _searched(analysis, targets, options)
    if searched is None or searched.options.k in pngs[0]:
        return steps
    step, png, dithered_png = _measure(analysis, searched.options, sizes, dither, searched)
    pngs[0][step.k] = png
    if dithered_png is not None:
        pngs[1][step.k] = dithered_png
    found = replace(step, meets_target=all(target.met_by(step) for target in targets), searched=True)
    return sorted([*steps, found], key=lambda each: each.k)


def _searched(analysis: Analysis, targets: Sequence[Target], options: QuantizeOptions) -> Quantized | None:
    """The result at the fewest colours up to ``options.k`` that meet every target (``quantize
    -k K``'s), or ``None`` when even ``options.k`` colours do not."""
    from kmimg.core.quality import quantize_to_goal

    found = quantize_to_goal(analysis, options, goal_of(targets))
    return found.quantized if found.meets else None


@frozen
class _Sizes:
    """What every k's PNG is compared with: the pixel count, the input file, a truecolour PNG."""

    pixels: int
    input: int
    png24: int


def _measure(
    analysis: Analysis, options: QuantizeOptions, sizes: _Sizes, dither: float, done: Quantized | None = None
) -> tuple[KResult, bytes, bytes | None]:
    """One k of the sweep: quantized (or ``done`` already), encoded and measured
    (``meets_target`` left to the caller), and, with ``dither`` > 0, dithered onto the same
    palette, encoded and measured."""
    from kmimg.core.quantize import quantize_analysis
    from kmimg.io import encode_indexed_png
    from kmimg.metrics import bits_per_pixel

    clock = time.perf_counter()
    result = quantize_analysis(analysis, options) if done is None else done
    png = encode_indexed_png(result.indices, result.palette, reorder=_reorder(result))
    step = KResult(
        k=options.k,
        colors_used=result.colors_used,
        png_bytes=len(png),
        bits_per_pixel=bits_per_pixel(len(png), sizes.pixels),
        ratio_vs_input=sizes.input / len(png),
        ratio_vs_png24=sizes.png24 / len(png),
        psnr=result.psnr,
        ssim=result.ssim,
        delta_e=result.delta_e,
        seconds=time.perf_counter() - clock,
        meets_target=False,
    )
    if dither == 0.0:
        return step, png, None
    dithered, dithered_png = _measure_dithered(analysis, result, dither, sizes, len(png))
    return replace(step, dithered=dithered), png, dithered_png


def _reorder(result: Quantized) -> bool:
    """Whether the encoder may order the palette for its row filters, as ``quantize`` lets it
    for the PNG it writes (a fitted palette without ``--transparent-index``): the bytes measured
    are then that PNG's."""
    return result.options.transparent_index is None


def _measure_dithered(
    analysis: Analysis, plain: Quantized, level: float, sizes: _Sizes, plain_bytes: int
) -> tuple[DitheredResult, bytes]:
    from kmimg.core.quantize import redither
    from kmimg.io import encode_indexed_png
    from kmimg.metrics import bits_per_pixel

    clock = time.perf_counter()
    result = redither(analysis, plain, level)
    png = encode_indexed_png(result.indices, result.palette, reorder=_reorder(result))
    measured = DitheredResult(
        png_bytes=len(png),
        bits_per_pixel=bits_per_pixel(len(png), sizes.pixels),
        ratio_vs_input=sizes.input / len(png),
        ratio_vs_png24=sizes.png24 / len(png),
        bytes_vs_plain=len(png) / plain_bytes,
        psnr=result.psnr,
        ssim=result.ssim,
        delta_e=result.delta_e,
        seconds=time.perf_counter() - clock,
    )
    return measured, png


#: When dithering pays, in one line (the terminal table's and the HTML page's).
DITHER_ADVICE = (
    "Dithering pays at low k (up to about 64) on smooth gradients such as skies and skin; PSNR "
    "and SSIM fall with it although it looks smoother, so compare the pictures (--sheet, --html)."
)


def dither_note(report: CompressReport) -> str | None:
    """What dithering cost this image in bytes, and when it pays; ``None`` without dithering."""
    cost = report.dither_cost()
    if cost is None:
        return None
    low, high = cost
    spread = f"{low:.2f}×" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}–{high:.2f}×"
    return f"Dithered (level {report.dither:g}): {spread} the bytes. {DITHER_ADVICE}"


def human_bytes(count: int) -> str:
    """``30624`` -> ``30.6 kB`` (powers of 1000, like file managers)."""
    if count < 1000:
        return f"{count} B"
    value = float(count)
    for unit in ("kB", "MB"):
        value /= 1000.0
        if value < 999.95:
            return f"{value:.1f} {unit}"
    return f"{value / 1000.0:.1f} GB"


@frozen
class Aggregate:
    """Totals over several reports at their recommended k.

    Savings count only images with a recommendation; ``*_saved`` may be negative (a JPEG
    input is often smaller than any PNG of it).
    """

    images: int
    recommended: int
    input_bytes: int
    png24_bytes: int
    recommended_bytes: int
    saved_vs_input: int
    saved_vs_png24: int


def aggregate(reports: Iterable[CompressReport]) -> Aggregate:
    """Sum sizes over reports; savings are counted at each image's recommended k."""
    items = list(reports)
    chosen = [(report, report.recommended) for report in items]
    met = [(report, best) for report, best in chosen if best is not None]
    recommended_bytes = sum(best.png_bytes for _, best in met)
    return Aggregate(
        images=len(items),
        recommended=len(met),
        input_bytes=sum(report.input_bytes for report in items),
        png24_bytes=sum(report.png24_bytes for report in items),
        recommended_bytes=recommended_bytes,
        saved_vs_input=sum(report.input_bytes for report, _ in met) - recommended_bytes,
        saved_vs_png24=sum(report.png24_bytes for report, _ in met) - recommended_bytes,
    )
