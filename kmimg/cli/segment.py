"""``kmimg segment``: k-means segmentation with label map, masks, background cut-out and contours."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kmimg._records import frozen
from kmimg.cli import _options as opt
from kmimg.cli.batch import Produced, run_batch, without_data
from kmimg.cli.documents import segment_document, write_json
from kmimg.cli.frame import Reporter, Stopwatch, command, finish
from kmimg.cli.paths import (
    InputItem,
    check_outputs,
    check_side_output,
    display_name,
    expand_inputs,
    output_path,
)
from kmimg.errors import UsageError
from kmimg.io.files import check_writable_folder
from kmimg.options import DEFAULT_MAX_PIXELS, SegmentOptions
from kmimg.types import EMIT_ORDER, ColorSpace, Emit

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from numpy.typing import NDArray

    from kmimg.core.segment import ClusterStats, Segmentation

DEFAULTS = SegmentOptions()
DEFAULT_EMIT = "seg,cutout,contours"
#: zlib levels. seg/labels/masks are flat areas: 6 deflates a 12-megapixel seg image twice as
#: fast as 9 for ~6 % more bytes. The cut-out and contours carry the photo's detail, where 1 is
#: ~4x faster than 6 for ~20 % more bytes.
FLAT_COMPRESS_LEVEL = 6
PHOTO_COMPRESS_LEVEL = 1


@frozen
class SegmentTask:
    """One input to segment and where each of its outputs goes."""

    source: str
    targets: dict[str, str]
    masks: tuple[str, ...]
    options: SegmentOptions
    max_pixels: int
    contour_color: tuple[int, int, int] | None
    allow_truncated: bool = False
    #: Count regions (for --json and the terminal table only: a labelling of the whole image).
    measure: bool = True
    #: The input's bytes, read by the client of a cluster run (workers share no file system).
    data: bytes | None = field(default=None, repr=False, compare=False)


@frozen
class SegmentedFile:
    """What a worker hands back for one segmented input: enough for its JSON record and its row
    in the summary table (the label map stays in the worker)."""

    task: SegmentTask
    width: int
    height: int
    fit_shape: tuple[int, int]
    background: tuple[int, ...]
    foreground_fraction: float
    #: None when not counted (no --json, not on a terminal).
    foreground_regions: int | None
    regions_merged: int
    pixels_changed: int
    clusters: tuple[ClusterStats, ...]
    seconds: float

    @property
    def files(self) -> int:
        return len(self.task.targets) + len(self.task.masks)


def register(app: typer.Typer) -> None:
    """Add ``segment`` to ``app``."""
    app.command("segment")(segment_command)


def segment_command(
    inputs: opt.Inputs,
    clusters: Annotated[
        int,
        typer.Option(
            "--clusters",
            "-k",
            help=f"Number of clusters (segments), {SegmentOptions.MIN_K}-{SegmentOptions.MAX_K}.",
            min=SegmentOptions.MIN_K,
            max=SegmentOptions.MAX_K,
        ),
    ] = DEFAULTS.k,
    emit: Annotated[
        str,
        typer.Option(
            "--emit",
            help="Outputs to write, comma-separated: seg, labels, masks, cutout, contours, or all.",
            metavar="LIST",
        ),
    ] = DEFAULT_EMIT,
    sigma: Annotated[
        float,
        typer.Option("--sigma", help="Gaussian smoothing before clustering, in pixels (0 = none).", min=0.0),
    ] = DEFAULTS.sigma,
    max_side: Annotated[
        int,
        typer.Option(
            "--max-side",
            help="Fit k-means on the image shrunk to this longest side (0 = full size); "
            "every original pixel is labelled.",
            min=0,
        ),
    ] = DEFAULTS.max_side,
    spatial: Annotated[
        float,
        typer.Option(
            "--spatial",
            help="Weight of pixel position next to colour (0 = colour only; 1 = the longest side "
            "counts as much as black-to-white).",
            min=0.0,
        ),
    ] = DEFAULTS.spatial,
    space: Annotated[
        ColorSpace, typer.Option("--space", help="Colour features in CIELAB or RGB.")
    ] = DEFAULTS.space,
    flatten: Annotated[
        float,
        typer.Option(
            "--flatten",
            help="Even out uneven lighting with a background estimate over this fraction of the "
            "longest side (0 = off; 0.15 suits objects a tenth of the image wide).",
            min=0.0,
            max=1.0,
        ),
    ] = DEFAULTS.flatten,
    min_region: Annotated[
        int,
        typer.Option(
            "--min-region",
            help="Clean-up: regions smaller than this many pixels join their surroundings "
            "(removes specks, fills small holes; 0 = off).",
            min=0,
        ),
    ] = DEFAULTS.min_region,
    background: Annotated[
        str,
        typer.Option(
            "--background",
            help="Background cluster(s): auto (most of the border), dark, light, or indices like 0 or 0,2.",
            metavar="auto|dark|light|N[,N...]",
        ),
    ] = DEFAULTS.background,
    contour_color: Annotated[
        str,
        typer.Option("--contour-color", help="Contour colour: auto or #rrggbb.", metavar="auto|#RRGGBB"),
    ] = "auto",
    out_dir: opt.OutDir = None,
    recursive: opt.Recursive = False,
    force: opt.Force = False,
    seed: opt.Seed = DEFAULTS.seed,
    json_dest: opt.JsonDest = None,
    quiet: opt.Quiet = False,
    jobs: opt.Jobs = None,
    scheduler: opt.Scheduler = None,
    fail_fast: opt.FailFast = False,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    allow_truncated: opt.AllowTruncated = False,
    debug: opt.Debug = False,
) -> None:
    """Split images into K clusters by k-means on smoothed colour; write the segmented image,
    label map, per-cluster masks, a background cut-out and a contour overlay.

    Outputs go next to each input (or into --out-dir) as NAME-seg.png, NAME-labels.png,
    NAME-mask-I.png, NAME-cutout.png and NAME-contours.png, at the input's exact size.
    Existing files are not overwritten without --force.

    Example: kmimg segment sample_images/coins.png --flatten 0.15 --min-region 64 --out-dir out/seg
    """
    with command(quiet=quiet, debug=debug) as reporter:
        options = opt.checked(
            SegmentOptions,
            k=clusters,
            sigma=sigma,
            max_side=max_side,
            spatial=spatial,
            space=space,
            flatten=flatten,
            min_region=min_region,
            background=background,
            seed=seed,
        )
        wanted = parse_emit(emit)
        color = parse_color(contour_color)
        planned, refused = _plan(
            inputs, wanted=wanted, k=clusters, out_dir=out_dir, recursive=recursive, force=force
        )
        runnable = [
            SegmentTask(
                source=item.source,
                targets=targets,
                masks=masks,
                options=options,
                max_pixels=max_pixels,
                contour_color=color,
                allow_truncated=allow_truncated,
                measure=json_dest is not None or reporter.fancy,
            )
            for item, targets, masks in planned
            if item.source not in refused
        ]
        outputs = [(item, t) for item, targets, masks in planned for t in (*targets.values(), *masks)]
        check_side_output(json_dest, "--json", outputs)
        outcome = run_batch(
            runnable,
            segment_one,
            name_of=lambda task: task.source,
            reporter=reporter,
            jobs=jobs,
            scheduler=scheduler,
            fail_fast=fail_fast,
            label="segmenting",
            refused=refused,
        )
        if json_dest is not None:
            write_json(segment_document(outcome.results, outcome.failures), json_dest)
        if reporter.fancy:
            _print_summary(reporter, outcome.results)
        finish(outcome)


def parse_emit(text: str) -> tuple[Emit, ...]:
    """``--emit`` as outputs in the fixed order seg, labels, masks, cutout, contours."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if "all" in names:
        return EMIT_ORDER
    known = {e.value for e in Emit}
    unknown = sorted(names - known)
    if unknown or not names:
        raise UsageError(
            f"--emit takes a comma-separated list of {', '.join(sorted(known))} or all; got {text!r}"
        )
    return tuple(e for e in EMIT_ORDER if e.value in names)


def parse_color(text: str) -> tuple[int, int, int] | None:
    """``auto`` (None) or ``#rrggbb``."""
    value = text.strip().lower()
    if value == "auto":
        return None
    digits = value.removeprefix("#")
    if len(digits) != 6 or any(c not in "0123456789abcdef" for c in digits):
        raise UsageError(f"--contour-color takes auto or #rrggbb; got {text!r}")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _plan(
    inputs: list[str],
    *,
    wanted: tuple[Emit, ...],
    k: int,
    out_dir: Path | None,
    recursive: bool,
    force: bool,
) -> tuple[list[tuple[InputItem, dict[str, str], tuple[str, ...]]], dict[str, str]]:
    """Every input's output files, all checked before any work; and the inputs refused."""
    items = expand_inputs(inputs, recursive=recursive)
    if out_dir is not None:
        check_writable_folder(out_dir)
    planned = []
    pairs: list[tuple[InputItem, Path]] = []
    for item in items:
        targets: dict[str, str] = {}
        masks: tuple[str, ...] = ()
        for kind in wanted:
            if kind is Emit.MASKS:
                paths = [output_path(item, suffix=f"-mask-{i}.png", out_dir=out_dir) for i in range(k)]
                masks = tuple(str(path) for path in paths)
                pairs.extend((item, path) for path in paths)
            else:
                path = output_path(item, suffix=f"-{kind.value}.png", out_dir=out_dir)
                targets[kind.value] = str(path)
                pairs.append((item, path))
        planned.append((item, targets, masks))
    refused = check_outputs(pairs, force=force)
    return planned, refused


def segment_one(task: SegmentTask) -> Produced[SegmentedFile]:
    """Load, segment, render and encode one input's outputs; returns its record and its files
    (runs in a worker, touches no file: the batch room writes them)."""
    from kmimg._threads import ordered_map
    from kmimg.core.segment import (
        contour_image,
        count_foreground_regions,
        cutout_image,
        segment,
        segmented_image,
    )
    from kmimg.io import OutputFile, encode_png, load_image

    clock = Stopwatch()
    picture = load_image(
        task.source, data=task.data, max_pixels=task.max_pixels, allow_truncated=task.allow_truncated
    )
    result = segment(picture.rgb, task.options, alpha=picture.alpha, count_regions=task.measure)
    renderers: dict[str, Callable[[], NDArray[np.uint8]]] = {
        Emit.SEG.value: lambda: segmented_image(result),
        Emit.LABELS.value: lambda: result.labels,
        Emit.CUTOUT.value: lambda: cutout_image(picture.rgb, picture.alpha, result),
        Emit.CONTOURS.value: lambda: contour_image(picture.rgb, result, task.contour_color),
    }
    files = [(target, renderers[kind]) for kind, target in task.targets.items()]
    files += [(target, _mask_renderer(result, i)) for i, target in enumerate(task.masks)]
    photographic = {task.targets.get(Emit.CUTOUT.value), task.targets.get(Emit.CONTOURS.value)}

    def encode(file: tuple[str, Callable[[], NDArray[np.uint8]]]) -> OutputFile:
        target, render = file
        level = PHOTO_COMPRESS_LEVEL if target in photographic else FLAT_COMPRESS_LEVEL
        return OutputFile(target, encode_png(render(), compress_level=level))

    # Pillow's encoder releases the GIL: the outputs are rendered and deflated side by side (one
    # thread per core, none in batch workers); each file's bytes do not depend on it.
    encoded = tuple(ordered_map(encode, files))
    record = SegmentedFile(
        without_data(task),
        picture.width,
        picture.height,
        result.fit_shape,
        result.background,
        float(result.foreground.mean()),
        count_foreground_regions(result) if task.measure else None,
        result.regions_merged,
        result.pixels_changed,
        result.clusters,
        clock.seconds(),
    )
    return Produced(record, encoded)


def _mask_renderer(result: Segmentation, index: int) -> Callable[[], NDArray[np.uint8]]:
    from kmimg.core.segment import mask_image

    return lambda: mask_image(result, index)


def _print_summary(reporter: Reporter, results: list[SegmentedFile]) -> None:
    if not results:
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("input", "size", "k", "background", "foreground", "fg regions", "files", "s"):
        table.add_column(column, justify="left" if column == "input" else "right")
    for done in results:
        table.add_row(
            display_name(done.task.source),
            f"{done.width}x{done.height}",
            str(done.task.options.k),
            ",".join(str(i) for i in done.background),
            f"{100 * done.foreground_fraction:.1f} %",
            str(done.foreground_regions),
            str(done.files),
            f"{done.seconds:.2f}",
        )
    reporter.console().print(table)
