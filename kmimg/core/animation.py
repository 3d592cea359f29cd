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

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.core.quantize import (
    PSNR_ONLY,
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
    quality, per_frame = (
        measure_frames(rgb, frame_alpha, plain.palette, indices, measure) if measure else (None, ())
    )
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
    measure: Measure = True,
) -> tuple[Quality, tuple[float, ...]]:
    """Each frame's PSNR (as :func:`kmimg.core.quantize.quantize` measures an image), and the
    means over frames of PSNR, SSIM and ΔE2000 (NaN with ``measure=PSNR_ONLY``: a terminal's
    table shows the PSNR alone)."""
    from kmimg import metrics
    from kmimg.dither import color_errors

    every = measure != PSNR_ONLY
    psnrs, ssims, deltas = [], [], []
    for number in range(len(rgb)):
        frame_alpha = None if alpha is None else alpha[number]
        visible = None if frame_alpha is None else (frame_alpha > 0).reshape(-1)
        translucent = frame_alpha is not None and bool(((frame_alpha > 0) & (frame_alpha < 255)).any())
        mse, delta_e = color_errors(
            rgb[number], frame_alpha if translucent else None, visible, palette, indices[number], delta=every
        )
        psnrs.append(metrics.psnr_from_mse(mse))
        ssims.append(metrics.ssim_indexed(rgb[number], indices[number], palette) if every else math.nan)
        deltas.append(delta_e)
    quality = Quality(float(np.mean(psnrs)), float(np.mean(ssims)), float(np.mean(deltas)))
    return quality, tuple(float(value) for value in psnrs)


@frozen
class FramePalettes:
    """Frames on palettes of their own (``--frame-palettes``): frame ``i`` draws the pixels
    ``drawn[i]`` with ``indices[i]`` into ``palettes[i]`` ``(m, 4)`` RGBA, which is ``shared`` (one
    palette fitted across all frames: the GIF's global table) unless ``own[i]`` (a table of the
    frame's own); every other pixel keeps what the frame before showed. ``palette`` and
    ``counts``: every colour shown and its pixels over all frames (for the record); ``quality`` as
    :class:`QuantizedFrames`'s, measured on the frames as shown."""

    indices: NDArray[np.uint8]
    drawn: NDArray[np.bool_]
    palettes: tuple[NDArray[np.uint8], ...]
    own: tuple[bool, ...]
    shared: NDArray[np.uint8]
    #: Per frame: the rectangle (top, bottom, left, right) the frame before clears to
    #: transparent after it is shown (pixels turn transparent), or ``None``.
    cleared: tuple[tuple[int, int, int, int] | None, ...]
    palette: NDArray[np.uint8]
    counts: NDArray[np.int64]
    quality: Quality | None
    frame_psnr: tuple[float, ...] = ()
    #: The squared error of the frames as shown (RGB, over the visible pixels).
    error: float = 0.0
    #: The squared error a byte is worth: the median of the prices the frames were chosen at.
    price: float = 0.0
    #: The frames on ``shared`` alone (:func:`quantize_frames`, unmeasured: :func:`measured_one`),
    #: their squared error, and the alpha the frames were mapped with (binary where asked).
    one: QuantizedFrames | None = None
    one_error: float = 0.0
    alpha: NDArray[np.uint8] | None = None
    #: Per frame: shown exactly because its colours fit a table of its own (:func:`_exact`).
    exact: tuple[bool, ...] = ()
    #: Whether ``one`` shows one of the ``exact`` frames with an error (it is then never kept).
    one_inexact: bool = False
    #: Per frame: drawn on the canvas the frame before was drawn on, which that frame's disposal
    #: "restore to previous" brings back (:func:`_restored_canvas`), not on the canvas it left.
    restored: tuple[bool, ...] = ()
    #: The frames as a viewer shows them (``(n, h, w, 4)`` RGBA: alpha 0 where transparent), the
    #: canvases composited by the frames' disposals; ``None`` when not kept.
    shown: NDArray[np.uint8] | None = None

    @property
    def frame_count(self) -> int:
        return int(self.indices.shape[0])

    def costs_less(self, size: int, other: FramePalettes, other_size: int) -> bool:
        """Whether these frames coded in ``size`` bytes cost less than ``other`` coded in
        ``other_size`` in squared error plus bytes at this price, or as much with fewer bytes."""
        return (self.error + self.price * size, size) < (other.error + self.price * other_size, other_size)

    def one_palette_may_pay(self, size: int) -> bool:
        """Whether :meth:`one_palette_cheaper` can hold for these frames coded in ``size`` bytes,
        whatever the bytes of ``one``: not when ``one`` would show an exact frame with an error,
        nor when its squared error alone costs more than these frames do (a byte's price is never
        negative), so that the caller need not write the one-palette file."""
        if self.one is None or self.one_inexact:
            return False
        return self.price < 0 or self.one_error <= self.error + self.price * size

    def one_palette_cheaper(self, size: int, one_size: int) -> bool:
        """Whether ``one`` coded in ``one_size`` bytes costs less than these frames coded in
        ``size`` in squared error plus bytes at ``price``, or as much with fewer bytes (lossless
        frames: a price of 0): ``--frame-palettes`` is then never worse than one palette by its own
        measure. Never when ``one`` would show a frame with an error that these frames show exactly
        (:attr:`one_inexact`): a frame whose colours fit its table comes out as it is."""
        if self.one is None or self.one_inexact:
            return False
        ours, theirs = self.error + self.price * size, self.one_error + self.price * one_size
        return (theirs, one_size) < (ours, size)


def measured_one(frames: FramePalettes, rgb: NDArray[np.uint8], measure: Measure = True) -> QuantizedFrames:
    """``frames.one`` (not ``None``), measured as :func:`quantize_frames` measures when
    ``measure``."""
    one = frames.one
    assert one is not None  # the callers check
    if not measure:
        return one
    quality, per_frame = measure_frames(rgb, frames.alpha, one.palette, one.indices, measure)
    return replace(one, quality=quality, frame_psnr=per_frame)


def squared_error(rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None, shown: NDArray[np.uint8]) -> float:
    """The squared RGB error of frames ``shown`` ``(n, h, w, >= 3)`` over the visible pixels."""
    total = 0
    for number in range(len(rgb)):
        total += _frame_error(rgb[number], None if alpha is None else alpha[number] > 0, shown[number])
    return float(total)


def _frame_error(frame: NDArray[np.uint8], seen: NDArray[np.bool_] | None, shown: NDArray[np.uint8]) -> int:
    """The squared RGB error of the ``seen`` pixels (``None``: all) of ``frame`` as ``shown``."""
    planes = tuple(frame[..., channel].astype(np.int64) for channel in range(3))
    squared = _squared(planes, tuple(shown[..., channel] for channel in range(3)))
    return int(squared.sum() if seen is None else squared[seen].sum())


def _differs(one: NDArray[np.uint8], other: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Per pixel of two ``(h, w, 3)`` (or RGBA) pictures: whether their R, G, B differ (a
    channel at a time: ``(one != other).any(axis=2)`` is ~8x slower)."""
    found: NDArray[np.bool_] = one[..., 0] != other[..., 0]
    for channel in (1, 2):
        found |= one[..., channel] != other[..., channel]
    return found


#: The most colours a frame's palette may hold: a GIF colour table's 256, less the entry drawn
#: as "keep" (transparent) on the pixels a frame leaves as they were.
FRAME_PALETTE_MAX = 255


def with_keep(k: int) -> int:
    """The most colours of a frame's own palette at ``k``: ``k``, or ``k - 1`` when ``k`` (4 or
    more) is a power of two, so that the "keep" entry fits the colour table that holds ``k``
    (a table of 2^bits entries; one more would double it and code every index with a bit more)."""
    return min(k - 1 if k >= 4 and not k & (k - 1) else k, FRAME_PALETTE_MAX)


#: How a frame may leave changed pixels as the canvas shows them, tried in turn: a pixel is left
#: when the canvas shows it within the larger of its error on the frame's palette and
#: ``tolerance`` x the frame's mean error, in runs of at least ``run`` such pixels along a row
#: (shorter runs are drawn: scattered "keep" pixels compress badly).
LEFT_AS_THEY_WERE = ((0.0, 1), (1.0, 1), (2.0, 1), (2.0, 16), (4.0, 1), (4.0, 16))

#: Bytes of a frame's pixels (its rectangle, ``(h, w)`` indices) coded at a table of ``bits``.
FrameBytes = Callable[[NDArray[np.uint8], int], int]


@frozen
class _Choice:
    """One way to draw a frame: on ``palette``, the pixels ``drawn`` with ``indices``."""

    palette: NDArray[np.uint8]
    own: bool
    drawn: NDArray[np.bool_]
    indices: NDArray[np.uint8]


@frozen
class _Drawn(_Choice):
    """A choice drawn (:func:`_drawn`): its squared error and its bytes."""

    error: float
    size: int


def quantize_frame_palettes(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    options: QuantizeOptions,
    *,
    frame_bytes: FrameBytes,
    measure: Measure = True,
    lossy: bool = True,
    restore: bool = True,
) -> FramePalettes:
    """Frames ``rgb`` ``(n, h, w, 3)`` with ``alpha``, each drawn either on the palette of up to
    ``options.k`` colours fitted across all frames (:func:`quantize_frames`) or on a palette of
    up to ``options.k`` of its own, fitted by k-means on the pixels the frame changes: whichever
    costs less in squared error plus bytes (``frame_bytes``), the bytes priced at the rate at which
    more colours buy a smaller error: :func:`byte_price`'s, scaled by the median over the frames
    so far of the rate measured on each frame, what its palette of ``options.k`` colours saves
    against one of :data:`MEASURED_FRACTION` as many for the bytes it adds
    (:func:`measured_rate`).

    A frame draws the pixels whose colour (or alpha) differs from the frame before and that its
    palette shows closer than the canvas already does; the others keep what the viewer showed:
    static areas keep their colour exactly (coded as "keep", or inside the frame's rectangle as
    the entry that shows the canvas's colour where that is fewer bytes: :func:`_as_shown`). The
    result records the frames on the shared palette alone and both squared errors, so that the
    writer can keep that one-palette file where it costs less
    (:meth:`FramePalettes.one_palette_cheaper`). When pixels turn transparent, the rectangle of the
    frame before and of those pixels is cleared and the frame redraws what is visible in it.
    A frame after the second whose pixels differing from the canvas the frame before was drawn on
    (which that frame's disposal "restore to previous" brings back) have a smaller box is also
    drawn on that canvas, every way above, its pixels chosen against it, and drawn so
    (``restored``) where that has no more error and no more bytes, and less of one
    (:func:`_restored_canvas`, :meth:`_Way.better_than`); the frames' measured rates and prices
    are those on the canvas the frame before left. ``restore=False`` draws every frame on the
    canvas the frame before left (the writer may still restore on its own: a frame the core
    restores leaves it fewer frames to do that with, so the caller may compare both files,
    :meth:`FramePalettes.costs_less`). Dithering diffuses each frame's error within the frame.

    ``lossy``: the way chosen is then LZW-coded by the GIF writer's lossy coder
    (:func:`kmimg.io.gif.gif_frame_lossy`), which shows another colour (or the canvas's) where
    that lets an LZW string grow for at most a code's bits of error at :func:`byte_price`'s
    price, the assumed one, not the measured one (at the measured one it took 1.3-1.9 dB from
    noisy photos), of the error of the way the frame takes, relative to the frames before it
    (:func:`_lossy_price`: a hard cut is not priced at the shared palette's error); the frame is
    drawn as coded. Deterministic."""
    drawing = _drawing(rgb, alpha, options, frame_bytes, lossy, restore)
    return _frame_palettes(drawing, measure, unrestored=False)[0]


def frame_palettes_unrestored(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    options: QuantizeOptions,
    *,
    frame_bytes: FrameBytes,
    measure: Measure = True,
    lossy: bool = True,
) -> tuple[FramePalettes, FramePalettes | None]:
    """:func:`quantize_frame_palettes`'s frames, and when a frame is drawn on a restored canvas,
    the frames ``restore=False`` gives (else ``None``), made in one go: every frame before the
    first one restored is the same in both, and that frame's way on the canvas the frame before
    left is already drawn, so only the frames after it are drawn again."""
    drawing = _drawing(rgb, alpha, options, frame_bytes, lossy, True)
    return _frame_palettes(drawing, measure, unrestored=True)


def _drawing(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    options: QuantizeOptions,
    frame_bytes: FrameBytes,
    lossy: bool,
    restore: bool,
) -> _Drawing:
    """What every frame is drawn with: the frames on the shared palette (the palette of
    ``options.k``, at most 255, fitted across all frames) and the frames' alpha as mapped."""
    if rgb.ndim != 4 or rgb.shape[3] != 3:
        raise ValueError("rgb must be an (n, h, w, 3) uint8 array")
    limited = replace(options, k=min(options.k, FRAME_PALETTE_MAX))
    one = quantize_frames(rgb, alpha, limited, measure=False)
    count, height, width = rgb.shape[:3]
    tall_alpha = None if alpha is None else alpha.reshape(count * height, width)
    analysis = mapped_alpha(analyze(rgb.reshape(count * height, width, 3), tall_alpha), options, None)
    frame_alpha = None if analysis.alpha is None else analysis.alpha.reshape(count, height, width)
    return _Drawing(rgb, frame_alpha, options, one, frame_bytes, lossy, restore)


def _frame_palettes(
    drawing: _Drawing, measure: Measure, unrestored: bool
) -> tuple[FramePalettes, FramePalettes | None]:
    """Every frame drawn in turn (:meth:`_Drawing.frame`), and, when ``unrestored`` and a frame
    is drawn on a restored canvas, the frames drawn from there on without restoring (see
    :func:`frame_palettes_unrestored`), else ``None``."""
    count = len(drawing.rgb)
    progress = _Progress(drawing.rgb.shape[:3])
    fork: _Progress | None = None
    forked = count  # the first frame the fork draws on its own
    for number in range(count):
        step = drawing.frame(number, progress)
        if unrestored and fork is None and step.restoring is not None:
            fork = progress.copy()
            fork.add(number, step, restored=False)
            forked = number + 1
        progress.add(number, step, restored=step.restoring is not None)
    if fork is not None:
        plain = replace(drawing, restore=False)
        for number in range(forked, count):
            fork.add(number, plain.frame(number, fork), restored=False)
    rgb, alpha, one = drawing.rgb, drawing.alpha, drawing.one
    one_shown = _colors_of(one.palette, one.indices)
    on_one = (one_shown, squared_error(rgb, alpha, one_shown))
    return (
        progress.result(drawing, on_one, measure),
        None if fork is None else fork.result(drawing, on_one, measure),
    )


class _Progress:
    """The frames drawn so far: per frame, its indices, the pixels it draws, the frame as shown
    (:class:`FramePalettes`' fields), its table and whether it is its own, the rectangle cleared
    before it, whether it is exact and whether drawn on a restored canvas; the rates, prices and
    lossy ratios measured; and ``under``, the canvas the last frame was drawn on."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.indices = np.zeros(shape, dtype=np.uint8)
        self.drawn = np.zeros(shape, dtype=bool)
        self.shown = np.zeros((*shape, 4), dtype=np.uint8)
        self.palettes: list[NDArray[np.uint8]] = []
        self.own: list[bool] = []
        self.cleared: list[tuple[int, int, int, int] | None] = []
        self.exact: list[bool] = []
        self.restored: list[bool] = []
        self.rates: list[float] = []
        self.prices: list[float] = []
        self.ratios: list[float] = []  # per frame, the price of its error over that on the shared palette
        self.under: _Canvas | None = None

    def copy(self) -> _Progress:
        """A copy to go on from (arrays and lists copied)."""
        other = _Progress(self.indices.shape)
        for name, value in vars(self).items():
            setattr(other, name, value.copy() if isinstance(value, np.ndarray | list) else value)
        return other

    def add(self, number: int, step: _Step, restored: bool) -> None:
        """Frame ``number`` drawn as ``step`` says: on the restored canvas (``restored``, its way
        ``step.restoring``) or on the canvas the frame before left."""
        taken = step.restoring if restored and step.restoring is not None else step.way
        if not restored:
            self.under = step.canvas
        assert self.under is not None  # a restored frame has a canvas before the one before
        self.cleared.append(None if restored else step.box)
        self.restored.append(restored)
        self.exact.append(taken.exact)
        # The rates and prices measured on the canvas the frame before left, whichever way is
        # taken: the later frames' prices do not move with the canvas (when they did, ui-scroll
        # at K = 64 saved 0.5 % of its bytes for 0.15 dB).
        self.rates += step.way.rates
        self.prices += step.way.prices
        self.ratios += step.way.ratios
        found = taken.found
        self.drawn[number], self.shown[number] = found.drawn, self.under.base
        self.indices[number][found.drawn] = found.indices
        self.shown[number][found.drawn] = _colors_of(found.palette, found.indices)
        self.palettes.append(found.palette)
        self.own.append(found.own)

    def result(
        self, drawing: _Drawing, on_one: tuple[NDArray[np.uint8], float], measure: Measure
    ) -> FramePalettes:
        """The frames drawn, measured when ``measure``; ``on_one``: the frames on the shared
        palette alone as shown, and their squared error."""
        rgb, alpha, one, shown = drawing.rgb, drawing.alpha, drawing.one, self.shown
        colors, counts = _colors_shown(shown)
        quality, per_frame = measure_shown(rgb, alpha, shown, measure) if measure else (None, ())
        error = squared_error(rgb, alpha, shown)
        one_shown, one_error = on_one
        one_inexact = _inexact_on(rgb, alpha, one_shown, self.exact)
        price = float(np.median(self.prices)) if self.prices else 0.0  # every frame exact: bytes alone count
        return FramePalettes(
            self.indices, self.drawn, tuple(self.palettes), tuple(self.own), one.palette,
            tuple(self.cleared), colors, counts, quality, per_frame, error, price, one, one_error,
            alpha, tuple(self.exact), one_inexact, tuple(self.restored), shown,
        )  # fmt: skip


@frozen
class _Canvas:
    """A canvas a frame is drawn on (``base``, ``(h, w, 4)`` RGBA as shown) and the input picture
    it stands for (``source``: RGB, and alpha or ``None``; transparent in a cleared rectangle): a
    pixel of a frame equal to the source's keeps what the canvas shows."""

    base: NDArray[np.uint8]
    source: tuple[NDArray[np.uint8], NDArray[np.uint8] | None]


def _source_before(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    number: int,
    box: tuple[int, int, int, int] | None,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    """The picture the canvas before frame ``number`` stands for (:func:`_canvas_before`'s): the
    frame before, transparent in the rectangle ``box`` its disposal clears (the first frame:
    nothing, transparent)."""
    if not number:
        empty = np.zeros(rgb.shape[1:3], dtype=np.uint8)
        return np.zeros_like(rgb[0]), None if alpha is None else empty
    if alpha is None or box is None:
        return rgb[number - 1], None if alpha is None else alpha[number - 1]
    top, bottom, left, right = box
    cleared = alpha[number - 1].copy()
    cleared[top:bottom, left:right] = 0
    return rgb[number - 1], cleared


def _restored_canvas(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    number: int,
    under: _Canvas | None,
    changed: NDArray[np.bool_],
) -> NDArray[np.bool_] | None:
    """The pixels frame ``number`` would draw on ``under``, the canvas the frame before was drawn
    on (which that frame's disposal "restore to previous" brings back): those that differ from the
    picture it stands for; ``None`` when a pixel would have to turn transparent there (a frame
    cannot clear a pixel it does not dispose of), or when their box is not smaller than that of
    the ``changed`` pixels it draws on the canvas the frame before left: only a frame that comes
    back to an earlier picture is tried (a flash gone again, a pulse shrinking back); on a pan or
    noisy video every pixel changes against either canvas, and one chosen by a few pixels' noise
    made files larger and worse."""
    if under is None:
        return None
    source_rgb, source_alpha = under.source
    if alpha is not None and bool(((alpha[number] == 0) & (under.base[..., 3] > 0)).any()):
        return None
    differs = _differs(rgb[number], source_rgb)
    if alpha is not None and source_alpha is not None:
        differs |= alpha[number] != source_alpha
    return differs if _area(differs) < _area(changed) else None


def _area(mask: NDArray[np.bool_]) -> int:
    """The pixels of the box of the true pixels of ``mask`` (0 when there are none)."""
    if not bool(mask.any()):
        return 0
    top, bottom, left, right = _box(mask)
    return (bottom - top) * (right - left)


@frozen
class _Way:
    """How a frame is drawn on one canvas (:meth:`_Drawing.way`): ``found``, whether it is exact,
    and what it adds to the frames' measured ``rates``, byte ``prices`` and lossy ``ratios``."""

    found: _Drawn
    exact: bool
    rates: list[float]
    prices: list[float]
    ratios: list[float]

    def better_than(self, other: _Way) -> bool:
        """Whether this way is no worse than ``other`` in squared error and in bytes, and better
        in one of them (not traded at a byte price: on noisy video that took 0.04 dB for 0.6 %
        of the bytes, and made one file larger)."""
        mine, theirs = self.found, other.found
        return mine.error <= theirs.error and mine.size <= theirs.size and (mine.error, mine.size) != (
            theirs.error, theirs.size,
        )  # fmt: skip


@frozen
class _Step:
    """A frame drawn (:meth:`_Drawing.frame`): ``way`` on the canvas the frame before left
    (``canvas``, with ``box`` the rectangle the frame before clears, or ``None``), and
    ``restoring``, the way on the canvas the frame before was drawn on where that is better, else
    ``None``."""

    way: _Way
    canvas: _Canvas
    box: tuple[int, int, int, int] | None
    restoring: _Way | None


@frozen
class _Drawing:
    """What :func:`quantize_frame_palettes` draws every frame with (the frames, their alpha as
    mapped, the options, the frames on the shared palette, the byte measure, lossy or not)."""

    rgb: NDArray[np.uint8]
    alpha: NDArray[np.uint8] | None
    options: QuantizeOptions
    one: QuantizedFrames
    frame_bytes: FrameBytes
    lossy: bool
    restore: bool = True

    def frame(self, number: int, progress: _Progress) -> _Step:
        """Frame ``number`` drawn on the canvas the frame before left (the frames shown and drawn
        so far: :func:`_canvas_before`) and, where that is tried (:func:`_restored_canvas`) and
        better (:meth:`_Way.better_than`), on ``progress.under``, the canvas the frame before was
        drawn on, at the rates and lossy ratios measured so far."""
        rgb, alpha, under = self.rgb, self.alpha, progress.under
        history = (progress.rates, progress.ratios)
        base, changed, box = _canvas_before(rgb, alpha, progress.shown, progress.drawn, number)
        way = self.way(number, base, changed, history)
        canvas = _Canvas(base, _source_before(rgb, alpha, number, box))
        other = _restored_canvas(rgb, alpha, number, under, changed) if number > 1 and self.restore else None
        if other is not None and under is not None:
            restoring = self.way(number, under.base, other, history)
            if restoring.better_than(way):
                return _Step(way, canvas, box, restoring)
        return _Step(way, canvas, box, None)

    def way(
        self,
        number: int,
        base: NDArray[np.uint8],
        changed: NDArray[np.bool_],
        history: tuple[list[float], list[float]],
    ) -> _Way:
        """Frame ``number`` drawn on the canvas ``base``, drawing among the ``changed`` pixels:
        exactly when its colours fit a table (:func:`_exact`; never with ``--posterize``), else
        the cheapest way (:func:`_cheapest`) at the measured ``history`` (rates, lossy ratios) of
        the frames before, lossy-coded (:func:`_lossy_relative`)."""
        options, rgb, alpha = self.options, self.rgb, self.alpha
        rates, ratios = history
        limited = replace(options, k=min(options.k, FRAME_PALETTE_MAX))
        keeping = replace(options, k=with_keep(options.k))
        limit = with_keep(options.k) if number else min(options.k, FRAME_PALETTE_MAX)
        frame_alpha = None if alpha is None else alpha[number]
        # a frame shown exactly would keep colours --posterize must change
        found = None if options.posterize else _exact(
            rgb[number], frame_alpha, base, changed, self.one.palette, (limit, not number), self.frame_bytes
        )  # fmt: skip
        if found is not None:
            return _Way(found, True, [], [], [])
        pixels = changed_analysis(rgb, alpha, number, changed)  # the two fits' colour table
        local = fit_frame(rgb, alpha, number, changed, keeping if number else limited, pixels)
        fewer = _fewer_colors(rgb, alpha, number, changed, options, pixels)
        shared = _Choice(self.one.palette, False, changed, self.one.indices[number][changed])
        visible = np.ones(changed.shape, dtype=bool) if frame_alpha is None else frame_alpha > 0
        ways = (shared, local)
        chosen, assumed, rate = _cheapest(rgb[number], visible, ways, fewer, base, self.frame_bytes, rates)
        measured = [] if rate is None else [rate]
        price = _price(assumed, [*rates, *measured])
        following = list(ratios)
        found = _lossy_relative(chosen, rgb[number], visible, changed, base, (assumed, following), self.lossy)
        return _Way(found, False, measured, [price], following[len(ratios) :])


def _exact(
    frame: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    base: NDArray[np.uint8],
    changed: NDArray[np.bool_],
    shared: NDArray[np.uint8],
    limit: tuple[int, bool],
    frame_bytes: FrameBytes,
) -> _Drawn | None:
    """The frame ``frame`` ``(h, w, 3)`` shown exactly, when its visible colours fit a table of
    its own: at most ``limit[0]`` (:func:`with_keep`'s K, beside the "keep" entry; the first
    frame, ``limit[1]``: K with its transparent entry), as a still image of at most K colours
    comes out as it is; else ``None``. It draws every pixel whose colour or visibility the
    canvas ``base`` does not show (those ``changed`` since the frame before, and those an
    earlier frame showed with an error) either on ``shared`` (when it holds every colour drawn)
    or on a table of exactly those colours, whichever has fewer bytes (with the pixels it leaves
    coded as shown where that is fewer: :func:`_as_shown`). No lossy coding, no byte price:
    exactness is not traded."""
    visible = np.ones(frame.shape[:2], dtype=bool) if alpha is None else alpha > 0
    keys = _rgb_keys(frame)
    colours = np.unique(keys[visible])
    most, first = limit
    if len(colours) + (1 if first and not bool(visible.all()) else 0) > most:
        return None
    wrong = _differs(base, frame) | (base[..., 3] == 0)
    need = changed | (visible & wrong)
    hidden = need & ~visible
    used = np.unique(keys[need & visible])
    clear = int(bool(hidden.any()))  # the transparent entry first (as fitted palettes hold it)
    table = np.zeros((len(used) + clear, 4), dtype=np.uint8)
    table[clear:, 0], table[clear:, 1], table[clear:, 2] = used >> 16, (used >> 8) & 255, used & 255
    table[clear:, 3] = 255
    values = np.zeros(frame.shape[:2], dtype=np.int64)
    values[need & visible] = np.searchsorted(used, keys[need & visible]) + clear
    ways = [_Choice(table, True, need, values[need].astype(np.uint8))]
    on_shared = _shared_indices(shared, frame, need, visible)
    if on_shared is not None:
        ways.insert(0, _Choice(shared, False, need, on_shared))
    seen_error = _seen_error(frame, visible, base)
    pixels = _Pixels.of(frame, visible, need, base)
    drawn = [_drawn(_Errors.of(pixels, way), seen_error, frame_bytes, 0.0, 1) for way in ways]
    shown = [_as_shown(way, base, frame_bytes) for way in drawn]
    best = min(shown, key=lambda way: way.size)
    if best.error != 0:
        return None
    if first and bool(hidden.any()):  # the first frame's invisible pixels drawn transparent, as
        values[:] = 0  # "keep" codes them: the writer's box of its visible pixels sees them
        values[best.drawn] = best.indices
        values[hidden] = int(np.flatnonzero(best.palette[:, 3] == 0)[0])
        drawn_too = best.drawn | hidden
        best = replace(best, drawn=drawn_too, indices=values[drawn_too].astype(np.uint8))
    return best


def _rgb_keys(frame: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Each pixel's colour as one number, ``r << 16 | g << 8 | b``."""
    wide = frame.astype(np.int64)
    return np.asarray((wide[..., 0] << 16) | (wide[..., 1] << 8) | wide[..., 2], dtype=np.int64)


def _shared_indices(
    shared: NDArray[np.uint8], frame: NDArray[np.uint8], need: NDArray[np.bool_], visible: NDArray[np.bool_]
) -> NDArray[np.uint8] | None:
    """The entries of ``shared`` that show the ``need`` pixels of ``frame`` exactly (the
    transparent entry for invisible ones), or ``None`` when it lacks a colour."""
    opaque = np.flatnonzero(shared[:, 3] == 255)
    clear = np.flatnonzero(shared[:, 3] == 0)
    hidden = need & ~visible
    if bool(hidden.any()) and not len(clear):
        return None
    keys = _rgb_keys(shared[opaque, :3])
    order = np.argsort(keys, kind="stable")
    wanted = _rgb_keys(frame)[need & visible]
    if not len(keys):
        return None if len(wanted) else np.full(int(np.count_nonzero(need)), clear[0], dtype=np.uint8)
    at = np.minimum(np.searchsorted(keys[order], wanted), len(keys) - 1)
    if not bool((keys[order][at] == wanted).all()):
        return None
    values = np.zeros(frame.shape[:2], dtype=np.int64)
    values[need & visible] = opaque[order][at]
    if bool(hidden.any()):
        values[hidden] = clear[0]
    return values[need].astype(np.uint8)


def _inexact_on(
    rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None, shown: NDArray[np.uint8], exact: list[bool]
) -> bool:
    """Whether frames ``shown`` show one of the frames marked ``exact`` with an error."""
    return any(
        squared_error(rgb[[n]], None if alpha is None else alpha[[n]], shown[[n]]) > 0
        for n in range(len(rgb))
        if exact[n]
    )


def _colors_shown(shown: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Every RGBA colour shown over all frames and its pixels."""
    keys, counts = np.unique(shown.reshape(-1, 4).view(np.uint32).ravel(), return_counts=True)
    return keys.view(np.uint8).reshape(-1, 4), counts.astype(np.int64)


#: The colours, as a fraction of K, of the palette a frame's own palette of K is measured against
#: (:func:`measured_rate`): close to K, so that the rate is the slope at K rather than across a
#: halving, and in the same colour table (the same bits per LZW code) at K = 2^n.
MEASURED_FRACTION = 0.75


def _fewer_colors(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    number: int,
    changed: NDArray[np.bool_],
    options: QuantizeOptions,
    analysis: Analysis | None = None,
) -> _Choice | None:
    """Frame ``number``'s own palette of :data:`MEASURED_FRACTION` x ``options.k`` colours
    (:func:`fit_frame`, undithered, on ``analysis`` when given), to measure what the full one
    buys (:func:`measured_rate`); ``None`` below 4 colours, when that is not fewer than the
    frame's own palette holds (K = 4 after the first frame: 3 and 3) or when the frame changes
    no pixel."""
    if options.k < 4 or not bool(changed.any()):
        return None
    fewer = int(options.k * MEASURED_FRACTION)
    own = with_keep(options.k) if number else min(options.k, FRAME_PALETTE_MAX)
    fewer = with_keep(fewer) if number else fewer
    if fewer >= own:
        return None
    plain = replace(options, k=fewer, dither=0.0)
    return fit_frame(rgb, alpha, number, changed, plain, analysis)


def _cheapest(
    rgb: NDArray[np.uint8],
    visible: NDArray[np.bool_] | None,
    candidates: tuple[_Choice, _Choice],
    fewer: _Choice | None,
    base: NDArray[np.uint8],
    frame_bytes: FrameBytes,
    rates: list[float],
) -> tuple[_Drawn, float, float | None]:
    """The way to draw a frame of least squared error plus bytes, a byte priced at
    :func:`byte_price` (of the error on the shared palette) x the median of ``rates`` and of this
    frame's rate: on the shared palette (``candidates[0]``) or the frame's own
    (``candidates[1]``), with each of :data:`LEFT_AS_THEY_WERE`'s ways to leave pixels, the
    cheaper of each palette's ways also with the pixels it leaves coded as shown
    (:func:`_as_shown`); the
    assumed price, :func:`byte_price`'s (the lossy coder's); and this frame's rate
    (:func:`measured_rate` against the ``fewer`` colours, over the assumed price, or ``None``)."""
    seen = np.ones(rgb.shape[:2], dtype=bool) if visible is None else visible
    before = _seen_error(rgb, seen, base)
    pixels = _Pixels.of(rgb, seen, candidates[0].drawn, base)  # every candidate's changed pixels
    shared, local = (_Errors.of(pixels, choice) for choice in candidates)
    on_shared = _drawn(shared, before, frame_bytes, *LEFT_AS_THEY_WERE[0])
    choices = [on_shared, *_variants(local, before, frame_bytes)]
    assumed = byte_price(choices[0].error / max(1, int(np.count_nonzero(seen))))
    rate = None
    if fewer is not None and assumed > 0:
        smaller = _drawn(_Errors.of(pixels, fewer), before, frame_bytes, *LEFT_AS_THEY_WERE[0])
        measured = measured_rate(choices[1], smaller)
        rate = None if measured is None else measured / assumed
    price = _price(assumed, [*rates, *([] if rate is None else [rate])])

    def cost(choice: _Drawn) -> float:
        return choice.error + price * choice.size

    best = (choices[0], min(choices[1:], key=cost))  # on the shared palette, on the frame's own
    shown = [_as_shown(choice, base, frame_bytes) for choice in best]
    return min(shown, key=cost), assumed, rate


def _lossy_relative(
    chosen: _Drawn,
    rgb: NDArray[np.uint8],
    visible: NDArray[np.bool_],
    changed: NDArray[np.bool_],
    base: NDArray[np.uint8],
    priced: tuple[float, list[float]],
    lossy: bool,
) -> _Drawn:
    """:func:`_lossy` of ``chosen`` at :func:`_lossy_price`'s price (``chosen`` itself unless
    ``lossy``); ``priced``: ``assumed``, the price of the frame's error on the shared palette, and
    ``ratios``, to which this frame's ratio (the price of its error over ``assumed``) is added."""
    if not lossy:
        return chosen
    assumed, ratios = priced
    taken = byte_price(chosen.error / max(1, int(np.count_nonzero(visible))))
    price = _lossy_price(assumed, taken, ratios)
    ratios += [taken / assumed] if assumed > 0 else []
    return _lossy(chosen, rgb, visible & changed, base, price)


def _lossy_price(assumed: float, taken: float, ratios: list[float]) -> float:
    """The byte price of a frame's lossy coding (:func:`_lossy`): :func:`byte_price` of the error
    of the way the frame takes (``taken``), over the median of ``ratios`` (each earlier frame's
    ``taken`` over its ``assumed``, the price of its error on the shared palette; 1 without any),
    and never above ``assumed``: ``assumed`` x this frame's ratio over the usual one, at most 1.
    Where every frame gains alike from its own table (a pan or zoom over one photo) the price
    stays near ``assumed`` (pricing at ``taken`` alone made the Hubble pan 1.05x / 1.46x
    ImageMagick's bytes); a frame whose own table is far better than the shared palette, compared
    with the frames before it (a hard cut to another picture), is coded close to its table's
    error, where the shared-palette rule lost 2.2-6.5 dB on it. No frame is coded coarser than by
    the shared-palette rule (without the bound, a frame gaining less than the usual one was, and
    a panning photo lost 0.4 dB). A frame without a price (``assumed`` 0: exact on the shared
    palette) keeps 0."""
    if assumed <= 0:
        return assumed
    usual = float(np.median(ratios)) if ratios else 1.0
    return min(taken / usual, assumed) if usual > 0 else assumed


def _price(assumed: float, rates: list[float]) -> float:
    """A byte's price: ``assumed`` x the median of the measured ``rates`` (1 without any)."""
    return assumed * (float(np.median(rates)) if rates else 1.0)


def measured_rate(full: _Drawn, fewer: _Drawn) -> float | None:
    """The squared error a byte buys on a frame, measured: what its own palette of K colours
    (``full``, every changed pixel it shows closer drawn) saves against one of fewer colours
    (``fewer``, drawn the same way) over the bytes it adds (its data and its table), or ``None``
    when the larger palette is not both larger and better (nothing to measure)."""
    added, saved = full.size - fewer.size, fewer.error - full.error
    return saved / added if added > 0 and saved > 0 else None


#: Colour planes: R, G, B (and A) of some pixels, one array each (a plane at a time is several
#: times faster than an ``(n, 3)`` array's short rows in numpy).
Planes = tuple[NDArray[np.integer], ...]


def _squared(pixels: Planes, colors: Planes) -> NDArray[np.int64]:
    """Each pixel's squared RGB distance to its colour (``int64`` planes ``pixels``)."""
    red, green, blue = (plane - color for plane, color in zip(pixels[:3], colors[:3], strict=True))
    return np.asarray(red * red + green * green + blue * blue, dtype=np.int64)


def _planes_at(image: NDArray[np.uint8], at: NDArray[np.intp]) -> Planes:
    """The channels of ``image`` ``(h, w, c)`` at the flat positions ``at``, a plane each."""
    return tuple(image[..., channel].reshape(-1).take(at) for channel in range(image.shape[-1]))


def _colors_of(palette: NDArray[np.uint8], indices: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``palette[indices]`` for an ``(m, 4)`` RGBA palette, by its rows as 32-bit numbers (a
    row-wise fancy index of a 4-byte row is ~10x slower)."""
    rows = np.ascontiguousarray(palette, dtype=np.uint8).view(np.uint32).reshape(-1)
    return rows.take(indices).view(np.uint8).reshape(*indices.shape, 4)


def _seen_error(rgb: NDArray[np.uint8], seen: NDArray[np.bool_], base: NDArray[np.uint8]) -> float:
    """The squared RGB error of the ``seen`` pixels of frame ``rgb`` as the canvas ``base`` shows
    them."""
    return float(_frame_error(rgb, None if bool(seen.all()) else seen, base))


@frozen
class _Pixels:
    """The pixels a frame may draw on a canvas (``mask``), gathered once for every way of drawing
    them: their flat positions in row-major order (``at``), true colours (``rgb``, ``int64``
    planes), the canvas's alpha there (``shows``), whether each is visible (``counted``;
    ``None``: all are) and each one's squared error as the canvas shows it (``old``, 0 where
    invisible)."""

    mask: NDArray[np.bool_]
    at: NDArray[np.intp]
    rgb: Planes
    shows: NDArray[np.integer]
    counted: NDArray[np.bool_] | None
    old: NDArray[np.int64]

    @staticmethod
    def of(
        rgb: NDArray[np.uint8], seen: NDArray[np.bool_], mask: NDArray[np.bool_], base: NDArray[np.uint8]
    ) -> _Pixels:
        at = np.flatnonzero(mask)
        pixels = tuple(plane.astype(np.int64) for plane in _planes_at(rgb, at))
        under = _planes_at(base, at)
        counted = seen.reshape(-1).take(at)
        visible = None if bool(counted.all()) else counted
        return _Pixels(mask, at, pixels, under[3], visible, _counted(_squared(pixels, under), visible))


def _counted(squared: NDArray[np.int64], counted: NDArray[np.bool_] | None) -> NDArray[np.int64]:
    """``squared``, 0 where not ``counted`` (``None``: every pixel is)."""
    return squared if counted is None else np.where(counted, squared, 0)


@frozen
class _Errors:
    """A choice's changed pixels (``pixels``, its ``drawn``): their squared error on its palette
    (``new``, and its ``mean``) and as the canvas shows them (``old``), 0 where invisible, and
    where their visibility changes (``appears``)."""

    choice: _Choice
    pixels: _Pixels
    new: NDArray[np.int64]
    appears: NDArray[np.bool_]
    mean: float

    @property
    def old(self) -> NDArray[np.int64]:
        return self.pixels.old

    @staticmethod
    def of(pixels: _Pixels, choice: _Choice) -> _Errors:
        colors = tuple(channel.take(choice.indices) for channel in choice.palette.T)
        new = _counted(_squared(pixels.rgb, colors), pixels.counted)
        mean = float(new.mean()) if len(new) else 0.0
        return _Errors(choice, pixels, new, colors[3] != pixels.shows, mean)


def _canvas_before(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    shown: NDArray[np.uint8],
    drawn: NDArray[np.bool_],
    number: int,
) -> tuple[NDArray[np.uint8], NDArray[np.bool_], tuple[int, int, int, int] | None]:
    """What the viewer shows before frame ``number`` (transparent in the rectangle a clear
    empties), the pixels the frame may draw (those that changed, and the visible ones in a
    cleared rectangle) and the cleared rectangle, if any: the box of the pixels the frame before
    drew and of those that turn transparent."""
    if not number:
        return np.zeros(shown.shape[1:], dtype=np.uint8), np.ones(rgb.shape[1:3], dtype=bool), None
    base = shown[number - 1].copy()
    changed = _differs(rgb[number], rgb[number - 1])
    if alpha is None:
        return base, changed, None
    changed |= alpha[number] != alpha[number - 1]
    vanishing = (alpha[number] == 0) & (alpha[number - 1] > 0)
    if not bool(vanishing.any()):
        return base, changed, None
    before = drawn[number - 1] if number > 1 else alpha[0] > 0  # the first frame: its visible box
    box = top, bottom, left, right = _box(before | vanishing)
    base[top:bottom, left:right] = 0
    changed[top:bottom, left:right] |= alpha[number][top:bottom, left:right] > 0
    return base, changed, box


def _box(mask: NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """Top, bottom, left, right (exclusive) of the true pixels of ``mask`` (not empty): the
    frame writers' :func:`kmimg.io.frames.bounding_rect` as the GIF writer's box."""
    from kmimg.io.frames import bounding_rect

    rect = bounding_rect(mask)
    assert rect is not None  # the callers pass a mask with a true pixel
    return rect.top, rect.top + rect.height, rect.left, rect.left + rect.width


def changed_analysis(
    rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None, number: int, changed: NDArray[np.bool_]
) -> Analysis | None:
    """The analysis (colour table) of frame ``number``'s ``changed`` pixels, as one row; ``None``
    when no pixel changed. A frame's fits at two palette sizes share it."""
    pixels = np.take(rgb[number].reshape(-1, 3), np.flatnonzero(changed), axis=0)[None]
    if not pixels.size:
        return None
    return analyze(pixels, None if alpha is None else alpha[number][changed][None])


def fit_frame(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    number: int,
    changed: NDArray[np.bool_],
    options: QuantizeOptions,
    analysis: Analysis | None = None,
) -> _Choice:
    """A palette fitted to the pixels of frame ``number`` that changed, and their indices
    (dithered within the frame when ``options.dither`` asks); ``analysis``: their
    :func:`changed_analysis`, when the caller has it."""
    frame_alpha = None if alpha is None else alpha[number]
    if analysis is None:
        analysis = changed_analysis(rgb, alpha, number, changed)
    if analysis is None:  # a frame like the one before: nothing to fit
        return _Choice(np.array([[0, 0, 0, 255]], np.uint8), True, changed, np.zeros(0, np.uint8))
    plain_options = replace(options, dither=0.0, alpha_threshold=None)
    fitted = quantize_analysis(analysis, plain_options, measure=False)
    found = fitted.indices[0]
    if options.dither > 0.0:
        from kmimg.dither import dither_indices

        # the whole frame mapped: its palette gains a transparent entry after the fitted ones when
        # the frame has transparent pixels and none of the changed ones is (every changed pixel
        # visible: it is never theirs)
        whole = quantize_onto(analyze(rgb[number], frame_alpha), fitted.palette, plain_options, measure=False)
        found = dither_indices(rgb[number], frame_alpha, whole.palette, whole.indices, options.dither)[
            changed
        ]
    return _Choice(fitted.palette, True, changed, found)


def _drawn(errors: _Errors, before: float, frame_bytes: FrameBytes, tolerance: float, run: int) -> _Drawn:
    """A choice drawing only the changed pixels it shows closer than the canvas does (within
    ``tolerance`` x its mean error, in runs of ``run``; and those whose visibility changes): its
    squared error over the visible pixels (``before``: the canvas's), its bytes (``frame_bytes`` of
    its rectangle, and its own colour table)."""
    better = _better(errors, tolerance)
    return _drawn_where(errors, _in_runs(errors.pixels, better, run), before, frame_bytes)


def _variants(errors: _Errors, before: float, frame_bytes: FrameBytes) -> list[_Drawn]:
    """:func:`_drawn` at each of :data:`LEFT_AS_THEY_WERE`'s ways, in turn; a way that draws the
    same pixels as one before it is that one (the same squared error and bytes)."""
    found: list[_Drawn] = []
    drawn_by_key: dict[bytes, _Drawn] = {}
    for tolerance, run in LEFT_AS_THEY_WERE:
        better = _in_runs(errors.pixels, _better(errors, tolerance), run)
        key = np.packbits(better).tobytes()
        if key not in drawn_by_key:
            drawn_by_key[key] = _drawn_where(errors, better, before, frame_bytes)
        found.append(drawn_by_key[key])
    return found


def _better(errors: _Errors, tolerance: float) -> NDArray[np.bool_]:
    """Per changed pixel: whether the choice shows it closer than the canvas does, by more than
    ``tolerance`` x its mean error, or its visibility changes."""
    new, old = errors.new, errors.old
    closer = old > new
    if tolerance > 0 and len(new):
        closer &= old > tolerance * errors.mean
    return closer | errors.appears


def _in_runs(pixels: _Pixels, better: NDArray[np.bool_], run: int) -> NDArray[np.bool_]:
    """``better`` with the changed pixels it leaves in runs shorter than ``run`` along a row
    drawn (scattered "keep" pixels compress badly)."""
    if run <= 1:
        return better
    from kmimg.io.frames import long_runs

    worse = _scattered(pixels, ~better)
    return ~(long_runs(worse | ~pixels.mask, run) & worse).reshape(-1)[pixels.at]


def _scattered(pixels: _Pixels, chosen: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The mask of the frame (``pixels.mask``'s shape) true at the changed pixels ``chosen``."""
    mask = np.zeros_like(pixels.mask)
    mask[pixels.mask] = chosen
    return mask


def _drawn_where(
    errors: _Errors, better: NDArray[np.bool_], before: float, frame_bytes: FrameBytes
) -> _Drawn:
    """The choice of ``errors`` drawing the changed pixels ``better`` (see :func:`_drawn`)."""
    choice = errors.choice
    drawn = _scattered(errors.pixels, better)
    # sums and indices by dot products and positions: a boolean mask's compress is ~3x slower
    error = before - float(np.dot(errors.old, better)) + float(np.dot(errors.new, better))
    keep, bits = _keep_entry(choice.palette)
    indices = choice.indices.take(np.flatnonzero(better))
    size = frame_bytes(_rect_pixels(drawn, indices, keep), bits) + (3 << bits if choice.own else 0)
    return _Drawn(choice.palette, choice.own, drawn, indices, error, size)


def _as_shown(found: _Drawn, base: NDArray[np.uint8], frame_bytes: FrameBytes) -> _Drawn:
    """``found``, or the same frame with every pixel of its rectangle it leaves drawn with the
    entry of its palette that shows the colour of the canvas ``base`` exactly
    (:func:`_entries_showing`), whichever has fewer bytes: the frame shows the same, and on content
    that moves (scrolling text) a "keep" between the pixels that changed breaks the LZW strings
    that the colours already on the screen continue."""
    if not bool(found.drawn.any()):
        return found
    top, bottom, left, right = _box(found.drawn)
    box = np.s_[top:bottom, left:right]
    inside = found.drawn[box]
    same = _entries_showing(found.palette, base[box])
    extra = ~inside & (same >= 0)
    if not bool(extra.any()):
        return found
    keep, bits = _keep_entry(found.palette)
    pixels = np.full(inside.shape, keep, dtype=np.uint8)  # the rectangle: the box of found.drawn
    pixels[inside] = found.indices
    pixels[extra] = same[extra]
    size = frame_bytes(pixels, bits) + (3 << bits if found.own else 0)
    if size >= found.size:
        return found
    drawn = found.drawn.copy()
    drawn[box] |= extra
    return _Drawn(found.palette, found.own, drawn, pixels[inside | extra], found.error, size)


def _entries_showing(palette: NDArray[np.uint8], canvas: NDArray[np.uint8]) -> NDArray[np.int16]:
    """Per pixel, the opaque entry of ``palette`` of the colour ``canvas`` ``(h, w, 4)`` shows
    (opaque there), or -1."""
    shown = np.ascontiguousarray(canvas).view(np.uint32)[..., 0]
    opaque = np.flatnonzero(palette[:, 3] == 255)
    if not len(opaque):
        return np.full(shown.shape, -1, dtype=np.int16)
    keys = np.ascontiguousarray(palette[opaque]).view(np.uint32).ravel()
    order = np.argsort(keys, kind="stable")
    at = np.minimum(np.searchsorted(keys[order], shown), len(keys) - 1)
    hit = (keys[order][at] == shown) & (canvas[..., 3] == 255)
    return np.where(hit, opaque[order][at], -1).astype(np.int16)


#: The lossy LZW coder's tolerances tried (:func:`_lossy`), in multiples of the worth of the
#: bits a pixel of the frame costs: the error a changed index may add to extend a string.
LOSSY_TOLERANCES = (1.0,)


def _lossy(
    chosen: _Drawn, rgb: NDArray[np.uint8], free: NDArray[np.bool_], base: NDArray[np.uint8], price: float
) -> _Drawn:
    """``chosen``, or the GIF writer's lossy LZW coder's version of it
    (:func:`kmimg.io.gif.gif_frame_lossy`: another index where that extends the current string,
    for at most a tolerance of error) at each of :data:`LOSSY_TOLERANCES`, whichever has the
    least squared error plus bytes at ``price`` a byte. Only the ``free`` pixels (visible, and
    changed since the frame before: static ones keep their colour exactly) may change, not on the
    rectangle's edges (so that it stays the same); "keep" only where the canvas shows a colour."""
    if not bool(chosen.drawn.any()):
        return chosen
    top, bottom, left, right = _box(chosen.drawn)
    box = np.s_[top:bottom, left:right]
    locked = ~free[box]
    locked[[0, -1], :] = locked[:, [0, -1]] = True
    shows = base[box][..., 3] > 0
    flags = np.where(locked, 1, 0).astype(np.uint8) + np.where(shows, 2, 0).astype(np.uint8)
    keep, bits = _keep_entry(chosen.palette)
    pixels = _rect_pixels(chosen.drawn, chosen.indices, keep)
    table = 3 << bits if chosen.own else 0
    per_pixel = price * (chosen.size - table) / pixels.size
    best, planes = chosen, (pixels, rgb[box], base[box][..., :3], flags)
    for tolerance in LOSSY_TOLERANCES:
        coded = _lossy_coded(chosen, box, planes, tolerance * per_pixel)
        if coded.error + price * coded.size < best.error + price * best.size:
            best = coded
    return best


def _lossy_coded(
    chosen: _Drawn, box: tuple[slice, slice], planes: tuple[NDArray[np.uint8], ...], tolerance: float
) -> _Drawn:
    """``chosen`` coded by the lossy coder at ``tolerance``; ``planes``: the rectangle's indices,
    true colours, canvas colours and flags (see :func:`kmimg.io.gif.gif_frame_lossy`)."""
    from kmimg.io.gif import gif_frame_lossy

    pixels, rgb, canvas, flags = planes
    keep, bits = _keep_entry(chosen.palette)
    size, coded, added = gif_frame_lossy(pixels, bits, rgb, canvas, flags, chosen.palette, keep, tolerance)
    drawn = np.zeros_like(chosen.drawn)
    drawn[box] = np.where(flags & 1 > 0, chosen.drawn[box], coded != keep)
    table = 3 << bits if chosen.own else 0
    return _Drawn(chosen.palette, chosen.own, drawn, coded[drawn[box]], chosen.error + added, size + table)


def _keep_entry(palette: NDArray[np.uint8]) -> tuple[int, int]:
    """The "keep" entry of a palette (its transparent one, else one past its colours) and the
    bits of the table that holds it."""
    clear = np.flatnonzero(palette[:, 3] == 0)
    keep = int(clear[0]) if len(clear) else len(palette)
    return keep, max(2, (max(len(palette), keep + 1) - 1).bit_length())


def _rect_pixels(drawn: NDArray[np.bool_], values: NDArray[np.uint8], keep: int) -> NDArray[np.uint8]:
    """The rectangle of the drawn pixels as a frame stores it: their indices, "keep" elsewhere."""
    if not bool(drawn.any()):
        return np.full((1, 1), keep, dtype=np.uint8)
    top, bottom, left, right = _box(drawn)
    inside = drawn[top:bottom, left:right]
    pixels = np.full(inside.shape, keep, dtype=np.uint8)
    pixels[inside] = values
    return pixels


def byte_price(mse: float) -> float:
    """The squared error (summed over R, G, B) one byte is assumed to be worth for a frame whose
    error per pixel is ``mse``: at a palette's rate-distortion slope, a bit more per pixel
    divides the error by 2^(2/3) (the error of a 3-D quantizer falls as K^(-2/3)), so a bit buys
    (2 ln 2 / 3) x ``mse`` per pixel. :func:`quantize_frame_palettes` scales it by the rate it
    measures (:func:`measured_rate`): an LZW-coded index bit is not a bit per pixel."""
    return 8 * (2 * math.log(2) / 3) * mse


def measure_shown(
    rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None, shown: NDArray[np.uint8], measure: Measure = True
) -> tuple[Quality, tuple[float, ...]]:
    """Each shown frame's PSNR over its visible pixels (alpha is binary: a GIF's), and the means
    over frames of PSNR, SSIM and ΔE2000 (NaN with ``measure=PSNR_ONLY``)."""
    from kmimg import metrics

    every = measure != PSNR_ONLY
    psnrs, ssims, deltas = [], [], []
    for number in range(len(rgb)):
        visible = np.ones(rgb.shape[1:3], dtype=bool) if alpha is None else alpha[number] > 0
        original, output = rgb[number][visible], shown[number][..., :3][visible]
        mse, delta = 0.0, 0.0 if every else math.nan
        if len(original):
            diff = original.astype(np.float64) - output.astype(np.float64)
            mse = float(np.einsum("ij,ij->", diff, diff)) / diff.size
            delta = metrics.delta_e2000_images(original, output) if every else math.nan
        psnrs.append(metrics.psnr_from_mse(mse))
        ssims.append(metrics.ssim(rgb[number], shown[number][..., :3]) if every else math.nan)
        deltas.append(delta)
    quality = Quality(float(np.mean(psnrs)), float(np.mean(ssims)), float(np.mean(deltas)))
    return quality, tuple(float(value) for value in psnrs)
