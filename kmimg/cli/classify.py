"""``kmimg classify``: group a folder of images into k clusters by appearance (issue 7)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kmimg._records import frozen
from kmimg.cli import _options as opt
from kmimg.cli.checks import checked
from kmimg.cli.documents import classify_csv, classify_document, write_document, write_json
from kmimg.cli.frame import Reporter, command, finish
from kmimg.errors import KmimgError, UsageError
from kmimg.io.files import ensure_folder
from kmimg.io.formats import check_png_name
from kmimg.jobs.batch import run_batch
from kmimg.jobs.classify import (
    FeatureRecord,
    FeatureTask,
    Streamed,
    classify_inputs,
    cluster_records,
    evaluate_records,
    features_of,
    read_labels,
    streaming,
    write_montage,
)
from kmimg.jobs.paths import STDIO, InputItem, check_side_output, cluster_folder, unique_name
from kmimg.jobs.tasks import Failure, ImageInput, Outcome, Stopwatch
from kmimg.options import (
    DEFAULT_MAX_PIXELS,
    MONTAGE_MAX_THUMB,
    MONTAGE_MEMBERS,
    MONTAGE_MIN_THUMB,
    MONTAGE_THUMB,
    FeatureOptions,
    GroupOptions,
    parse_size,
)
from kmimg.types import FeatureKind

if TYPE_CHECKING:
    from kmimg.core.classify import Clustering, Evaluation

FEATURES = FeatureOptions()
GROUPS = GroupOptions()


Inputs = Annotated[
    list[str],
    typer.Argument(
        help="Image files or folders of images (folders: -r descends).", metavar="INPUT", show_default=False
    ),
]


def register(app: typer.Typer) -> None:
    app.command("classify")(classify_command)


def classify_command(
    inputs: Inputs,
    clusters: Annotated[
        int,
        typer.Option(
            "--clusters",
            "-k",
            help=f"Number of clusters (groups), 1-{GroupOptions.MAX_K}.",
            min=1,
            max=GroupOptions.MAX_K,
        ),
    ] = GROUPS.k,
    recursive: opt.Recursive = False,
    features: Annotated[
        FeatureKind,
        typer.Option(
            "--features",
            help="What is compared: the image's downsized pixels, or its colour histogram (photos).",
        ),
    ] = FEATURES.kind,
    size: Annotated[
        str,
        typer.Option(
            "--size",
            help="Pixel features: resize every image to WxH (area average) before flattening.",
            metavar="WxH",
            callback=opt.checked_by("kmimg.options", "parse_size"),
        ),
    ] = "x".join(map(str, FEATURES.size)),
    color: Annotated[
        bool,
        typer.Option("--color/--grey", help="Pixel features: keep R, G, B (3 features per pixel) or grey."),
    ] = FEATURES.color,
    bins: Annotated[
        int,
        typer.Option(
            "--bins",
            help=f"Histogram features: bins per channel (bins^3 features), "
            f"{FeatureOptions.MIN_BINS}-{FeatureOptions.MAX_BINS}.",
            min=FeatureOptions.MIN_BINS,
            max=FeatureOptions.MAX_BINS,
        ),
    ] = FEATURES.bins,
    standardize: Annotated[
        bool,
        typer.Option(
            "--standardize/--no-standardize", help="Scale every feature to zero mean, unit variance first."
        ),
    ] = GROUPS.standardize,
    seed: opt.Seed = GROUPS.seed,
    n_init: Annotated[
        int,
        typer.Option("--n-init", help="k-means restarts from different seedings; the best is kept.", min=1),
    ] = GROUPS.n_init,
    batch_size: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--batch-size",
            help="Fit with MiniBatchKMeans, N feature vectors at a time, the others kept in a temporary "
            "file: memory bounded by N, for folders too big to hold (N >= K) [default: KMeans on all].",
            min=1,
            metavar="N",
            show_default=False,
        ),
    ] = GROUPS.batch_size,
    labels: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--labels",
            help="CSV of 'file,label' rows (paths relative to the CSV's folder): report accuracy, ARI, NMI.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    csv_dest: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--csv",
            help="Write 'file,cluster,distance' rows here ('-' = standard output) [default when no other "
            "output is asked for: standard output].",
            metavar="PATH|-",
            show_default=False,
        ),
    ] = None,
    json_dest: opt.JsonDest = None,
    montage: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--montage", help="Write a PNG of the cluster centres and their members.", dir_okay=False
        ),
    ] = None,
    members: Annotated[
        int,
        typer.Option(
            "--members",
            help="Members per cluster in the montage, nearest the centre first (0 = centres).",
            min=0,
        ),
    ] = MONTAGE_MEMBERS,
    thumb: Annotated[
        int,
        typer.Option(
            "--thumb",
            help="Side of each montage tile in pixels.",
            min=MONTAGE_MIN_THUMB,
            max=MONTAGE_MAX_THUMB,
        ),
    ] = MONTAGE_THUMB,
    link_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--link-dir",
            help="Place a symbolic link to every image in DIR/cluster-N/ (created if needed).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    copy: Annotated[
        bool, typer.Option("--copy", help="With --link-dir: copy the files instead of linking.")
    ] = False,
    force: opt.Force = False,
    quiet: opt.Quiet = False,
    jobs: opt.Jobs = None,
    scheduler: opt.Scheduler = None,
    fail_fast: opt.FailFast = False,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    allow_truncated: opt.AllowTruncated = False,
    debug: opt.Debug = False,
) -> None:
    """Group images into K clusters by k-means on small pixel or colour-histogram features.

    Every image becomes a feature vector (by default its pixels resized to 8x8, grey, 0..1);
    k-means groups the vectors. Writes each file's cluster and distance to its centre as CSV
    (standard output unless another output is asked for) and/or JSON, a montage of the
    centres, and links in one folder per cluster. With --labels, reports how well the clusters
    match known classes. Unreadable files are reported and skipped (exit status 1 at the end).

    Example: kmimg classify digits/ -k 10 --labels digits/labels.csv --montage centres.png
    """
    with command(quiet=quiet, debug=debug) as reporter:
        outputs = _outputs(csv_dest, json_dest, montage, link_dir, copy=copy, force=force)
        options = checked(FeatureOptions, kind=features, size=parse_size(size), color=color, bins=bins)
        groups = checked(
            GroupOptions, k=clusters, seed=seed, n_init=n_init, standardize=standardize, batch_size=batch_size
        )
        items = classify_inputs(inputs, recursive=recursive, link_dir=link_dir)
        label_of = read_labels(labels, [item.source for item in items]) if labels is not None else None
        _check_outputs(items, outputs)
        clock = Stopwatch()
        tasks = [
            FeatureTask(ImageInput(item.source), item.relative, options, max_pixels, allow_truncated)
            for item in items
        ]
        with streaming(groups, options) as stream:
            outcome = run_batch(
                tasks,
                features_of,
                listener=reporter,
                jobs=jobs,
                scheduler=scheduler,
                fail_fast=fail_fast,
                label="reading",
                keep=None if stream is None else stream.keep,
            )
            if fail_fast and outcome.failures:
                finish(outcome)
            grouping = _cluster(reporter, outcome.results, groups, stream)
        truth, evaluation = _evaluate(reporter, outcome.results, grouping, labels, label_of)
        found = _Found(outcome, grouping, truth, evaluation, options)
        links = _place_links(reporter, found, outputs)
        if montage is not None:
            write_montage(
                montage, found.records, found.grouping, found.options, found.evaluation, members=members,
                thumb=thumb, max_pixels=max_pixels, allow_truncated=allow_truncated,
            )  # fmt: skip
        if outputs.csv is not None:
            write_document(classify_csv(outcome.results, grouping, truth, evaluation), outputs.csv)
        if outputs.json is not None:
            _write_json(outputs.json, found, groups, links, clock.seconds())
        if not quiet:
            _print_summary(reporter, grouping, evaluation)
        finish(outcome)


@frozen
class _Outputs:
    """Where classify writes: CSV and JSON documents, the montage, the cluster folders."""

    csv: str | None
    json: str | None
    montage: Path | None
    link_dir: Path | None
    copy: bool
    force: bool


@frozen
class _Found:
    """What the run found: the features read, their clusters and, with labels, the evaluation."""

    outcome: Outcome[FeatureRecord]
    grouping: Clustering
    truth: dict[int, str]
    evaluation: Evaluation | None
    options: FeatureOptions

    @property
    def records(self) -> list[FeatureRecord]:
        return self.outcome.results


def _outputs(
    csv_dest: str | None,
    json_dest: str | None,
    montage: Path | None,
    link_dir: Path | None,
    *,
    copy: bool,
    force: bool,
) -> _Outputs:
    """The outputs asked for, checked against each other; CSV on standard output when none is."""
    if copy and link_dir is None:
        raise UsageError("--copy needs --link-dir")
    if csv_dest == STDIO and json_dest == STDIO:
        raise UsageError("--csv - and --json - cannot both use standard output")
    if csv_dest is None and json_dest is None and montage is None and link_dir is None:
        csv_dest = STDIO
    return _Outputs(csv_dest, json_dest, montage, link_dir, copy, force)


def _check_outputs(items: list[InputItem], outputs: _Outputs) -> None:
    """Refuse, before any image is read, outputs that would overwrite an input."""
    if outputs.link_dir is not None:
        ensure_folder(outputs.link_dir)  # one error before any work, not one per image
    no_outputs = [(item, STDIO) for item in items]
    for option, destination in (("--json", outputs.json), ("--csv", outputs.csv)):
        check_side_output(destination, option, no_outputs)
    montage = str(outputs.montage) if outputs.montage is not None else None
    if montage is not None:
        check_png_name(montage, "--montage")
    check_side_output(montage, "--montage", no_outputs)


# ----------------------------------------------------------------------------- steps


def _cluster(
    reporter: Reporter, records: list[FeatureRecord], groups: GroupOptions, stream: Streamed | None = None
) -> Clustering:
    """:func:`~kmimg.jobs.classify.cluster_records`; a warning when clusters must stay empty."""
    grouping = cluster_records(records, groups, stream)
    if grouping.distinct < groups.k:
        reporter.warning(
            f"only {grouping.distinct} distinct feature vectors for {groups.k} clusters: "
            f"{int((grouping.sizes == 0).sum())} clusters are empty"
        )
    return grouping


def _write_json(
    destination: str, found: _Found, groups: GroupOptions, links: dict[int, str], seconds: float
) -> None:
    settings = {
        "k": groups.k,
        "seed": groups.seed,
        "n_init": groups.n_init,
        "standardize": groups.standardize,
        "batch_size": groups.batch_size,
    }
    document = classify_document(
        found.options,
        found.outcome,
        found.grouping,
        found.evaluation,
        found.truth,
        links,
        settings=settings,
        seconds=seconds,
    )
    write_json(document, destination)


def _evaluate(
    reporter: Reporter,
    records: list[FeatureRecord],
    grouping: Clustering,
    labels: Path | None,
    label_of: dict[str, str] | None,
) -> tuple[dict[int, str], Evaluation | None]:
    if labels is None or label_of is None:
        return {}, None
    truth, evaluation = evaluate_records(records, grouping, label_of)
    missing = len(records) - len(truth)
    if not truth:
        reporter.warning(f"{labels}: names none of the {len(records)} images; no evaluation")
    elif missing:
        reporter.warning(f"{labels}: no label for {missing} of {len(records)} images; evaluated without them")
    return truth, evaluation


def _place_links(reporter: Reporter, found: _Found, outputs: _Outputs) -> dict[int, str]:
    """Link (or copy) every image into its cluster's folder; an existing file is kept unless
    ``--force``. Returns the destination of each placed image by index."""
    if outputs.link_dir is None:
        return {}
    from kmimg.io.files import place_file

    placed: dict[int, str] = {}
    taken: set[str] = set()
    grouping = found.grouping
    for index, record in enumerate(found.records):
        folder = outputs.link_dir / cluster_folder(int(grouping.labels[index]), grouping.k)
        target = folder / unique_name(record.relative, taken, folder)
        try:
            ensure_folder(folder)
            place_file(Path(record.source), target, copy=outputs.copy, force=outputs.force)
        except KmimgError as exc:
            reporter.error(record.source, str(exc))
            found.outcome.failures.append(Failure(record.source, str(exc)))
            continue
        placed[index] = str(target)
    return placed


def _print_summary(reporter: Reporter, grouping: Clustering, evaluation: Evaluation | None) -> None:
    if evaluation is not None:
        print(
            f"kmimg: {evaluation.labelled} labelled images: accuracy {evaluation.accuracy:.4f}, "
            f"adjusted Rand index {evaluation.adjusted_rand_index:.4f}, "
            f"normalized mutual information {evaluation.normalized_mutual_information:.4f}",
            file=sys.stderr,
        )
    if not reporter.fancy:
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("cluster", "images", "mean distance", *(("label", "share") if evaluation else ())):
        table.add_column(column, justify="right")
    for cluster in range(grouping.k):
        inside = grouping.distances[grouping.labels == cluster]
        cells = [str(cluster), str(len(inside)), f"{inside.mean():.4f}" if len(inside) else "-"]
        if evaluation is not None:
            count = evaluation.majority.get(cluster, 0)
            cells += [
                evaluation.mapping.get(cluster, "-"),
                f"{count / len(inside):.0%}" if len(inside) and count else "-",
            ]
        table.add_row(*cells)
    reporter.console().print(table)
