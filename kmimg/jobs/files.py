"""Batches from Python: :func:`quantize_files`, :func:`segment_files`,
:func:`compress_report_files` and :func:`classify_files` run the command line's per-file work on
the same executors (in this process, on ``jobs`` worker processes, or on the Dask cluster at
``scheduler``), with the same output names, overwrite policy and bytes.

Each returns one :class:`FileResult` per input (files, and the images found in folders, in the
order the command line takes them): its record, or the one-line reason it failed, and the
warnings it raised. A failed input raises nothing; options that cannot work raise before any
input is read (``ValueError``, or :class:`~kmimg.errors.UsageError` as the command line's usage
errors, for example an output that would overwrite an input).

The reasons and warnings are the command line's lines, so they name its options: each is the
keyword argument of the same name here (``use --force`` is ``force=True``, ``--max-pixels`` is
``max_pixels=``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union

import numpy as np

from kmimg._records import frozen
from kmimg.jobs.batch import Silent, run_batch
from kmimg.jobs.tasks import Failure, ImageInput
from kmimg.options import (
    DEFAULT_KS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_OPTIMIZE,
    DEFAULT_SAMPLE,
    QUALITY_MAX_K,
    SHEET_THUMB,
    FeatureOptions,
    GroupOptions,
)
from kmimg.types import ColorSpace, FeatureKind, PaletteWeight

if TYPE_CHECKING:
    from kmimg.api import PaletteResult
    from kmimg.jobs.palette import Measured
    from kmimg.jobs.paths import InputItem
    from kmimg.jobs.quantize import QuantizedFile
    from kmimg.jobs.report import ReportRecord
    from kmimg.jobs.segment import SegmentedFile

R = TypeVar("R")
#: Inputs of a batch: one path or folder, or several.
Inputs = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


@frozen
class FileResult(Generic[R]):
    """One input of a batch: ``record`` (what the command's JSON document says of it) when it
    succeeded, else ``error`` (one line); ``outputs`` the files written for it; ``warnings``
    what it raised (``<input>: <message>``)."""

    input: str
    record: R | None = None
    error: str | None = None
    outputs: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


@frozen
class Membership:
    """Where :func:`classify_files` put one image: its cluster and its distance to the centre."""

    cluster: int
    distance: float


def _executor(jobs: int | None, scheduler: str | None) -> None:
    if jobs is not None and scheduler:
        raise ValueError("give jobs or scheduler, not both")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a positive integer or None (one per core), got {jobs!r}")


def _sources(inputs: Inputs) -> list[str]:
    listed = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not listed:
        raise ValueError("inputs must name at least one file or folder")
    sources = [os.fspath(item) for item in listed]
    if "-" in sources:
        raise ValueError("inputs: '-' (standard input) is the command line's; pass a path")
    return sources


def _per_input(
    items: Sequence[InputItem],
    done: dict[str, R],
    failures: Sequence[Failure],
    listener: Silent,
    *,
    outputs_of: Callable[[R], tuple[str, ...]],
) -> list[FileResult[R]]:
    """One :class:`FileResult` per planned input, in order: its record in ``done`` (by
    source), else its failure."""
    failed = {failure.source: failure for failure in failures}
    results = []
    for item in items:
        notes = tuple(note for note in listener.warnings if note.startswith(f"{item.source}: "))
        record = done.get(item.source)
        if record is not None:
            results.append(FileResult(item.source, record, None, outputs_of(record), notes))
        else:
            failure = failed.get(item.source)
            reason = failure.reason if failure else "not started (an earlier input failed: fail_fast)"
            results.append(FileResult(item.source, None, reason, (), notes))
    return results


def _run_per_input(
    tasks: Sequence[Any],
    work: Callable[[Any], Any],
    items: Sequence[InputItem],
    refused: dict[str, str],
    *,
    source_of: Callable[[Any], str],
    outputs_of: Callable[[Any], tuple[str, ...]],
    jobs: int | None,
    scheduler: str | None,
    fail_fast: bool,
    listener: Silent | None = None,
) -> list[FileResult[Any]]:
    """``tasks`` run on the command line's executors, then one :class:`FileResult` per planned
    input (:func:`_per_input`), each record found by its input's source."""
    listener = listener or Silent()
    outcome = run_batch(
        tasks, work, listener=listener, jobs=jobs, scheduler=scheduler, fail_fast=fail_fast, refused=refused
    )
    done = {source_of(record): record for record in outcome.results}
    return _per_input(items, done, outcome.failures, listener, outputs_of=outputs_of)


def _refuse_one_palette(frame_palettes: bool | None, one_palette: bool) -> bool:
    """Whether animated GIF outputs get a colour table per frame where it pays: ``False`` no,
    ``None`` (the default) unless a palette is given, shared or searched for (``one_palette``),
    ``True`` yes, then a ``ValueError`` with ``one_palette``."""
    if frame_palettes and one_palette:
        raise ValueError("frame_palettes fits a palette per frame: not with palette, shared or quality")
    return not one_palette if frame_palettes is None else bool(frame_palettes)


def _check_gif_outputs(frame_palettes: bool | None, planned: list[tuple[Any, str]]) -> None:
    """``frame_palettes=True`` gives each GIF frame its own colour table: every output a GIF
    (the default, ``None``, keeps one palette in APNG and WebP outputs)."""
    from kmimg.io.formats import output_format

    if frame_palettes and any(output_format(target) != "GIF" for _, target in planned):
        raise ValueError("frame_palettes writes GIFs (ext='.gif'): an APNG or a WebP holds one palette")


def quantize_files(
    inputs: Inputs,
    k: int | None = None,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    space: ColorSpace | str = ColorSpace.RGB,
    dither: float | bool = 0.0,
    palette: Any = None,
    shared_palette: bool = False,
    keep: Any = (),
    seed: int = 0,
    sample: int = DEFAULT_SAMPLE,
    transparent_index: int | None = None,
    alpha_threshold: int | None = None,
    nearest: str = "plain",
    posterize: int = 0,
    quality: Any = None,
    target_psnr: float | None = None,
    target_ssim: float | None = None,
    target_de: float | None = None,
    skip_if_larger: bool = False,
    ext: str | None = None,
    recursive: bool = False,
    force: bool = False,
    skip_existing: bool = False,
    jobs: int | None = None,
    scheduler: str | None = None,
    fail_fast: bool = False,
    measure: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_truncated: bool = False,
    optimize: int = DEFAULT_OPTIMIZE,
    strip: bool = False,
    frame_palettes: bool | None = None,
) -> list[FileResult[QuantizedFile]]:
    """``kmimg quantize`` over files and folders: each input's indexed PNG written as
    ``NAME-kK.png`` next to it or into ``out_dir`` (``NAME-PALETTE.png`` with a palette file,
    ``NAME-qMIN-MAX.png`` in quality mode, ``NAME+EXT`` with ``ext``), the same bytes as the
    command line's (an animated GIF, APNG or WebP input gives an APNG of every frame on one
    palette; ``record.frames`` counts them). ``palette`` maps onto given colours (a palette
    file's path, a :class:`~kmimg.Palette` or rows); ``shared_palette`` fits one palette across all inputs
    first; ``transparent_index``, ``alpha_threshold``, ``nearest``, ``posterize``, ``quality`` and
    ``target_*`` as in :func:`kmimg.quantize` (``k`` then defaults to 256), and ``optimize``,
    ``strip`` (``--optimize``, ``--strip``); ``frame_palettes``: ``None`` (the default) gives an
    animated GIF output's frames colour tables of their own where that pays unless a palette is
    given, shared or searched for (``True``: always, GIF outputs only, ``ext=".gif"``, else a
    ``ValueError``; ``False``: one palette, ``--one-palette``). ``skip_if_larger``,
    ``ext``, ``skip_existing`` as ``--skip-if-larger``, ``--ext``, ``--skip-existing``: an
    input not written on purpose has a record whose ``skipped`` says why (``"larger"``,
    ``"quality"``) and no outputs; inputs skipped before any work (``skip_existing``, outputs of
    the naming rule) are not in the list. ``jobs``: worker processes (``None``: one per core;
    ``DASK_SCHEDULER_ADDRESS``, when set, as the command line); ``scheduler``: a Dask
    scheduler's address.

    Examples
    --------
    >>> import kmimg
    >>> done = kmimg.quantize_files("sample_images", 8, out_dir="out/q8", jobs=2, force=True)
    >>> [(r.input, r.ok, r.record.colors_used) for r in done][:2]
    [('sample_images/astronaut.png', True, 8), ('sample_images/chelsea.png', True, 8)]
    """
    _executor(jobs, scheduler)
    from kmimg.api import check_optimize, palette_rows, quality_goal, quantize_options
    from kmimg.jobs.quantize import QuantizeTask, output_suffix, plan_outputs, quantize_one

    goal = quality_goal(quality, target_psnr, target_ssim, target_de)
    _refuse_palette_clashes(goal, palette, shared_palette, posterize)
    per_frame = _refuse_one_palette(frame_palettes, goal is not None or palette is not None or shared_palette)
    k = (QUALITY_MAX_K if goal is not None else 16) if k is None else k
    options = quantize_options(
        k, space=space, dither=dither, keep=keep, seed=seed, sample=sample,
        transparent_index=transparent_index, alpha_threshold=alpha_threshold, nearest=nearest,
        posterize=posterize,
    )  # fmt: skip
    fixed = None if palette is None else palette_rows(palette, k=k)
    by_file = os.fspath(palette) if isinstance(palette, (str, os.PathLike)) else None
    suffix = output_suffix(k, by_file, ext, goal)
    planned, refused, _skipped = plan_outputs(
        _sources(inputs), suffix=suffix, output=None, out_dir=_folder(out_dir), recursive=recursive,
        force=force, in_place=ext is not None and force, skip_existing=skip_existing,
        naming_rule=ext is None and by_file is None,
    )  # fmt: skip
    listener, source = Silent(), "fitted" if palette is None else (by_file or "given")
    if shared_palette:
        fixed, failed = _shared(planned, options, listener, jobs, scheduler, max_pixels, allow_truncated)
        if failed is not None:
            return _per_input([item for item, _ in planned], {}, failed, listener, outputs_of=lambda _: ())
        options, source = dataclasses.replace(options, keep=()), "shared"
    common = (options, max_pixels, allow_truncated, measure, fixed, source)
    level, bare = check_optimize(optimize), bool(strip)
    _check_gif_outputs(frame_palettes, planned)
    tasks = [
        QuantizeTask(
            ImageInput(i.source),
            t,
            *common,
            skip_if_larger=skip_if_larger,
            optimize=level,
            strip=bare,
            goal=goal,
            frame_palettes=per_frame,
        )
        for i, t in planned
        if i.source not in refused
    ]
    return _run_per_input(
        tasks, quantize_one, [item for item, _ in planned], refused, source_of=lambda r: r.task.source,
        outputs_of=lambda r: () if r.skipped else (r.task.target,), jobs=jobs, scheduler=scheduler,
        fail_fast=fail_fast, listener=listener,
    )  # fmt: skip


def _refuse_palette_clashes(goal: Any, palette: Any, shared_palette: bool, posterize: int) -> None:
    """:func:`quantize_files`' options that need a palette fitted per image, given one."""
    if goal is not None and (palette is not None or shared_palette):
        raise ValueError("quality and target_* fit a palette per image: not with palette or shared_palette")
    if posterize and palette is not None:
        raise ValueError("posterize changes a fitted palette: not with palette")


def _folder(path: str | os.PathLike[str] | None) -> Path | None:
    return None if path is None else Path(path)


def _shared(
    planned: list[tuple[InputItem, str]],
    options: Any,
    listener: Silent,
    jobs: int | None,
    scheduler: str | None,
    max_pixels: int,
    allow_truncated: bool,
) -> tuple[Any, list[Failure] | None]:
    """The shared palette's ``(m, 4)`` entries (``quantize --shared-palette``), or the failures
    of the histogram pass when an input failed (then nothing is mapped)."""
    import numpy as np

    from kmimg.jobs.palette import merge_histograms, shared_colors
    from kmimg.types import PaletteWeight

    total, outcome = merge_histograms(
        [ImageInput(item.source) for item, _ in planned], weight=PaletteWeight.PIXELS, listener=listener,
        jobs=jobs, scheduler=scheduler, max_pixels=max_pixels, allow_truncated=allow_truncated,
    )  # fmt: skip
    if outcome.failures:
        return None, outcome.failures
    keep = np.array(options.keep, dtype=np.uint8).reshape(-1, 3) if options.keep else None
    _, colors = shared_colors(total, options, keep=keep, title="kmimg")
    return colors, None


def segment_files(
    inputs: Inputs,
    k: int = 2,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    emit: str = "seg,cutout,contours",
    contour_color: str | tuple[int, int, int] | None = None,
    recursive: bool = False,
    force: bool = False,
    jobs: int | None = None,
    scheduler: str | None = None,
    fail_fast: bool = False,
    measure: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_truncated: bool = False,
    **options: Any,
) -> list[FileResult[SegmentedFile]]:
    """``kmimg segment`` over files and folders: the ``emit`` outputs (``seg``, ``labels``,
    ``masks``, ``cutout``, ``contours`` or ``all``) of each input written as ``NAME-seg.png``...
    next to it or into ``out_dir``. The other options are :func:`kmimg.segment`'s (``sigma``,
    ``max_side``, ``spatial``, ``space``, ``flatten``, ``min_region``, ``background``, ``seed``).

    Examples
    --------
    >>> import kmimg
    >>> done = kmimg.segment_files(["sample_images/coins.png"], 2, out_dir="out/seg", emit="seg,labels")
    >>> done[0].outputs
    ('out/seg/coins-seg.png', 'out/seg/coins-labels.png')
    """
    _executor(jobs, scheduler)
    from kmimg.api import contour_rgb, segment_options
    from kmimg.jobs.segment import SegmentTask, parse_emit, plan_outputs, segment_one

    space, seed = options.pop("space", "lab"), options.pop("seed", 0)
    checked = segment_options(k, space=space, seed=seed, **options)
    wanted, color = parse_emit(emit), contour_rgb(contour_color)
    planned, refused = plan_outputs(
        _sources(inputs),
        wanted=wanted,
        k=checked.k,
        out_dir=_folder(out_dir),
        recursive=recursive,
        force=force,
    )
    tasks = [
        SegmentTask(
            ImageInput(item.source), targets, masks, checked, max_pixels, color, allow_truncated, measure
        )
        for item, targets, masks in planned
        if item.source not in refused
    ]
    return _run_per_input(
        tasks, segment_one, [item for item, _, _ in planned], refused, source_of=lambda r: r.task.source,
        outputs_of=lambda r: (*r.task.targets.values(), *r.task.masks), jobs=jobs, scheduler=scheduler,
        fail_fast=fail_fast,
    )  # fmt: skip


def compress_report_files(
    inputs: Inputs,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    target_psnr: float | None = None,
    target_ssim: float | None = None,
    target_de: float | None = None,
    write_best: str | os.PathLike[str] | None = None,
    sheet: str | os.PathLike[str] | None = None,
    thumb: int = SHEET_THUMB,
    space: ColorSpace | str = ColorSpace.RGB,
    dither: float | bool = 0.0,
    seed: int = 0,
    recursive: bool = False,
    force: bool = False,
    jobs: int | None = None,
    scheduler: str | None = None,
    fail_fast: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_truncated: bool = False,
) -> list[FileResult[ReportRecord]]:
    """``kmimg compress-report`` over files and folders: each image quantized at every k of
    ``ks``, measured, and the fewest colours meeting the targets recommended (PSNR >= 32 dB when
    no target is given; found by a search up to 256, and measured with the ks when it is not
    one); ``write_best`` (a folder) receives each recommended PNG, ``sheet`` (a folder, or a
    ``.png`` for one input) the contact sheets.

    Examples
    --------
    >>> import kmimg
    >>> done = kmimg.compress_report_files("sample_images/flower.jpg", [16, 64, 256], write_best="out/best")
    >>> done[0].record.report.recommended_k, done[0].outputs
    (35, ('out/best/flower-k35.png',))
    """
    _executor(jobs, scheduler)
    from kmimg.api import quantize_options
    from kmimg.jobs.paths import expand_inputs
    from kmimg.jobs.report import ReportTask, plan_best, plan_sheets, report_one, report_targets

    checked = quantize_options(2, space=space, dither=dither, seed=seed)
    steps = tuple(sorted({k for k in ks}))
    if any(isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 256 for k in steps):
        raise ValueError(f"ks must hold palette sizes 2-256, got {list(ks)}")
    if not steps:
        raise ValueError("ks must hold at least one k")
    targets = report_targets(target_psnr, target_ssim, target_de)
    items = expand_inputs(_sources(inputs), recursive=recursive)
    sheets, refused = plan_sheets(items, _folder(sheet), force=force)
    plan_best(items, _folder(write_best), steps)
    make = functools.partial(
        ReportTask, ks=steps, targets=targets, seed=checked.seed, space=checked.space, max_pixels=max_pixels,
        best_dir=_folder(write_best), keep_sheet=False, thumb=thumb, force=force,
        allow_truncated=allow_truncated, dither=checked.dither,
    )  # fmt: skip
    tasks = [
        make(ImageInput(item.source), relative=item.relative, sheet_path=sheets.get(item.source))
        for item in items
        if item.source not in refused
    ]
    return _run_per_input(
        tasks, report_one, items, refused, source_of=lambda r: r.source,
        outputs_of=lambda r: tuple(p for p in (r.best_output, r.sheet_output) if p is not None), jobs=jobs,
        scheduler=scheduler, fail_fast=fail_fast,
    )  # fmt: skip


def classify_files(
    inputs: Inputs,
    k: int = GroupOptions.k,
    *,
    features: FeatureKind | str = FeatureOptions.kind,
    size: tuple[int, int] = FeatureOptions.size,
    color: bool = FeatureOptions.color,
    bins: int = FeatureOptions.bins,
    standardize: bool = GroupOptions.standardize,
    seed: int = 0,
    n_init: int = GroupOptions.n_init,
    batch_size: int | None = None,
    recursive: bool = False,
    jobs: int | None = None,
    scheduler: str | None = None,
    fail_fast: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_truncated: bool = False,
) -> list[FileResult[Membership]]:
    """``kmimg classify`` over files and folders: every readable image's feature vector, the
    vectors grouped into ``k`` clusters by k-means; each image's cluster and distance to its
    centre. An image that cannot be read is left out of the grouping (its result says why);
    fewer readable images than ``k`` is an :class:`~kmimg.errors.InputError`.

    Examples
    --------
    >>> import kmimg
    >>> groups = kmimg.classify_files("sample_images", 2, features="histogram", jobs=1)
    >>> sorted({r.record.cluster for r in groups})
    [0, 1]
    """
    _executor(jobs, scheduler)
    from kmimg.api import _seed
    from kmimg.jobs.classify import classify_inputs, cluster_records, features_of, streaming

    kind = FeatureKind(features)
    options = FeatureOptions(kind=kind, size=tuple(size), color=color, bins=bins)  # type: ignore[arg-type]
    groups = GroupOptions(
        k=k, seed=_seed(seed), n_init=n_init, standardize=standardize, batch_size=batch_size
    )
    items = classify_inputs(_sources(inputs), recursive=recursive, link_dir=None)
    tasks = _feature_tasks(items, options, max_pixels, allow_truncated)
    listener = Silent()
    with streaming(groups, options) as stream:
        outcome = run_batch(
            tasks, features_of, listener=listener, jobs=jobs, scheduler=scheduler, fail_fast=fail_fast,
            keep=None if stream is None else stream.keep,
        )  # fmt: skip
        grouping = cluster_records(outcome.results, groups, stream)
    members = {
        record.source: Membership(int(grouping.labels[i]), float(grouping.distances[i]))
        for i, record in enumerate(outcome.results)
    }
    return _per_input(items, members, outcome.failures, listener, outputs_of=lambda _: ())


def _feature_tasks(
    items: Sequence[InputItem], options: FeatureOptions, max_pixels: int, allow_truncated: bool
) -> list[Any]:
    from kmimg.jobs.classify import FeatureTask

    return [
        FeatureTask(ImageInput(item.source), item.relative, options, max_pixels, allow_truncated)
        for item in items
    ]


__all__ = [
    "FileResult",
    "Membership",
    "PaletteRun",
    "classify_files",
    "compress_report_files",
    "palette_files",
    "quantize_files",
    "segment_files",
]


@frozen
class PaletteRun:
    """What :func:`palette_files` made: the palette (``None`` when an input failed: it would
    not be the palette of all of them, as ``kmimg palette`` writes none then) and one
    :class:`FileResult` per input (its record the image's size and colour histogram)."""

    palette: PaletteResult | None
    files: list[FileResult[Measured]]


def palette_files(
    inputs: Inputs,
    k: int = 16,
    *,
    weight: PaletteWeight | str = PaletteWeight.PIXELS,
    keep: Any = (),
    seed: int = 0,
    space: ColorSpace | str = ColorSpace.RGB,
    sample: int = DEFAULT_SAMPLE,
    posterize: int = 0,
    recursive: bool = False,
    jobs: int | None = None,
    scheduler: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_truncated: bool = False,
) -> PaletteRun:
    """``kmimg palette`` over files and folders: each input's colour histogram counted on the
    executors (worker processes, or the Dask cluster at ``scheduler``), the histograms merged
    exactly and one palette of at most ``k`` colours fitted (``posterize``: ``--posterize``), as
    :func:`kmimg.palette` does.

    Examples
    --------
    >>> import kmimg
    >>> run = kmimg.palette_files("sample_images", 8, jobs=2)
    >>> run.palette.palette.shape, all(result.ok for result in run.files)
    ((8, 4), True)
    >>> run.palette.save("out/samples.gpl")  # the bytes of `kmimg palette sample_images -k 8 -o ...`
    """
    _executor(jobs, scheduler)
    from kmimg.api import PaletteResult, _weight, keep_rows, quantize_options
    from kmimg.jobs.palette import fit_merged, merge_histograms, palette_shares
    from kmimg.jobs.paths import expand_inputs

    checked = quantize_options(k, space=space, seed=seed, sample=sample, posterize=posterize)
    kept = keep_rows(keep, k=k)
    items = expand_inputs(_sources(inputs), recursive=recursive)
    listener = Silent()
    total, outcome = merge_histograms(
        [ImageInput(item.source) for item in items], weight=_weight(weight), listener=listener, jobs=jobs,
        scheduler=scheduler, max_pixels=max_pixels, allow_truncated=allow_truncated,
    )  # fmt: skip
    done = {measured.source: measured for measured in outcome.results}
    files = _per_input(items, done, outcome.failures, listener, outputs_of=lambda _: ())
    if outcome.failures:
        return PaletteRun(None, files)
    rows = None if not kept else np.array(kept, dtype=np.uint8)
    fitted = fit_merged(
        total, k=k, keep=rows, seed=checked.seed, space=checked.space, sample=checked.sample,
        posterize=checked.posterize,
    )  # fmt: skip
    return PaletteRun(PaletteResult(fitted, tuple(palette_shares(fitted))), files)
