"""``kmimg segment``: k-means segmentation with label map, masks, background cut-out and contours."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kmimg.cli import _options as opt
from kmimg.cli._common import (
    STDIO,
    Failure,
    InputItem,
    Record,
    Reporter,
    Stopwatch,
    boundary,
    check_outputs,
    check_side_output,
    check_writable_folder,
    expand_inputs,
    finish,
    output_path,
    run_batch,
    write_json,
)
from kmimg.errors import UsageError
from kmimg.types import DEFAULT_MAX_PIXELS, ColorSpace

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from numpy.typing import NDArray

    from kmimg.segment import ClusterStats, Segmentation, SegmentOptions

JSON_SCHEMA = "kmimg.segment"
JSON_SCHEMA_VERSION = 1
DEFAULT_EMIT = "seg,cutout,contours"
#: zlib levels. seg/labels/masks are flat areas: 6 deflates a 12-megapixel seg image twice as
#: fast as 9 for ~6 % more bytes. The cut-out and contours carry the photo's detail, where 1 is
#: ~4x faster than 6 for ~20 % more bytes.
FLAT_COMPRESS_LEVEL = 6
PHOTO_COMPRESS_LEVEL = 1


class Emit(str, Enum):
    """The outputs ``--emit`` can ask for, each with its file name ending."""

    SEG = "seg"
    LABELS = "labels"
    MASKS = "masks"
    CUTOUT = "cutout"
    CONTOURS = "contours"


EMIT_ORDER = tuple(Emit)


@dataclass(frozen=True)
class SegmentTask:
    """One input to segment and where each of its outputs goes."""

    source: str
    targets: dict[str, str]
    masks: tuple[str, ...]
    options: SegmentOptions
    max_pixels: int
    contour_color: tuple[int, int, int] | None
    allow_truncated: bool = False


def register(app: typer.Typer) -> None:
    """Add ``segment`` to ``app``."""
    app.command("segment")(segment_command)


def segment_command(
    inputs: opt.Inputs,
    clusters: Annotated[
        int, typer.Option("--clusters", "-k", help="Number of clusters (segments), 2-64.", min=2, max=64)
    ] = 2,
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
    ] = 2.0,
    max_side: Annotated[
        int,
        typer.Option(
            "--max-side",
            help="Fit k-means on the image shrunk to this longest side (0 = full size); "
            "every original pixel is labelled.",
            min=0,
        ),
    ] = 256,
    spatial: Annotated[
        float,
        typer.Option(
            "--spatial",
            help="Weight of pixel position next to colour (0 = colour only; 1 = the longest side "
            "counts as much as black-to-white).",
            min=0.0,
        ),
    ] = 0.0,
    space: Annotated[
        ColorSpace, typer.Option("--space", help="Colour features in CIELAB or RGB.")
    ] = ColorSpace.LAB,
    flatten: Annotated[
        float,
        typer.Option(
            "--flatten",
            help="Even out uneven lighting with a background estimate over this fraction of the "
            "longest side (0 = off; 0.15 suits objects a tenth of the image wide).",
            min=0.0,
            max=1.0,
        ),
    ] = 0.0,
    min_region: Annotated[
        int,
        typer.Option(
            "--min-region",
            help="Clean-up: regions smaller than this many pixels join their surroundings "
            "(removes specks, fills small holes; 0 = off).",
            min=0,
        ),
    ] = 0,
    background: Annotated[
        str,
        typer.Option(
            "--background",
            help="Background cluster(s): auto (most of the border), dark, light, or indices like 0 or 0,2.",
            metavar="auto|dark|light|N[,N...]",
        ),
    ] = "auto",
    contour_color: Annotated[
        str,
        typer.Option("--contour-color", help="Contour colour: auto or #rrggbb.", metavar="auto|#RRGGBB"),
    ] = "auto",
    out_dir: opt.OutDir = None,
    recursive: opt.Recursive = False,
    force: opt.Force = False,
    seed: opt.Seed = 0,
    json_dest: opt.JsonDest = None,
    quiet: opt.Quiet = False,
    jobs: opt.Jobs = None,
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
    reporter = Reporter(quiet=quiet, debug=debug)
    with boundary(reporter):
        from kmimg.segment import SegmentOptions

        try:
            options = SegmentOptions(
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
        except ValueError as exc:
            raise UsageError(str(exc)) from None
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
            fail_fast=fail_fast,
            label="segmenting",
            refused=refused,
        )
        if json_dest is not None:
            write_json(_json_document(outcome.results, outcome.failures), json_dest)
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
    if not items:
        raise UsageError("no input images found")
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


def segment_one(task: SegmentTask) -> Record:
    """Load, segment, render and write one input's outputs; returns its record."""
    from kmimg._threads import ordered_map
    from kmimg.io import encode_png, load_image, write_atomic
    from kmimg.segment import contour_image, cutout_image, segment, segmented_image

    clock = Stopwatch()
    picture = load_image(task.source, max_pixels=task.max_pixels, allow_truncated=task.allow_truncated)
    result = segment(picture.rgb, task.options, alpha=picture.alpha)
    renderers: dict[str, Callable[[], NDArray[np.uint8]]] = {
        Emit.SEG.value: lambda: segmented_image(result),
        Emit.LABELS.value: lambda: result.labels,
        Emit.CUTOUT.value: lambda: cutout_image(picture.rgb, picture.alpha, result),
        Emit.CONTOURS.value: lambda: contour_image(picture.rgb, result, task.contour_color),
    }
    files = [(target, renderers[kind]) for kind, target in task.targets.items()]
    files += [(target, _mask_renderer(result, i)) for i, target in enumerate(task.masks)]
    photographic = {task.targets.get(Emit.CUTOUT.value), task.targets.get(Emit.CONTOURS.value)}
    for target, _ in files:
        Path(target).parent.mkdir(parents=True, exist_ok=True)

    def write(file: tuple[str, Callable[[], NDArray[np.uint8]]]) -> None:
        target, render = file
        level = PHOTO_COMPRESS_LEVEL if target in photographic else FLAT_COMPRESS_LEVEL
        write_atomic(target, encode_png(render(), compress_level=level))

    # Pillow's encoder releases the GIL: the outputs are rendered and deflated side by side (one
    # thread per core, none in batch workers); each file's bytes do not depend on it.
    ordered_map(write, files)
    return Record(_record_fields(task, picture.width, picture.height, result, clock))


def _mask_renderer(result: Segmentation, index: int) -> Callable[[], NDArray[np.uint8]]:
    from kmimg.segment import mask_image

    return lambda: mask_image(result, index)


def _record_fields(
    task: SegmentTask, width: int, height: int, result: Segmentation, clock: Stopwatch
) -> dict[str, Any]:
    from kmimg.segment import count_foreground_regions

    options = task.options
    outputs: dict[str, Any] = dict(task.targets)
    if task.masks:
        outputs["masks"] = list(task.masks)
    foreground = result.foreground
    return {
        "input": "<stdin>" if task.source == STDIO else task.source,
        "width": width,
        "height": height,
        "k": options.k,
        "fit_width": result.fit_shape[1],
        "fit_height": result.fit_shape[0],
        "outputs": {kind.value: outputs[kind.value] for kind in EMIT_ORDER if kind.value in outputs},
        "background": list(result.background),
        "foreground_fraction": round(float(foreground.mean()), 6),
        "foreground_regions": count_foreground_regions(result),
        "cleanup": {
            "min_region": options.min_region,
            "regions_merged": result.regions_merged,
            "pixels_changed": result.pixels_changed,
        },
        "clusters": [_cluster_entry(c) for c in result.clusters],
        "options": {
            "sigma": options.sigma,
            "max_side": options.max_side,
            "spatial": options.spatial,
            "space": options.space.value,
            "flatten": options.flatten,
            "background": options.background,
        },
        "seed": options.seed,
        "seconds": clock.seconds(),
    }


def _cluster_entry(stats: ClusterStats) -> dict[str, Any]:
    r, g, b = stats.rgb
    box = stats.bbox
    return {
        "index": stats.index,
        "pixels": stats.pixels,
        "fraction": round(stats.fraction, 6),
        "rgb": [r, g, b],
        "hex": f"#{r:02x}{g:02x}{b:02x}",
        "lightness": round(stats.lightness, 3),
        "border_share": round(stats.border_share, 6),
        "background": stats.background,
        "transparent": stats.transparent,
        "bbox": None if box is None else {"x": box.x, "y": box.y, "width": box.width, "height": box.height},
        "regions": stats.regions,
    }


def _json_document(results: list[Record], failures: list[Failure]) -> dict[str, Any]:
    from kmimg import __version__

    return {
        "schema": JSON_SCHEMA,
        "schema_version": JSON_SCHEMA_VERSION,
        "kmimg_version": __version__,
        "results": [record.fields for record in results],
        "failures": [{"input": f.source, "error": f.reason} for f in failures],
    }


def _print_summary(reporter: Reporter, results: list[Record]) -> None:
    if not results:
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("input", "size", "k", "background", "foreground", "fg regions", "files", "s"):
        table.add_column(column, justify="left" if column == "input" else "right")
    for record in results:
        f = record.fields
        files = sum(len(v) if isinstance(v, list) else 1 for v in f["outputs"].values())
        table.add_row(
            f["input"],
            f"{f['width']}x{f['height']}",
            str(f["k"]),
            ",".join(str(i) for i in f["background"]),
            f"{100 * f['foreground_fraction']:.1f} %",
            str(f["foreground_regions"]),
            str(files),
            f"{f['seconds']:.2f}",
        )
    reporter.console().print(table)
