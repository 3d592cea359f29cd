"""The per-file work of ``kmimg compress-report`` (and :func:`kmimg.compress_report_files`): one
image swept over k, its recommended PNG and contact sheet made; its record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kmimg._records import frozen
from kmimg.jobs.paths import STDIO, InputItem, display_name, output_path
from kmimg.jobs.tasks import FileTask, Produced, Stopwatch
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
