"""``kmimg compress-report``: how many colours does an image need?

Sweeps k over one or more images (:func:`kmimg.core.report.compress_report`), recommends the smallest
k meeting a quality target, and shows the same numbers as a terminal table, JSON, a contact sheet
PNG (:mod:`kmimg.render.sheet`) and a self-contained HTML page (:mod:`kmimg.render.html`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from kmimg._records import frozen
from kmimg.cli import _options as opt
from kmimg.cli._dither import BareDither, DitherLevel, NoDither
from kmimg.cli.checks import dither_level
from kmimg.cli.documents import report_document, write_json
from kmimg.cli.frame import Reporter, command, finish
from kmimg.jobs.batch import run_batch
from kmimg.jobs.paths import (
    STDIO,
    check_side_output,
    expand_inputs,
)
from kmimg.jobs.pool import scheduler_address
from kmimg.jobs.report import (
    SHEET_SUFFIX,
    ReportRecord,
    ReportTask,
    check_single_output,
    plan_best,
    plan_sheets,
    report_one,
    report_targets,
)
from kmimg.jobs.tasks import ImageInput, Outcome
from kmimg.options import (
    DEFAULT_KS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_TARGET_PSNR,
    SHEET_MIN_THUMB,
    SHEET_THUMB,
    QuantizeOptions,
    parse_ks,
)
from kmimg.types import ColorSpace, psnr_text

if TYPE_CHECKING:
    from kmimg.core.report import DitheredResult, Target

DEFAULT_KS_TEXT = ",".join(map(str, DEFAULT_KS))


def register(app: typer.Typer) -> None:
    app.command("compress-report", cls=BareDither)(compress_report_command)


def compress_report_command(
    inputs: opt.Inputs,
    ks_text: Annotated[
        str,
        typer.Option(
            "--ks",
            help="Palette sizes to try, comma-separated (2-256).",
            callback=opt.checked_by("kmimg.options", "parse_ks"),
            metavar="K,K,...",
        ),
    ] = DEFAULT_KS_TEXT,
    target_psnr: Annotated[
        Optional[float],  # noqa: UP045 - Typer resolves annotations at run time
        typer.Option(
            "--target-psnr",
            help="Recommend the fewest colours (searched up to 256) with PSNR ≥ this many dB [default "
            f"when no target is given: "
            f"{DEFAULT_TARGET_PSNR:g}].",
            min=0.0,
            show_default=False,
        ),
    ] = None,
    target_ssim: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--target-ssim",
            help="Recommend the fewest colours with SSIM ≥ this (at most 1).",
            min=-1.0,
            max=1.0,
        ),
    ] = None,
    target_de: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--target-de",
            help="Recommend the fewest colours with mean ΔE2000 ≤ this. Several targets must all hold.",
            min=0.0,
        ),
    ] = None,
    write_best: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--write-best",
            help="Write each image's recommended PNG into this folder as NAME-kK.png.",
            file_okay=False,
            metavar="DIR",
        ),
    ] = None,
    sheet: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--sheet",
            help="Contact sheet: PATH ending in .png (one input; overwrites) or a folder "
            f"receiving NAME{SHEET_SUFFIX} per input.",
            metavar="PATH",
        ),
    ] = None,
    thumb: Annotated[
        int,
        typer.Option(
            "--thumb", help="Longest side of each contact-sheet thumbnail, pixels.", min=SHEET_MIN_THUMB
        ),
    ] = SHEET_THUMB,
    html: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--html", help="Write one self-contained HTML report for all inputs (overwrites).", metavar="PATH"
        ),
    ] = None,
    recursive: opt.Recursive = False,
    force: opt.Force = False,
    seed: opt.Seed = QuantizeOptions.seed,
    space: opt.QuantizeSpace = QuantizeOptions.space,
    dither: DitherLevel = None,
    no_dither: NoDither = False,
    json_dest: opt.JsonDest = None,
    quiet: opt.Quiet = False,
    jobs: opt.Jobs = None,
    scheduler: opt.Scheduler = None,
    fail_fast: opt.FailFast = False,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    allow_truncated: opt.AllowTruncated = False,
    debug: opt.Debug = False,
) -> None:
    """Quantize images at several k and report size against quality; recommend the fewest colours
    meeting a target (default PSNR ≥ 32 dB), searched up to 256, not only among the ks.

    Prints a table per image on a terminal; --json, --sheet, --html and --write-best save the
    same numbers and pictures. Nothing is written unless asked for. With --dither, every k is
    also measured and shown dithered (the recommendation stays on the undithered PNGs).

    Example: kmimg compress-report sample_images/flower.jpg --sheet out/flower.png --html out/flower.html
    """
    with command(quiet=quiet, debug=debug, numpy_threads=False) as reporter:
        ks = parse_ks(ks_text)
        level = dither_level(dither, no_dither)
        targets = report_targets(target_psnr, target_ssim, target_de)
        items = expand_inputs(inputs, recursive=recursive)
        sheets, refused = plan_sheets(items, sheet, force=force)
        plan_best(items, write_best, ks)
        check_single_output(items, html, "--html")
        outputs = [(item, str(sheets.get(item.source, STDIO))) for item in items]
        check_side_output(json_dest, "--json", outputs)
        check_side_output(str(html) if html is not None else None, "--html", outputs)
        make_task = functools.partial(
            ReportTask,
            ks=ks,
            targets=targets,
            seed=seed,
            space=space,
            max_pixels=max_pixels,
            best_dir=write_best,
            keep_sheet=html is not None,
            thumb=thumb,
            force=force,
            allow_truncated=allow_truncated,
            dither=level,
        )
        tasks = [
            make_task(ImageInput(item.source), relative=item.relative, sheet_path=sheets.get(item.source))
            for item in items
            if item.source not in refused
        ]
        address = scheduler_address(jobs, scheduler)
        outcome = _run(tasks, reporter, jobs=jobs, scheduler=address, fail_fast=fail_fast, refused=refused)
        _warn_unmet(reporter, outcome.results, best_requested=write_best is not None)
        settings = _Settings(ks, targets, seed, space, level)
        _write_documents(outcome, settings, json_dest=json_dest, html=html)
        if reporter.fancy:
            _print_tables(reporter, outcome.results)
        finish(outcome)


def _run(
    tasks: list[ReportTask],
    reporter: Reporter,
    *,
    jobs: int | None,
    scheduler: str | None,
    fail_fast: bool,
    refused: dict[str, str],
) -> Outcome[ReportRecord]:
    if len(tasks) == 1 and reporter.fancy and scheduler is None:
        # One image: show progress over its ks instead of over images.
        with reporter.progress(len(tasks[0].ks), f"{tasks[0].display}: k sweep") as advance:
            work = functools.partial(report_one, progress=lambda k: advance(str(k)))
            return run_batch(tasks, work, listener=reporter, jobs=1, refused=refused)
    return run_batch(
        tasks,
        report_one,
        listener=reporter,
        jobs=jobs,
        scheduler=scheduler,
        fail_fast=fail_fast,
        label="compress-report",
        refused=refused,
    )


def _warn_unmet(reporter: Reporter, records: list[ReportRecord], *, best_requested: bool) -> None:
    """Say clearly, even without a terminal, which images no k is good enough for."""
    for record in records:
        report = record.report
        if report.recommended_k is None:
            wanted = ", ".join(target.describe() for target in report.targets)
            ks = ",".join(str(step.k) for step in report.steps)
            extra = "; no best PNG written" if best_requested else ""
            reporter.warning(
                f"{record.display}: no k up to 256 meets {wanted} (ks {ks}, then searched){extra}"
            )


# ----------------------------------------------------------------------------- documents


@frozen
class _Settings:
    """The settings of the whole run, for the documents."""

    ks: tuple[int, ...]
    targets: tuple[Target, ...]
    seed: int
    space: ColorSpace
    dither: float


def _write_documents(
    outcome: Outcome[ReportRecord], settings: _Settings, *, json_dest: str | None, html: Path | None
) -> None:
    ks, targets, seed, space = settings.ks, settings.targets, settings.seed, settings.space
    if json_dest is not None:
        write_json(report_document(outcome, ks, targets, seed, space, dither=settings.dither), json_dest)
    if html is not None:
        from kmimg import __version__
        from kmimg.core.report import aggregate
        from kmimg.io import write_atomic
        from kmimg.render.html import HtmlEntry, render_html

        entries = [
            HtmlEntry(record.display, record.input_format, record.report, record.sheet_png)
            for record in outcome.results
        ]
        wanted = ", ".join(target.describe() for target in targets)
        dithered = f"dither {settings.dither:g}; " if settings.dither else ""
        line = (
            f"ks {', '.join(map(str, ks))}; target {wanted}; seed {seed}; space {space.value}; "
            f"{dithered}kmimg {__version__}"
        )
        page = render_html(
            entries,
            summary=aggregate(record.report for record in outcome.results),
            failures=[(failure.source, failure.reason) for failure in outcome.failures],
            settings=line,
        )
        write_atomic(html, page.encode("utf-8"), parents=True)


# ----------------------------------------------------------------------------- terminal


def _print_tables(reporter: Reporter, records: list[ReportRecord]) -> None:
    console = reporter.console()
    for record in records:
        console.print(_image_table(record))
    if len(records) > 1:
        console.print(_summary_table(records))


def _image_table(record: ReportRecord) -> Any:
    from rich.table import Table

    from kmimg.core.report import dither_note, human_bytes

    report = record.report
    wanted = ", ".join(target.describe() for target in report.targets)
    title = (
        f"{record.display}  {report.width}×{report.height}, {human_bytes(report.input_bytes)} "
        f"{record.input_format}, plain PNG {human_bytes(report.png24_bytes)}"
    )
    best = report.recommended
    if best is None:
        caption = f"[bold red]no k meets {wanted}[/]"
    else:
        caption = (
            f"[bold green]recommended: k={best.k}[/] (fewest colours meeting {wanted}): "
            f"{human_bytes(best.png_bytes)}, {best.ratio_vs_input:.2f}× smaller than the input"
        )
    note = dither_note(report)
    if note is not None:
        caption += f"\n{note}"
    table = Table(title=title, caption=caption, show_edge=False, title_justify="left", caption_justify="left")
    columns = ["k", "bytes", "× input", "× PNG24", "bpp", "PSNR dB", "SSIM", "ΔE2000", "s", ""]
    if report.dither:
        columns[-1:-1] = _DITHERED_COLUMNS
    for column in columns:
        table.add_column(column, justify="left" if column == "" else "right")
    for step in report.steps:
        mark = "◀ recommended" if step.k == report.recommended_k else ("meets" if step.meets_target else "")
        cells = [
            str(step.k),
            f"{step.png_bytes:,}",
            f"{step.ratio_vs_input:.2f}×",
            f"{step.ratio_vs_png24:.2f}×",
            f"{step.bits_per_pixel:.3f}",
            psnr_text(step.psnr),
            f"{step.ssim:.4f}",
            f"{step.delta_e:.2f}",
            f"{step.seconds:.2f}",
        ]
        if step.dithered is not None:
            cells += _dithered_cells(step.dithered)
        table.add_row(*cells, mark, style="bold green" if step.k == report.recommended_k else None)
    return table


#: The columns of each k dithered, after the undithered ones.
_DITHERED_COLUMNS = ["dithered bytes", "PSNR", "SSIM", "ΔE2000"]


def _dithered_cells(dithered: DitheredResult) -> list[str]:
    return [
        f"{dithered.png_bytes:,} ({dithered.bytes_vs_plain:.2f}×)",
        psnr_text(dithered.psnr),
        f"{dithered.ssim:.4f}",
        f"{dithered.delta_e:.2f}",
    ]


def _summary_table(records: list[ReportRecord]) -> Any:
    from rich.table import Table

    from kmimg.core.report import aggregate, human_bytes

    table = Table(title="summary at the recommended k", show_edge=False, title_justify="left")
    for column in ("image", "input", "PNG24", "k", "PNG at k", "saved vs input", "saved vs PNG24", "PSNR dB"):
        table.add_column(column, justify="left" if column == "image" else "right")
    for record in records:
        report = record.report
        best = report.recommended
        if best is None:
            table.add_row(
                record.display, human_bytes(report.input_bytes), human_bytes(report.png24_bytes), "none"
            )
            continue
        table.add_row(
            record.display,
            human_bytes(report.input_bytes),
            human_bytes(report.png24_bytes),
            str(best.k),
            human_bytes(best.png_bytes),
            _signed(report.input_bytes - best.png_bytes),
            _signed(report.png24_bytes - best.png_bytes),
            psnr_text(best.psnr),
        )
    total = aggregate(record.report for record in records)
    table.add_section()
    table.add_row(
        f"total ({total.recommended}/{total.images} meet the target)",
        human_bytes(total.input_bytes),
        human_bytes(total.png24_bytes),
        "",
        human_bytes(total.recommended_bytes),
        _signed(total.saved_vs_input),
        _signed(total.saved_vs_png24),
        "",
        style="bold",
    )
    return table


def _signed(count: int) -> str:
    from kmimg.core.report import human_bytes

    return ("−" if count < 0 else "") + human_bytes(abs(count))
