"""``kmimg palette``: fit one palette across images and write it as a palette file; and what
``kmimg quantize --shared-palette`` shares with it (the histogram pass, the shared fit).
Checking quantize's palette options and reading palette files is :mod:`kmimg.cli.palette_plan`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kmimg._records import frozen
from kmimg.cli import _options as opt
from kmimg.cli.batch import Failure, Outcome, Produced, run_batch
from kmimg.cli.documents import palette_document, write_json
from kmimg.cli.frame import Reporter, command, finish
from kmimg.cli.palette_plan import Keep, PalettePlan, parse_keep_option
from kmimg.cli.paths import STDIO, InputItem, check_side_output, expand_inputs
from kmimg.errors import UsageError
from kmimg.options import DEFAULT_MAX_PIXELS, QuantizeOptions
from kmimg.types import ColorSpace, PaletteWeight

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.colorfit import FittedPalette
    from kmimg.palettes.files import Palette
    from kmimg.palettes.shared import Histogram, HistogramSum

DEFAULTS = QuantizeOptions()

Weight = Annotated[
    PaletteWeight,
    typer.Option("--weight", help="Across images, every pixel counts the same, or every image does."),
]


@frozen
class HistogramTask:
    """One input whose colour histogram goes into a shared palette."""

    source: str
    max_pixels: int
    allow_truncated: bool = False
    #: The input's bytes, read by the client of a cluster run (workers share no file system).
    data: bytes | None = dataclasses.field(default=None, repr=False, compare=False)


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


@frozen
class Measured:
    """An input's colour histogram, as a worker sends it back."""

    source: str
    width: int
    height: int
    histogram: Histogram


def register(app: typer.Typer) -> None:
    app.command("palette")(palette_command)


def palette_command(
    inputs: opt.Inputs,
    colors: Annotated[
        int,
        typer.Option("--colors", "-k", help="Palette size, 1-256.", min=1, max=QuantizeOptions.MAX_K),
    ] = DEFAULTS.k,
    output: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--output",
            "-o",
            help="Palette file: .gpl, .act, .pal, .hex, .txt or .json by its extension; '-' writes hex "
            "lines to standard output. Overwrites.",
            metavar="FILE|-",
        ),
    ] = None,
    swatch: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--swatch", help="Also draw the palette as a labelled PNG.", metavar="PNG", dir_okay=False
        ),
    ] = None,
    weight: Weight = PaletteWeight.PIXELS,
    keep: Keep = None,
    recursive: opt.Recursive = False,
    seed: opt.Seed = DEFAULTS.seed,
    space: Annotated[
        ColorSpace, typer.Option("--space", help="Fit colours in RGB (best PSNR) or CIELAB (best ΔE).")
    ] = DEFAULTS.space,
    sample: Annotated[
        int, typer.Option("--sample", help="Pixels sampled for the k-means fit (0 = all).", min=0)
    ] = DEFAULTS.sample,
    json_dest: opt.JsonDest = None,
    quiet: opt.Quiet = False,
    jobs: opt.Jobs = None,
    scheduler: opt.Scheduler = None,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    allow_truncated: opt.AllowTruncated = False,
    debug: opt.Debug = False,
) -> None:
    """Fit one palette of K colours across all inputs (their colour histograms merged) and write
    it as a palette file; on a terminal, show its colours.

    No palette is written when an input cannot be read (exit 1): it would not be the palette
    of all of them.

    Example: kmimg palette frames/ -k 32 -o frames.gpl --swatch swatch.png
    """
    with command(quiet=quiet, debug=debug, numpy_threads=False) as reporter:
        kept = parse_keep_option(keep, colors)
        _check_palette_outputs(output, swatch, json_dest)
        items = expand_inputs(inputs, recursive=recursive)
        for destination, option in (
            (json_dest, "--json"),
            (None if swatch is None else str(swatch), "--swatch"),
        ):
            check_side_output(destination, option, [(item, STDIO) for item in items])
        total, outcome = merge_histograms(
            items,
            weight=weight,
            reporter=reporter,
            jobs=jobs,
            scheduler=scheduler,
            max_pixels=max_pixels,
            allow_truncated=allow_truncated,
        )
        run = PaletteRun(None, [], kept, outcome.results, colors, weight, seed, space, None, outcome.failures)
        if outcome.failures:  # no palette: it would not be the palette of all the inputs
            if json_dest is not None:
                write_json(palette_document(run), json_dest)
            finish(outcome)
        fitted = fit_merged(total, k=colors, keep=kept, seed=seed, space=space, sample=sample)
        palette = fitted_palette(fitted, title=Path(output).stem if output and output != STDIO else "kmimg")
        run = dataclasses.replace(run, palette=palette, shares=_shares(fitted), output=output)
        _write_outputs(palette, run.shares, output=output, swatch=swatch)
        if json_dest is not None:
            write_json(palette_document(run), json_dest)
        if reporter.fancy:
            show_blocks(reporter, palette, run.shares)


def _check_palette_outputs(output: str | None, swatch: Path | None, json_dest: str | None) -> None:
    from kmimg.palettes.files import format_of

    if output is not None and output != STDIO:
        format_of(output)
    if output == STDIO and json_dest == STDIO:
        raise UsageError("--json - and -o - cannot share standard output")
    if swatch is not None and output is not None and output != STDIO and Path(output) == swatch:
        raise UsageError("--swatch and -o name the same file")


# ----------------------------------------------------------------------------- shared with quantize


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
    """Load one input and count its colours (runs in a worker, on a cluster too: the histograms
    are merged here)."""
    from kmimg.core.quantize import analyze
    from kmimg.io import load_image
    from kmimg.palettes.shared import histogram_of

    picture = load_image(
        task.source, data=task.data, max_pixels=task.max_pixels, allow_truncated=task.allow_truncated
    )
    analysis = analyze(picture.rgb, picture.alpha)
    hidden = 0 if analysis.visible is None else int((~analysis.visible).sum())
    histogram = histogram_of(analysis.table, hidden=hidden)
    return Produced(Measured(task.source, picture.width, picture.height, histogram))


def merge_histograms(
    items: list[InputItem],
    *,
    weight: PaletteWeight,
    reporter: Reporter,
    jobs: int | None,
    scheduler: str | None = None,
    max_pixels: int,
    allow_truncated: bool,
) -> tuple[HistogramSum, Outcome[Measured]]:
    """The merged histogram of every input (in worker processes); the sum is exact, so it does
    not depend on the order of the inputs or on ``jobs``."""
    from kmimg.palettes.shared import HistogramSum

    tasks = [HistogramTask(item.source, max_pixels, allow_truncated) for item in items]
    outcome = run_batch(
        tasks,
        measure_one,
        name_of=lambda task: task.source,
        reporter=reporter,
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
) -> FittedPalette:
    """The shared fit of at most ``k`` colours (a usage error when no input has a visible pixel)."""
    from kmimg.palettes.shared import fit_shared

    if not len(total.table().colors) and keep is None:
        raise UsageError("no visible pixels in any input")
    return fit_shared(total, k=k, keep=keep, seed=seed, space=space, sample=sample)


def fitted_palette(fitted: FittedPalette, *, title: str = "") -> Palette:
    """The fitted colours as a :class:`Palette` (RGBA), in the fit's order (descending share)."""
    from kmimg.palettes.files import palette_from_rgb

    return palette_from_rgb(fitted.colors, title=title)


def _shares(fitted: FittedPalette) -> list[float]:
    total = max(int(fitted.counts.sum()), 1)
    return [int(count) / total for count in fitted.counts]


# ----------------------------------------------------------------------------- outputs


def _write_outputs(palette: Palette, shares: list[float], *, output: str | None, swatch: Path | None) -> None:
    if output is not None:
        write_palette_file(palette, output)
    if swatch is not None:
        from kmimg.io import encode_png, write_atomic
        from kmimg.render.swatch import draw_swatch

        write_atomic(swatch, encode_png(draw_swatch(palette.colors, shares)), parents=True)


def show_blocks(reporter: Reporter, palette: Palette, shares: list[float] | None) -> None:
    """The palette on the terminal (stderr): a colour block, index, hex code and share a line."""
    from rich.text import Text

    from kmimg.palettes.files import hex_code

    console = reporter.console()
    for index, row in enumerate(palette.colors.tolist()):
        line = Text()
        line.append("      ", style=f"on {hex_code(row[:3])}")
        line.append(f" {index:3d}  {hex_code(row):<9}")
        if shares is not None:
            line.append(f" {100 * shares[index]:5.1f} %")
        console.print(line)


# ----------------------------------------------------------------------------- quantize's palette options


def shared_palette(
    plan: PalettePlan,
    items: list[InputItem],
    *,
    k: int,
    seed: int,
    space: ColorSpace,
    sample: int,
    reporter: Reporter,
    jobs: int | None,
    scheduler: str | None = None,
    max_pixels: int,
    allow_truncated: bool,
) -> NDArray[np.uint8]:
    """One palette for all ``items`` (``(m, 4)`` RGBA): their merged histogram fitted to ``k``
    colours, or ``k - 1`` and a transparent entry at the end when any input has fully
    transparent pixels; saved to ``--palette-out`` when asked. Exits 1 (nothing written) when
    an input cannot be read."""
    import numpy as np

    if any(item.is_stdin for item in items):
        raise UsageError("--shared-palette reads every input twice: '-' (standard input) cannot be one")
    total, outcome = merge_histograms(
        items,
        weight=PaletteWeight.PIXELS,
        reporter=reporter,
        jobs=jobs,
        scheduler=scheduler,
        max_pixels=max_pixels,
        allow_truncated=allow_truncated,
    )
    if outcome.failures:
        finish(outcome)
    room = k - 1 if total.any_transparent else k
    if plan.keep is not None and len(plan.keep) > room:
        raise UsageError(
            f"--keep lists {len(plan.keep)} colours, but -k {k} leaves {room} beside the transparent entry"
        )
    fitted = fit_merged(total, k=room, keep=plan.keep, seed=seed, space=space, sample=sample)
    palette = fitted_palette(fitted, title=Path(plan.palette_out).stem if plan.palette_out else "kmimg")
    if plan.palette_out is not None:
        write_palette_file(palette, plan.palette_out)
    if not total.any_transparent:
        return palette.colors
    return np.vstack([palette.colors, np.zeros((1, 4), dtype=np.uint8)])
