"""``kmimg segment``: k-means segmentation with label map, masks, background cut-out and contours."""

from __future__ import annotations

from typing import Annotated

import typer

from kmimg.cli import _options as opt
from kmimg.cli.checks import checked
from kmimg.cli.documents import segment_document, write_json
from kmimg.cli.frame import Reporter, command, finish
from kmimg.jobs.batch import run_batch
from kmimg.jobs.paths import (
    check_side_output,
    display_name,
)
from kmimg.jobs.segment import SegmentedFile, SegmentTask, parse_color, parse_emit, plan_outputs, segment_one
from kmimg.jobs.tasks import ImageInput
from kmimg.options import DEFAULT_MAX_PIXELS, SegmentOptions
from kmimg.types import ColorSpace

DEFAULTS = SegmentOptions()
DEFAULT_EMIT = "seg,cutout,contours"


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
        options = checked(
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
        planned, refused = plan_outputs(
            inputs, wanted=wanted, k=clusters, out_dir=out_dir, recursive=recursive, force=force
        )
        runnable = [
            SegmentTask(
                ImageInput(item.source),
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
            listener=reporter,
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
