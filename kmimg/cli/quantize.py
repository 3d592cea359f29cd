"""``kmimg quantize``: fit a palette of k colours by k-means and write an indexed PNG."""

from __future__ import annotations

import sys
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kmimg._records import frozen
from kmimg.cli import _options as opt
from kmimg.cli import palette_plan as palette_cli
from kmimg.cli._dither import BareDither, DitherLevel, NoDither, dither_level
from kmimg.cli.batch import Produced, run_batch, without_data
from kmimg.cli.frame import Reporter, Stopwatch, command, finish
from kmimg.cli.paths import (
    STDIO,
    InputItem,
    check_outputs,
    check_side_output,
    display_name,
    expand_inputs,
    output_path,
)
from kmimg.errors import UsageError
from kmimg.io.files import check_writable_folder
from kmimg.options import DEFAULT_MAX_PIXELS, QuantizeOptions
from kmimg.types import Nearest, psnr_text

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.core.quantize import Quality

DEFAULTS = QuantizeOptions()


@frozen
class QuantizeTask:
    """One input to quantize and where its PNG goes (``-`` for stdout)."""

    source: str
    target: str
    options: QuantizeOptions
    max_pixels: int
    allow_truncated: bool = False
    #: Compute PSNR, SSIM and ΔE2000 (for --json and the terminal table only).
    measure: bool = True
    #: A given palette ``(m, 4)`` RGBA to map onto (fits nothing), and where it came from:
    #: ``fitted`` (per image), ``shared`` or the palette file's path.
    palette: NDArray[np.uint8] | None = None
    palette_source: str = "fitted"
    #: The input's bytes, read by the client of a cluster run (workers share no file system).
    data: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def k_requested(self) -> int:
        """The palette size asked for: ``-k``, or the palette file's number of colours."""
        if self.palette is None or self.palette_source == "shared":
            return self.options.k
        return len(self.palette)


@frozen
class QuantizedFile:
    """What a worker hands back for one written PNG: enough for its JSON record and its row in
    the summary table (the pixels stay in the worker)."""

    task: QuantizeTask
    width: int
    height: int
    #: The PNG's palette ``(m, 4)`` RGBA and the pixels on each entry.
    palette: NDArray[np.uint8]
    counts: NDArray[np.int64]
    quality: Quality | None
    input_bytes: int
    output_bytes: int
    seconds: float

    @property
    def colors_used(self) -> int:
        return len(self.palette)


def register(app: typer.Typer) -> None:
    app.command("quantize", cls=BareDither)(quantize_command)


def quantize_command(
    ctx: typer.Context,
    inputs: opt.Inputs,
    colors: Annotated[
        int,
        typer.Option(
            "--colors",
            "-k",
            help=f"Palette size, {QuantizeOptions.MIN_K}-{QuantizeOptions.MAX_K}.",
            min=QuantizeOptions.MIN_K,
            max=QuantizeOptions.MAX_K,
        ),
    ] = DEFAULTS.k,
    output: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--output",
            "-o",
            help="Output PNG for a single input ('-' = standard output); overwrites.",
            metavar="PATH|-",
        ),
    ] = None,
    out_dir: opt.OutDir = None,
    recursive: opt.Recursive = False,
    force: opt.Force = False,
    seed: opt.Seed = DEFAULTS.seed,
    space: opt.QuantizeSpace = DEFAULTS.space,
    dither: DitherLevel = None,
    no_dither: NoDither = False,
    sample: Annotated[
        int,
        typer.Option(
            "--sample", help="Pixels sampled for the k-means fit (0 = all). Every pixel is mapped.", min=0
        ),
    ] = DEFAULTS.sample,
    palette_file: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--palette",
            help="Map every input onto this palette (.gpl, .act, .pal, .hex, .txt, .json, or a PNG of at "
            "most 256 colours), fitting nothing: the PLTE lists the file's colours in the file's order.",
            metavar="FILE",
        ),
    ] = None,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared-palette",
            help="Fit one palette of K colours across all inputs: every output gets the same PLTE.",
        ),
    ] = False,
    palette_out: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--palette-out",
            help="Save the shared palette as a palette file (implies --shared-palette).",
            metavar="FILE",
        ),
    ] = None,
    keep: palette_cli.Keep = None,
    transparent_index: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--transparent-index",
            help="The palette slot of fully transparent pixels, always transparent (0 for most game "
            "engines; with --palette it may reuse a colour's slot).",
            min=0,
            max=QuantizeOptions.MAX_K - 1,
            metavar="N",
        ),
    ] = None,
    alpha_threshold: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--alpha-threshold",
            help="Make alpha binary first: below A fully transparent, from A opaque (default for a "
            "--palette without translucent colours: 128).",
            min=1,
            max=255,
            metavar="A",
        ),
    ] = None,
    nearest: Annotated[
        Nearest,
        typer.Option(
            "--nearest",
            help="Match pixels to a --palette or shared palette by the plain distance of --space (best "
            "PSNR) or, in RGB, with luma weighted more (better SSIM).",
        ),
    ] = DEFAULTS.nearest,
    json_dest: opt.JsonDest = None,
    quiet: opt.Quiet = False,
    jobs: opt.Jobs = None,
    scheduler: opt.Scheduler = None,
    fail_fast: opt.FailFast = False,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    allow_truncated: opt.AllowTruncated = False,
    debug: opt.Debug = False,
) -> None:
    """Reduce images to at most K colours fitted by k-means; write indexed PNGs.

    Outputs go to -o PATH (one input), into --out-dir, or next to each input as NAME-kK.png
    (NAME-PALETTE.png with --palette PALETTE.gpl).
    Existing files are not overwritten without --force (an explicit -o always overwrites).

    Example: kmimg quantize sample_images/flower.jpg -k 16 -o out/flower-k16.png
    """
    with command(quiet=quiet, debug=debug, numpy_threads=False) as reporter:
        level = dither_level(dither, no_dither)
        plan = palette_cli.plan_palette(
            palette_file, shared=shared, palette_out=palette_out, keep=keep, k=colors,
            k_given=_given(ctx, "colors"),
        )  # fmt: skip
        options = opt.checked(
            QuantizeOptions, k=colors, seed=seed, space=space, dither=level, sample=sample,
            keep=plan.keep_rows, transparent_index=transparent_index, alpha_threshold=alpha_threshold,
            nearest=nearest,
        )  # fmt: skip
        tasks, refused = _plan(
            inputs, suffix=_suffix(colors, palette_file), output=output, out_dir=out_dir, recursive=recursive,
            force=force,
        )  # fmt: skip
        _check_streams(tasks, json_dest)
        fixed = palette_cli.palette_for(
            plan, tasks, options, reporter=reporter, jobs=jobs, scheduler=scheduler, max_pixels=max_pixels,
            allow_truncated=allow_truncated,
        )  # fmt: skip
        measure = json_dest is not None or reporter.fancy
        runnable = [
            QuantizeTask(
                item.source, target, options, max_pixels, allow_truncated, measure, fixed, plan.source
            )
            for item, target in tasks
            if item.source not in refused
        ]
        outcome = run_batch(
            runnable,
            quantize_one,
            name_of=lambda task: task.source,
            reporter=reporter,
            jobs=jobs,
            scheduler=scheduler,
            fail_fast=fail_fast,
            label="quantizing",
            refused=refused,
        )
        if json_dest is not None:
            from kmimg.cli.documents import quantize_document, write_json  # json: only with --json

            write_json(quantize_document(outcome.results, outcome.failures), json_dest)
        if reporter.fancy:
            _print_summary(reporter, outcome.results)
        finish(outcome)


def _check_streams(tasks: list[tuple[InputItem, str]], json_dest: str | None) -> None:
    """A PNG on standard output shares it with nothing and never goes to a terminal."""
    if any(target == STDIO for _, target in tasks):
        if json_dest == STDIO:
            raise UsageError("--json - and a PNG on standard output cannot share it")
        if sys.stdout.isatty():
            raise UsageError("refusing to write PNG data to a terminal; redirect it or use -o PATH")
    check_side_output(json_dest, "--json", tasks)


def _suffix(colors: int, palette_file: str | None) -> str:
    """``-kK.png``, or ``-<palette name>.png`` for outputs mapped onto a palette file."""
    return f"-{Path(palette_file).stem}.png" if palette_file else f"-k{colors}.png"


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was on the command line (not its default)."""
    source = ctx.get_parameter_source(name)  # Click's ParameterSource (Typer may vendor Click)
    return source is not None and source.name == "COMMANDLINE"


def _plan(
    inputs: list[str], *, suffix: str, output: str | None, out_dir: Path | None, recursive: bool, force: bool
) -> tuple[list[tuple[InputItem, str]], dict[str, str]]:
    """Inputs with their output targets, and the inputs refused before any work."""
    items = expand_inputs(inputs, recursive=recursive)
    if output is not None and len(items) != 1:
        raise UsageError("-o/--output needs exactly one input; use --out-dir for several")
    if output is not None and out_dir is not None:
        raise UsageError("give -o/--output or --out-dir, not both")
    if output is not None:
        if output != STDIO:
            check_outputs([(items[0], Path(output))], force=True)
        return [(items[0], output)], {}
    if items[0].is_stdin and len(items) == 1 and out_dir is None:
        return [(items[0], STDIO)], {}
    if out_dir is not None:
        check_writable_folder(out_dir)
    pairs = [(item, output_path(item, suffix=suffix, out_dir=out_dir)) for item in items]
    refused = check_outputs(pairs, force=force)
    return [(item, str(path)) for item, path in pairs], refused


def quantize_one(task: QuantizeTask) -> Produced[QuantizedFile]:
    """Load, quantize and encode one input; returns its record and its PNG (runs in a worker,
    touches no file: the batch room writes the PNG)."""
    from kmimg.core.quantize import analyze, quantize, quantize_onto
    from kmimg.io import OutputFile, encode_indexed_png, load_image

    clock = Stopwatch()
    picture = load_image(
        task.source, data=task.data, max_pixels=task.max_pixels, allow_truncated=task.allow_truncated
    )
    if task.palette is None:
        result = quantize(picture.rgb, picture.alpha, task.options, measure=task.measure)
    else:
        analysis = analyze(picture.rgb, picture.alpha)
        result = quantize_onto(analysis, task.palette, task.options, measure=task.measure)
    png = encode_indexed_png(result.indices, result.palette)
    size = (picture.width, picture.height)
    record = QuantizedFile(
        without_data(task),
        *size,
        result.palette,
        result.counts,
        result.quality,
        picture.byte_size,
        len(png),
        clock.seconds(),
    )
    return Produced(record, (OutputFile(task.target, png),))


def _print_summary(reporter: Reporter, results: list[QuantizedFile]) -> None:
    if not results:
        return
    from rich.table import Table

    table = Table(title=None, show_edge=False)
    for column in ("input", "output", "colours", "PSNR dB", "SSIM", "ΔE2000", "bytes", "s"):
        is_path = column in ("input", "output")
        table.add_column(
            column, justify="left" if is_path else "right", overflow="fold" if is_path else "ellipsis"
        )
    for done in results:
        quality = done.quality
        table.add_row(
            display_name(done.task.source),
            "<stdout>" if done.task.target == STDIO else done.task.target,
            str(done.colors_used),
            psnr_text(quality.psnr) if quality else "",
            f"{quality.ssim:.4f}" if quality else "",
            f"{quality.delta_e:.2f}" if quality else "",
            f"{done.input_bytes:,} → {done.output_bytes:,}",
            f"{done.seconds:.2f}",
        )
    reporter.console().print(table)
