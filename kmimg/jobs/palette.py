"""One palette across many images (``kmimg palette``, ``quantize --shared-palette``,
:func:`kmimg.palette`): each input's colour histogram counted (per file, in workers), the
histograms merged exactly, the merged table fitted once; palette files read and written.

The shared palette of a quantize run leaves room for the transparent entry: when any input has
fully transparent pixels, ``k - 1`` colours are fitted and ``(0, 0, 0, 0)`` is added at the end
(:func:`shared_colors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kmimg._records import frozen
from kmimg.errors import PaletteError, UsageError
from kmimg.jobs.batch import Listener, run_batch
from kmimg.jobs.paths import STDIO
from kmimg.jobs.tasks import Failure, FileTask, ImageInput, Outcome, Produced
from kmimg.types import ColorSpace, PaletteWeight

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.colorfit import FittedPalette
    from kmimg.options import QuantizeOptions
    from kmimg.palettes.files import Palette
    from kmimg.palettes.shared import Histogram, HistogramSum


@frozen
class HistogramTask(FileTask):
    """One input whose colour histogram goes into a shared palette."""

    max_pixels: int
    allow_truncated: bool = False


@frozen
class Measured:
    """An input's colour histogram, as a worker sends it back."""

    source: str
    width: int
    height: int
    histogram: Histogram


@frozen
class PaletteRun:
    """What ``kmimg palette`` made, for its JSON document: the palette, each entry's share of the
    (weighted) pixels, the kept colours, the inputs, and the options that shaped it."""

    #: ``None`` when an input failed (no palette is made then).
    palette: Palette | None
    shares: list[float]
    kept: NDArray[np.uint8] | None
    inputs: list[Measured]
    k_requested: int
    weight: PaletteWeight
    seed: int
    space: ColorSpace
    output: str | None
    failures: list[Failure]
    #: ``--posterize``: bits of each channel's precision the palette gave up.
    posterize: int = 0


def write_palette_file(palette: Palette, destination: str) -> None:
    """Write ``palette`` atomically in the format its extension names; ``-``: hex lines on
    standard output."""
    from kmimg.io import write_atomic, write_stdout
    from kmimg.palettes.files import PaletteFormat, format_of, format_palette

    if destination == STDIO:
        write_stdout(format_palette(palette, PaletteFormat.HEX))
        return
    write_atomic(
        destination, format_palette(palette, format_of(destination), source=destination), parents=True
    )


def measure_one(task: HistogramTask) -> Produced[Measured]:
    """Load one input and count its colours, every frame's of an animated GIF, PNG or WebP
    (runs in a worker, on a cluster too: the histograms are merged here)."""
    from kmimg.core.quantize import analyze
    from kmimg.palettes.shared import histogram_of

    source = task.input.read()
    animation = source.animation(max_pixels=task.max_pixels)
    if animation is not None:  # every frame's pixels count, as quantize maps every frame
        count, height, width = animation.rgb.shape[:3]
        alpha = None if animation.alpha is None else animation.alpha.reshape(count * height, width)
        analysis = analyze(animation.rgb.reshape(count * height, width, 3), alpha)
    else:
        picture = source.load(max_pixels=task.max_pixels, allow_truncated=task.allow_truncated)
        analysis = analyze(picture.rgb, picture.alpha)
        height, width = picture.height, picture.width
    hidden = 0 if analysis.visible is None else int((~analysis.visible).sum())
    histogram = histogram_of(analysis.table, hidden=hidden)
    return Produced(Measured(task.source, width, height, histogram))


def merge_histograms(
    inputs: Sequence[ImageInput],
    *,
    weight: PaletteWeight,
    listener: Listener,
    jobs: int | None,
    scheduler: str | None = None,
    max_pixels: int,
    allow_truncated: bool,
) -> tuple[HistogramSum, Outcome[Measured]]:
    """The merged histogram of every input (in worker processes); the sum is exact, so it does
    not depend on the order of the inputs or on ``jobs``."""
    from kmimg.palettes.shared import HistogramSum

    tasks = [HistogramTask(image, max_pixels, allow_truncated) for image in inputs]
    outcome = run_batch(
        tasks,
        measure_one,
        listener=listener,
        jobs=jobs,
        scheduler=scheduler,
        label="counting colours",
    )
    total = HistogramSum(weight=weight)
    for measured in outcome.results:
        total.add(measured.histogram)
    return total, outcome


def fit_merged(
    total: HistogramSum,
    *,
    k: int,
    keep: NDArray[np.uint8] | None,
    seed: int,
    space: ColorSpace,
    sample: int,
    posterize: int = 0,
) -> FittedPalette:
    """The shared fit of at most ``k`` colours (a usage error when no input has a visible pixel),
    posterized to ``posterize`` bits (``--posterize``; ``keep`` colours exact)."""
    from kmimg.palettes.shared import fit_shared

    table = total.table()
    if not len(table.colors) and keep is None:
        raise UsageError("no visible pixels in any input")
    fitted = fit_shared(total, k=k, keep=keep, seed=seed, space=space, sample=sample)
    if not posterize:
        return fitted
    import numpy as np

    from kmimg.posterize import posterize_fitted

    fixed = np.zeros((0, table.channels), dtype=np.uint8) if keep is None else keep[:, :3]
    if table.channels == 4:
        fixed = np.column_stack([fixed, np.full(len(fixed), 255, dtype=np.uint8)])
    return posterize_fitted(fitted, table, posterize, space=space, fixed=fixed)


def fitted_palette(fitted: FittedPalette, *, title: str = "") -> Palette:
    """The fitted colours as a :class:`Palette` (RGBA), in the fit's order (descending share)."""
    from kmimg.palettes.files import palette_from_rgb

    return palette_from_rgb(fitted.colors, title=title)


def palette_shares(fitted: FittedPalette) -> list[float]:
    """Each fitted colour's share of the (weighted) pixels."""
    total = max(int(fitted.counts.sum()), 1)
    return [int(count) / total for count in fitted.counts]


def shared_colors(
    total: HistogramSum, options: QuantizeOptions, *, keep: NDArray[np.uint8] | None, title: str
) -> tuple[Palette, NDArray[np.uint8]]:
    """The palette a shared quantize run maps every input onto, as a palette file holds it and
    as ``(m, 4)`` RGBA entries: ``options.k`` colours fitted to the merged histogram by the one
    image's rule (:func:`kmimg.core.quantize.fit_colors`), or ``k - 1`` and the transparent entry
    when any input has fully transparent pixels (or ``options.transparent_index`` asks for it):
    last, or at that slot. The palette file holds the colours without the transparent entry."""
    from dataclasses import replace

    import numpy as np

    from kmimg.core.quantize import TRANSPARENT, fit_colors

    table = total.table()
    if not len(table.colors) and keep is None:
        raise UsageError("no visible pixels in any input")
    transparent = total.any_transparent or options.transparent_index is not None
    room = options.k - 1 if transparent else options.k
    if keep is not None and len(keep) > room:
        raise UsageError(
            f"--keep lists {len(keep)} colours, but -k {options.k} leaves {room} beside the transparent entry"
        )
    from kmimg.palettes.files import palette_from_rgb

    rows = () if keep is None else tuple((int(r), int(g), int(b)) for r, g, b in keep[:, :3].tolist())
    fitted = fit_colors(table, replace(options, keep=rows), transparent=transparent)
    palette = palette_from_rgb(fitted.colors, title=title)
    if not transparent:
        return palette, palette.colors
    palette = replace(palette, colors=palette.colors[palette.colors[:, 3] > 0])
    colors = palette.colors
    slot = len(colors) if options.transparent_index is None else options.transparent_index
    if slot > len(colors):  # unused black entries up to the slot game engines expect
        colors = np.vstack([colors, np.tile(np.array([0, 0, 0, 255], np.uint8), (slot - len(colors), 1))])
    return palette, np.insert(colors, slot, TRANSPARENT[0], axis=0)


def read_palette_file(path: str) -> Palette:
    """A palette file (any format of :mod:`kmimg.palettes.files`, or an image whose colours are
    the palette), read before any work: every problem is a :class:`PaletteError` (exit 2)."""
    from kmimg.errors import InputError
    from kmimg.io import load_image, read_source
    from kmimg.palettes.files import palette_from_pixels, parse_palette, png_palette

    try:
        raw = read_source(path)
        if Path(path).suffix.lower() not in (".png", ".gif", ".bmp"):
            return parse_palette(raw, source=path)
        found = png_palette(raw, source=path) if raw.startswith(b"\x89PNG") else None
        if found is not None:
            return found
        picture = load_image(path)
        return palette_from_pixels(picture.rgb, picture.alpha, source=path)
    except PaletteError:
        raise
    except InputError as exc:
        raise PaletteError(f"{path}: {exc}") from None
