"""The per-file work of ``kmimg classify`` (and :func:`kmimg.classify_files`): one image's
feature vector; and the k-means over every vector read, held in memory or, with
``batch_size``, streamed through a temporary file as the results arrive."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kmimg._records import frozen
from kmimg.errors import InputError
from kmimg.jobs.tasks import FileTask, Produced
from kmimg.options import FeatureOptions, GroupOptions

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.core.classify import Clustering, RowReader
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
