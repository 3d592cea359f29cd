"""The per-file work of ``kmimg classify`` (and :func:`kmimg.classify_files`): one image's
feature vector; and the k-means over every vector read, held in memory or, with
``batch_size``, streamed through a temporary file as the results arrive."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kmimg._records import frozen
from kmimg.errors import InputError, UsageError
from kmimg.jobs.paths import InputItem, expand_inputs
from kmimg.jobs.tasks import FileTask, Produced
from kmimg.options import FeatureOptions, GroupOptions

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.core.classify import Clustering, Evaluation, RowReader
    from kmimg.io.spill import RowSpill


@frozen
class FeatureTask(FileTask):
    """One input whose feature vector to compute (in a worker process)."""

    relative: Path
    options: FeatureOptions
    max_pixels: int
    allow_truncated: bool = False


@frozen
class FeatureRecord:
    """One input's feature vector."""

    source: str
    relative: Path
    vector: NDArray[np.float64]


def features_of(task: FeatureTask) -> Produced[FeatureRecord]:
    """Load one image and compute its feature vector (runs in a worker, on a cluster too; the
    fit over all vectors runs here)."""
    from kmimg.core.classify import image_features

    picture = task.input.load(max_pixels=task.max_pixels, allow_truncated=task.allow_truncated)
    vector = image_features(picture.rgb, picture.alpha, task.options)
    return Produced(FeatureRecord(task.source, task.relative, vector))


@dataclass
class Streamed:
    """``--batch-size``: each feature vector goes to a temporary file as it arrives (its task's
    place is its row); the records the batch keeps hold none."""

    spill: RowSpill
    rows: list[int] = field(default_factory=list)

    def keep(self, index: int, record: FeatureRecord) -> FeatureRecord:
        import numpy as np

        self.spill.put(index, record.vector)
        self.rows.append(index)
        return FeatureRecord(record.source, record.relative, np.empty(0))

    def reader(self) -> RowReader:
        """The vectors of the records read (in input order, as the outcome lists them) by number."""
        import numpy as np

        order = np.array(sorted(self.rows), dtype=np.intp)
        return lambda numbers: self.spill.rows(order[numbers])


@contextlib.contextmanager
def streaming(groups: GroupOptions, options: FeatureOptions) -> Iterator[Streamed | None]:
    if groups.batch_size is None:
        yield None
        return
    from kmimg.io.spill import RowSpill

    with RowSpill(options.length) as spill:
        yield Streamed(spill)


def cluster_records(
    records: list[FeatureRecord], groups: GroupOptions, stream: Streamed | None = None
) -> Clustering:
    """k-means over the feature vectors read (from the temporary file with ``--batch-size``)."""
    import numpy as np

    from kmimg.core.classify import cluster_features, cluster_in_batches

    k = groups.k
    if len(records) < k:
        raise InputError(f"{len(records)} image{'s' if len(records) != 1 else ''} read, fewer than -k {k}")
    if stream is not None and groups.batch_size is not None:
        return cluster_in_batches(
            stream.reader(),
            len(records),
            k=k,
            batch_size=groups.batch_size,
            seed=groups.seed,
            n_init=groups.n_init,
            standardize=groups.standardize,
        )
    matrix = np.stack([record.vector for record in records])
    return cluster_features(
        matrix, k=k, seed=groups.seed, n_init=groups.n_init, standardize=groups.standardize
    )


def classify_inputs(inputs: list[str], *, recursive: bool, link_dir: Path | None) -> list[InputItem]:
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


def read_labels(path: Path, sources: list[str]) -> dict[str, str]:
    """The label of each of the ``sources`` that the labels file names, read and matched before
    any image is read: an unreadable or malformed file, or one giving a source two labels, is a
    usage error."""
    from kmimg.core.classify import match_labels, parse_labels_csv

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


def evaluate_records(
    records: list[FeatureRecord], grouping: Clustering, label_of: dict[str, str]
) -> tuple[dict[int, str], Evaluation | None]:
    """The known label of each record by its place, and how well the clusters match them
    (``None`` when no record has a label): the unlabelled records are left out."""
    from kmimg.core.classify import evaluate

    truth = {index: label_of[r.source] for index, r in enumerate(records) if r.source in label_of}
    if not truth:
        return {}, None
    indices = sorted(truth)
    return truth, evaluate(grouping.labels[indices], [truth[i] for i in indices])


def write_montage(
    path: Path,
    records: list[FeatureRecord],
    grouping: Clustering,
    options: FeatureOptions,
    evaluation: Evaluation | None,
    *,
    members: int,
    thumb: int,
    max_pixels: int,
    allow_truncated: bool = False,
) -> None:
    """The montage of the cluster centres and their ``members`` nearest images (read again
    from disk), written as a PNG at ``path``."""
    from kmimg.io import encode_png, load_image, write_atomic
    from kmimg.io.files import ensure_folder
    from kmimg.render.montage import classify_montage, flatten_alpha

    def tile(index: int) -> NDArray[np.uint8]:
        source = records[index].source
        picture = load_image(source, max_pixels=max_pixels, allow_truncated=allow_truncated)
        return flatten_alpha(picture.rgb, picture.alpha)

    tiles = [[tile(index) for index in grouping.members(cluster, members)] for cluster in range(grouping.k)]
    pixels = classify_montage(
        grouping, tiles, options, evaluation, captions_in_one_line=members > 0, thumb=thumb
    )
    ensure_folder(path.parent if str(path.parent) else Path("."))
    write_atomic(path, encode_png(pixels))
