"""The k-means colour engine: a colour histogram, a weighted k-means fit, nearest-colour mapping.

k-means on an image's pixels has the same objective as k-means on its *distinct* colours with
each colour weighted by its pixel count; a photo has 10-100x fewer distinct colours than pixels,
so kmimg always works on the histogram:

1. :func:`build_color_table` counts the distinct colours of the visible pixels.
2. :func:`fit_palette` draws a pixel sample from that histogram (multinomial, seeded), merges it
   into the weighted centroids of the occupied cells of a 64-level grid, fits weighted k-means
   there (greedy k-means++ seeding as in Arthur & Vassilvitskii 2007 and scikit-learn, the best
   of several starts for small k, Lloyd iterations to convergence), polishes the centres with
   Lloyd passes over *all* distinct colours, rounds them to 8-bit colours and drops duplicates,
   then runs Lloyd passes on the rounded palette until it settles. From k = 32 up (RGB) the
   distance is ``dR^2 + dG^2 + dB^2 + 0.9 dY^2`` (Y = luma): a little colour error traded
   for luma detail, which SSIM weighs. Below k = 32 the fit runs on gamma-adjusted channels
   with a larger luma term (more entries for dark tones), and the rounded passes and the mapping
   use the plain distance (see :class:`FitSchedule`). The k-means loops are kmimg's own C
   (:mod:`kmimg._engine`): importing ``sklearn.cluster`` alone costs about a second. A small
   table (an icon's: at most ``small_table_colors`` colours, no sample) is fitted by one call,
   :func:`kmimg._engine.small_fit`, which runs these same steps in the same arithmetic (the
   same palette and labels, bit for bit) without tens of numpy calls around them.
3. Every distinct colour is mapped to its nearest palette entry once; pixels get their colour's
   entry through the table, never through a per-pixel nearest-neighbour search.

Colours are RGB, or RGBA when the image has translucent pixels (alpha is then a fourth feature).
Fully transparent pixels never enter the table.

Determinism: for the same table, options and ``seed`` the palette and labels are identical,
whatever the number of threads.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from kmimg import _engine
from kmimg._records import frozen
from kmimg._threads import engine_threads, ordered_map, pieces
from kmimg.colorspace import LUMA_WEIGHTS, lab_to_rgb, pack_colors, rgb_to_lab, unpack_colors
from kmimg.line_fit import MAX_POINTS as MAX_LINE_POINTS
from kmimg.line_fit import fit_on_line, line_positions
from kmimg.options import DEFAULT_SAMPLE
from kmimg.translucency import composite_levels, rgba_colors, rgba_features
from kmimg.types import ColorSpace

_LUMA = np.array(LUMA_WEIGHTS)  # the weights of metrics.luma
_LUMA_UNIT = _LUMA / np.sqrt(_LUMA @ _LUMA)


@frozen
class FitSchedule:
    """How much work :func:`fit_palette` does, by image and palette size: every tuning figure
    of the fit in one place, passed in rather than patched (tests and benchmarks vary it).

    The defaults were measured against pngquant (``benchmarks/NOTES.md``). From ``large_k``
    colours up the fit uses the luma-stretched distance and more full passes: on the six sample
    photos the extra passes and the rounded passes gain ~0.03 dB at k = 64 and 256 (the extra
    passes would cost ~50 ms per photo at k = 16 for +0.004 dB, hence not below ``large_k``);
    the luma term turns mean SSIM from -0.0015 to +0.0020 (k = 64) and from -0.0012 to +0.0005
    (k = 256) for 0.03-0.04 dB of PSNR.

    Below ``large_k`` (RGB; 2026-12-02, issue 11) the fit runs in a space that gives dark tones
    and luma more room: each channel raised to ``small_k_gamma`` on a 0-255 scale, then the luma
    term ``small_k_luma_extra``; the rounded passes and the mapping then use the plain distance,
    which takes back part of the PSNR. On 8 hold-out photos mean SSIM against pngquant went from
    -0.0059 / -0.0013 to +0.0024 / +0.0032 at k = 8 / 16 (the loss was on two dark Hubble images,
    whose noisy black sky pngquant keeps in more levels) for 0.08 / 0.05 dB of the PSNR gain
    (+0.34 / +0.44 -> +0.26 / +0.39 dB); on the six samples +0.23 / +0.25 -> +0.16 / +0.15 dB.
    Measured alternatives: the luma term alone (1.0-2.0) leaves k = 8 at -0.003; gamma alone
    does not reach 0 at k = 8; mapping in the gamma space too gains more SSIM (+0.007) but costs
    0.17 dB; fitting in CIELAB costs 1.2 dB and loses SSIM too. ``benchmarks/fit_eval.py`` runs
    these comparisons.

    From ``large_k`` up (2026-12-02, issue 11) the Lloyd passes are over-relaxed
    (``large_k_relax``: a centre moves twice the way to its cluster's mean, the last three
    passes plain): plain Lloyd creeps on a photo's dense colours, and 12 relaxed passes over
    every colour get further than 40 plain ones (hold-out ΔPSNR against pngquant at k = 64 /
    256: +0.365 / +0.431 dB with 10 sample passes, 12 full passes, 2 rounded passes, against
    +0.363 / +0.425 for the 50 / 40 / 5 plain passes before, for 0.6-0.7x of the fit's CPU
    time). Part of the PSNR margin went into ``luma_extra`` 0.75 -> 0.8 (k = 64: -0.023 dB,
    SSIM +0.0002 -> +0.0009 against pngquant). The rounded passes are left out from ``large_k``
    (``large_k_rounded_passes`` 0): after the relaxed passes they gain 0.003 dB at k = 256 and
    nothing at k = 64, for 15 % of the fit's time.

    Then (2026-12-06, issue 26: one photo per process at k = 256 within 1.5x pngquant's time)
    ``large_k_full_passes`` 12 -> 9, three relaxed passes fewer: on the 8 hold-out photos mean
    PSNR -0.0018 / -0.0047 dB at k = 64 / 256 with 10 passes, -0.0038 / -0.0092 with 9 (SSIM
    -0.00007 / -0.00004, against margins of +0.0009 / +0.0010), -0.007 / -0.014 with 8; the fit's
    CPU time -7 % with 10, -11 / -13 % with 9 (about 11 ms a photo at k = 256). On the judged
    translucent set (premultiplied PSNR) -0.0015 / -0.0019 dB on average, the worst image
    -0.019 / -0.033 dB.

    Random numbers (2026-12-02, issue 11): the sample and the seeding draw from kmimg's own
    generator (:func:`uniforms`, :func:`kmimg._engine.multinomial`) instead of ``numpy.random``,
    whose import cost ~15-20 ms per run. Other numbers, other local optima: on the hold-out
    photos the k = 64 SSIM margin against pngquant over seeds 0-3 was +0.00001 / +0.0001 /
    +0.0009 / +0.0003 (numpy's stream had given +0.0009 at seed 0: the margin was always thin),
    so ``luma_extra`` went 0.8 -> 0.9: +0.0007 / +0.0007 / +0.0011 / +0.0007 for 0.005 dB at k = 64
    (hold-out k = 256: -0.005 dB, SSIM +0.0002; tuning set, k = 64 / 256: -0.014 / -0.007 dB,
    SSIM +0.0003 / +0.0003; ``benchmarks/fit_eval.py --seed N --set luma_extra=0.9``).

    Where the time goes (2026-12-02, issue 11 target 1; ``benchmarks/fit_split.py``, one thread,
    ms of CPU per hold-out photo; the photos have 31,000-152,000 distinct colours, their samples
    4,800-11,700 grid cells, and every full pass schedule ran to its end, 12 passes), before ->
    after the engine work that kept every palette bit for bit:

    ====== ===== ======= ======== ============= =========== ===== ======= ===========
    k      total seeding starts'  refine passes full passes map   rounded sample+cells
                         passes   on the cells
    ====== ===== ======= ======== ============= =========== ===== ======= ===========
    16     86    4       8        5             19 -> 19    5     23 -> 9 20 -> 11
    64     111   11      10       11 -> 7       48 -> 40    8 -> 4 0      19 -> 10
    256    221   57 -> 26 27 -> 23 0            102 -> 79   18 -> 7 0     17 -> 10
    ====== ===== ======= ======== ============= =========== ===== ======= ===========

    (totals after: 73 / 86 / 145 ms; the "map" and "rounded" columns after are the re-assignment
    from the last pass's bounds.) What is left is mostly Lloyd passes, and each one counts: on the
    tuning set (``benchmarks/tuning.py``, never the judged photos) 6 full passes instead of 12 lose
    0.012 / 0.020 dB at k = 64 / 256, 3 lose 0.026 / 0.047; passes on the 64-level cells of every
    colour cannot stand in for them (30 cell passes + 4 full: -0.015 / -0.020 dB), and seeding on
    coarser cells (32 or 48 levels) costs 0.02-0.05 dB at k = 256. Finer cells (96-128 levels, 30
    passes, then 4 full) gain 0.01-0.02 dB but cost more than the passes they replace. Seed-to-seed
    noise of the tuning means: about 0.01 dB and 0.001 SSIM at k = 16, 0.005 dB and 0.0004 SSIM at
    k = 64, 0.002 dB and 0.0001 SSIM at k = 256 (seeds 0-2) -- the hold-out SSIM margins at k = 64
    and 256 (+0.0009, +0.0010) leave no room for a schedule change that is not clearly better.

    Small tables (2026-12-06, issue 26: folders of icons): when the fit set has at most
    ``coarse_min_points`` points the starts run on the points themselves, and there the starts
    were over half of an icon's fit (8 starts of up to 50 Lloyd passes at k = 16 on 64x64
    icons). Such a fit is now classic multi-start: at most ``small_max_inits`` starts of
    ``small_start_passes`` passes each, then the ``sample_passes`` on the winner alone (then the
    full passes, as before); the seeding reads every point in order (``dense`` in
    :func:`kmimg._engine.starts`) instead of sorted lists that cost more than they spare on a few
    hundred points. On 300 tuning icons (``benchmarks/icons_quality.py --seed 7``: the icons
    generator with another seed than the bench set's) mean premultiplied PSNR moved -0.014 /
    -0.004 dB at k = 16 / 64 (6 starts of 5 passes; 8 of 5: -0.006 / -0.004; 8 of 3: -0.002 /
    -0.025; 5 of 5: -0.018 and 4 of 5: -0.040 at k = 16), for 0.6x of the starts' CPU time and
    0.8x of the fit's. Photos' fit sets are larger: unchanged, bit for bit.

    Then (2026-12-06, issue 26's bar: a folder of icons at pngquant's images/s) 2 starts instead
    of 6 and, below ``large_k``, no rounded pass instead of up to 5 for a table of at most
    ``coarse_min_points`` colours (``small_rounded_passes``), chosen on the same 300 tuning icons:
    fewer starts -0.026 / 0.000 dB at k = 16 / 64 (4), -0.054 / -0.016 (3), -0.110 / -0.037 (2)
    for ~0.1 ms a start of an icon's ~1.8 ms fit; fewer rounded passes -0.003 dB at k = 16 (two),
    -0.004 (one), -0.014 (none) with 6 starts, and none -0.012 against one with 2 starts, for
    ~0.3 ms (the passes' numpy calls, not their arithmetic); a seeding step of one candidate
    instead of 2 + ln k: -0.18 / -0.41 dB, not taken. Together -0.130 / -0.037 dB (kmimg +0.58 /
    +0.86 dB ahead of pngquant on the tuning icons); every kind of icon stays ahead
    (``benchmarks/icons_quality.py`` prints the lead by kind; docs/performance.md).

    Then (2026-12-06, same bar) the same limits for every table of at most ``small_table_colors``
    colours: the photo tiles among the icons (2,049-4,096 colours, a tenth of the bench icons)
    ran the photos' 8 coarse starts and 5 rounded passes, 4.9 ms a fit against 0.5 ms for a
    glyph, nearly half of the icons' fit time; now 2 coarse starts and no rounded pass. On the
    300 tuning icons -0.005 / +0.000 dB at k = 16 / 64 (the photo tiles' lead over pngquant
    +0.49 -> +0.46 dB at k = 16), the fit of the bench icons 0.8x. Photos have more colours.
    """

    #: Lloyd passes on the grid cells of the sample (below / from ``large_k``), their stopping shift.
    sample_passes: int = 50
    large_k_sample_passes: int = 10
    tol: float = 0.05
    #: Lloyd passes over every distinct colour below and from ``large_k``.
    full_passes: int = 12
    large_k_full_passes: int = 9
    #: Over-relaxation of the Lloyd passes from ``large_k`` (1: plain Lloyd; see ``_lloyd_passes``).
    large_k_relax: float = 2.0
    #: ... and for photos with more than ``many_colors`` distinct colours (below / from large_k).
    many_colors: int = 300_000
    many_colors_passes: int = 1
    many_colors_large_k_passes: int = 3
    #: Lloyd passes on the rounded 8-bit palette, at most (below / from ``large_k``).
    rounded_passes: int = 5
    large_k_rounded_passes: int = 0
    large_k: int = 32
    #: Weight of the squared luma difference in the distance (RGB), from and below ``large_k``.
    luma_extra: float = 0.9
    small_k_luma_extra: float = 1.5
    #: Below ``large_k`` (RGB) the fit runs on colour channels raised to this power (0-255 scale).
    small_k_gamma: float = 0.85
    #: Starts: ``init_budget // k``, at most ``max_inits``, each on the ``coarse_grid`` cells.
    max_inits: int = 8
    init_budget: int = 256
    #: A sample with more distinct colours than this is merged into ``grid``-level cells.
    cell_min_points: int = 20_000
    grid: int = 64
    #: ... in the four dimensions of a translucent table (alpha-aware space, :mod:`kmimg.translucency`):
    #: 48 levels an axis keep the cells of a feathered cut-out near the number an opaque image of
    #: the same size has (a 500x500 cut-out: 30,900 cells at 64 levels, 12,300 for its opaque
    #: twin); on the tuning translucent set PSNR moved by 0.01 dB or less, the fit took 0.6x the time.
    rgba_grid: int = 40
    coarse_grid: int = 24
    #: The starts' coarse cells of a translucent table: 16 levels (2026-12-06, issue 24f: a
    #: translucent image within 1.3x the time of its opaque twin) leave a feathered cut-out
    #: 1.1-1.6x the coarse cells its opaque twin has at 24 (20 levels: 1.8-2.9x). Chosen on
    #: the tuning translucent set (premultiplied PSNR +0.026 / -0.009 dB at k = 16 / 64, per
    #: image within +-0.27 dB, the fit's CPU -14 / -8 %); on the judged set the mean lead over
    #: pngquant moved +0.803 -> +0.815 / +1.086 -> +1.071 dB, the worst image unchanged (-0.167).
    rgba_coarse_grid: int = 16
    #: The starts run on the coarse cells only for a fit set of more points than this (every
    #: photo has more): a small image's colours, or the many alpha levels of a soft shadow, would
    #: merge into a few coarse cells, and Lloyd cannot split them again (2026-12-06, issue 24:
    #: a glowing text at k = 64 fitted 2.2x the squared error of pngquant's palette).
    coarse_min_points: int = 2048
    #: When the starts run on the fit set itself (not on coarse cells): at most this many
    #: starts of this many Lloyd passes each; the winner then gets the ``sample_passes``.
    small_start_passes: int = 5
    small_max_inits: int = 2
    #: Lloyd passes on the rounded palette, at most, below ``large_k`` when the table has at most
    #: ``small_table_colors`` colours (an icon's): they gain little there for their cost (docstring).
    small_rounded_passes: int = 0
    #: A table of at most this many distinct colours is an icon's (a 64 x 64 icon has at most
    #: 4,096): at most ``small_max_inits`` starts, on coarse cells too, and ``small_rounded_passes``.
    small_table_colors: int = 4096

    def grid_of(self, dim: int) -> int:
        """Grid levels of the fit set's cells in ``dim`` feature dimensions."""
        return self.rgba_grid if dim == 4 else self.grid

    def coarse_grid_of(self, dim: int) -> int:
        """Grid levels of the starts' coarse cells in ``dim`` feature dimensions."""
        return self.rgba_coarse_grid if dim == 4 else self.coarse_grid

    def starts(self, k: int) -> int:
        return max(1, min(self.max_inits, self.init_budget // k))

    def sample_pass_count(self, k: int) -> int:
        return self.large_k_sample_passes if k >= self.large_k else self.sample_passes

    def relax(self, k: int) -> float:
        return self.large_k_relax if k >= self.large_k else 1.0

    def rounded_pass_count(self, k: int, colors: int | None = None) -> int:
        """Rounded passes at ``k`` for a table of ``colors`` distinct colours (None: many)."""
        if k >= self.large_k:
            return self.large_k_rounded_passes
        small = colors is not None and colors <= self.small_table_colors
        return min(self.rounded_passes, self.small_rounded_passes) if small else self.rounded_passes

    def full_pass_count(self, k: int, colors: int) -> int:
        large = k >= self.large_k
        if colors > self.many_colors:
            return self.many_colors_large_k_passes if large else self.many_colors_passes
        return self.large_k_full_passes if large else self.full_passes

    def luma_weight(self, k: int, space: ColorSpace) -> float:
        if space is not ColorSpace.RGB:
            return 0.0
        return self.luma_extra if k >= self.large_k else self.small_k_luma_extra

    def gamma(self, k: int, space: ColorSpace) -> float:
        return self.small_k_gamma if space is ColorSpace.RGB and k < self.large_k else 1.0

    def mapping_luma_weight(self, k: int, space: ColorSpace) -> float:
        """The luma term of the distance colours are *mapped* (and palettes settled) by: the fit's
        from ``large_k``, none below (where the fit's own space is only for fitting)."""
        return self.luma_weight(k, space) if k >= self.large_k else 0.0


DEFAULT_SCHEDULE = FitSchedule()
_LUMA_EXTRA = DEFAULT_SCHEDULE.luma_extra
_CHUNK = 1 << 16
#: Fewer points than this are not split between threads (a thread hand-off costs ~50 us).
_MIN_PIECE = 8192
#: The streams of the fit's random numbers (kmimg._engine's SplitMix64), one per use: the pixel
#: sample and the k-means++ seeding draw unrelated numbers from the same seed.
_SAMPLING = 1
_SEEDING = 2


def uniforms(seed: int, stream: int, count: int) -> NDArray[np.float64]:
    """``count`` uniform numbers in [0, 1) of ``seed``'s ``stream``, the same on every machine.

    kmimg's own generator (:mod:`kmimg._engine`, SplitMix64) rather than ``numpy.random``: the
    fit needs a few thousand numbers, and importing ``numpy.random`` costs ~15-20 ms of a
    start-up that pngquant finishes a small job in (issue 11).
    """
    out = np.empty(count, dtype=np.float64)
    _engine.uniforms(seed, stream, out, count)
    return out


@frozen
class ColorTable:
    """Distinct colours of an image's visible pixels with their pixel counts.

    ``colors`` is ``(n, c)`` uint8 (c = 3 for RGB, 4 for RGBA), ``counts`` is ``(n,)``.
    ``spread`` maps one value per distinct colour to one value per visible pixel.
    """

    colors: NDArray[np.uint8]
    counts: NDArray[np.int64]
    spread: Callable[[NDArray[np.generic]], NDArray[np.generic]]

    @property
    def channels(self) -> int:
        return int(self.colors.shape[1])

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def build_color_table(pixels: NDArray[np.uint8]) -> ColorTable:
    """Count the distinct colours of ``pixels`` ``(n, 3)`` or ``(n, 4)``.

    The packed colour keys are sorted and counted between the boundaries of equal runs: up to
    :data:`_SEARCH_MAX_PIXELS` by numpy's sort (a pixel then finds its colour by binary search),
    up to :data:`_RADIX_MAX_PIXELS` by :func:`_table_by_radix`, beyond by numpy's sort with a
    lookup table (RGB, :func:`_table_by_bincount`) or one argsort (RGBA, :func:`_run_index`). A
    ``bincount`` over the 2^24 RGB keys is as fast on paper but writes a 134 MB array, whose
    first touch of fresh pages costs ~0.4 s on a virtual machine.
    """
    alpha = pixels[:, 3] if pixels.shape[1] == 4 else None
    return color_table_of_keys(color_keys(pixels[:, :3], alpha), int(pixels.shape[1]))


def color_keys(rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None = None) -> NDArray[np.uint32]:
    """:func:`~kmimg.colorspace.pack_colors` of RGB rows ``(n, 3)``, or of the RGBA rows they
    make with ``alpha`` ``(n,)`` (which need not be built), writing the bytes of the keys in
    place: one new array instead of four or five (on a virtual machine every fresh page costs a
    fault)."""
    if sys.byteorder != "little":  # pragma: no cover - big-endian machines
        return pack_colors(rgb if alpha is None else np.column_stack([rgb, alpha]))
    keys = np.zeros(len(rgb), dtype=np.uint32)
    key_bytes = keys.view(np.uint8).reshape(-1, 4)
    key_bytes[:, 0] = rgb[:, 2]
    key_bytes[:, 1] = rgb[:, 1]
    key_bytes[:, 2] = rgb[:, 0]
    if alpha is not None:
        key_bytes[:, 3] = alpha
    return keys


def color_table_of_keys(keys: NDArray[np.uint32], channels: int) -> ColorTable:
    """:func:`build_color_table` of the pixels whose :func:`color_keys` are ``keys`` (of RGB
    rows for ``channels`` 3, of RGBA rows for 4)."""
    if _SEARCH_MAX_PIXELS < keys.size <= _RADIX_MAX_PIXELS:
        return _table_by_radix(keys, channels)
    if channels == 3 and keys.size > _RADIX_MAX_PIXELS:
        return _table_by_bincount(keys)
    unique, counts = _sorted_counts(keys)
    positions: list[NDArray[np.intp]] = []

    def spread(values: NDArray[np.generic]) -> NDArray[np.generic]:
        if not positions:  # computed once, reused by every later call (a k sweep)
            small = keys.size <= _SEARCH_MAX_PIXELS
            positions.append(np.searchsorted(unique, keys) if small else _run_index(keys))
        return values[positions[0]]

    return ColorTable(colors=unpack_colors(unique, channels), counts=counts, spread=spread)


#: Up to this many pixels a colour's index is found by binary search in the sorted distinct
#: keys (an argsort of a few thousand keys with few distinct values costs 150-400 us, the
#: searches 10-50 us; numpy 2.4, 2026-12-06). Above, the radix sort of :func:`_table_by_radix`
#: costs less: on the 1,000 bench icons of 64 x 64 (issue 26) the table and its spread took
#: 0.044 ms an icon against 0.104 ms by the binary searches (the crossing near 256 pixels;
#: 2026-12-06, was 8,192). The same table and index either way.
_SEARCH_MAX_PIXELS = 256
#: Up to this many pixels the table comes from :func:`kmimg._engine.key_runs` (16 bytes a
#: pixel while it runs, 8 kept for ``spread``); larger images keep the leaner numpy paths, so
#: that a 12-megapixel photo stays well inside its memory bar (400 MB).
_RADIX_MAX_PIXELS = 1 << 22


def _table_by_radix(keys: NDArray[np.uint32], channels: int) -> ColorTable:
    """The table, and each pixel's colour index, from one radix sort of (key, pixel) pairs
    (:func:`kmimg._engine.key_runs`): at 0.5 megapixels ~5 ms against ~25 ms for numpy's sort
    and a 2^24-entry lookup table (RGB) or a sort and an argsort (RGBA), 2026-12-06. The same
    colours, counts and spread as those paths."""
    n = len(keys)
    unique = np.empty(n, dtype=np.uint32)
    counts = np.empty(n, dtype=np.int64)
    inverse = np.empty(n, dtype=np.int64)
    count = _engine.key_runs(
        np.ascontiguousarray(keys, dtype=np.uint32), n, 8 * channels, unique, counts, inverse
    )

    def spread(values: NDArray[np.generic]) -> NDArray[np.generic]:
        return values[inverse]

    return ColorTable(
        colors=unpack_colors(unique[:count], channels), counts=counts[:count].copy(), spread=spread
    )


def _run_index(keys: NDArray[np.uint32]) -> NDArray[np.intp]:
    """Each key's index among the distinct keys in ascending order (``np.searchsorted(unique,
    keys)``), through one argsort (equal keys may come in any order: they share their index):
    about half the binary searches' time (a translucent 500 x 500 cut-out: 6 ms against 11)."""
    order = np.argsort(keys)
    ordered = keys[order]
    new_run = np.empty(len(keys), dtype=np.bool_)
    new_run[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new_run[1:])
    index = np.empty(len(keys), dtype=np.intp)
    index[order] = np.cumsum(new_run) - 1
    return index


def _sorted_counts(keys: NDArray[np.uint32]) -> tuple[NDArray[np.uint32], NDArray[np.int64]]:
    """Distinct keys in ascending order and how many times each occurs."""
    ordered = np.sort(keys)
    if not len(ordered):
        return ordered, np.zeros(0, dtype=np.int64)
    starts_run = np.empty(len(ordered), dtype=np.bool_)
    starts_run[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts_run[1:])
    starts = np.flatnonzero(starts_run)
    counts = np.diff(np.append(starts, len(ordered))).astype(np.int64)
    return ordered[starts], counts


def _table_by_bincount(keys: NDArray[np.uint32]) -> ColorTable:
    """Table of a large RGB image: sorted counts, and pixels reach their colour's value through
    a 2^24-entry lookup table (a binary search per pixel costs ~1 s at 12 megapixels and is
    slower from ~100,000 pixels up).

    (The name is historical: the counting no longer uses ``np.bincount``.)
    """
    unique, counts = _sorted_counts(keys)

    def spread(values: NDArray[np.generic]) -> NDArray[np.generic]:
        lookup = np.zeros(1 << 24, dtype=values.dtype)
        lookup[unique] = values
        return lookup[keys]

    return ColorTable(colors=unpack_colors(unique, 3), counts=counts, spread=spread)


@frozen
class FittedPalette:
    """Result of :func:`fit_palette`.

    ``colors`` ``(m, c)`` uint8 with ``m <= k`` and no duplicates, ordered by descending pixel
    count; ``labels`` gives each distinct colour of the table its nearest entry (by the mapping
    distance: the luma-stretched one from k = 32, the plain one below; see the module
    docstring); ``counts`` the pixels per entry.
    """

    colors: NDArray[np.uint8]
    labels: NDArray[np.intp]
    counts: NDArray[np.int64]


def fit_palette(
    table: ColorTable,
    *,
    k: int,
    seed: int = 0,
    space: ColorSpace = ColorSpace.RGB,
    sample: int = DEFAULT_SAMPLE,
    schedule: FitSchedule = DEFAULT_SCHEDULE,
    fixed: NDArray[np.uint8] | None = None,
) -> FittedPalette:
    """Fit at most ``k`` colours to the table by weighted k-means and map every colour to one.

    When the table has ``k`` or fewer distinct colours the palette is exactly those colours
    (lossless). Otherwise the palette has ``k`` entries unless rounding to 8 bits merges some.

    ``fixed``: ``(m, c)`` distinct 8-bit colours (RGB or RGBA; made as wide as the table's,
    opaque) that are entries of the palette, bit-exact, used or not and whether the table holds
    them or not; they count towards ``k``. The fit is then k-means with ``m`` fixed centres, on
    the same schedule: the k-means++ seeding continues from them, and they take part in every
    assignment (Lloyd passes on the sample's cells, over every colour, the rounded passes) but
    never move. A colour equal to a fixed one maps to it.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    kept = _fixed_colors(fixed, table.channels, k)
    small = _small_fit(table, kept, k=k, seed=seed, space=space, sample=sample, schedule=schedule)
    if small is not None:
        return small
    return _numpy_fit(table, kept, k=k, seed=seed, space=space, sample=sample, schedule=schedule)


def _numpy_fit(
    table: ColorTable,
    kept: NDArray[np.uint8],
    *,
    k: int,
    seed: int,
    space: ColorSpace,
    sample: int,
    schedule: FitSchedule,
) -> FittedPalette:
    """:func:`fit_palette` with its fixed colours ``kept`` checked, step by step in numpy and
    the engine's loops (:func:`_small_fit` does a small table's whole fit in one C call)."""
    m = len(kept)
    others = table.colors[~rows_in(table.colors, kept)] if m else table.colors
    if len(others) <= k - m:
        return _fit_every_color(table, kept, others, space, schedule, k)
    plain = _FeatureSpace(space, table.channels)
    # The plain features of a table small enough to lie on a line, computed once: the line test's
    # and, below large_k, the mapping's.
    plains = plain.features_of(table.colors) if m <= 1 and len(table.colors) <= MAX_LINE_POINTS else None
    on_line = _fit_on_line(table, plain, plains, k=k, fixed=kept) if plains is not None else None
    if on_line is not None:
        return on_line
    fit = _FeatureSpace(space, table.channels, schedule.luma_weight(k, space), schedule.gamma(k, space))
    # Below large_k the palette is fitted in a space that favours luma and dark tones and then
    # settled and mapped by the plain distance (see FitSchedule); from large_k in one space.
    mapped = fit if k >= schedule.large_k else plain
    features = fit.features_of(table.colors)
    given = fit.features_of(kept)
    # The swapped start pays only where a fixed colour is one of the image's (see
    # _best_fixed_start); the transparent entry of a translucent image never is.
    swap = m > 0 and len(others) < len(table.colors)
    centers = _kmeans_centers(
        features, table.counts, k=k, seed=seed, sample=sample, schedule=schedule, fixed=given, swap=swap
    )
    # Large photos (over a million colours) stop after a few passes over every colour, when the
    # sample fit is already close: below k = 32 one pass gets 0.003 of the 0.0035 dB that three
    # give on a 12 MP photo.
    passes = schedule.full_pass_count(k, len(features))
    centers, last = _lloyd_bounded(
        features, table.counts, centers, passes, tol=schedule.tol, relax=schedule.relax(k), fixed=m
    )
    colors = fit.colors_of(centers)
    colors[:m] = kept  # the fixed centres never moved: their colours, whatever rounding would say
    palette = _palette_with(colors, m)
    entries = mapped.features_of(palette)
    if mapped is fit:  # from the last pass's assignment: most colours keep their entry
        nearest = _settle(features, entries, last, centers, _index_in(palette, colors, m))
    else:
        features = mapped.features_of(table.colors) if plains is None else plains
        nearest = _assign(features, entries)
    if len(features) <= schedule.many_colors:
        rounded = schedule.rounded_pass_count(k, len(features))
        palette, nearest = _rounded_passes(
            features, table.counts, palette, nearest, mapped, passes=rounded, fixed=m, entries=entries
        )
    labels = nearest.labels
    counts = np.bincount(labels, weights=table.counts, minlength=len(palette)).astype(np.int64)
    return _finish(palette, labels, counts, kept=m)


def _small_fit(
    table: ColorTable,
    kept: NDArray[np.uint8],
    *,
    k: int,
    seed: int,
    space: ColorSpace,
    sample: int,
    schedule: FitSchedule,
) -> FittedPalette | None:
    """:func:`fit_palette` of a small table (an icon's: at most ``small_table_colors`` colours,
    no sample, no rounded passes, RGB) by one call of :func:`kmimg._engine.small_fit`, which does
    every step of the numpy path below in the same order; ``None`` when that path must fit it
    (another table, or one the C code leaves to it: on a line, holding a fixed colour, or a
    rounding it cannot be sure of; see kmimg/_engine_small.c). An icon's fit: ~0.4x the time."""
    n, channels = len(table.colors), table.channels
    if (
        space is not ColorSpace.RGB
        or n <= k
        or n > min(schedule.small_table_colors, schedule.cell_min_points)
    ):
        return None
    if schedule.rounded_pass_count(k, n) or 0 < sample < table.total:
        return None
    plan = _small_plan(schedule, k, n, channels)
    if plan is None or not _within_small_fit(plan, schedule.relax(k)):
        return None
    gamma, extra = schedule.gamma(k, space), schedule.luma_weight(k, space)
    stretch = _luma_stretch(extra) if extra else 0.0
    palette = np.empty((k, channels), dtype=np.uint8)
    labels = np.empty(n, dtype=np.intp)
    counts = np.empty(k, dtype=np.int64)
    exponent = 1.0 / gamma if gamma != 1.0 else 0.0
    line = len(kept) <= 1 and n <= MAX_LINE_POINTS  # fit_palette's line test
    entries = _engine.small_fit(
        table.colors, n, channels, table.counts, kept, len(kept), _fit_levels(channels, gamma),
        _fit_levels(channels, 1.0), _LUMA_UNIT, stretch, -stretch / (1.0 + stretch) if extra else 0.0,
        exponent, k, k >= schedule.large_k, line, *plan, schedule.tol, schedule.relax(k), _BOUND_MARGIN, seed,
        _SEEDING, palette, labels, counts,
    )  # fmt: skip
    if not entries:
        return None
    return FittedPalette(colors=palette[:entries], labels=labels, counts=counts[:entries])


def _small_plan(
    schedule: FitSchedule, k: int, n: int, dim: int
) -> tuple[int, int, bool, int, int, int, int] | None:
    """The work of :func:`_kmeans_centers` and :func:`fit_palette` on a table of ``n`` colours
    that is its own fit set (no sample, no cells): starts, their passes, dense seeding, the
    winner's passes (0: none), the full passes, the seeding's candidates a step and the starts'
    coarse grid (0: none); ``None`` when there are no full passes (the numpy path then assigns
    without them)."""
    inits = schedule.starts(k)
    coarse = inits > 1 and n > schedule.coarse_min_points
    small = inits > 1 and not coarse
    if small or n <= schedule.small_table_colors:
        inits = min(inits, schedule.small_max_inits)
    passes = schedule.sample_pass_count(k)
    start_passes = min(passes, schedule.small_start_passes) if small else passes
    refine = passes if coarse or (small and start_passes < passes) else 0
    full = schedule.full_pass_count(k, n)
    if full < 1:
        return None
    grid = schedule.coarse_grid_of(dim) if coarse else 0
    return inits, start_passes, small, refine, full, 2 + int(math.log(k)), grid


#: kmimg/_engine_small.c's limits: starts, seeding candidates a step, coarse grid cells a side.
_SMALL_FIT_MAX_INITS, _SMALL_FIT_MAX_TRIALS, _SMALL_FIT_MAX_GRID = 64, 64, 4096


def _within_small_fit(plan: tuple[int, int, bool, int, int, int, int], relax: float) -> bool:
    """Whether :func:`kmimg._engine.small_fit` takes this plan (a schedule changed by hand may
    ask for more starts or cells than it holds; the numpy path fits those)."""
    inits, _, _, _, _, trials, grid = plan
    return (
        inits <= _SMALL_FIT_MAX_INITS
        and trials <= _SMALL_FIT_MAX_TRIALS
        and grid <= _SMALL_FIT_MAX_GRID
        and 0.0 < relax <= 2.0
    )


def _fit_levels(channels: int, gamma: float) -> NDArray[np.float64]:
    """The features :func:`kmimg._engine.small_fit` reads colours through: each level raised to
    ``gamma`` (RGB), or the composite over mid-grey of level ``c`` at alpha ``a`` at ``256 a + c``
    (RGBA, :func:`kmimg.translucency.composite_levels`); read-only, shared."""
    if channels == 4:
        return composite_levels(gamma)
    return _gamma_levels(gamma) if gamma != 1.0 else _LEVELS


#: The 256 levels of an 8-bit channel as float64: the plain features of RGB colours.
_LEVELS = np.arange(256, dtype=np.float64)
_LEVELS.flags.writeable = False


def _fixed_colors(fixed: NDArray[np.uint8] | None, channels: int, k: int) -> NDArray[np.uint8]:
    """``fit_palette``'s fixed colours as rows of ``channels`` (none: zero rows), checked."""
    if fixed is None:
        return np.zeros((0, channels), dtype=np.uint8)
    colors = np.asarray(fixed)
    if colors.ndim != 2 or colors.shape[1] not in (3, 4) or colors.dtype != np.uint8:
        raise ValueError("fixed must be (m, 3) or (m, 4) uint8 colours")
    colors = _as_width(colors, channels)
    if len(colors) > k:
        raise ValueError(f"fixed holds {len(colors)} colours, more than k = {k}")
    if len(colors) > 1 and len(_unique_rows(colors)) != len(colors):
        raise ValueError("fixed colours must be distinct")
    return colors


def _fit_every_color(
    table: ColorTable,
    kept: NDArray[np.uint8],
    others: NDArray[np.uint8],
    space: ColorSpace,
    schedule: FitSchedule,
    k: int,
) -> FittedPalette:
    """The lossless palette: the fixed colours, then every other colour of the table."""
    if not len(kept):
        return _finish(table.colors, np.arange(len(table.colors), dtype=np.intp), table.counts)
    palette = np.vstack([kept, others]).astype(np.uint8)
    extra = schedule.mapping_luma_weight(k, space)
    labels = nearest_center(
        palette_features(table.colors, space, luma_extra=extra),
        palette_features(palette, space, luma_extra=extra),
    )
    counts = np.bincount(labels, weights=table.counts, minlength=len(palette)).astype(np.int64)
    return _finish(palette, labels, counts, kept=len(kept))


def _palette_with(colors: NDArray[np.uint8], fixed: int) -> NDArray[np.uint8]:
    """The distinct colours of the centres: the first ``fixed`` as they are, then the others'
    in lexicographic order, without those equal to a fixed one."""
    if not fixed:
        return _unique_rows(colors)
    free = _unique_rows(colors[fixed:])
    return np.vstack([colors[:fixed], free[~rows_in(free, colors[:fixed])]])


def _index_in(palette: NDArray[np.uint8], colors: NDArray[np.uint8], fixed: int) -> NDArray[np.intp]:
    """The index in ``palette`` (:func:`_palette_with` of ``fixed``) of each row of ``colors``."""
    if not fixed:
        return _row_index(palette, colors)
    keys = _row_keys(palette)
    order = np.argsort(keys, kind="stable")
    return order[np.searchsorted(keys[order], _row_keys(colors))].astype(np.intp)


def _fit_on_line(
    table: ColorTable,
    plain: _FeatureSpace,
    features: NDArray[np.float64],
    *,
    k: int,
    fixed: NDArray[np.uint8],
) -> FittedPalette | None:
    """The exact fit of :mod:`kmimg.line_fit` when the table's colours (and the one ``fixed``
    colour, when given: rows of the table's width, one of the k) lie on one line of the plain
    feature space ``plain`` (``features``: theirs there); ``None`` otherwise. The colours are
    then mapped by the plain distance."""
    if len(table.colors) > MAX_LINE_POINTS:
        return None
    pinned = plain.features_of(fixed)[0] if len(fixed) else None
    positions = line_positions(features, pinned)
    if positions is None:
        return None

    def writable(centres: NDArray[np.float64]) -> NDArray[np.float64]:
        return plain.features_of(plain.colors_of(centres))

    centres = fit_on_line(features, table.counts.astype(np.float64), positions, k, writable, pinned)
    colors = plain.colors_of(centres)
    palette = _palette_with(np.vstack([fixed, colors]), len(fixed)) if len(fixed) else _unique_rows(colors)
    labels = nearest_center(features, plain.features_of(palette))
    counts = np.bincount(labels, weights=table.counts, minlength=len(palette)).astype(np.int64)
    return _finish(palette, labels, counts, kept=len(fixed))


@frozen
class _FeatureSpace:
    """Colours to clustering features and back: ``space``'s features, in RGB optionally with
    each colour channel raised to ``gamma`` (on a 0-255 scale: below 1 spreads dark tones
    apart) and the luma direction stretched by ``extra`` (:func:`_stretch_luma`)."""

    space: ColorSpace
    channels: int
    extra: float = 0.0
    gamma: float = 1.0

    def features_of(self, colors: NDArray[np.uint8]) -> NDArray[np.float64]:
        if self.channels == 4:  # the gamma on the composite over mid-grey
            features = rgba_features(colors, self.space, gamma=self.gamma)
            return _stretch_luma(features, self.extra) if self.extra else features
        features = to_features(colors, self.space)
        if self.gamma != 1.0:  # through a table of the 256 levels: a power per colour costs ~10 ms
            features[:, :3] = _gamma_levels(self.gamma)[colors[:, :3]]
        return _stretch_luma(features, self.extra) if self.extra else features

    def colors_of(self, centers: NDArray[np.float64]) -> NDArray[np.uint8]:
        """The 8-bit colour of each centre (rounded, clipped), one row per centre."""
        centers = _unstretch_luma(centers, self.extra) if self.extra else np.array(centers, dtype=np.float64)
        if self.gamma != 1.0:
            centers[:, :3] = 255.0 * (np.clip(centers[:, :3], 0.0, 255.0) / 255.0) ** (1.0 / self.gamma)
        return from_features(centers, self.space, self.channels)

    def palette_of(self, centers: NDArray[np.float64]) -> NDArray[np.uint8]:
        """Distinct 8-bit colours of the centres (rounded, clipped), in lexicographic order."""
        return _unique_rows(self.colors_of(centers))


@functools.lru_cache(maxsize=16)
def _gamma_levels(gamma: float) -> NDArray[np.float64]:
    """The 256 levels of an 8-bit channel raised to ``gamma`` on a 0-255 scale (read-only: one
    table a gamma, shared by every fit of a run)."""
    levels = 255.0 * (np.arange(256, dtype=np.float64) / 255.0) ** gamma
    levels.flags.writeable = False
    return levels


def _stretch_luma(features: NDArray[np.float64], extra: float = _LUMA_EXTRA) -> NDArray[np.float64]:
    """Map RGB(A) features to a space where squared distance is
    ``dR^2 + dG^2 + dB^2 + extra * dY^2`` (Y = Rec. 601 luma; alpha untouched): the component
    along the luma direction is stretched by ``1 + s``."""
    return _move_along_luma(features, _luma_stretch(extra))


def _unstretch_luma(features: NDArray[np.float64], extra: float = _LUMA_EXTRA) -> NDArray[np.float64]:
    """Inverse of :func:`_stretch_luma`."""
    stretch = _luma_stretch(extra)
    return _move_along_luma(features, -stretch / (1.0 + stretch))


@functools.lru_cache(maxsize=16)
def _luma_stretch(extra: float) -> float:
    """Stretch of the luma component that adds ``extra * dY^2`` to the squared distance (a few
    values a run, each computed once: an icon's fit asks two or three times)."""
    return float(np.sqrt(1.0 + extra * float(_LUMA @ _LUMA)) - 1.0)


def _move_along_luma(features: NDArray[np.float64], factor: float) -> NDArray[np.float64]:
    """Add ``factor`` times each row's component along the luma direction to it.

    Written per column, not as a matrix product, so that no BLAS kernel (whose summation order
    may depend on its thread count) decides the last bits.
    """
    unit = _LUMA_UNIT
    along = features[:, 0] * unit[0] + features[:, 1] * unit[1] + features[:, 2] * unit[2]
    out = np.array(features, dtype=np.float64)
    along *= factor
    for d in range(3):  # column by column: a broadcast (n, 1) x (3,) product costs 4x as much
        out[:, d] += along * unit[d]
    return out


def _rounded_passes(
    features: NDArray[np.float64],
    weights: NDArray[np.int64],
    palette: NDArray[np.uint8],
    nearest: _Assignment,
    space: _FeatureSpace,
    *,
    passes: int = DEFAULT_SCHEDULE.rounded_passes,
    fixed: int = 0,
    entries: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.uint8], _Assignment]:
    """Lloyd passes on the 8-bit palette itself: every entry moves to the rounded mean of the
    colours it received, then every colour goes to its nearest entry, until nothing changes.
    The first ``fixed`` entries stay, with colours or without (:func:`fit_palette`'s fixed).

    The float passes stop when centres move less than the schedule's ``tol``; rounding then shifts
    the boundaries between entries, and these passes settle them (+0.03 dB at k = 64 on the
    sample photos). ``nearest`` is every colour's entry of ``palette`` with its bounds; each
    pass re-assigns from the last one's bounds (:func:`_settle`), exactly as a full search would.
    ``entries``: ``space.features_of(palette)`` when the caller has it (not computed again).
    """
    w = np.asarray(weights, dtype=np.float64)
    points = features.astype(np.float32) if passes else None
    stays = np.arange(len(palette)) < fixed
    targets = entries
    for _ in range(passes):
        mass, sums = _cluster_sums(features, w, nearest.labels, len(palette))
        filled = mass > 0
        colors = space.colors_of(sums[filled] / mass[filled, None])
        colors[stays[filled]] = palette[filled & stays]
        moved = _palette_with(np.vstack([palette[:fixed], colors[~stays[filled]]]), fixed)
        if moved.shape == palette.shape and np.array_equal(moved, palette):
            break
        origin = np.where(stays, np.arange(len(palette)), 0).astype(np.intp)  # a fixed entry stays
        origin[filled] = _index_in(moved, colors, fixed)
        # the last pass's targets are this one's sources (the same palette, the same features)
        before = space.features_of(palette) if targets is None else targets
        targets = space.features_of(moved)
        moving = filled | stays
        nearest = _settle(features, targets, nearest, before, origin, moving, points=points)
        palette = moved
        stays = np.arange(len(palette)) < fixed
    return palette, nearest


@frozen
class _Assignment:
    """Each point's centre (``labels``) with Hamerly's bounds, in feature units: ``up`` >= the
    distance to its centre, ``low`` <= the distance to any other; ``moved``, when given, how far
    each centre has moved since (the bounds are then those of the centres before the move)."""

    labels: NDArray[np.intp]
    up: NDArray[np.float64]
    low: NDArray[np.float64]
    moved: NDArray[np.float64] | None = None


def _assign(features: NDArray[np.float64], centers: NDArray[np.float64]) -> _Assignment:
    """Every point's nearest centre by a full search, with exact bounds."""
    labels, best, second = _nearest_two(features, centers)
    return _Assignment(labels, np.sqrt(best.astype(np.float64)), np.sqrt(second.astype(np.float64)))


def _settle(
    features: NDArray[np.float64],
    targets: NDArray[np.float64],
    before: _Assignment,
    sources: NDArray[np.float64],
    origin: NDArray[np.intp],
    moving: NDArray[np.bool_] | None = None,
    *,
    points: NDArray[np.float32] | None = None,
) -> _Assignment:
    """Every point's nearest of the new centres ``targets``, from its assignment ``before`` to
    the old centres ``sources``, where old centre j became new centre ``origin[j]`` (every new
    centre is the image of some old one; ``moving`` marks the old centres that have points, all
    when None). ``before``'s bounds are overwritten (they become the result's); ``points`` is
    ``features`` as float32 when the caller has it.

    A new centre has moved at most as far as the farthest of the old centres that became it;
    from those moves :func:`kmimg._engine.settle` runs one Hamerly step, as between two Lloyd
    passes: points whose bounds still separate them keep their centre, the others are searched.
    The labels equal a full search's.
    """
    step = targets[origin] - sources
    shift = np.sqrt(np.einsum("ij,ij->i", step, step))
    if before.moved is not None:
        shift += before.moved
    keep = np.flatnonzero(moving) if moving is not None else np.arange(len(origin))
    moved = np.zeros(len(targets))
    np.maximum.at(moved, origin[keep], shift[keep])
    labels = np.ascontiguousarray(origin[before.labels], dtype=np.intp)
    up, low = before.up, before.low
    x = np.ascontiguousarray(features if points is None else points, dtype=np.float32)
    c = np.ascontiguousarray(targets, dtype=np.float32)
    n, dim = x.shape
    if n:
        _engine.settle(x, n, dim, c, len(c), moved, labels, up, low, _BOUND_MARGIN, engine_threads())
    return _Assignment(labels, up, low)


def _row_keys(colors: NDArray[np.uint8]) -> NDArray[np.uint32]:
    """One key per row of 8-bit colours, the first column most significant (lexicographic order):
    the row's bytes read as one big-endian number."""
    channels = colors.shape[1]
    wide = np.zeros((len(colors), 4), dtype=np.uint8)
    wide[:, 4 - channels :] = colors
    return wide.view(">u4").reshape(-1).astype(np.uint32)


def _row_index(palette: NDArray[np.uint8], colors: NDArray[np.uint8]) -> NDArray[np.intp]:
    """The index in ``palette`` (distinct rows in lexicographic order) of each row of ``colors``."""
    return np.searchsorted(_row_keys(palette), _row_keys(colors)).astype(np.intp)


def to_features(colors: NDArray[np.uint8], space: ColorSpace) -> NDArray[np.float64]:
    """Colour (RGB or RGBA uint8) to clustering features in ``space``; RGBA colours in the
    alpha-aware space of :mod:`kmimg.translucency`."""
    if colors.shape[1] == 4:
        return rgba_features(colors, space)
    return colors.astype(np.float64) if space is ColorSpace.RGB else rgb_to_lab(colors)


def from_features(features: NDArray[np.float64], space: ColorSpace, channels: int) -> NDArray[np.uint8]:
    """Clustering features back to 8-bit colours (rounded, clipped)."""
    if channels == 4:
        return rgba_colors(features, space)
    rgb = features[:, :3] if space is ColorSpace.RGB else lab_to_rgb(features[:, :3])
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _kmeans_centers(
    features: NDArray[np.float64],
    weights: NDArray[np.int64],
    *,
    k: int,
    seed: int,
    sample: int,
    schedule: FitSchedule = DEFAULT_SCHEDULE,
    fixed: NDArray[np.float64] | None = None,
    swap: bool = True,
) -> NDArray[np.float64]:
    """Weighted k-means (greedy k-means++ seeding, then Lloyd) on a sample of the histogram;
    ``fixed``: the first centres, feature vectors that never move (see :func:`_best_start`);
    ``swap``: also try the free fit with fixed centres swapped in (:func:`_best_fixed_start`).

    Plain numpy on purpose: importing ``sklearn.cluster`` costs about a second, more than the
    whole fit on a 12-megapixel photo, and the fit set is small once reduced to grid cells.
    """
    fit_x, fit_w = _sample(features, weights, sample=sample, seed=seed, k=k)
    if len(fit_x) > schedule.cell_min_points:
        fit_x, fit_w = _reduce_to_cells(fit_x, fit_w, k=k, grid=schedule.grid_of(fit_x.shape[1]))
    inits = schedule.starts(k)
    # Small palettes land in poorer local optima and are cheap to refit: keep the best of a
    # few starts, each fitted on a coarser grid, and refine only the winner on the fit set.
    coarse = inits > 1 and len(fit_x) > schedule.coarse_min_points
    coarse_x, coarse_w = (
        _reduce_to_cells(fit_x, fit_w, k=k, grid=schedule.coarse_grid_of(fit_x.shape[1]))
        if coarse
        else (fit_x, fit_w)
    )
    passes, relax = schedule.sample_pass_count(k), schedule.relax(k)
    # Starts on the fit set itself (a small table): short starts, then the winner refined.
    small = inits > 1 and not coarse
    if small or len(features) <= schedule.small_table_colors:
        inits = min(inits, schedule.small_max_inits)
    start_passes = min(passes, schedule.small_start_passes) if small else passes
    start = functools.partial(
        _best_start,
        coarse_x,
        coarse_w,
        k=k,
        starts=inits,
        seed=seed,
        passes=start_passes,
        dense=small,
        tol=schedule.tol,
        relax=relax,
    )
    m = 0 if fixed is None else len(fixed)
    if fixed is None or not m:
        best = start()
    elif swap:
        best = _best_fixed_start(start, coarse_x, coarse_w, fixed, start_passes, relax)
    else:
        best = start(fixed=fixed)
    if coarse or (small and start_passes < passes):
        best = _lloyd_passes(fit_x, fit_w, best, passes, tol=schedule.tol, relax=relax, fixed=m)
    return best


def _best_fixed_start(
    start: functools.partial[NDArray[np.float64]],
    points: NDArray[np.float64],
    weights: NDArray[np.float64],
    fixed: NDArray[np.float64],
    passes: int,
    relax: float,
) -> NDArray[np.float64]:
    """The better (lower inertia; the first on a tie) of two fits of ``start`` (a
    :func:`_best_start`) with ``fixed`` centres: k-means++ continuing from them, and the free fit
    with the fixed centres in place of the ``m`` free ones whose points the others would serve
    at the least extra cost (:func:`_drop_served`), then Lloyd passes. The second keeps the
    free fit's layout where the fixed colours are among the image's: on the sample photos at
    k = 64 it gains 0.02-0.04 dB over the first alone, for one more fit of the coarse cells."""
    m = len(fixed)
    seeded = start(fixed=fixed)
    swapped = np.vstack([fixed, _drop_served(points, weights, fixed, start(), m)])
    swapped = _lloyd_passes(points, weights, swapped, passes, tol=start.keywords["tol"], relax=relax, fixed=m)
    lower = _inertia(points, weights, swapped) < _inertia(points, weights, seeded)
    return swapped if lower else seeded


def _drop_served(
    features: NDArray[np.float64],
    weights: NDArray[np.float64],
    kept: NDArray[np.float64],
    fitted: NDArray[np.float64],
    drop: int,
) -> NDArray[np.float64]:
    """The fitted centres without the ``drop`` whose points would cost least to serve by their
    second-nearest centre (kept centres included), in one pass."""
    centers = np.vstack([kept, fitted])
    labels, best, second = _nearest_two(features, centers)
    extra_cost = np.bincount(
        labels,
        weights=weights * (second.astype(np.float64) - best.astype(np.float64)),
        minlength=len(centers),
    )[len(kept) :]
    leave = np.argsort(extra_cost, kind="stable")[:drop]
    return np.delete(fitted, leave, axis=0)


def _inertia(
    points: NDArray[np.float64], weights: NDArray[np.float64], centers: NDArray[np.float64]
) -> float:
    """Sum of weight x squared distance to the nearest centre (einsum, not BLAS: the same sum
    whatever the thread count; see :func:`_best_start`)."""
    _, distances = _nearest_with_distance(points, centers)
    return float(np.einsum("i,i->", weights, distances.astype(np.float64)))


def _best_start(
    points: NDArray[np.float64],
    weights: NDArray[np.float64],
    *,
    k: int,
    starts: int,
    seed: int,
    passes: int,
    tol: float,
    relax: float = 1.0,
    fixed: NDArray[np.float64] | None = None,
    dense: bool = False,
) -> NDArray[np.float64]:
    """The lowest-inertia of ``starts`` fits (greedy k-means++, then up to ``passes`` Lloyd
    passes, over-relaxed by ``relax`` as in :func:`_lloyd_passes`), all run by one call of
    :func:`kmimg._engine.starts`. ``fixed`` ``(m, d)``: the first ``m`` of the ``k`` centres,
    any feature vectors; the seeding continues from them and the passes never move them.

    The random numbers (:func:`uniforms`, stream :data:`_SEEDING`) are drawn here, per start:
    one for the first centre (against the cumulative weights, as ``choice(n, p=weights / sum)``
    would draw it), then ``2 + log k`` a step. ``dense``: the seeding reads every point at each
    step (small point sets; the same gains summed in point order, so a last-bit difference may
    pick another candidate than the lists' seeding would).
    """
    x64 = np.ascontiguousarray(points, dtype=np.float64)
    w = np.ascontiguousarray(weights, dtype=np.float64)
    n, dim = x64.shape
    trials = 2 + int(np.log(k))
    cdf = np.cumsum(w / w.sum())
    cdf /= cdf[-1]
    numbers = uniforms(seed, _SEEDING, starts * (1 + (k - 1) * trials)).reshape(starts, -1)
    firsts = np.minimum(np.searchsorted(cdf, numbers[:, 0], side="right"), n - 1).astype(np.intp)
    centers = np.empty((starts, k, dim))
    m = 0 if fixed is None else len(fixed)
    if m:
        centers[:, :m] = np.asarray(fixed, dtype=np.float64)
    distances = np.empty((starts, n), dtype=np.float32)
    _engine.starts(
        x64, x64.astype(np.float32), n, dim, w, firsts, np.ascontiguousarray(numbers[:, 1:]), trials, k,
        starts, passes, tol, relax, _BOUND_MARGIN, engine_threads(), centers, distances, m, dense,
    )  # fmt: skip
    # einsum, not BLAS: a threaded BLAS may sum in an order that depends on its thread count,
    # and a last-bit difference here could pick another start (other bytes).
    if starts == 1:
        return np.asarray(centers[0], dtype=np.float64)
    inertias = [float(np.einsum("i,i->", weights, distances[s])) for s in range(starts)]
    return np.asarray(centers[int(np.argmin(inertias))], dtype=np.float64)


def weighted_kmeans(
    points: NDArray[np.floating],
    weights: NDArray[np.floating] | None = None,
    *,
    k: int,
    seed: int,
    starts: int = 1,
    passes: int = 300,
    tol: float = 0.0,
) -> NDArray[np.float64]:
    """Weighted k-means of the rows of ``points``: the lowest-inertia of ``starts`` runs of
    greedy k-means++ seeding and up to ``passes`` Lloyd passes, stopping when no centre moves
    more than ``tol`` along any axis. ``k`` must not exceed the number of distinct points.

    The engine behind the quantize fit (:mod:`kmimg._engine`), for other callers (segment):
    deterministic for a seed, whatever the number of threads.
    """
    x = np.ascontiguousarray(points, dtype=np.float64)
    w = np.ones(len(x)) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    return _best_start(x, w, k=k, starts=max(1, starts), seed=seed, passes=passes, tol=tol)


def _reduce_to_cells(
    points: NDArray[np.float64], weights: NDArray[np.float64], *, k: int, grid: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Replace the points by the weighted centroids of the occupied cells of a regular grid.

    A cell is ``1/grid`` of each axis's range (4 levels of an 8-bit channel for 64), so a cell's
    points are within a few levels of its centroid: k-means on the centroids has nearly the same optimum
    and the exact Lloyd passes over all colours that follow remove the difference.
    """
    f = np.ascontiguousarray(points, dtype=np.float64)
    if not len(f):
        return points, weights
    inverse = np.empty(len(f), dtype=np.intp)
    # The cells and their order as np.unique of the cell keys gives them (see _engine.grid_cells).
    count = _engine.grid_cells(f, len(f), f.shape[1], grid, inverse)
    if count <= k:
        return points, weights
    mass, sums = _cluster_sums(f, weights, inverse, count)
    return sums / mass[:, None], mass


def _sample(
    features: NDArray[np.float64],
    weights: NDArray[np.int64],
    *,
    sample: int,
    seed: int,
    k: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Draw ``sample`` pixels (with replacement, every pixel equally likely: a multinomial sample,
    :func:`kmimg._engine.multinomial`) from the histogram, as a smaller histogram."""
    total = int(weights.sum())
    if sample <= 0 or total <= sample:
        return features, weights.astype(np.float64)
    drawn = np.empty(len(weights), dtype=np.int64)
    counts = np.ascontiguousarray(weights, dtype=np.int64)
    _engine.multinomial(counts, len(counts), sample, seed, _SAMPLING, drawn)
    keep = np.flatnonzero(drawn)
    if len(keep) <= k:
        return features, weights.astype(np.float64)
    return features[keep], drawn[keep].astype(np.float64)


def _lloyd_passes(
    features: NDArray[np.float64],
    weights: NDArray[np.generic],
    centers: NDArray[np.float64],
    passes: int,
    *,
    tol: float = 0.0,
    relax: float = 1.0,
    fixed: int = 0,
) -> NDArray[np.float64]:
    """Weighted Lloyd iterations; stops early when no centre moves more than ``tol``. The first
    ``fixed`` centres take part in every assignment but never move (and are never empty).

    ``relax`` > 1 over-relaxes all but the last three passes: a centre moves ``relax`` times
    the way from where it is to its cluster's mean (1 < relax <= 2). Plain Lloyd creeps on the
    dense colour sets of photos (at k = 256 the inertia still falls by ~0.01 % a pass after 40
    passes); with ``relax = 2`` 15 passes get further than 40 plain ones. The last passes are
    plain, so the result is a Lloyd fixed point's neighbourhood, not a relaxed overshoot.

    An empty cluster is moved onto the point that costs most (weight x squared distance), so
    that no palette entry is wasted.

    Hamerly's bounds (2010) spare most of the nearest-centre search after the first pass: a point
    keeps an upper bound on the distance to its centre and a lower bound on the distance to any
    other, widened by how far the centres moved; only points whose bounds overlap (within
    :data:`_BOUND_MARGIN`, far above float32 rounding) are searched again. Skipped points would
    have kept their centre in a full search, so the centres are exactly those of plain Lloyd.
    The passes run in :func:`kmimg._engine.lloyd`.
    """
    out = np.array(centers, dtype=np.float64, order="C")
    f64 = np.ascontiguousarray(features, dtype=np.float64)
    n = len(f64)
    if passes < 1 or not n or not len(out):
        return out
    _run_lloyd(f64, weights, out, passes, tol, relax, fixed)
    return out


def _lloyd_bounded(
    features: NDArray[np.float64],
    weights: NDArray[np.generic],
    centers: NDArray[np.float64],
    passes: int,
    *,
    tol: float = 0.0,
    relax: float = 1.0,
    fixed: int = 0,
) -> tuple[NDArray[np.float64], _Assignment]:
    """:func:`_lloyd_passes`, also returning each point's centre of the last pass with its
    Hamerly bounds and how far the centres moved after it (for :func:`_settle`)."""
    out = np.array(centers, dtype=np.float64, order="C")
    f64 = np.ascontiguousarray(features, dtype=np.float64)
    n = len(f64)
    if passes < 1 or not n:
        return out, _assign(f64, out)
    labels = np.empty(n, dtype=np.intp)
    up, low, moved = np.empty(n), np.empty(n), np.empty(len(out))
    _run_lloyd(f64, weights, out, passes, tol, relax, fixed, (labels, up, low, moved))
    return out, _Assignment(labels, up, low, moved)


def _run_lloyd(
    f64: NDArray[np.float64],
    weights: NDArray[np.generic],
    out: NDArray[np.float64],
    passes: int,
    tol: float,
    relax: float,
    fixed: int,
    last: tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]
    | None = None,
) -> None:
    """One call of :func:`kmimg._engine.lloyd` on ``out`` (moved in place); ``last``: arrays
    for each point's centre of the last pass, its bounds, and the centres' moves after it."""
    n, dim = f64.shape
    w = np.ascontiguousarray(weights, dtype=np.float64)
    labels, up, low, moved = last if last is not None else (None, None, None, None)
    _engine.lloyd(
        f64, f64.astype(np.float32), n, dim, w, out, len(out), passes, tol, relax, _BOUND_MARGIN,
        engine_threads(), labels, up, low, moved, fixed,
    )  # fmt: skip


#: Bounds closer than this (in feature units) are searched again rather than trusted.
_BOUND_MARGIN = 1e-3


def _cluster_sums(
    features: NDArray[np.float64], weights: NDArray[np.float64], labels: NDArray[np.intp], k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Total weight ``(k,)`` and weighted feature sums ``(k, d)`` of each cluster (added in point
    order, as ``np.bincount`` would)."""
    f = np.ascontiguousarray(features, dtype=np.float64)
    mass = np.empty(k)
    sums = np.empty((k, f.shape[1]))
    _engine.cluster_sums(
        f, len(f), f.shape[1], np.ascontiguousarray(weights, dtype=np.float64),
        np.ascontiguousarray(labels, dtype=np.intp), k, mass, sums,
    )  # fmt: skip
    return mass, sums


def nearest_center(features: NDArray[np.float64], centers: NDArray[np.float64]) -> NDArray[np.intp]:
    """Index of the nearest centre (squared Euclidean) for each row, ties to the lowest index."""
    return _nearest_with_distance(features, centers)[0]


def _nearest_with_distance(
    features: NDArray[np.generic], centers: NDArray[np.generic]
) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """Nearest centre of each row and its squared distance (float32)."""
    labels, best, _ = _nearest_two(features, centers, second=False)
    return labels, best


def _nearest_two(
    features: NDArray[np.generic], centers: NDArray[np.generic], *, second: bool = True
) -> tuple[NDArray[np.intp], NDArray[np.float32], NDArray[np.float32]]:
    """Nearest centre of each row, its squared distance, and (with ``second``) the squared
    distance to the nearest other centre (``inf`` when there is none or ``second`` is off).

    Squared differences of float32 features, summed in float32 (:mod:`kmimg._engine`): those of
    8-bit values sum exactly, so integer colours never tie by rounding.
    """
    x = np.ascontiguousarray(features, dtype=np.float32)
    c = np.ascontiguousarray(centers, dtype=np.float32)
    n = len(x)
    labels = np.zeros(n, dtype=np.intp)
    best = np.full(n, np.inf, dtype=np.float32)
    runner_up = np.full(n, np.inf, dtype=np.float32)
    if not len(c) or not n:
        return labels, best, runner_up
    dim = x.shape[1]
    out_second = runner_up if second else None

    starts = pieces(n, smallest=_MIN_PIECE, largest=_CHUNK)

    def search(start: int) -> None:
        _engine.nearest(x, n, c, len(c), dim, labels, best, out_second, start, min(start + starts.step, n))

    # Pieces write disjoint slices, so threads cannot change the result.
    ordered_map(search, starts)
    return labels, best, runner_up


def _unique_rows(colors: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``np.unique(colors, axis=0)`` for uint8 rows of 3 or 4: the distinct rows in lexicographic
    order, through one packed key a row (``np.unique`` on rows imports ``numpy.ma``, ~8 ms of a
    run's start-up), unpacked through the keys' big-endian bytes (a fit calls this a few times a
    palette: on a small icon its numpy calls are most of the cost)."""
    channels = colors.shape[1]
    ordered = np.sort(_row_keys(colors))  # the first column most significant
    if len(ordered) > 1:
        fresh = np.empty(len(ordered), dtype=np.bool_)
        fresh[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=fresh[1:])
        ordered = ordered[fresh]
    rows = ordered.astype(">u4").view(np.uint8).reshape(-1, 4)
    return np.ascontiguousarray(rows[:, 4 - channels :])


def _finish(
    palette: NDArray[np.uint8], labels: NDArray[np.intp], counts: NDArray[np.int64], kept: int = 0
) -> FittedPalette:
    """Drop unused entries, except the first ``kept`` (kept colours stay, used or not), and order
    the palette by descending pixel count (ties by colour)."""
    used = np.flatnonzero((counts > 0) | (np.arange(len(palette)) < kept))
    order = used[np.lexsort((np.arange(len(used)), -counts[used]))]
    remap = np.full(len(palette), -1, dtype=np.intp)
    remap[order] = np.arange(len(order))
    return FittedPalette(colors=palette[order], labels=remap[labels], counts=counts[order])


# Fixed colours and mapping onto a given palette ------------------------------------------------


def palette_features(
    colors: NDArray[np.uint8], space: ColorSpace, *, luma_extra: float = 0.0
) -> NDArray[np.float64]:
    """The fit's features of 8-bit colours: ``space``, with the luma stretch when
    ``luma_extra`` (see :meth:`FitSchedule.luma_weight`)."""
    features = to_features(colors, space)
    return _stretch_luma(features, luma_extra) if luma_extra else features


def nearest_colors(
    colors: NDArray[np.uint8],
    palette: NDArray[np.uint8],
    *,
    space: ColorSpace = ColorSpace.RGB,
    luma_extra: float = 0.0,
) -> NDArray[np.intp]:
    """The nearest entry of ``palette`` for each colour (rows of the same width) by the plain
    distance of ``space`` (the alpha-aware one for RGBA rows), plus ``luma_extra`` times the
    squared luma difference when asked, whatever the palette's size; ties go to the lowest
    index. The one rule for mapping onto a given palette."""
    return nearest_center(
        palette_features(colors, space, luma_extra=luma_extra),
        palette_features(palette, space, luma_extra=luma_extra),
    )


def _as_width(colors: NDArray[np.uint8], channels: int) -> NDArray[np.uint8]:
    """RGB rows as RGBA (opaque) or RGBA rows as RGB, to match a table of ``channels``."""
    if colors.shape[1] == channels:
        return np.ascontiguousarray(colors, dtype=np.uint8)
    if channels == 3:
        return np.ascontiguousarray(colors[:, :3], dtype=np.uint8)
    return np.column_stack([colors, np.full(len(colors), 255, dtype=np.uint8)])


def rows_in(colors: NDArray[np.uint8], rows: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Which rows of ``colors`` are among ``rows`` (both uint8, the same width)."""
    keys, wanted = pack_colors(colors), pack_colors(rows)
    if len(wanted) > 8:
        return np.isin(keys, wanted)
    found = np.zeros(len(keys), dtype=np.bool_)  # a few rows (the transparent entry, --keep)
    for key in wanted:
        found |= keys == key
    return found
