"""Quality mode: the fewest colours that reach a quality (``quantize --quality MIN-MAX``,
``--target-psnr``, ``--target-ssim``, ``--target-de``; ``compress-report``'s recommendation).

**The quality scale** is pngquant's (libimagequant's ``quality_to_mse``): quality *q* (0-100) is
a mean squared error limit,

    u(q) = max(0, 0.016 / (0.001 + q) - 0.001) + 2.5 / (210 + q)^1.2 * (100.1 - q) / 100

on libimagequant's internal scale, which pngquant reports (``pngquant -v``: ``MSE=4.6 (Q=84)``)
as ``u(q) * 65536 / 6`` per channel on the 0-255 scale. libimagequant measures that error in its
own space (premultiplied channels raised to about 1.25 and weighted 0.5 / 1 / 0.45 for R / G /
B), which forgives dark and red/blue errors more than plain RGB does. kmimg measures its own
error: the mean over the visible pixels of the alpha-aware squared distance of
:mod:`kmimg.translucency` divided by the three colour channels (for an opaque image, exactly
the per-channel MSE its PSNR is made of), and allows :data:`CALIBRATION` times pngquant's
figure: on 8 hold-out photos and 5 generated or other images, kmimg's per-channel MSE of
pngquant's own output was 1.7-2.7x what pngquant reported (median 2.1, at quality 40-95). The
factor is 1.5, below the lowest of those ratios: a result kmimg calls quality *q* is one that
pngquant's own measure would also call *q* or better, never a more lenient reading of MAX
(with the median, 2, kmimg stopped at exactly MAX on its scale while pngquant's results land
above it: -0.46 dB against pngquant at --quality 60-80; with 1.5, +0.6 dB at 0.70x the bytes).
That holds for photos and grey photos (ratios 1.6-2.7), not for every translucent image
(0.72-2.36, median 1.58: pngquant weighs alpha errors more); ``benchmarks/quality_scale.py``
measures it, and ``docs/quantize.md`` ("Quality mode") says what that means for a user.

**The search** (:func:`search_k`) works on the image's one colour table (:class:`Analysis`):
each trial fits a palette at some k with a lighter schedule (:data:`SEARCH_SCHEDULE`: fewer
passes) and measures it on the table, every colour weighted by its pixels (SSIM, which needs the
pixels, only when an SSIM target asks for it). The error of k-means falls about as
``k^(-2/3)``; the search starts at k = 64, extrapolates with that slope until it has a k that
meets the goal and one that does not, then interpolates in log-log between them (and halves the
interval when one side does not move), until the k that meets is within 4 % of the fewest: the
two are that close, or its own margin, read through the slope, says so (2-4 trials on photos). The result
is then fitted once more at the k found with the full schedule: the same palette and pixels as
``quantize -k K``.

Pure: arrays in, results out; deterministic (the trials are seeded like every fit).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.colorfit import DEFAULT_SCHEDULE, FitSchedule
from kmimg.core.quantize import (
    Analysis,
    Measure,
    Quantized,
    binary_alpha,
    fit_entries,
    quantize_prepared,
)
from kmimg.options import QualityGoal, QuantizeOptions
from kmimg.translucency import premultiplied_rgba, rgba_features
from kmimg.types import ColorSpace

#: pngquant's per-channel 0-255 MSE of libimagequant's internal error unit (``65536 / 6``).
PNGQUANT_SCALE = 65536.0 / 6.0
#: kmimg's per-channel MSE allowed at a quality, over pngquant's (see the module docstring).
CALIBRATION = 1.5
#: The trials' fit: fewer passes than :data:`DEFAULT_SCHEDULE` (one pass over every colour, one
#: start; 0.4-0.55x the time on a 0.5 MP photo at k = 64-200, an MSE 2-4 % above the full fit's).
SEARCH_SCHEDULE = replace(
    DEFAULT_SCHEDULE,
    sample_passes=15,
    large_k_sample_passes=5,
    full_passes=1,
    large_k_full_passes=1,
    max_inits=1,
    rounded_passes=1,
)
#: The first k tried, and the largest number of trials.
START_K = 64
MAX_TRIALS = 6
#: How far past the edge (in log k) the search aims: a little more colours than the trials say.
_AIM = 0.03
#: How fast each measure improves with k, in log-log (to extrapolate and to read a margin): the
#: MSE (and PSNR's) falls about as k^(-2/3) in theory, k^(-0.75..-0.86) on the hold-out photos
#: from 64 to 256 colours; mean ΔE2000 and 1 - SSIM more slowly.
_SLOPE_MSE = 0.8
_SLOPE_DELTA_E = 0.4
_SLOPE_SSIM = 0.5


def quality_to_mse(quality: float) -> float:
    """kmimg's per-channel MSE (0-255 scale) allowed at ``quality`` (0-100): ``inf`` at 0, 0 at
    100."""
    if quality <= 0:
        return math.inf
    if quality >= 100:
        return 0.0
    fudge = max(0.0, 0.016 / (0.001 + quality) - 0.001)
    unit = fudge + 2.5 / float((210.0 + quality) ** 1.2) * (100.1 - quality) / 100.0
    return CALIBRATION * PNGQUANT_SCALE * unit


def mse_to_quality(mse: float) -> int:
    """The highest whole quality whose limit ``mse`` is within (100 for a lossless result)."""
    for quality in range(100, 0, -1):
        if mse <= quality_to_mse(quality) * (1.0 + 1e-9):
            return quality
    return 0


@frozen
class Measured:
    """A palette's figures on the colour table: the alpha-aware per-channel MSE and the quality
    it gives, the PSNR, and (only when asked) SSIM and mean ΔE2000."""

    mse: float
    psnr: float
    ssim: float | None = None
    delta_e: float | None = None

    @property
    def quality(self) -> int:
        return mse_to_quality(self.mse)


@frozen
class GoalResult:
    """The result at the k the search found: ``quantized`` is exactly ``quantize -k K``'s;
    ``measured`` its undithered figures on the table; ``meets`` whether it reaches the quality
    maximum and every target; ``below_minimum`` whether its quality is below ``--quality``'s MIN
    (then nothing should be written); ``trials`` the fits the search made before it."""

    quantized: Quantized
    k: int
    measured: Measured
    meets: bool
    below_minimum: bool
    trials: int


def quantize_to_goal(
    analysis: Analysis,
    options: QuantizeOptions,
    goal: QualityGoal,
    *,
    measure: Measure = True,
    schedule: FitSchedule = SEARCH_SCHEDULE,
) -> GoalResult:
    """Quantize with the fewest colours, at most ``options.k``, that reach ``goal`` (see the
    module docstring); ``options.k`` itself when none does."""
    if options.alpha_threshold is not None:
        analysis = binary_alpha(analysis, options.alpha_threshold)
    candidate, fallback, trials = search_k(analysis, options, goal, schedule=schedule)
    found = _final(analysis, options, goal, candidate, measure=measure)
    # The full fit almost always does at least as well as its trial; when it does not (SSIM and
    # mean ΔE2000 are not what k-means minimizes), a few percent more colours, then the k whose
    # trial met, then a few percent more than that (never past the k from which every colour,
    # posterized with --posterize, has an entry: more cannot do better).
    top = max(fallback, min(options.k, lossless_k(analysis, options)))
    for k in (_more(candidate, fallback), fallback, _more(fallback, top)):
        if found.meets or k <= found.k:
            continue
        found = _final(analysis, options, goal, k, measure=measure)
    return replace(found, trials=trials)


def _more(k: int, highest: int) -> int:
    """A few percent more colours than ``k``, at least one, at most ``highest``."""
    return min(highest, max(k + 1, math.ceil(k * (1.0 + 2 * _AIM))))


def _final(
    analysis: Analysis, options: QuantizeOptions, goal: QualityGoal, k: int, *, measure: Measure
) -> GoalResult:
    """The full fit at ``k`` (``quantize -k K``'s result) and its figures against ``goal``."""
    quantized, entry_of_color = quantize_prepared(analysis, replace(options, k=k), measure=measure)
    measured = measure_table(analysis, quantized.palette, entry_of_color, goal)
    minimum = goal.maximum is not None and measured.quality < goal.minimum
    return GoalResult(quantized, k, measured, meets(measured, goal), minimum, 0)


def search_k(
    analysis: Analysis,
    options: QuantizeOptions,
    goal: QualityGoal,
    *,
    schedule: FitSchedule = SEARCH_SCHEDULE,
) -> tuple[int, int, int]:
    """The k to fit in full: ``(candidate, fallback, trials)``. Trial fits bracket the fewest
    colours, at most ``options.k``, that reach ``goal`` (a k that fails below one that meets);
    ``candidate`` is interpolated between them, ``fallback`` the k whose trial met (or
    ``options.k`` when none did), to fit when the candidate's full fit falls short."""
    lowest = min(options.k, lowest_k(analysis, options))
    highest = max(lowest, min(options.k, lossless_k(analysis, options)))
    shortfall: dict[int, float] = {}

    def trial(k: int) -> bool:
        palette, _, entry = fit_entries(analysis, replace(options, k=k), schedule)
        shortfall[k] = _shortfall(measure_table(analysis, palette, entry, goal), goal)
        return shortfall[k] <= 0.0

    failing, meeting = lowest - 1, 0  # the largest k known to fail, the smallest known to meet
    k = min(highest, max(lowest, START_K))
    for _ in range(MAX_TRIALS):
        if trial(k):
            meeting = k
        else:
            failing = k
        if not meeting and failing >= highest:
            return highest, highest, len(shortfall)
        if meeting and (failing >= lowest or meeting == lowest):
            return _between(failing, meeting, shortfall), meeting, len(shortfall)
        k = _extrapolated(failing, meeting, shortfall, lowest, highest)
    return (meeting or highest), (meeting or highest), len(shortfall)


def _extrapolated(failing: int, meeting: int, shortfall: dict[int, float], lowest: int, highest: int) -> int:
    """The next trial while only one side is known: up from a k that fails, or down from one
    that meets, by the shortfall read through the slope (aiming a little past the edge)."""
    if not meeting:
        guess = failing * math.exp(shortfall[failing] + _AIM)
        return min(highest, max(failing + 1, round(guess)))
    guess = meeting * math.exp(shortfall[meeting] - _AIM)
    return min(meeting - 1, max(lowest, round(guess)))


def _between(failing: int, meeting: int, shortfall: dict[int, float]) -> int:
    """The k where the shortfall crosses just below 0 (by :data:`_AIM`), interpolated in log k
    between a k that fails and one that meets (``meeting`` when they are neighbours)."""
    if meeting - failing <= 1:
        return meeting
    low, high = shortfall[failing] + _AIM, shortfall[meeting] + _AIM
    share = low / (low - high) if low > 0.0 > high else 1.0
    guess = math.exp(math.log(failing) + share * (math.log(meeting) - math.log(failing)))
    return min(meeting, max(failing + 1, math.ceil(guess)))


def lossless_k(analysis: Analysis, options: QuantizeOptions) -> int:
    """The palette size from which every colour has its own entry (more cannot do better); with
    ``--posterize`` every posterized colour."""
    transparent = analysis.has_transparent or options.transparent_index is not None
    extra = len(set(options.keep)) + (1 if transparent else 0)
    if options.posterize:
        from kmimg.posterize import posterized_colors

        return posterized_colors(analysis.table, options.posterize) + extra
    return analysis.distinct_colors + extra


def lowest_k(analysis: Analysis, options: QuantizeOptions) -> int:
    """The smallest palette ``options`` allow: room for the kept colours, the transparent entry
    and ``--transparent-index``'s slot."""
    transparent = analysis.has_transparent or options.transparent_index is not None
    kept = len(set(options.keep)) + (1 if transparent else 0)
    slot = options.transparent_index + 1 if options.transparent_index is not None else 0
    return max(QuantizeOptions.MIN_K, kept, slot)


def _shortfall(measured: Measured, goal: QualityGoal) -> float:
    """How far a trial is from the goal, in log k by each measure's slope (positive: more
    colours are needed; the largest over the targets)."""
    gaps: list[float] = []
    if goal.maximum is not None:
        gaps.append(_log_ratio(measured.mse, quality_to_mse(goal.maximum)) / _SLOPE_MSE)
    if goal.psnr is not None:
        gaps.append((goal.psnr - measured.psnr) * math.log(10.0) / 10.0 / _SLOPE_MSE)
    if goal.delta_e is not None and measured.delta_e is not None:
        gaps.append(_log_ratio(measured.delta_e, goal.delta_e) / _SLOPE_DELTA_E)
    if goal.ssim is not None and measured.ssim is not None:
        gaps.append(_log_ratio(1.0 - measured.ssim, 1.0 - goal.ssim) / _SLOPE_SSIM)
    worst = max(gaps)
    if worst <= 0.0 and not meets(measured, goal):
        return 1e-6  # rounding at the edge: a fail is a fail
    return worst


def _log_ratio(value: float, limit: float) -> float:
    tiny = 1e-12
    return math.log(max(value, tiny) / max(limit, tiny))


def meets(measured: Measured, goal: QualityGoal) -> bool:
    """Whether figures reach the quality maximum and every target of ``goal``."""
    checks = [
        goal.maximum is None or measured.quality >= goal.maximum,
        goal.psnr is None or measured.psnr >= goal.psnr,
        goal.ssim is None or (measured.ssim is not None and measured.ssim >= goal.ssim),
        goal.delta_e is None or (measured.delta_e is not None and measured.delta_e <= goal.delta_e),
    ]
    return all(checks)


def measure_table(
    analysis: Analysis, palette: NDArray[np.uint8], entry_of_color: NDArray[np.intp], goal: QualityGoal
) -> Measured:
    """The figures of ``palette`` with each table colour on ``entry_of_color``, measured on the
    table (SSIM on the pixels, and ΔE2000, only when ``goal`` has those targets)."""
    from kmimg import metrics

    table = analysis.table
    mapped = palette[entry_of_color]
    mse = table_mse(table.colors, mapped, table.counts)
    if table.channels == 3:
        psnr = metrics.psnr_from_mse(mse)
    else:
        pair = (premultiplied_rgba(table.colors), premultiplied_rgba(mapped))
        psnr = metrics.psnr_from_mse(metrics.weighted_mse(*pair, table.counts))
    delta_e = None
    if goal.delta_e is not None:
        delta_e = metrics.mean_delta_e2000_indexed(table.colors, palette, entry_of_color, table.counts)
    ssim = _table_ssim(analysis, palette, entry_of_color) if goal.ssim is not None else None
    return Measured(mse, psnr, ssim, delta_e)


def table_mse(colors: NDArray[np.uint8], mapped: NDArray[np.uint8], counts: NDArray[np.int64]) -> float:
    """The alpha-aware squared distance (:mod:`kmimg.translucency`) of each colour to its entry,
    per colour channel, averaged over the pixels: for opaque colours the plain per-channel MSE."""
    from kmimg import metrics

    if colors.shape[1] == 3:
        return metrics.weighted_mse(colors, mapped[:, :3], counts)
    features = (rgba_features(colors, ColorSpace.RGB), rgba_features(mapped, ColorSpace.RGB))
    return metrics.weighted_mse(*features, counts) * 4.0 / 3.0  # four features, three channels


def _table_ssim(analysis: Analysis, palette: NDArray[np.uint8], entry_of_color: NDArray[np.intp]) -> float:
    from kmimg import metrics
    from kmimg.core.quantize import pixel_indices

    indices = pixel_indices(analysis, entry_of_color, palette)
    return metrics.ssim_indexed(analysis.rgb, indices, palette)
