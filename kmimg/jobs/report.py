"""The per-file work of ``kmimg compress-report`` (and :func:`kmimg.compress_report_files`): one
image swept over k, its recommended PNG and contact sheet made; its record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kmimg._records import frozen
from kmimg.errors import UsageError
from kmimg.io.files import check_writable_folder
from kmimg.jobs.paths import STDIO, InputItem, check_outputs, display_name, output_path
from kmimg.jobs.tasks import FileTask, Produced, Stopwatch
from kmimg.options import DEFAULT_TARGET_PSNR
from kmimg.types import ColorSpace

if TYPE_CHECKING:
    from kmimg.core.report import CompressReport, Target


@frozen
class ReportTask(FileTask):
    """One image to sweep and where its optional outputs go."""

    relative: Path
    ks: tuple[int, ...]
    targets: tuple[Target, ...]
    seed: int
    space: ColorSpace
    max_pixels: int
    best_dir: Path | None
    sheet_path: Path | None
    keep_sheet: bool
    thumb: int
    force: bool
    allow_truncated: bool = False
    #: Also measure each k dithered at this level (0 = not).
    dither: float = 0.0

    @property
    def display(self) -> str:
        return display_name(self.source)


@frozen
class ReportRecord:
    """The outcome of one image: its report (PNG bytes dropped) and what was written."""

    source: str
    input_format: str
    report: CompressReport
    best_output: str | None
    sheet_output: str | None
    sheet_png: bytes | None
    seconds: float

    @property
    def display(self) -> str:
        return display_name(self.source)


def report_one(task: ReportTask, progress: Callable[[int], None] | None = None) -> Produced[ReportRecord]:
    """Sweep one image; returns its record and its best PNG and contact sheet (runs in a worker,
    touches no file: the batch room writes them, refusing an existing best PNG without --force)."""
    from kmimg.core.report import compress_report
    from kmimg.io import OutputFile, encode_png
    from kmimg.render.sheet import report_sheet

    clock = Stopwatch()
    picture = task.input.load(max_pixels=task.max_pixels, allow_truncated=task.allow_truncated)
    report = compress_report(
        picture.rgb,
        picture.alpha,
        input_bytes=picture.byte_size,
        ks=task.ks,
        targets=task.targets,
        seed=task.seed,
        space=task.space,
        dither=task.dither,
        progress=progress,
    )
    best_path = _best_path(task, report)
    sheet_png = None
    if task.sheet_path is not None or task.keep_sheet:
        name = task.display if task.source == STDIO else Path(task.source).name
        pixels = report_sheet(
            picture.rgb, picture.alpha, report, name=name, input_format=picture.format, thumb=task.thumb
        )
        sheet_png = encode_png(pixels)
    files = []
    if best_path is not None and report.recommended_k is not None:
        png = report.pngs[report.recommended_k]
        files.append(OutputFile(str(best_path), png, refuse_existing=not task.force))
    if task.sheet_path is not None and sheet_png is not None:
        files.append(OutputFile(str(task.sheet_path), sheet_png))
    record = ReportRecord(
        source=task.source,
        input_format=picture.format,
        report=report.without_pngs(),
        best_output=None if best_path is None else str(best_path),
        sheet_output=None if task.sheet_path is None else str(task.sheet_path),
        sheet_png=sheet_png if task.keep_sheet else None,
        seconds=clock.seconds(),
    )
    return Produced(record, tuple(files))


def _best_path(task: ReportTask, report: CompressReport) -> Path | None:
    """Where the recommended PNG goes (None: not asked for, or no k meets the target). Whether
    it exists already is checked where it is written, on this machine."""
    if task.best_dir is None or report.recommended_k is None:
        return None
    item = InputItem(task.source, task.relative)
    return output_path(item, suffix=f"-k{report.recommended_k}.png", out_dir=task.best_dir)


SHEET_SUFFIX = "-sheet.png"


def report_targets(psnr: float | None, ssim: float | None, delta_e: float | None) -> tuple[Target, ...]:
    from kmimg.core.report import Metric, Target

    given = [(Metric.PSNR, psnr), (Metric.SSIM, ssim), (Metric.DELTA_E, delta_e)]
    try:
        targets = tuple(Target(metric, value) for metric, value in given if value is not None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return targets or (Target(Metric.PSNR, DEFAULT_TARGET_PSNR),)


def plan_sheets(
    items: list[InputItem], sheet: Path | None, *, force: bool
) -> tuple[dict[str, Path], dict[str, str]]:
    """Each input's contact sheet path, and inputs refused because theirs exists (no --force)."""
    if sheet is None:
        return {}, {}
    if sheet.suffix.lower() == ".png":
        if len(items) != 1:
            raise UsageError("--sheet FILE.png takes one input; give a folder for several inputs")
        check_single_output(items, sheet, "--sheet")
        return {items[0].source: sheet}, {}
    check_writable_folder(sheet)
    pairs = [(item, output_path(item, suffix=SHEET_SUFFIX, out_dir=sheet)) for item in items]
    refused = check_outputs(pairs, force=force)
    return {item.source: path for item, path in pairs}, refused


def plan_best(items: list[InputItem], best_dir: Path | None, ks: tuple[int, ...]) -> None:
    """Check the --write-best folder can be made; refuse, for every k that may be recommended, two inputs
    that would share a file name and a file name that is an input (even with --force).

    Whether the recommended file already exists is checked after the sweep, when k is known.
    """
    if best_dir is None:
        return
    check_writable_folder(best_dir)
    for k in ks:
        check_outputs(
            [(item, output_path(item, suffix=f"-k{k}.png", out_dir=best_dir)) for item in items], force=True
        )


def check_single_output(items: list[InputItem], target: Path | None, option: str) -> None:
    if target is None:
        return
    if target.is_dir():
        raise UsageError(f"{option} {target} is a folder; give a file name")
    for item in items:
        check_outputs([(item, target)], force=True)
