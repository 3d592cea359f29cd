"""What ``kmimg quantize`` does with its command line, whoever read it: Typer
(:mod:`kmimg.cli.quantize`, every option and its help) or, for the common one-file lines,
:mod:`kmimg.cli.direct` (no Typer import). Both give a :class:`QuantizeArgs` to
:func:`run_quantize`; nothing here imports Typer."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kmimg._records import frozen
from kmimg.cli import palette_plan as palette_cli
from kmimg.cli.checks import checked, dither_level
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
    QUALITY_MAX_K,
    QualityGoal,
    QuantizeOptions,
    parse_quality,
)
from kmimg.types import ColorSpace, Nearest, psnr_text

if TYPE_CHECKING:
    from kmimg.core.quantize import Measure
    from kmimg.jobs.quantize import QuantizedFile

#: ``measure`` of a run whose figures only the terminal table shows (kmimg.core.quantize.PSNR_ONLY,
#: named here so that the command line does not import numpy before its work).
PSNR_ONLY: Final = "psnr"

_OPTIONS = QuantizeOptions()


@frozen
class QuantizeArgs:
    """Every value of a ``kmimg quantize`` command line, by the command's parameter names, with
    the defaults of an option not given (the Typer declarations take theirs from :data:`ARGS`).
    ``colors_given``: ``-k`` was on the line (quality mode's bound; ``--palette`` refuses it)."""

    inputs: tuple[str, ...] = ()
    colors: int = _OPTIONS.k
    colors_given: bool = False
    output: str | None = None
    out_dir: Path | None = None
    ext: str | None = None
    recursive: bool = False
    force: bool = False
    skip_existing: bool = False
    seed: int = _OPTIONS.seed
    space: ColorSpace = _OPTIONS.space
    dither: float | None = None
    no_dither: bool = False
    sample: int = _OPTIONS.sample
    palette_file: str | None = None
    shared: bool = False
    palette_out: str | None = None
    keep: str | None = None
    transparent_index: int | None = None
    alpha_threshold: int | None = None
    nearest: Nearest = _OPTIONS.nearest
    posterize: int = _OPTIONS.posterize
    skip_if_larger: bool = False
    quality: str | None = None
    target_psnr: float | None = None
    target_ssim: float | None = None
    target_de: float | None = None
    optimize: int = DEFAULT_OPTIMIZE
    strip: bool = False
    frame_palettes: bool | None = None
    json_dest: str | None = None
    quiet: bool = False
    jobs: int | None = None
    scheduler: str | None = None
    fail_fast: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    allow_truncated: bool = False
    debug: bool = False


#: The defaults of every option.
ARGS: Final = QuantizeArgs()


def run_quantize(a: QuantizeArgs) -> None:
    """Quantize the inputs of command line ``a``; exit (``SystemExit``) with the batch's code
    when it is not 0 (:func:`kmimg.cli.frame.finish`)."""
    with command(quiet=a.quiet, debug=a.debug, numpy_threads=False) as reporter:
        level = dither_level(a.dither, a.no_dither)
        goal = _goal(a.quality, a.target_psnr, a.target_ssim, a.target_de)
        palettes = (a.palette_file, a.shared, a.palette_out)
        colors = _search_colors(goal, a.colors, a.colors_given, palettes)
        plan = palette_cli.plan_palette(
            a.palette_file, shared=a.shared, palette_out=a.palette_out, keep=a.keep, k=colors,
            k_given=a.colors_given, posterize=a.posterize > 0,
        )  # fmt: skip
        options = checked(
            QuantizeOptions, k=colors, seed=a.seed, space=a.space, dither=level, sample=a.sample,
            keep=plan.keep_rows, transparent_index=a.transparent_index, alpha_threshold=a.alpha_threshold,
            nearest=a.nearest, posterize=a.posterize,
        )  # fmt: skip
        if a.ext is not None and a.output is not None:
            raise UsageError("give -o/--output or --ext, not both")
        suffix = output_suffix(colors, a.palette_file, a.ext, goal)
        tasks, refused, skipped = plan_outputs(
            list(a.inputs), suffix=suffix, output=a.output, out_dir=a.out_dir, recursive=a.recursive,
            force=a.force, in_place=a.ext is not None and a.force, skip_existing=a.skip_existing,
            naming_rule=a.ext is None and a.palette_file is None,
        )  # fmt: skip
        for source, reason in skipped.items():
            reporter.notice(f"{source}: skipped: {reason}")
        _check_streams(tasks, a.json_dest)
        per_frame = _frame_palettes(a.frame_palettes, tasks, goal, palettes)
        fixed = palette_cli.palette_for(
            plan, tasks, options, reporter=reporter, jobs=a.jobs, scheduler=a.scheduler,
            max_pixels=a.max_pixels, allow_truncated=a.allow_truncated,
        )  # fmt: skip
        measure = _measure(a.json_dest, reporter)
        common = (options, a.max_pixels, a.allow_truncated, measure, fixed, plan.source)
        runnable = _runnable(
            tasks, refused, common, skip_if_larger=a.skip_if_larger, optimize=a.optimize, strip=a.strip,
            goal=goal, frame_palettes=per_frame,
        )  # fmt: skip
        outcome = run_batch(
            runnable, quantize_one, listener=reporter, jobs=a.jobs, scheduler=a.scheduler,
            fail_fast=a.fail_fast, label="quantizing", refused=refused,
        )  # fmt: skip
        if a.json_dest is not None:
            from kmimg.cli.documents import quantize_document, write_json  # json: only with --json

            write_json(quantize_document(outcome.results, outcome.failures, skipped), a.json_dest)
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
    goal: QualityGoal | None, colors: int, colors_given: bool, palettes: tuple[Any, ...]
) -> int:
    """The palette size: ``-k``; in quality mode the largest the search may use (256 when ``-k``
    is not given), and no ``--palette``, ``--shared-palette`` or ``--palette-out``."""
    if goal is None:
        return colors
    if _palette_given(palettes):
        raise UsageError("--quality and --target-* fit a palette per image: not with --palette or shared")
    return colors if colors_given else QUALITY_MAX_K


def _palette_given(palettes: tuple[Any, ...]) -> bool:
    """Whether ``--palette``, ``--shared-palette`` or ``--palette-out`` is on the line."""
    return any(given not in (None, False) for given in palettes)


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
    one_palette = goal is not None or _palette_given(palettes)
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
    return checked(QualityGoal, minimum=minimum, maximum=maximum, psnr=psnr, ssim=ssim, delta_e=delta_e)


def _check_streams(tasks: list[tuple[InputItem, str]], json_dest: str | None) -> None:
    """A PNG on standard output shares it with nothing and never goes to a terminal."""
    if any(target == STDIO for _, target in tasks):
        if json_dest == STDIO:
            raise UsageError("--json - and a PNG on standard output cannot share it")
        if sys.stdout is not None and sys.stdout.isatty():
            raise UsageError("refusing to write PNG data to a terminal; redirect it or use -o PATH")
    check_side_output(json_dest, "--json", tasks)


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
