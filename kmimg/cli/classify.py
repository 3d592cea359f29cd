"""``kmimg classify``: group a folder of images into k clusters by appearance (issue 7)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from kmimg.cli import _options as opt
from kmimg.cli._common import (
    STDIO,
    Failure,
    InputItem,
    Outcome,
    Reporter,
    Stopwatch,
    boundary,
    check_side_output,
    ensure_folder,
    expand_inputs,
    finish,
    run_batch,
    write_json,
)
from kmimg.errors import InputError, KmimgError, OutputError, UsageError
from kmimg.types import DEFAULT_MAX_PIXELS, FeatureKind

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.classify import Clustering, Evaluation, FeatureOptions

JSON_SCHEMA = "kmimg.classify"
JSON_SCHEMA_VERSION = 1
DEFAULT_MEMBERS = 6


@dataclass(frozen=True)
class FeatureTask:
    """One input whose feature vector to compute (in a worker process)."""

    source: str
    relative: Path
    options: FeatureOptions
    max_pixels: int
    allow_truncated: bool = False


@dataclass(frozen=True)
class FeatureRecord:
    """One input's feature vector."""

    source: str
    relative: Path
    vector: NDArray[np.float64]


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
        int, typer.Option("--clusters", "-k", help="Number of clusters (groups), 1-1000.", min=1, max=1000)
    ] = 10,
    recursive: opt.Recursive = False,
    features: Annotated[
        FeatureKind,
        typer.Option(
            "--features",
            help="What is compared: the image's downsized pixels, or its colour histogram (photos).",
        ),
    ] = FeatureKind.PIXELS,
    size: Annotated[
        str,
        typer.Option(
            "--size",
            help="Pixel features: resize every image to WxH (area average) before flattening.",
            metavar="WxH",
            callback=opt.checked_by("kmimg.classify", "parse_size"),
        ),
    ] = "8x8",
    color: Annotated[
        bool,
        typer.Option("--color/--grey", help="Pixel features: keep R, G, B (3 features per pixel) or grey."),
    ] = False,
    bins: Annotated[
        int,
        typer.Option(
            "--bins", help="Histogram features: bins per channel (bins^3 features), 2-16.", min=2, max=16
        ),
    ] = 4,
    standardize: Annotated[
        bool,
        typer.Option(
            "--standardize/--no-standardize", help="Scale every feature to zero mean, unit variance first."
        ),
    ] = False,
    seed: opt.Seed = 0,
    n_init: Annotated[
        int,
        typer.Option("--n-init", help="k-means restarts from different seedings; the best is kept.", min=1),
    ] = 10,
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
    ] = DEFAULT_MEMBERS,
    thumb: Annotated[
        int, typer.Option("--thumb", help="Side of each montage tile in pixels.", min=8, max=1024)
    ] = 64,
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
    reporter = Reporter(quiet=quiet, debug=debug)
    with boundary(reporter):
        from kmimg.classify import FeatureOptions, parse_size

        if copy and link_dir is None:
            raise UsageError("--copy needs --link-dir")
        if csv_dest == STDIO and json_dest == STDIO:
            raise UsageError("--csv - and --json - cannot both use standard output")
        if csv_dest is None and json_dest is None and montage is None and link_dir is None:
            csv_dest = STDIO
        options = FeatureOptions(kind=features, size=parse_size(size), color=color, bins=bins)
        items = _inputs(inputs, recursive=recursive, link_dir=link_dir)
        label_of = _read_labels(labels, [item.source for item in items]) if labels is not None else None
        if link_dir is not None:
            ensure_folder(link_dir)  # one error before any work, not one per image
        clock = Stopwatch()
        tasks = [
            FeatureTask(item.source, item.relative, options, max_pixels, allow_truncated) for item in items
        ]
        no_outputs = [(item, STDIO) for item in items]
        for option, destination in (("--json", json_dest), ("--csv", csv_dest)):
            check_side_output(destination, option, no_outputs)
        check_side_output(str(montage) if montage is not None else None, "--montage", no_outputs)
        outcome = run_batch(
            tasks,
            features_of,
            name_of=lambda task: task.source,
            reporter=reporter,
            jobs=jobs,
            fail_fast=fail_fast,
            label="reading",
        )
        if fail_fast and outcome.failures:
            finish(outcome)
        records = outcome.results
        if len(records) < clusters:
            raise InputError(
                f"{len(records)} image{'s' if len(records) != 1 else ''} read, fewer than -k {clusters}"
            )
        grouping = _cluster(records, clusters=clusters, seed=seed, n_init=n_init, standardize=standardize)
        if grouping.distinct < clusters:
            reporter.warning(
                f"only {grouping.distinct} distinct feature vectors for {clusters} clusters: "
                f"{int((grouping.sizes == 0).sum())} clusters are empty"
            )
        truth, evaluation = _evaluate(reporter, records, grouping, labels, label_of)
        links = _place_links(reporter, outcome, records, grouping, link_dir, copy=copy, force=force)
        if montage is not None:
            _write_montage(
                montage, records, grouping, options, evaluation, members, thumb, max_pixels, allow_truncated
            )
        if csv_dest is not None:
            _write_csv(csv_dest, records, grouping, truth, evaluation)
        if json_dest is not None:
            document = _json_document(
                options,
                outcome,
                grouping,
                evaluation,
                truth,
                links,
                settings={"k": clusters, "seed": seed, "n_init": n_init, "standardize": standardize},
                seconds=clock.seconds(),
            )
            write_json(document, json_dest)
        if not quiet:
            _print_summary(reporter, grouping, evaluation)
    finish(outcome)


# ----------------------------------------------------------------------------- steps


def _inputs(inputs: list[str], *, recursive: bool, link_dir: Path | None) -> list[InputItem]:
    items = expand_inputs(inputs, recursive=recursive)
    if link_dir is not None:
        # The links of an earlier run inside a scanned folder are this command's own outputs,
        # not new images: reading them back would grow the set on every run.
        own = Path(os.path.abspath(link_dir))
        items = [item for item in items if own not in Path(os.path.abspath(item.source)).parents]
    if any(item.is_stdin for item in items):
        raise UsageError("classify reads files and folders, not standard input")
    if not items:  # expand_inputs found some, all of them under --link-dir
        raise UsageError(f"{inputs[0]}: no images (other than the links in --link-dir {link_dir})")
    return items


def _read_labels(path: Path, sources: list[str]) -> dict[str, str]:
    """The label of each of the ``sources`` that the labels file names, read and matched before
    any image is read: an unreadable or malformed file, or one giving a source two labels, is a
    usage error."""
    from kmimg.classify import match_labels, parse_labels_csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{path}: cannot read labels: {reason}") from None
    try:
        found = match_labels(parse_labels_csv(text), base=path.parent, inputs=sources)
    except InputError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return {sources[index]: label for index, label in found.items()}


def features_of(task: FeatureTask) -> FeatureRecord:
    """Load one image and compute its feature vector (runs in a worker)."""
    from kmimg.classify import image_features
    from kmimg.io import load_image

    picture = load_image(task.source, max_pixels=task.max_pixels, allow_truncated=task.allow_truncated)
    vector = image_features(picture.rgb, picture.alpha, task.options)
    return FeatureRecord(task.source, task.relative, vector)


def _cluster(
    records: list[FeatureRecord], *, clusters: int, seed: int, n_init: int, standardize: bool
) -> Clustering:
    import numpy as np

    from kmimg.classify import cluster_features

    matrix = np.stack([record.vector for record in records])
    return cluster_features(matrix, k=clusters, seed=seed, n_init=n_init, standardize=standardize)


def _evaluate(
    reporter: Reporter,
    records: list[FeatureRecord],
    grouping: Clustering,
    labels: Path | None,
    label_of: dict[str, str] | None,
) -> tuple[dict[int, str], Evaluation | None]:
    if labels is None or label_of is None:
        return {}, None
    from kmimg.classify import evaluate

    truth = {index: label_of[r.source] for index, r in enumerate(records) if r.source in label_of}
    missing = len(records) - len(truth)
    if not truth:
        reporter.warning(f"{labels}: names none of the {len(records)} images; no evaluation")
        return {}, None
    if missing:
        reporter.warning(f"{labels}: no label for {missing} of {len(records)} images; evaluated without them")
    indices = sorted(truth)
    return truth, evaluate(grouping.labels[indices], [truth[i] for i in indices])


def _cluster_folder(cluster: int, k: int) -> str:
    return f"cluster-{cluster:0{len(str(k - 1))}d}"


def _place_links(
    reporter: Reporter,
    outcome: Outcome[FeatureRecord],
    records: list[FeatureRecord],
    grouping: Clustering,
    link_dir: Path | None,
    *,
    copy: bool,
    force: bool,
) -> dict[int, str]:
    """Link (or copy) every image into its cluster's folder; an existing file is kept unless
    ``force``. Returns the destination of each placed image by index."""
    if link_dir is None:
        return {}
    placed: dict[int, str] = {}
    taken: set[str] = set()
    for index, record in enumerate(records):
        folder = link_dir / _cluster_folder(int(grouping.labels[index]), grouping.k)
        target = folder / _unique_name(record.relative, taken, folder)
        try:
            ensure_folder(folder)
            _place(Path(record.source), target, copy=copy, force=force)
        except KmimgError as exc:
            reporter.error(record.source, str(exc))
            outcome.failures.append(Failure(record.source, str(exc)))
            continue
        placed[index] = str(target)
    return placed


def _unique_name(relative: Path, taken: set[str], folder: Path) -> str:
    """The link's name: the input's path below its folder argument, flattened with '__'; a
    second input with the same name gets '~2', '~3'... before its suffix."""
    name = "__".join(relative.parts)
    stem, suffix = os.path.splitext(name)
    candidate, number = name, 1
    while str(folder / candidate) in taken:
        number += 1
        candidate = f"{stem}~{number}{suffix}"
    taken.add(str(folder / candidate))
    return candidate


def _place(source: Path, target: Path, *, copy: bool, force: bool) -> None:
    from kmimg.io import link_atomic, write_atomic

    if os.path.lexists(target):
        if _already_placed(source, target, copy=copy):
            return
        if not force:
            raise OutputError(f"output {target} exists (use --force to overwrite)")
        if target.exists() and not target.is_symlink() and os.path.samefile(source, target):
            raise OutputError(f"output {target} is the input itself")
    if copy:
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}") from None
        write_atomic(target, data)
        return
    link_atomic(target, source)


def _already_placed(source: Path, target: Path, *, copy: bool) -> bool:
    """A rerun finds its own link (or an identical copy): nothing to do, nothing clobbered."""
    try:
        if not copy:
            return target.is_symlink() and target.resolve() == source.resolve()
        return not target.is_symlink() and target.read_bytes() == source.read_bytes()
    except OSError:
        return False


def _write_montage(
    path: Path,
    records: list[FeatureRecord],
    grouping: Clustering,
    options: FeatureOptions,
    evaluation: Evaluation | None,
    members: int,
    thumb: int,
    max_pixels: int,
    allow_truncated: bool,
) -> None:
    from kmimg.classify import feature_image
    from kmimg.io import encode_png, load_image, write_atomic
    from kmimg.render.montage import ClusterRow, cluster_montage, flatten_alpha

    rows = []
    for cluster in range(grouping.k):
        tiles = []
        for index in grouping.members(cluster, members):
            picture = load_image(
                records[index].source, max_pixels=max_pixels, allow_truncated=allow_truncated
            )
            tiles.append(flatten_alpha(picture.rgb, picture.alpha))
        size = int(grouping.sizes[cluster])
        caption = [f"cluster {cluster}", f"{size} image{'s' if size != 1 else ''}"]
        if evaluation is not None and cluster in evaluation.mapping:
            caption.append(f"label {evaluation.mapping[cluster]}")
        rows.append(
            ClusterRow(
                # An empty cluster's centre is wherever k-means left it, not a picture of
                # anything: the montage shows an empty frame captioned "0 images" instead.
                center=feature_image(grouping.centers[cluster], options) if size else None,
                members=tuple(tiles),
                caption=(", ".join(caption),) if members else tuple(caption),
            )
        )
    title = f"k={grouping.k} clusters of {len(records)} images, {options.describe()}"
    if evaluation is not None:
        title += f", accuracy {evaluation.accuracy:.3f}"
    ensure_folder(path.parent if str(path.parent) else Path("."))
    write_atomic(path, encode_png(cluster_montage(rows, thumb=thumb, title=title)))


def _write_csv(
    destination: str,
    records: list[FeatureRecord],
    grouping: Clustering,
    truth: dict[int, str],
    evaluation: Evaluation | None,
) -> None:
    import csv
    import io

    from kmimg.io import write_atomic, write_stdout

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["file", "cluster", "distance"]
    if evaluation is not None:
        header += ["label", "predicted"]
    writer.writerow(header)
    for index, record in enumerate(records):
        cluster = int(grouping.labels[index])
        row: list[Any] = [record.source, cluster, f"{grouping.distances[index]:.6f}"]
        if evaluation is not None:
            row += [truth.get(index, ""), evaluation.mapping.get(cluster, "")]
        writer.writerow(row)
    data = buffer.getvalue().encode()
    if destination == STDIO:
        write_stdout(data)
    else:
        write_atomic(destination, data)


def _json_document(
    options: FeatureOptions,
    outcome: Outcome[FeatureRecord],
    grouping: Clustering,
    evaluation: Evaluation | None,
    truth: dict[int, str],
    links: dict[int, str],
    *,
    settings: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    from kmimg import __version__

    records = outcome.results
    results = []
    for index, record in enumerate(records):
        entry: dict[str, Any] = {
            "input": record.source,
            "cluster": int(grouping.labels[index]),
            "distance": round(float(grouping.distances[index]), 6),
        }
        if index in truth:
            entry["label"] = truth[index]
        if index in links:
            entry["link"] = links[index]
        results.append(entry)
    clusters = []
    for cluster in range(grouping.k):
        inside = grouping.distances[grouping.labels == cluster]
        summary: dict[str, Any] = {
            "cluster": cluster,
            "size": int(grouping.sizes[cluster]),
            "mean_distance": round(float(inside.mean()), 6) if len(inside) else None,
            "max_distance": round(float(inside.max()), 6) if len(inside) else None,
        }
        if evaluation is not None:
            summary["label"] = evaluation.mapping.get(cluster)
            summary["label_count"] = evaluation.majority.get(cluster, 0)
        clusters.append(summary)
    return {
        "schema": JSON_SCHEMA,
        "schema_version": JSON_SCHEMA_VERSION,
        "kmimg_version": __version__,
        "options": {
            **settings,
            "features": options.kind.value,
            "size": list(options.size) if options.kind is FeatureKind.PIXELS else None,
            "color": options.color if options.kind is FeatureKind.PIXELS else True,
            "bins": options.bins if options.kind is FeatureKind.HISTOGRAM else None,
        },
        "images": len(records),
        "feature_length": options.length,
        "inertia": round(grouping.inertia, 6),
        "seconds": seconds,
        "clusters": clusters,
        "evaluation": _evaluation_fields(evaluation, len(records)),
        "results": results,
        "failures": [{"input": f.source, "error": f.reason} for f in outcome.failures],
    }


def _evaluation_fields(evaluation: Evaluation | None, images: int) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    return {
        "labelled": evaluation.labelled,
        "unlabelled": images - evaluation.labelled,
        "classes": evaluation.classes,
        "accuracy": round(evaluation.accuracy, 6),
        "adjusted_rand_index": round(evaluation.adjusted_rand_index, 6),
        "normalized_mutual_information": round(evaluation.normalized_mutual_information, 6),
        "mapping": {str(cluster): label for cluster, label in evaluation.mapping.items()},
    }


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
