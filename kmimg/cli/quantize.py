"""``kmimg quantize``: fit a palette of k colours by k-means and write an indexed PNG."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Final, Optional

import typer

from kmimg.cli import _options as opt
from kmimg.cli import palette_plan as palette_cli
from kmimg.cli._dither import BareDither, DitherLevel, NoDither, dither_level
from kmimg.cli.frame import ExitCode, Reporter, command, finish
from kmimg.errors import UsageError
from kmimg.jobs.batch import run_batch
from kmimg.jobs.paths import (
    STDIO,
    InputItem,
    check_side_output,
    display_name,
)
from kmimg.jobs.quantize import (
    SKIPPED_LARGER,
    SKIPPED_QUALITY,
    QuantizeTask,
    output_suffix,
    plan_outputs,
    quantize_one,
)
from kmimg.jobs.tasks import ImageInput
from kmimg.options import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_OPTIMIZE,
    MAX_OPTIMIZE,
    QUALITY_MAX_K,
    QualityGoal,
    QuantizeOptions,
    parse_quality,
)
from kmimg.types import Nearest, psnr_text

if TYPE_CHECKING:
    from kmimg.core.quantize import Measure
    from kmimg.jobs.quantize import QuantizedFile

#: ``measure`` of a run whose figures only the terminal table shows (kmimg.core.quantize.PSNR_ONLY,
#: named here so that the command line does not import numpy before its work).
PSNR_ONLY: Final = "psnr"

DEFAULTS = QuantizeOptions()


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
    ext: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--ext", help="Name outputs NAME+EXT, not NAME-kK.png (.png + --force: in place).", metavar="EXT"
        ),
    ] = None,
    recursive: opt.Recursive = False,
    force: opt.Force = False,
    skip_existing: Annotated[
        bool,
        typer.Option("--skip-existing", help="Skip inputs whose output exists (resume a stopped batch)."),
    ] = False,
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
    posterize: Annotated[
        int,
        typer.Option(
            "--posterize",
            help="Fitted palette with BITS fewer bits a channel (pngquant's option): 4 for RGBA4444, "
            "3 for RGB565 (its red and blue).",
            min=0,
            max=QuantizeOptions.MAX_POSTERIZE,
            metavar="BITS",
        ),
    ] = DEFAULTS.posterize,
    skip_if_larger: Annotated[
        bool,
        typer.Option("--skip-if-larger", help="Write no PNG that is not smaller than its input (exit 98)."),
    ] = False,
    quality: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--quality",
            help="pngquant's quality, 0-100: the fewest colours up to -k (default 256) that reach MAX; "
            "below MIN even with -k colours, nothing is written (exit 99). MAX alone means 0-MAX.",
            metavar="MIN-MAX",
            callback=opt.checked_by("kmimg.options", "parse_quality"),
        ),
    ] = None,
    target_psnr: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--target-psnr", help="The fewest colours up to -k with PSNR ≥ this (dB).", min=0.0),
    ] = None,
    target_ssim: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--target-ssim", help="The fewest colours up to -k with SSIM ≥ this.", min=0.0, max=1.0),
    ] = None,
    target_de: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--target-de", help="The fewest colours up to -k with mean ΔE2000 ≤ this.", min=0.0),
    ] = None,
    optimize: Annotated[
        int,
        typer.Option(
            "--optimize",
            "-O",
            help=f"PNG effort, 0-{MAX_OPTIMIZE}: 0 zlib (largest), 1 libdeflate 10, 2 libdeflate 12, "
            "3 also tries row filters (smallest); WebP: libwebp's effort. Same pixels at every level.",
            min=0,
            max=MAX_OPTIMIZE,
            metavar="LEVEL",
        ),
    ] = DEFAULT_OPTIMIZE,
    strip: Annotated[
        bool,
        typer.Option("--strip", help="Write no optional chunk: no DPI (pHYs), text or sRGB from the input."),
    ] = False,
    frame_palettes: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--frame-palettes/--one-palette",
            help="Animated GIF output: each frame may get a colour table of up to K colours of its own, "
            "fitted to the pixels it changes, where that pays (the default for GIF output when no palette "
            "is given, shared or searched for); --one-palette: one palette for all frames. "
            "--frame-palettes: GIF only.",
            show_default=False,
        ),
    ] = None,
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
    (NAME-PALETTE.png with --palette PALETTE.gpl, NAME+EXT with --ext EXT).
    Existing files are not overwritten without --force (an explicit -o always overwrites).
    A name ending in .gif gets a GIF, .webp a lossless WebP. Animated GIF, APNG and WebP inputs
    stay animated, as a GIF (.gif: a frame may take a colour table of its own where that pays;
    --one-palette: one palette), a WebP (.webp) or an APNG (one palette for all frames).

    Example: kmimg quantize sample_images/flower.jpg -k 16 -o out/flower-k16.png
    """
    with command(quiet=quiet, debug=debug, numpy_threads=False) as reporter:
        level = dither_level(dither, no_dither)
        goal = _goal(quality, target_psnr, target_ssim, target_de)
        colors = _search_colors(ctx, goal, colors, (palette_file, shared, palette_out))
        plan = palette_cli.plan_palette(
            palette_file, shared=shared, palette_out=palette_out, keep=keep, k=colors,
            k_given=_given(ctx, "colors"), posterize=posterize > 0,
        )  # fmt: skip
        options = opt.checked(
            QuantizeOptions, k=colors, seed=seed, space=space, dither=level, sample=sample,
            keep=plan.keep_rows, transparent_index=transparent_index, alpha_threshold=alpha_threshold,
            nearest=nearest, posterize=posterize,
        )  # fmt: skip
        if ext is not None and output is not None:
            raise UsageError("give -o/--output or --ext, not both")
        suffix = output_suffix(colors, palette_file, ext, goal)
        tasks, refused, skipped = plan_outputs(
            inputs, suffix=suffix, output=output, out_dir=out_dir, recursive=recursive, force=force,
            in_place=ext is not None and force, skip_existing=skip_existing,
            naming_rule=ext is None and palette_file is None,
        )  # fmt: skip
        for source, reason in skipped.items():
            reporter.notice(f"{source}: skipped: {reason}")
        _check_streams(tasks, json_dest)
        per_frame = _frame_palettes(frame_palettes, tasks, goal, (palette_file, shared, palette_out))
        fixed = palette_cli.palette_for(
            plan, tasks, options, reporter=reporter, jobs=jobs, scheduler=scheduler, max_pixels=max_pixels,
            allow_truncated=allow_truncated,
        )  # fmt: skip
        measure = _measure(json_dest, reporter)
        common = (options, max_pixels, allow_truncated, measure, fixed, plan.source)
        runnable = _runnable(
            tasks, refused, common, skip_if_larger=skip_if_larger, optimize=optimize, strip=strip, goal=goal,
            frame_palettes=per_frame,
        )  # fmt: skip
        outcome = run_batch(
            runnable, quantize_one, listener=reporter, jobs=jobs, scheduler=scheduler, fail_fast=fail_fast,
            label="quantizing", refused=refused,
        )  # fmt: skip
        if json_dest is not None:
            from kmimg.cli.documents import quantize_document, write_json  # json: only with --json

            write_json(quantize_document(outcome.results, outcome.failures, skipped), json_dest)
        if reporter.fancy:
            _print_summary(reporter, outcome.results)
        finish(outcome, skipped=skipped_code(r.skipped for r in outcome.results))


def _runnable(tasks: list[Any], refused: Any, common: tuple[Any, ...], **fields: Any) -> list[QuantizeTask]:
    """One task per planned input that was not refused (``fields``: the task's keyword fields)."""
    return [
        QuantizeTask(ImageInput(item.source), target, *common, **fields)
        for item, target in tasks
        if item.source not in refused
    ]


def skipped_code(reasons: Iterable[str]) -> ExitCode | None:
    """The exit code of a batch whose only problems are inputs not written on purpose: 99 when
    any input stayed below ``--quality``'s MIN (also when others were not smaller), else 98
    when any output would not have been smaller (``--skip-if-larger``), else ``None``."""
    given = set(reasons)
    if SKIPPED_QUALITY in given:
        return ExitCode.QUALITY_TOO_LOW
    if SKIPPED_LARGER in given:
        return ExitCode.SKIPPED_LARGER
    return None


def _search_colors(
    ctx: typer.Context, goal: QualityGoal | None, colors: int, palettes: tuple[Any, ...]
) -> int:
    """The palette size: ``-k``; in quality mode the largest the search may use (256 when ``-k``
    is not given), and no ``--palette``, ``--shared-palette`` or ``--palette-out``."""
    if goal is None:
        return colors
    if any(given not in (None, False) for given in palettes):
        raise UsageError("--quality and --target-* fit a palette per image: not with --palette or shared")
    return colors if _given(ctx, "colors") else QUALITY_MAX_K


def _frame_palettes(
    given: bool | None,
    tasks: list[tuple[InputItem, str]],
    goal: QualityGoal | None,
    palettes: tuple[Any, ...],
) -> bool:
    """Whether animated GIF outputs get a colour table per frame where it pays: ``--one-palette``
    no, ``--frame-palettes`` yes (a usage error unless every output is a GIF (an APNG has one
    PLTE) and no palette is given, shared or searched for), neither: yes unless a palette is
    given, shared or searched for (APNG and WebP outputs keep one palette)."""
    one_palette = goal is not None or any(given not in (None, False) for given in palettes)
    if given is None:
        return not one_palette
    if given:
        _check_frame_palettes(tasks, one_palette)
    return given


def _check_frame_palettes(tasks: list[tuple[InputItem, str]], one_palette: bool) -> None:
    """``--frame-palettes`` writes GIFs (an APNG has one PLTE) and fits its own palettes."""
    from kmimg.io.formats import output_format

    if any(target == STDIO or output_format(target) != "GIF" for _, target in tasks):
        raise UsageError(
            "--frame-palettes gives each GIF frame its own colour table: write GIFs "
            "(-o NAME.gif or --ext .gif); an APNG holds one palette, and so does a WebP kmimg writes"
        )
    if one_palette:
        raise UsageError("--frame-palettes fits a palette per frame: not with --palette, shared or --quality")


def _goal(
    quality: str | None, psnr: float | None, ssim: float | None, delta_e: float | None
) -> QualityGoal | None:
    """Quality mode's goal from the command line, or ``None`` (a fixed -k)."""
    if quality is None and psnr is None and ssim is None and delta_e is None:
        return None
    minimum, maximum = parse_quality(quality) if quality is not None else (0, None)
    return opt.checked(QualityGoal, minimum=minimum, maximum=maximum, psnr=psnr, ssim=ssim, delta_e=delta_e)


def _check_streams(tasks: list[tuple[InputItem, str]], json_dest: str | None) -> None:
    """A PNG on standard output shares it with nothing and never goes to a terminal."""
    if any(target == STDIO for _, target in tasks):
        if json_dest == STDIO:
            raise UsageError("--json - and a PNG on standard output cannot share it")
        if sys.stdout.isatty():
            raise UsageError("refusing to write PNG data to a terminal; redirect it or use -o PATH")
    check_side_output(json_dest, "--json", tasks)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was on the command line (not its default)."""
    source = ctx.get_parameter_source(name)  # Click's ParameterSource (Typer may vendor Click)
    return source is not None and source.name == "COMMANDLINE"


def _measure(json_dest: str | None, reporter: Reporter) -> Measure:
    """What the run measures: every figure for ``--json``; the PSNR alone for the terminal table
    (SSIM and ΔE2000 would add a quarter to the work, for a table nobody asked for); nothing
    when neither is shown."""
    if json_dest is not None:
        return True
    return PSNR_ONLY if reporter.fancy else False


def _print_summary(reporter: Reporter, results: list[QuantizedFile]) -> None:
    if not results:
        return
    from rich.table import Table

    measured = any(r.quality is not None and not math.isnan(r.quality.ssim) for r in results)
    columns = (
        "input",
        "output",
        "colours",
        "PSNR dB",
        *(("SSIM", "ΔE2000") if measured else ()),
        "bytes",
        "s",
    )
    table = Table(title=None, show_edge=False, show_footer=len(results) > 1)
    for column, footer in zip(columns, _total_row(results, measured), strict=True):
        is_path = column in ("input", "output")
        table.add_column(
            column, footer=footer, justify="left" if is_path else "right",
            overflow="fold" if is_path else "ellipsis",
        )  # fmt: skip
    for done in results:
        quality = done.quality
        figures = (f"{quality.ssim:.4f}", f"{quality.delta_e:.2f}") if quality and measured else ("", "")
        table.add_row(
            display_name(done.task.source),
            done.output_shown,
            str(done.colors_used),
            psnr_text(quality.psnr) if quality else "",
            *(figures if measured else ()),
            f"{done.input_bytes:,} → {done.output_bytes:,}",
            f"{done.seconds:.2f}",
        )
    reporter.console().print(table)


def _total_row(results: list[QuantizedFile], measured: bool) -> tuple[str, ...]:
    """The table's last row for a run of several files: how many, the bytes of all inputs and
    of all outputs written, the mean PSNR of the lossy ones (and mean SSIM, ΔE2000 when
    measured), the seconds of work."""
    import statistics  # ~2 ms with fractions and decimal: only for the terminal's table

    written = [r for r in results if not r.skipped]
    psnrs = [r.quality.psnr for r in results if r.quality is not None and math.isfinite(r.quality.psnr)]
    lossless = any(r.quality is not None and math.isinf(r.quality.psnr) for r in results)
    mean_psnr = psnr_text(statistics.fmean(psnrs)) if psnrs else ("lossless" if lossless else "")
    if psnrs and lossless:
        mean_psnr += " (lossy)"
    means: tuple[str, ...] = ()
    if measured:
        figures = [r.quality for r in results if r.quality is not None]
        means = (
            f"{statistics.fmean(q.ssim for q in figures):.4f}",
            f"{statistics.fmean(q.delta_e for q in figures):.2f}",
        )
    inputs, outputs = sum(r.input_bytes for r in results), sum(r.output_bytes for r in written)
    return (
        f"total: {len(results):,} files",
        f"{len(written):,} written",
        "",
        f"mean {mean_psnr}" if mean_psnr else "",
        *means,
        f"{inputs:,} → {outputs:,} ({outputs / max(inputs, 1):.0%})",
        f"{sum(r.seconds for r in results):.2f}",
    )
